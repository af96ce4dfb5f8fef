"""Stage 3: SAC+HER on state, frozen-encoder latents or pixels, with evaluation, checkpoints and resume."""

from __future__ import annotations

import resource
import time
from typing import Any

import torch
from stable_baselines3.common.callbacks import CallbackList

from pipeline.envs import EnvConfig
from pipeline.io import exclusive, recover_stale, state_signature, write_json
from pipeline.policy.build import PolicyPaths, build_envs, build_model, resolve_device, seed_prior
from pipeline.policy.checkpoint import load_checkpoint, replay_bytes_per_transition
from pipeline.policy.config import PolicyConfig, VariantConfig, variant_named
from pipeline.policy.eval_loop import EvalCheckpointCallback, final_evaluation, write_eval_csv
from pipeline.policy.normalize import NormalizerUpdate
from pipeline.policy.rollout import rollout_gif

NOT_FINGERPRINTED = {"wall_minutes", "compile"}
"""variant keys a checkpoint may differ in and still resume (a budget may grow, as ``policy.total_steps`` may; a
compiled encoder computes what the eager one does)"""
SUMMARY = "summary.json"
"""per-run metrics file of ``dvc exp show``: final success, final object distance, env steps"""


def upgrade_fingerprint(stored: dict[str, Any]) -> dict[str, Any]:
    """A stored checkpoint fingerprint as this code writes it: its env and variant sections re-read through their
    configs, so that a field added to them since (at its default) does not discard the checkpoint."""
    return {
        **stored,
        "env": EnvConfig.model_validate(stored["env"]).model_dump(mode="json"),
        "variant": VariantConfig.model_validate(stored["variant"]).model_dump(mode="json", exclude=NOT_FINGERPRINTED),
    }


def peak_rss_mb(n_envs: int) -> float:
    """Peak resident memory of the run in MB: this process, plus ``n_envs`` times the largest finished child (worker
    envs, closed by now), an upper bound on the workers' share (Linux reports ``ru_maxrss`` in KB)."""
    own = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    child = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss
    return round((own + n_envs * child) / 1024, 1)


def train_policy(
    env_cfg: EnvConfig,
    policy: PolicyConfig,
    variant_name: str,
    seed: int,
    paths: PolicyPaths,
    progress: bool = True,
) -> dict[str, Any]:
    """Train variant ``policy.variants[variant_name]`` with one seed on the task ``env_cfg``; writes ``eval.csv``,
    ``metrics.json``, ``summary.json`` (``paths.runs``), checkpoints and TensorBoard logs (see :class:`PolicyPaths`).
    One writer per run: a second one fails at once, naming the first one's pid (the lock covers the checkpoint).
    """
    variant = variant_named(policy, variant_name)
    run_dir = paths.runs / variant_name / str(seed)
    with exclusive(run_dir):
        return _train(env_cfg, policy, variant, variant_name, seed, paths, progress)


def _train(
    env_cfg: EnvConfig,
    policy: PolicyConfig,
    variant: VariantConfig,
    variant_name: str,
    seed: int,
    paths: PolicyPaths,
    progress: bool,
) -> dict[str, Any]:
    """:func:`train_policy` with its run folder locked."""
    device = resolve_device(policy.device)
    run_dir = paths.runs / variant_name / str(seed)
    if policy.cpu_threads:
        torch.set_num_threads(policy.cpu_threads)
    torch.manual_seed(seed)
    train_env, eval_env, info = build_envs(env_cfg, policy, variant, seed, device, paths)
    model = build_model(
        variant,
        train_env,
        seed,
        device,
        paths.logs / "policy",
        overlap=policy.overlap_updates,
        has_object=env_cfg.has_object,
    )
    ckpt = paths.checkpoints / "policy" / variant_name / str(seed)
    # what a checkpoint must match to be resumed (total_steps may grow: a longer run continues)
    fp = {
        "env": env_cfg.model_dump(mode="json"),
        "variant": variant.model_dump(mode="json", exclude=NOT_FINGERPRINTED),
        "n_envs": policy.n_envs,
        "seed": seed,
        "eval_every": policy.eval_every,
        "eval_episodes": policy.eval_episodes,
        "overlap_updates": policy.overlap_updates,
        "vec_env": policy.vec_env,
        "architecture": state_signature(model.policy.state_dict()),
    }
    for line in recover_stale(ckpt):  # a run killed while it published its checkpoint
        print(line)
    state = load_checkpoint(model, ckpt, fp, upgrade_fingerprint)
    if variant.prior_data:
        info.update(seed_prior(env_cfg, variant, train_env, model, state is not None, paths.dataset))
    start = model.num_timesteps
    if state:  # always said, so that a log tells a resume from a restart
        print(f"policy: resuming {variant_name}/{seed} from step {start} (checkpoint {ckpt})", flush=True)
    else:
        print(f"policy: starting {variant_name}/{seed} from scratch", flush=True)
    budget = variant.wall_minutes * 60.0 if variant.wall_minutes is not None else None
    callback = EvalCheckpointCallback(
        eval_env, run_dir, ckpt, policy.eval_every, policy.eval_episodes, {**info, "fingerprint": fp}, budget
    )
    if state:
        callback.last_step, callback.last = start, state.get("last_eval", {})
        callback.rows = [r for r in state.get("eval_rows", []) if r["step"] <= start]
        callback.prior_wall, callback.prior_train = state.get("wall_seconds", 0.0), state.get("train_seconds", 0.0)
    run_dir.mkdir(parents=True, exist_ok=True)  # not before: a run that cannot start leaves no empty folder
    write_eval_csv(run_dir / "eval.csv", callback.rows)
    callback.t0 = time.perf_counter()
    remaining = 0 if state and callback.out_of_time() else max(policy.total_steps - start, 0)  # a spent budget stays
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
    final = final_evaluation(model, eval_env, policy.final_eval_episodes)
    if policy.rollout_episodes and variant.obs != "pixel":
        rollout_gif(model, env_cfg, variant, eval_env, policy.rollout_episodes, run_dir / "rollout.gif")
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
        "encoder": variant.encoder if variant.obs == "latent" else None,  # the report charges its pretraining
        "warmup_steps": min(variant.sac.learning_starts, model.num_timesteps),
        "overlapped": model.overlap,
        "stopped_by_wall_budget": budget is not None and model.num_timesteps < policy.total_steps,
        **final,
        **info,
    }
    train_env.close()
    eval_env.close()
    metrics["peak_rss_mb"] = peak_rss_mb(policy.n_envs)
    write_json(run_dir / "metrics.json", metrics)
    # the few numbers `dvc exp show` lists per run (metrics.json holds everything)
    keys = ("final_success", "final_object_distance", "total_steps", *final)
    write_json(run_dir / SUMMARY, {k: metrics[k] for k in keys})
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
