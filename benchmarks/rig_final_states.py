"""Where does a trained agent end its eval episodes, and can its encoder see the block there?

Run (repo root, venv active) on a finished run's checkpoint::

    python benchmarks/rig_final_states.py --variant rig_spatial_ae_keypoints_obs --seed 0 --episodes 100 \
        --picture final.png

Plays the run's deterministic eval episodes (the fixed seeds of ``python -m pipeline.policy.evaluate``) and, for the
last frame each episode shows the agent before it ends, measures the share of the block in view (the simulator's
visibility, read here for the diagnosis only; the agent never sees it). It prints, over episodes: true success
(block within 5 cm of the goal), the agent's own reward at the last step (RIG: the latent goal reached), and both
split by whether the block was at least half visible. A RIG agent whose true successes end with the block hidden
under the gripper, or whose own reward fires there without the block at the goal, is read by a keypoint that
cannot see the block. ``--picture`` saves the last frame of the first 8 episodes beside their goal images (RIG).
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

import pipeline  # noqa: F401  (MUJOCO_GL)
from pipeline.config import load_params
from pipeline.policy.build import PolicyPaths, restore_run
from pipeline.policy.evaluate import episode_ends
from pipeline.policy.rollout import side_by_side

VISIBLE = 0.5
"""a final frame counts as showing the block when at least this share of it is in view"""


def final_states(model, env, episodes: int) -> dict:
    """Per episode: true success, own reward reached (0 reward at the last step), block visibility in the last
    frame the agent saw; arrays of length ``episodes``; and ``pictures``, that frame beside the goal image
    (latent goal mode only, else empty)."""
    latent_goals = getattr(getattr(env, "variant", None), "goal_mode", None) == "latent"

    def look(env) -> list[tuple[float, tuple[np.ndarray, np.ndarray] | None]]:
        seen = env.venv.env_method("object_visibility")  # (n,) of the frame in the observation
        if not latent_goals:
            return [(v, None) for v in seen]
        frames = env.raw_observations()["pixels"]  # (n, H, W, 3)
        # the goal image copied: the wrapper overwrites it with the next episode's when this one ends
        return [(v, (frames[i], env.goal_frames[i].copy())) for i, v in enumerate(seen)]

    ends = list(episode_ends(model, env, episodes, look))
    return {
        "success": np.array([float(info["is_success"]) for _, info, _ in ends]),
        "reached": np.array([float(reward == 0) for reward, _, _ in ends]),
        "visible": np.array([float(v) for _, _, (v, _) in ends]),
        "pictures": [side_by_side(*pair) for _, _, (_, pair) in ends if pair is not None],
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--variant", required=True)
    parser.add_argument("--seed", type=int, required=True)
    parser.add_argument("--episodes", type=int, default=100)
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    parser.add_argument("--picture", type=Path, default=None, help="PNG of 8 final frames beside their goals (RIG)")
    args = parser.parse_args()
    params = load_params(args.params)
    model, train_env, eval_env, steps = restore_run(
        params.env, params.policy, args.variant, args.seed, PolicyPaths.of(params.paths), "rig_final_states"
    )
    train_env.close()
    s = final_states(model, eval_env, args.episodes)
    eval_env.close()
    shown = s["visible"] >= VISIBLE
    print(f"{args.variant}/{args.seed} at step {steps}, {args.episodes} eval episodes")
    print(f"{'final frames':<26} {'share':>6} {'success':>8} {'own reward':>10}")
    for name, m in (("all", np.ones_like(shown)), ("block >= half visible", shown), ("block mostly hidden", ~shown)):
        if m.any():
            print(f"{name:<26} {m.mean():>6.2f} {s['success'][m].mean():>8.2f} {s['reached'][m].mean():>10.2f}")
    if args.picture is not None and s["pictures"]:
        from PIL import Image

        pics = s["pictures"][:8]
        rows = [np.concatenate(pics[r : r + 2], axis=1) for r in range(0, len(pics) - 1, 2)]  # 2 episodes a row
        Image.fromarray(np.concatenate(rows, axis=0)).save(args.picture)
        print(f"final frames | goal images of episodes 0-{len(pics) - 1} -> {args.picture}")
        for e in range(len(pics)):
            print(f"  episode {e}: success {s['success'][e]:.0f}, own reward reached {s['reached'][e]:.0f}, "
                  f"block {s['visible'][e]:.0%} visible")  # fmt: skip
    won = s["success"] == 1
    if won.any():
        print(f"true successes ending with the block mostly hidden: {(~shown[won]).mean():.2f}; "
              f"of them told 'reached' by the own reward: {s['reached'][won].mean():.2f}")  # fmt: skip


if __name__ == "__main__":
    main()
