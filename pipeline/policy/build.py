"""What one policy run is built from: its paths, its envs, its model (:mod:`pipeline.policy.model`), and replay
seeded from the dataset."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import torch
from stable_baselines3.common.off_policy_algorithm import OffPolicyAlgorithm
from stable_baselines3.common.vec_env import VecEnv

from pipeline.collect.dataset import open_dataset
from pipeline.encoders import LoadedEncoder, load_encoder
from pipeline.envs import EnvConfig
from pipeline.errors import PipelineError
from pipeline.goalspace import GoalSpace, load_goal_space
from pipeline.policy.config import PolicyConfig, VariantConfig, variant_named
from pipeline.policy.latent_goals import calibrate_latent_threshold
from pipeline.policy.model import build_model
from pipeline.policy.prior import prior_observations, seed_replay
from pipeline.policy.rules import task_errors
from pipeline.policy.vec_backend import make_fetch_vec_env
from pipeline.policy.vecenv import GoalObsVecEnv

if TYPE_CHECKING:
    from pipeline.config import PathsConfig


class RunError(PipelineError, ValueError):
    """A policy run cannot start (missing or mismatched encoder; an unknown variant is a ParamsError)."""


@dataclass(frozen=True)
class PolicyPaths:
    """Where a policy run reads (``dataset``, ``encoders``, ``goal_spaces``) and writes (``runs/<variant>/<seed>``,
    ``checkpoints/policy/<variant>/<seed>``, TensorBoard logs under ``logs/policy``)."""

    dataset: Path
    encoders: Path
    goal_spaces: Path
    runs: Path
    checkpoints: Path
    logs: Path

    @classmethod
    def of(cls, paths: PathsConfig) -> PolicyPaths:
        """The ``paths`` section's folders of these names."""
        return cls(paths.dataset, paths.encoders, paths.goal_spaces, paths.runs, paths.checkpoints, paths.logs)


def resolve_device(name: str) -> str:
    """``auto`` -> cuda when present, else cpu."""
    return ("cuda" if torch.cuda.is_available() else "cpu") if name == "auto" else name


def check_encoder(encoder: LoadedEncoder, env_cfg: EnvConfig, path: Path) -> None:
    """The encoder must have been trained on frames like the ones this env renders."""
    problems = []
    if encoder.image_size != env_cfg.image_size:
        problems.append(f"image size {encoder.image_size} != env.image_size {env_cfg.image_size}")
    if encoder.camera != env_cfg.camera_dict():
        problems.append(f"camera {encoder.camera} != env camera {env_cfg.camera_dict()}")
    if encoder.env_id != env_cfg.id:
        problems.append(f"env id {encoder.env_id} != env.id {env_cfg.id}")
    if problems:
        raise RunError(
            f"encoder {path} does not match this env: "
            + "; ".join(problems)
            + " (re-run pretrain with these env params)"
        )


def fitted_space(name: str, encoder: str, latent_dim: int, goal_spaces: Path) -> GoalSpace:
    """The goal space ``name`` fitted for ``encoder`` by the goal_space stage (``goal_spaces/<encoder>``)."""
    try:
        return load_goal_space(name, goal_spaces / encoder, latent_dim)
    except PipelineError:
        raise  # a damaged goal space: its own message names the file and the refit command
    except (FileNotFoundError, ValueError) as exc:
        raise RunError(
            f"variant needs goal space {name!r} of {encoder!r}: {exc} (run python -m pipeline.goalspace --encoder "
            f"{encoder})"
        ) from None


