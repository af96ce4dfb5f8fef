"""How often does a RIG latent reward disagree with the true one, on the frames of a pushing agent?

Run (repo root, venv active) on a saved encoder and the goal space fitted for it (``python -m pipeline.goalspace``)::

    python benchmarks/reward_agreement.py data/encoders/supervised --goal-space keypoints --windows 1,3,5
    python benchmarks/reward_agreement.py data/encoders/supervised --goal-space keypoints --scales 0.5,0.75,1,1.5

``goal_mode: latent`` rewards ``d(achieved point, goal point) < threshold`` in a goal space, where the achieved
point comes from the current frame (``achieved_window: 1``) or is the per-coordinate median of the last N frames'
points (``achieved_window: N``); success is judged by the true block distance (< 5 cm). Here the collect stage's
noisy scripted pusher (the policy stage's warm-up) plays ``--episodes`` episodes in the policy's env, with goal
images rendered as the policy stage renders them (the arm posed independently of the episode), and the latent
reward is compared with the true one on two sets of (achieved, goal) pairs:

- ``env goal``: every step against the episode's goal image (what the env reports);
- ``HER future``: every step against a later step's achieved point of the same episode (what HER relabels to; the
  true reward there is whether the block moved less than 5 cm between the two steps); also split by whether the
  gripper is within ``--near`` of the block in the goal frame (``goal near``: the arm at the block, where a single
  frame's block estimate was suspected to misread; measured no worse, README "Seventh round") or not (``goal far``).

Per window: the share of pairs where the two rewards agree, the latent reward's false positives (rewarded, block
not within 5 cm) and false negatives (not rewarded, block within 5 cm), as shares of the truly failed and the truly
successful pairs. The threshold is the policy stage's calibrated one (``calibrate_latent_threshold``), times each
of ``--scales`` (the measurement behind a variant's ``latent_threshold``). ``--occluded read,hold`` also scores
``occluded_goal: hold``: a frame whose keypoints are out of sight (the goal space's presence thresholds) keeps the
last point in sight (README "Tenth round").
"""

from __future__ import annotations

import argparse
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from encoder_on_policy import encode

import pipeline  # noqa: F401  (MUJOCO_GL)
from pipeline.collect.rollout import scripted_action
from pipeline.config import Params
from pipeline.encoders import load_encoder
from pipeline.envs import FetchPixelEnv
from pipeline.goalspace import load_goal_space
from pipeline.params import read_yaml
from pipeline.policy.config import VariantConfig
from pipeline.policy.latent_goals import calibrate_latent_threshold, latent_reward
from pipeline.policy.obs_parts import ARM_BOX, GOAL_POSE_TRIES
from pipeline.policy.observation import Frames, ObservationFlow


@dataclass(frozen=True)
class Agreement:
    """Latent reward against the true reward over a set of pairs."""

    pairs: int
    true_success: float
    """share of pairs that truly succeed (block within the success radius)"""
    agree: float
    false_positive: float
    """share of the truly failed pairs that the latent reward rewards"""
    false_negative: float
    """share of the truly successful pairs that the latent reward does not reward"""


class PointSpace:
    """The flow's goal space over points already projected: ``project`` keeps them, ``in_sight`` reads presence
    column 0 (1: in sight)."""

    def __init__(self, dim: int) -> None:
        self.dim = dim

    def project(self, z: np.ndarray) -> np.ndarray:
        return z

    def in_sight(self, presence: np.ndarray) -> np.ndarray:
        return np.asarray(presence)[:, 0] > 0.5


def achieved(points: np.ndarray, window: int, in_sight: np.ndarray | None = None) -> np.ndarray:
    """``(E, T, G)`` per-frame points of E episodes -> each step's achieved goal ``(E, T, G)``, built by the policy
    stage's own :class:`ObservationFlow` (one row per episode): the per-coordinate median of the last ``window``
    points, the first repeated before the episode's start; with ``in_sight`` ``(E, T)``, each point out of sight
    replaced by the last one in sight (``occluded_goal: hold``; an episode's first frame keeps its own)."""
    e, steps, g = points.shape
    hold = in_sight is not None
    variant = VariantConfig(obs="latent", encoder="supervised", goal_mode="latent", goal_space="keypoints",
                            achieved_window=window, occluded_goal="hold" if hold else "read")  # fmt: skip
    flow = ObservationFlow(variant, e, {"proprio": 10, "achieved_goal": 3, "desired_goal": 3}, g, PointSpace(g))
    raw = {"proprio": np.zeros((e, 10), np.float32), "achieved_goal": np.zeros((e, 3), np.float32)}
    raw["desired_goal"] = raw["achieved_goal"]
    sight = None if not hold else np.asarray(in_sight, np.float32)[..., None]  # (E, T) -> (E, T, 1)
    at = lambda t: Frames(raw, points[:, t], None if sight is None else sight[:, t])  # noqa: E731
    out = [flow.reset(at(0))] + [flow.step(at(t), np.zeros(0, np.int64)) for t in range(1, steps)]
    return np.stack([o["achieved_goal"] for o in out], axis=1)  # T x (E, G) -> (E, T, G)


