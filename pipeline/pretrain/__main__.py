"""``python -m pipeline.pretrain --encoder NAME [--params PATH]``: pretrain one encoder and probe it."""

from __future__ import annotations

from pipeline.cli import base_parser, run_stage
from pipeline.params import load_params
from pipeline.pretrain.config import ENCODER_NAMES


def main(argv: list[str] | None = None) -> None:
    parser = base_parser(__doc__)
    parser.add_argument("--encoder", required=True, help=" | ".join(ENCODER_NAMES))
    args = parser.parse_args(argv)
    from pipeline.pretrain.train import PretrainError, pretrain_encoder

    run_stage(lambda: pretrain_encoder(load_params(args.params), args.encoder), (PretrainError,))


if __name__ == "__main__":
    main()
