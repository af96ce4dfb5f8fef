"""``python -m pipeline.policy --variant NAME --seed S [--params PATH]``: train one SAC+HER agent."""

from __future__ import annotations

from pipeline.cli import base_parser, run_stage
from pipeline.config import load_params
from pipeline.stages import stage_view


def main(argv: list[str] | None = None) -> None:
    parser = base_parser(__doc__)
    parser.add_argument("--variant", required=True, help="a name under policy.variants")
    parser.add_argument("--seed", type=int, required=True, help="training seed")
    args = parser.parse_args(argv)

    from pipeline.collect.dataset import DatasetError
    from pipeline.policy.build import RunError
    from pipeline.policy.prior import PriorDataError
    from pipeline.policy.train import PolicyPaths, train_policy

    def body() -> None:
        params = stage_view("policy", load_params(args.params), args.variant)
        train_policy(params.env, params.policy, args.variant, args.seed, PolicyPaths.of(params.paths))

    run_stage(body, (RunError, PriorDataError, DatasetError))


if __name__ == "__main__":
    main()
