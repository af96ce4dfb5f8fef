"""Stage 3: SAC+HER on state, frozen-encoder latents or pixels, with evaluation, checkpoints and resume."""

from __future__ import annotations

import csv
import time
from pathlib import Path
from typing import Any

import torch
from stable_baselines3 import HerReplayBuffer
from stable_baselines3.common.callbacks import BaseCallback, CallbackList
from stable_baselines3.common.off_policy_algorithm import OffPolicyAlgorithm
from stable_baselines3.common.vec_env import VecEnv

from pipeline.collect.dataset import open_dataset
from pipeline.config import Params
from pipeline.encoders import LoadedEncoder, load_encoder
from pipeline.goalspace import load_goal_space
from pipeline.io import state_signature, write_json
from pipeline.policy.algos import algo_class, algo_kwargs, clip_critic_targets
from pipeline.policy.checkpoint import (
    load_checkpoint,
    replay_bytes_per_transition,
    save_checkpoint,
)
from pipeline.policy.config import VariantConfig
from pipeline.policy.evaluate import evaluate
from pipeline.policy.normalize import NormalizerUpdate, VectorInputs
from pipeline.policy.overlap import Overlapped, uses_worker_processes
from pipeline.policy.prior import PriorHerReplayBuffer, prior_observations, seed_replay
from pipeline.policy.rollout import rollout_gif
from pipeline.policy.vecenv import (
    GoalObsVecEnv,
    calibrate_latent_threshold,
    make_fetch_vec_env,
)
from pipeline.policy.warmup import scripted_warmup

SUMMARY = "summary.json"
"""per-run metrics file of ``dvc exp show``: final success, final object distance, env steps"""
EVAL_COLUMNS = ("step", "success", "final_object_distance", "train_seconds")
"""``eval.csv``: env steps, eval success rate, mean final object-goal distance (m), training wall seconds so far"""


class RunError(ValueError):
    """A policy run cannot start (unknown variant, missing or mismatched encoder)."""


def resolve_device(name: str) -> str:
    """``auto`` -> cuda when present, else cpu."""
    return ("cuda" if torch.cuda.is_available() else "cpu") if name == "auto" else name


def check_encoder(encoder: LoadedEncoder, params: Params, path: Path) -> None:
    """The encoder must have been trained on frames like the ones this env renders."""
    env = params.env
    problems = []
    if encoder.image_size != env.image_size:
        problems.append(f"image size {encoder.image_size} != env.image_size {env.image_size}")
    if encoder.camera != env.camera_dict():
        problems.append(f"camera {encoder.camera} != env camera {env.camera_dict()}")
    if encoder.env_id != env.id:
        problems.append(f"env id {encoder.env_id} != env.id {env.id}")
    if problems:
        raise RunError(
            f"encoder {path} does not match this env: "
            + "; ".join(problems)
            + " (re-run pretrain with these env params)"
        )


