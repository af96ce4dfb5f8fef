"""``python -m pipeline.pretrain --encoder NAME [--params PATH]``: pretrain one encoder and probe it."""

from __future__ import annotations

from pipeline.cli import base_parser, run_stage
from pipeline.config import load_params
from pipeline.encoders.registry import ENCODERS
from pipeline.stages import stage_view


def main(argv: list[str] | None = None) -> None:
    parser = base_parser(__doc__)
    parser.add_argument("--encoder", required=True, help=" | ".join(ENCODERS))
    args = parser.parse_args(argv)
    from pipeline.pretrain.train import PretrainError, PretrainPaths, pretrain_encoder

    def body() -> None:
        params = stage_view("pretrain", load_params(args.params), args.encoder)
        pretrain_encoder(params.pretrain, args.encoder, PretrainPaths.of(params.paths, args.encoder))

    run_stage(body, (PretrainError,))


if __name__ == "__main__":
    main()
