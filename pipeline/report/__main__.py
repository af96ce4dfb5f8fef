"""``python -m pipeline.report [--params PATH]``: aggregate every run and encoder into ``paths.report``."""

from __future__ import annotations

import platform
import sys

from pipeline.cli import base_parser, run_stage
from pipeline.params import load_params


def machine_description() -> str:
    """CPU count, platform and accelerator, for the report header."""
    import os

    import torch

    gpu = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "no GPU"
    return f"{platform.machine()} {os.cpu_count()}-CPU {platform.system()}, {gpu}"


def main(argv: list[str] | None = None) -> None:
    args = base_parser(__doc__).parse_args(argv)

    def body() -> None:
        from pipeline.io import exclusive
        from pipeline.report.aggregate import load_encoders, scan_runs
        from pipeline.report.render import write_report

        params = load_params(args.params)
        paths = params.paths
        variants, skipped = scan_runs(paths.runs)
        for s in skipped:
            print(f"report: skipping {s.variant}/{s.seed}: {s.reason}", file=sys.stderr)
        with exclusive(paths.report):
            md = write_report(
                variants,
                load_encoders(paths.encoders),
                paths.report,
                paths.encoders,
                machine_description(),
                runs_dir=paths.runs,
                skipped=skipped,
            )
        missing = f", {len(skipped)} run(s) missing (named in the report)" if skipped else ""
        print(f"report: {md}{missing}")

    run_stage(body)


if __name__ == "__main__":
    main()
