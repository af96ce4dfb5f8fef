"""Deterministic evaluation on fixed seeds, disjoint from the training seeds.

``python -m pipeline.policy.evaluate --variant NAME --seed S --episodes 100`` re-evaluates a run's checkpoint on
more episodes than the run's own evaluations (``policy.eval_episodes``), with a 95 % Wilson interval, and writes
``runs/<variant>/<seed>/eval_<episodes>.json``. The first ``policy.eval_episodes`` of them are the run's own.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Sequence
from typing import Any

import numpy as np
from stable_baselines3.common.base_class import BaseAlgorithm
from stable_baselines3.common.vec_env import VecEnv

EVAL_SEED_BASE = 1_000_000
"""Eval episode ``k`` resets with seed ``EVAL_SEED_BASE + k``; training envs use ``seed + i`` (small)."""


def episode_ends(
    model: BaseAlgorithm, env: VecEnv, episodes: int, look: Callable[[VecEnv], Sequence[Any]] | None = None
) -> Iterator[tuple[float, dict, Any]]:
    """Play ``episodes`` deterministic episodes on the fixed eval seeds; yield each one's last reward, last info and
    what ``look(env)`` (called before every step, one value per env) returned before its last step."""
    n = env.num_envs
    for first in range(0, episodes, n):
        env.seed(EVAL_SEED_BASE + first)
        obs = env.reset()
        finished = np.zeros(n, bool)
        while not finished.all():
            seen = look(env) if look is not None else [None] * n
            action, _ = model.predict(obs, deterministic=True)
            obs, rewards, dones, infos = env.step(action)
            for i in np.flatnonzero(dones & ~finished):
                if first + i < episodes:
                    yield float(rewards[i]), infos[i], seen[i]
            finished |= dones


def evaluate(model: BaseAlgorithm, env: VecEnv, episodes: int) -> dict[str, float]:
    """Run ``episodes`` deterministic episodes: success and final object-goal distance (metres) from the env, and
    ``reward_success``, the share of episodes whose last step the agent's own reward counts as reached. With RIG
    goals that is the latent goal, so ``reward_success`` well above ``success`` means the agent reaches where its
    encoder reads the goal but not the goal (a misread or exploited encoder); with vector goals the two are equal."""
    ends = list(episode_ends(model, env, episodes))
    return {
        "success": float(np.mean([info["is_success"] for _, info, _ in ends])),
        "final_object_distance": float(np.mean([info["goal_distance"] for _, info, _ in ends])),
        "reward_success": float(np.mean([reward == 0 for reward, _, _ in ends])),
    }


def success_interval(success: float, episodes: int) -> tuple[float, float]:
    """95 % Wilson interval of a success rate measured on ``episodes`` episodes."""
    from scipy.stats import binomtest  # only the CLI needs it; the policy stage imports this module at start

    ci = binomtest(round(success * episodes), episodes).proportion_ci(0.95, method="wilson")
    return float(ci.low), float(ci.high)


def main(argv: list[str] | None = None) -> None:
    from pipeline.cli import base_parser, run_stage
    from pipeline.config import load_params
    from pipeline.io import write_json
    from pipeline.policy.build import PolicyPaths, RunError, restore_run

    parser = base_parser(__doc__)
    parser.add_argument("--variant", required=True, help="a name under policy.variants")
    parser.add_argument("--seed", type=int, required=True, help="training seed of the run")
    parser.add_argument("--episodes", type=int, default=100, help="deterministic eval episodes (fixed seeds)")
    args = parser.parse_args(argv)

    def body() -> None:
        if args.episodes < 1:
            raise RunError(f"--episodes must be >= 1, got {args.episodes}")
        params = load_params(args.params)
        paths = PolicyPaths.of(params.paths)
        model, train_env, eval_env, steps = restore_run(
            params.env, params.policy, args.variant, args.seed, paths, "evaluate"
        )
        result = evaluate(model, eval_env, args.episodes)
        train_env.close()
        eval_env.close()
        low, high = success_interval(result["success"], args.episodes)
        record = {"step": steps, "episodes": args.episodes, **result, "success_ci95": [low, high]}
        write_json(paths.runs / args.variant / str(args.seed) / f"eval_{args.episodes}.json", record)
        print(
            f"evaluate {args.variant}/{args.seed} at step {steps}: success {result['success']:.2f} "
            f"(95 % CI {low:.2f}-{high:.2f}) on {args.episodes} episodes, final distance "
            f"{result['final_object_distance'] * 1000:.0f} mm; its own reward's success {result['reward_success']:.2f}"
        )

    run_stage(body, (RunError, FileNotFoundError))


if __name__ == "__main__":
    main()