def build_envs(params: Params, variant: VariantConfig, seed: int, device: str) -> tuple[VecEnv, VecEnv, dict[str, Any]]:
    """Training and evaluation envs for a variant (plus facts for metrics)."""
    pol = params.policy
    info: dict[str, Any] = {}
    if variant.obs == "pixel":
        from pipeline.policy.pixel import build_pixel_envs

        train, evaluation = build_pixel_envs(params, variant, pol.n_envs, min(pol.eval_episodes, 4))
        return train, evaluation, info
    encoder = goal_space = None
    threshold = None
    if variant.obs == "latent":
        path = params.paths.encoders / variant.encoder
        try:
            encoder = load_encoder(path, device=device)
        except FileNotFoundError as exc:
            raise RunError(f"variant needs encoder {variant.encoder!r}: {exc}") from None
        check_encoder(encoder, params, path)
        if variant.prior_goal_fraction > 0 and encoder.name != "vae":
            raise RunError(f"prior_goal_fraction needs a vae encoder; {variant.encoder!r} is {encoder.name!r}")
        if variant.goal_mode == "latent":
            if not params.env.has_object:
                raise RunError(f"goal_mode: latent needs a task with an object; {params.env.id} has none")
            try:
                spaces = params.paths.goal_spaces / variant.encoder
                goal_space = load_goal_space(variant.goal_space, spaces, encoder.latent_dim)
            except (FileNotFoundError, ValueError) as exc:
                raise RunError(
                    f"variant needs goal space {variant.goal_space!r} of {variant.encoder!r}: {exc}"
                ) from None
            threshold = variant.latent_threshold
            if threshold == "auto":
                threshold = calibrate_latent_threshold(params.env, encoder, goal_space=goal_space)
            info["latent_threshold"] = float(threshold)
            info["goal_space"] = variant.goal_space
    render = variant.obs in ("latent", "pixel")
    n_eval = min(pol.eval_episodes, 4)
    train = GoalObsVecEnv(
        make_fetch_vec_env(params.env, pol.n_envs, render, pol.vec_env), variant, encoder, threshold, seed, goal_space
    )
    evaluation = GoalObsVecEnv(
        make_fetch_vec_env(params.env, n_eval, render, pol.vec_env), variant, encoder, threshold, seed + 1, goal_space
    )
    return train, evaluation, info


def build_model(
    variant: VariantConfig,
    env: VecEnv,
    seed: int,
    device: str,
    tb_dir: Path,
    overlap: bool = False,
    has_object: bool = True,
) -> OffPolicyAlgorithm:
    """SB3 / sb3-contrib ``variant.algo`` with HER for a state/latent variant (pixel variants:
    :mod:`pipeline.policy.pixel`), inputs normalised inside the networks, optional scripted warm-up.

    :param overlap: when ``env`` steps in worker processes, run each update while they step
        (:class:`~pipeline.policy.overlap.Overlapped`; ignored for in-process envs and pixel variants)
    :param has_object: the task has an object to push (else the scripted warm-up reaches for the goal)
    """
    if variant.obs == "pixel":
        from pipeline.policy.pixel import build_pixel_model

        model = build_pixel_model(variant, env, seed, device, tb_dir)
        source = lambda: model._last_obs  # noqa: E731  (pixel observations carry proprio and the simulator goals)
    else:
        sac = variant.sac
        overlap = overlap and uses_worker_processes(env) and hasattr(env, "before_wait")
        extractor = {
            "features_extractor_class": VectorInputs,
            "features_extractor_kwargs": {"keys": variant.input_keys(), "normalize": variant.normalize},
        }
        model = algo_class(variant.algo, overlap)(
            "MultiInputPolicy",
            env,
            learning_rate=sac.learning_rate,
            buffer_size=sac.buffer_size,
            batch_size=sac.batch_size,
            gamma=sac.gamma,
            tau=sac.tau,
            learning_starts=sac.learning_starts,
            train_freq=sac.train_freq,
            gradient_steps=sac.gradient_steps,
            replay_buffer_class=PriorHerReplayBuffer if variant.prior_data else HerReplayBuffer,
            replay_buffer_kwargs={
                "n_sampled_goal": variant.her.n_sampled_goal,
                "goal_selection_strategy": variant.her.goal_selection_strategy,
                **({"prior_share": variant.prior_share} if variant.prior_data else {}),
            },
            policy_kwargs={"net_arch": list(sac.net_arch), **extractor},
            tensorboard_log=str(tb_dir),
            seed=seed,
            device=device,
            verbose=0,
            **algo_kwargs(variant.algo, sac, env.action_space.shape[0]),
        )
        if overlap:
            env.before_wait = model.run_pending_train
        source = getattr(env, "raw_observations", None)
    if variant.sac.target_clip:
        clip_critic_targets(model, variant.sac.gamma)
    if variant.warmup == "scripted":
        model.warmup_actions = scripted_warmup(source, variant.warmup_noise, has_object, seed)
    return model


