"""``python -m pipeline.goalspace --encoder NAME``: fit the goal spaces of one pretrained encoder."""

from __future__ import annotations

from pipeline.cli import base_parser, run_stage
from pipeline.config import load_params
from pipeline.goalspace.stage import fit_goal_spaces, summary
from pipeline.params import ParamsError
from pipeline.stages import stage_view


def main(argv: list[str] | None = None) -> None:
    parser = base_parser(__doc__)
    parser.add_argument("--encoder", required=True, help="an encoder under paths.encoders")
    args = parser.parse_args(argv)

    def body() -> None:
        params = stage_view("goal_space", load_params(args.params), args.encoder)
        p, pre = params.paths, params.pretrain
        if not (p.encoders / args.encoder).is_dir():
            raise ParamsError(f"encoder {args.encoder!r} not found under {p.encoders} (run the pretrain stage)")
        out = p.goal_spaces / args.encoder
        metrics = fit_goal_spaces(params.goal_space, p.encoders / args.encoder, p.dataset, pre.val_fraction,
                                  pre.seed, out)  # fmt: skip
        print(summary(metrics, out))

    run_stage(body, (FileNotFoundError,))


if __name__ == "__main__":
    main()