def build_envs(
    env_cfg: EnvConfig, policy: PolicyConfig, variant: VariantConfig, seed: int, device: str, paths: PolicyPaths
) -> tuple[VecEnv, VecEnv, dict[str, Any]]:
    """Training and evaluation envs for a variant (plus facts for metrics); reads its encoder and goal space."""
    info: dict[str, Any] = {}
    if problems := task_errors(variant, env_cfg):
        raise RunError("; ".join(problems))
    if variant.obs == "pixel":
        from pipeline.policy.pixel import build_pixel_envs

        train, evaluation = build_pixel_envs(
            env_cfg, variant, policy.n_envs, min(policy.eval_episodes, 4), policy.vec_env
        )
        return train, evaluation, info
    encoder = goal_space = obs_space = None
    threshold = None
    if variant.obs == "latent":
        path = paths.encoders / variant.encoder
        try:
            encoder = load_encoder(path, device=device)
        except FileNotFoundError as exc:
            raise RunError(f"variant needs encoder {variant.encoder!r}: {exc}") from None
        check_encoder(encoder, env_cfg, path)
        if variant.prior_goal_fraction > 0 and encoder.name != "vae":
            raise RunError(f"prior_goal_fraction needs a vae encoder; {variant.encoder!r} is {encoder.name!r}")
        if variant.goal_mode == "latent":
            goal_space = fitted_space(variant.goal_space, variant.encoder, encoder.latent_dim, paths.goal_spaces)
            threshold = variant.latent_threshold
            if threshold == "auto":
                threshold = calibrate_latent_threshold(env_cfg, encoder, goal_space=goal_space)
            info["latent_threshold"] = float(threshold)
            info["goal_space"] = variant.goal_space
        if variant.obs_space != "latent":
            obs_space = fitted_space(variant.obs_space, variant.encoder, encoder.latent_dim, paths.goal_spaces)
            info["obs_space"] = variant.obs_space
    render = variant.obs in ("latent", "pixel")
    n_eval = min(policy.eval_episodes, 4)
    train = GoalObsVecEnv(
        make_fetch_vec_env(env_cfg, policy.n_envs, render, policy.vec_env),
        variant,
        encoder,
        threshold,
        seed,
        goal_space,
        obs_space,
    )
    evaluation = GoalObsVecEnv(
        make_fetch_vec_env(env_cfg, n_eval, render, policy.vec_env),
        variant,
        encoder,
        threshold,
        seed + 1,
        goal_space,
        obs_space,
    )
    return train, evaluation, info


def seed_prior(
    env_cfg: EnvConfig, variant: VariantConfig, env: VecEnv, model: OffPolicyAlgorithm, resumed: bool, dataset: Path
) -> dict:
    """Load the ``dataset``'s episodes into the replay buffer (once: a resumed buffer already holds them)."""
    buf = model.replay_buffer
    if resumed:
        info = {"prior_policy": dict(open_dataset(dataset).attrs).get("policy")}
    else:
        obs, actions, info = prior_observations(
            dataset,
            variant,
            env_cfg,
            getattr(env, "encoder", None),
            variant.prior_episodes,
            getattr(env, "obs_space", None),
        )
        reward = lambda a, d, infos: env.env_method("compute_reward", a, d, infos, indices=[0])[0]  # noqa: E731
        buf.prior_rows[0] = seed_replay(buf, obs, actions, reward) // buf.n_envs
    return {**info, "prior_transitions": int(buf.prior_rows[0]) * buf.n_envs}


def restore_run(
    env_cfg: EnvConfig, policy: PolicyConfig, variant_name: str, seed: int, paths: PolicyPaths, log_name: str
) -> tuple[OffPolicyAlgorithm, VecEnv, VecEnv, int]:
    """A run's model with the weights of its checkpoint, fresh training and eval envs, and the step it was saved at
    (for pictures and re-evaluation after the run; TensorBoard logs, if any, under ``logs/<log_name>``)."""
    from pipeline.policy.checkpoint import load_policy_weights

    variant = variant_named(policy, variant_name)
    device = resolve_device(policy.device)
    train_env, eval_env, _ = build_envs(env_cfg, policy, variant, seed, device, paths)
    model = build_model(variant, train_env, seed, device, paths.logs / log_name)
    steps = load_policy_weights(model, paths.checkpoints / "policy" / variant_name / str(seed))
    return model, train_env, eval_env, steps