class EvalCheckpointCallback(BaseCallback):
    """Every ``every`` env steps: evaluate, append to ``eval.csv``, log to TensorBoard, checkpoint."""

    def __init__(
        self, eval_env: VecEnv, run_dir: Path, ckpt_dir: Path, every: int, episodes: int, extra: dict[str, Any]
    ) -> None:
        super().__init__()
        self.eval_env, self.run_dir, self.ckpt_dir, self.every, self.episodes, self.extra = (
            eval_env,
            run_dir,
            ckpt_dir,
            every,
            episodes,
            extra,
        )
        self.eval_seconds = 0.0
        self.last: dict[str, float] = {}
        self.last_step = -1
        self.rows: list[dict[str, float]] = []  # evaluation history, also kept in checkpoints
        self.t0 = time.perf_counter()
        self.prior_wall = self.prior_train = 0.0  # seconds spent before a resume
        self.start_step = 0

    def timing(self) -> dict[str, float]:
        """Cumulative wall and training seconds (evaluation excluded) across resumes."""
        wall = time.perf_counter() - self.t0
        return {"wall_seconds": self.prior_wall + wall, "train_seconds": self.prior_train + wall - self.eval_seconds}

    def next_eval(self) -> int:
        return (self.last_step // self.every + 1) * self.every if self.last_step >= 0 else 0

    def run_eval(self, checkpoint: bool = True) -> None:
        """Evaluate now; append the row, log it, and checkpoint."""
        t0 = time.perf_counter()
        result = evaluate(self.model, self.eval_env, self.episodes)
        self.eval_seconds += time.perf_counter() - t0
        row = {"step": self.num_timesteps, **result, "train_seconds": round(self.timing()["train_seconds"], 1)}
        self.rows.append(row)
        with (self.run_dir / "eval.csv").open("a", newline="") as f:
            csv.DictWriter(f, fieldnames=EVAL_COLUMNS, restval="").writerow(row)
        self.logger.record("eval/success_rate", result["success"])
        self.logger.record("eval/final_object_distance", result["final_object_distance"])
        self.last, self.last_step = result, self.num_timesteps
        if checkpoint:
            save_checkpoint(
                self.model, self.ckpt_dir, {**self.extra, "last_eval": result, "eval_rows": self.rows, **self.timing()}
            )

    def _on_training_start(self) -> None:
        if self.last_step < 0:
            self.run_eval(checkpoint=False)

    def _on_step(self) -> bool:
        if self.num_timesteps >= self.next_eval():
            self.run_eval()
        return True


def write_eval_csv(path: Path, rows: list[dict[str, float]]) -> None:
    """(Re)write ``eval.csv`` with the evaluation history (DVC deletes outputs before a stage reruns)."""
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=EVAL_COLUMNS, restval="")
        writer.writeheader()
        writer.writerows(rows)


def seed_prior(params: Params, variant: VariantConfig, env: VecEnv, model: OffPolicyAlgorithm, resumed: bool) -> dict:
    """Load the dataset's episodes into the replay buffer (once: a resumed buffer already holds them)."""
    buf = model.replay_buffer
    if resumed:
        info = {"prior_policy": dict(open_dataset(params.paths.dataset).attrs).get("policy")}
    else:
        obs, actions, info = prior_observations(
            params.paths.dataset, variant, params.env, getattr(env, "encoder", None), variant.prior_episodes
        )
        reward = lambda a, d, infos: env.env_method("compute_reward", a, d, infos, indices=[0])[0]  # noqa: E731
        buf.prior_rows[0] = seed_replay(buf, obs, actions, reward) // buf.n_envs
    return {**info, "prior_transitions": int(buf.prior_rows[0]) * buf.n_envs}


