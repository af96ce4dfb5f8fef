"""``python -m pipeline.collect [--params PATH]``: roll out random pixel episodes into ``paths.dataset``."""

from __future__ import annotations

from pipeline.cli import base_parser, run_stage
from pipeline.config import load_params
from pipeline.stages import stage_view


def main(argv: list[str] | None = None) -> None:
    args = base_parser(__doc__).parse_args(argv)

    def body() -> None:
        from pipeline.collect.core import collect

        params = stage_view("collect", load_params(args.params))  # validated before any work
        collect(params.env, params.collect, params.paths.dataset)

    run_stage(body)


if __name__ == "__main__":
    main()
