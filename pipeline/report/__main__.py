"""``python -m pipeline.report [--params PATH]``: aggregate the runs ``policy.run x policy.seeds`` and every encoder
into ``paths.report``."""

from __future__ import annotations

import platform

from pipeline.cli import base_parser, run_stage
from pipeline.config import load_params
from pipeline.stages import stage_view


def machine_description() -> str:
    """CPU count, platform and accelerator, for the report header."""
    import os

    import torch

    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    return f"{platform.machine()} {os.cpu_count()}-CPU {platform.system()}, {gpu}"


def main(argv: list[str] | None = None) -> None:
    args = base_parser(__doc__).parse_args(argv)

    def body() -> None:
        from pipeline.report.stage import make_report

        params = stage_view("report", load_params(args.params))
        paths = params.paths
        md, skipped = make_report(
            params.policy.run,
            params.policy.seeds,
            paths.runs,
            paths.pretrain_results,
            paths.report,
            machine_description(),
        )
        missing = f", {len(skipped)} of the runs asked for missing (named in the report)" if skipped else ""
        print(f"report: {md}{missing}")

    run_stage(body)


if __name__ == "__main__":
    main()