def train_policy(params: Params, variant_name: str, seed: int, progress: bool = True) -> dict[str, Any]:
    """Train one variant with one seed; writes ``eval.csv``, ``metrics.json``, ``summary.json``, checkpoints, logs."""
    pol = params.policy
    if variant_name not in pol.variants:
        raise RunError(f"unknown variant {variant_name!r}; defined in policy.variants: {sorted(pol.variants)}")
    variant = pol.variants[variant_name]
    device = resolve_device(pol.device)
    run_dir = params.paths.runs / variant_name / str(seed)
    run_dir.mkdir(parents=True, exist_ok=True)
    if pol.cpu_threads:
        torch.set_num_threads(pol.cpu_threads)
    torch.manual_seed(seed)
    train_env, eval_env, info = build_envs(params, variant, seed, device)
    model = build_model(
        variant,
        train_env,
        seed,
        device,
        params.paths.logs / "policy",
        overlap=pol.overlap_updates,
        has_object=params.env.has_object,
    )
    ckpt = params.paths.checkpoints / "policy" / variant_name / str(seed)
    # what a checkpoint must match to be resumed (total_steps may grow: a longer run continues)
    fp = {
        "env": params.env.model_dump(mode="json"),
        "variant": variant.model_dump(mode="json"),
        "n_envs": pol.n_envs,
        "seed": seed,
        "eval_every": pol.eval_every,
        "eval_episodes": pol.eval_episodes,
        "overlap_updates": pol.overlap_updates,
        "vec_env": pol.vec_env,
        "architecture": state_signature(model.policy.state_dict()),
    }
    state = load_checkpoint(model, ckpt, fp)
    if variant.prior_data:
        info.update(seed_prior(params, variant, train_env, model, resumed=state is not None))
    start = model.num_timesteps
    if state and progress:
        print(f"policy: resuming {variant_name}/{seed} from step {start}")
    callback = EvalCheckpointCallback(
        eval_env, run_dir, ckpt, pol.eval_every, pol.eval_episodes, {**info, "fingerprint": fp}
    )
    if state:
        callback.last_step, callback.last = start, state.get("last_eval", {})
        callback.rows = [r for r in state.get("eval_rows", []) if r["step"] <= start]
        callback.prior_wall, callback.prior_train = state.get("wall_seconds", 0.0), state.get("train_seconds", 0.0)
    write_eval_csv(run_dir / "eval.csv", callback.rows)
    callback.t0 = time.perf_counter()
    remaining = max(pol.total_steps - start, 0)
    if remaining:
        model.learn(
            remaining,
            callback=CallbackList([NormalizerUpdate(), callback]),
            reset_num_timesteps=False,
            progress_bar=progress,
            tb_log_name=f"{variant_name}_{seed}",
        )
    if callback.last_step != model.num_timesteps or not callback.last:  # final evaluation at the last step
        callback.init_callback(model)
        callback.run_eval()
    timing = callback.timing()
    if pol.rollout_episodes and variant.obs != "pixel":
        rollout_gif(model, params.env, variant, eval_env, pol.rollout_episodes, run_dir / "rollout.gif")
    metrics: dict[str, Any] = {
        "final_success": callback.last["success"],
        "final_object_distance": callback.last["final_object_distance"],
        "fps": model.num_timesteps / max(timing["train_seconds"], 1e-9),
        "replay_bytes_per_transition": replay_bytes_per_transition(model.replay_buffer),
        "wall_time_s": timing["wall_seconds"],
        "total_steps": model.num_timesteps,
        "device": device,
        "algo": variant.algo,
        "warmup": variant.warmup,
        "warmup_steps": min(variant.sac.learning_starts, model.num_timesteps),
        "overlapped": isinstance(model, Overlapped),
        **info,
    }
    write_json(run_dir / "metrics.json", metrics)
    # the few numbers `dvc exp show` lists per run (metrics.json holds everything)
    write_json(run_dir / SUMMARY, {k: metrics[k] for k in ("final_success", "final_object_distance", "total_steps")})
    train_env.close()
    eval_env.close()
    if progress:
        print(
            f"policy {variant_name}/{seed}: success {metrics['final_success']:.2f} after {model.num_timesteps} steps, "
            f"{metrics['fps']:.0f} env steps/s, {metrics['replay_bytes_per_transition']:.0f} B/transition"
            + (
                f", with scripted warm-up (demonstrations) for {metrics['warmup_steps']} steps"
                if variant.warmup == "scripted"
                else ""
            )
            + f" -> {run_dir}"
        )
    return metrics