def windowed(points: np.ndarray, window: int) -> np.ndarray:
    """The achieved goals of ``achieved_window: window`` (:func:`achieved`)."""
    return achieved(points, window)


def held(points: np.ndarray, in_sight: np.ndarray) -> np.ndarray:
    """``occluded_goal: hold`` alone (:func:`achieved` at window 1)."""
    return achieved(points, 1, in_sight)


def agreement(latent: np.ndarray, truth: np.ndarray) -> Agreement:
    """Latent rewards vs true rewards (both 0 = success, -1 = failure), any equal shapes."""
    won, hit = truth == 0, latent == 0
    return Agreement(
        pairs=int(truth.size),
        true_success=float(won.mean()),
        agree=float((won == hit).mean()),
        false_positive=float(hit[~won].mean()) if (~won).any() else float("nan"),
        false_negative=float((~hit[won]).mean()) if won.any() else float("nan"),
    )


def future_pairs(steps: int) -> tuple[np.ndarray, np.ndarray]:
    """Indices ``(t, t')`` of every pair of steps with ``t < t'`` in an episode of ``steps`` steps."""
    t, u = np.triu_indices(steps, k=1)
    return t, u


def play(params: Params, episodes: int, noise: float, seed: int, min_visible: float) -> dict[str, np.ndarray]:
    """Scripted-pusher episodes: frames ``(E, T, H, W, 3)``, block and gripper positions ``(E, T, 3)``, goals
    ``(E, 3)`` and goal images ``(E, H, W, 3)`` (arm at an independent pose, redrawn until ``min_visible`` of the
    block is seen, as the policy stage draws it), the share of the block seen in each goal image, the success
    radius."""
    env = FetchPixelEnv(params.env)
    rng = np.random.default_rng(seed)
    out: dict[str, list[np.ndarray]] = {
        "frames": [],
        "object_pos": [],
        "grip_pos": [],
        "goal": [],
        "goal_frame": [],
        "goal_seen": [],
    }
    for e in range(episodes):
        obs, _ = env.reset(seed=seed + e)
        out["goal"].append(obs["desired_goal"].copy())
        arms = rng.uniform(ARM_BOX[0], ARM_BOX[1], (GOAL_POSE_TRIES, 3))  # candidate poses, as the policy stage
        tried = arms if min_visible > 0 else arms[:1]  # 0: the first pose, its visibility still measured
        out["goal_frame"].append(env.render_goal(obs["desired_goal"], tried, min_visible=max(min_visible, 1e-9)))
        out["goal_seen"].append(np.array(env.goal_visibility))
        frames, pos, grip = [], [], []
        for _ in range(params.env.max_episode_steps):
            frames.append(obs["pixels"])
            pos.append(obs["achieved_goal"].copy())
            grip.append(obs["proprio"][:3].copy())
            obs, *_ = env.step(scripted_action(obs, rng, noise, True))
        out["frames"].append(np.stack(frames))
        out["object_pos"].append(np.stack(pos))
        out["grip_pos"].append(np.stack(grip))
    radius = env.fetch.distance_threshold
    env.close()
    return {**{k: np.stack(v) for k, v in out.items()}, "radius": np.array(radius)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("encoder", type=Path, help="encoder directory (encoder.safetensors + encoder.json)")
    parser.add_argument("--goal-space", default="keypoints", help="goal space fitted for this encoder")
    parser.add_argument("--goal-spaces", type=Path, default=None, help="default: paths.goal_spaces of --params")
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    parser.add_argument("--windows", default="1,3,5", help="comma-separated achieved-goal windows")
    parser.add_argument("--scales", default="1", help="comma-separated multiples of the calibrated threshold")
    parser.add_argument("--episodes", type=int, default=40)
    parser.add_argument("--noise", type=float, default=0.3, help="std of the pusher's action noise")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--goal-min-visible",
        type=float,
        default=VariantConfig.model_fields["goal_min_visible"].default,
        help="goal images: redraw the arm until this share of the block is seen (0: first pose)",
    )
    parser.add_argument("--occluded", default="read", help="comma-separated occluded_goal modes: read, hold")
    parser.add_argument("--near", type=float, default=0.07,
                        help="split HER pairs at this gripper-block distance (m) in the goal frame")  # fmt: skip
    args = parser.parse_args()
    modes = args.occluded.split(",")
    if not set(modes) <= {"read", "hold"}:
        parser.error(f"--occluded: unknown mode in {args.occluded!r}; allowed: read, hold")
    params = Params.model_validate(read_yaml(args.params))
    enc = load_encoder(args.encoder, device="cpu")
    space = load_goal_space(args.goal_space, (args.goal_spaces or params.paths.goal_spaces) / args.encoder.name,
                            enc.latent_dim)  # fmt: skip
    threshold = calibrate_latent_threshold(params.env, enc, goal_space=space)
    data = play(params, args.episodes, args.noise, args.seed, args.goal_min_visible)
    n, steps = data["object_pos"].shape[:2]
    frames = data["frames"].reshape(n * steps, *data["frames"].shape[2:])  # (E, T, H, W, 3) -> (E*T, H, W, 3)
    if "hold" in modes:
        z, presence = enc.encode_presence(frames)  # (E*T, L), (E*T, K)
        sight = space.in_sight(presence).reshape(n, steps)  # (E*T,) -> (E, T)
    else:
        z, sight = encode(enc, frames), np.ones((n, steps), bool)  # (E*T, L)
    points = space.project(z).reshape(n, steps, -1)  # (E*T, G) -> (E, T, G)
    goal_points = space.project(enc.encode(data["goal_frame"]))  # (E, G)
    radius = float(data["radius"])
    truth_env = -(np.linalg.norm(data["object_pos"] - data["goal"][:, None], axis=-1) > radius).astype(np.float32)
    t, u = future_pairs(steps)
    moved = np.linalg.norm(data["object_pos"][:, t] - data["object_pos"][:, u], axis=-1)  # (E, pairs)
    truth_her = -(moved > radius).astype(np.float32)
    gap = np.linalg.norm(data["grip_pos"] - data["object_pos"], axis=-1)  # (E, T): gripper-block distance
    near = gap[:, u] < args.near  # (E, pairs): HER's goal frame has the arm at the block
    print(f"{args.encoder} / {args.goal_space}: threshold {threshold:.3f}; {n} scripted-pusher episodes "
          f"(noise {args.noise}), {steps} steps each; goal images with >= 90 % of the block seen: "
          f"{(data['goal_seen'] >= 0.9).mean():.2f} (goal_min_visible {args.goal_min_visible}); frames in sight "
          f"{sight.mean():.2f}")  # fmt: skip
    print(f"{'pairs':<11} {'occluded':>8} {'window':>6} {'thresh':>6} {'n':>7} {'truly won':>9} {'agree':>6} "
          f"{'false +':>8} {'false -':>8}")  # fmt: skip
    for mode, w in [(m, int(x)) for m in modes for x in args.windows.split(",")]:
        goals = achieved(points, w, sight if mode == "hold" else None)  # (E, T, G)
        for scale in [float(x) for x in args.scales.split(",")]:
            thr = threshold * scale
            her = latent_reward(goals[:, t], goals[:, u], thr)  # (E, pairs)
            for name, lat, truth in (
                ("env goal", latent_reward(goals, goal_points[:, None], thr), truth_env),
                ("HER future", her, truth_her),
                ("  goal near", her[near], truth_her[near]),  # the arm at the block in the goal frame
                ("  goal far", her[~near], truth_her[~near]),
            ):
                a = agreement(lat, truth)
                print(f"{name:<11} {mode:>8} {w:>6} {thr:>6.3f} {a.pairs:>7} {a.true_success:>9.2f} {a.agree:>6.2f} "
                      f"{a.false_positive:>8.2f} {a.false_negative:>8.2f}", flush=True)  # fmt: skip


if __name__ == "__main__":
    main()
