"""Replay seeded from the collect stage's dataset (prior data, as in RLPD): the pretraining frames as experience.

The dataset's episodes (frames, actions, proprio, object positions, goals) are turned into the variant's own
observations (frames encoded once with the frozen encoder, stacked as the env wrapper stacks them) and added to
the HER buffer episode by episode before training, so HER relabels them like online episodes. They cost no env
steps. :class:`PriorHerReplayBuffer` can draw a fixed share of every batch from them.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import torch as th
from stable_baselines3 import HerReplayBuffer
from stable_baselines3.common.type_aliases import DictReplayBufferSamples

from pipeline.collect.dataset import load_dataset
from pipeline.encoders import LoadedEncoder
from pipeline.envs import EnvConfig
from pipeline.errors import PipelineError
from pipeline.goalspace import GoalSpace
from pipeline.policy.config import VariantConfig
from pipeline.policy.observation import Frames, ObservationFlow


class PriorDataError(PipelineError, ValueError):
    """The dataset cannot seed this variant's replay (wrong env, or it lacks what the variant observes)."""


def prior_observations(
    dataset: Path,
    variant: VariantConfig,
    env_cfg: EnvConfig,
    encoder: LoadedEncoder | None,
    max_episodes: int | None,
    obs_space: GoalSpace | None = None,
) -> tuple[dict[str, np.ndarray], np.ndarray, dict[str, Any]]:
    """The dataset's episodes as the variant observes them: ``obs[key]`` ``(E, T + 1, d)``, actions ``(E, T, 4)``.

    Built by the env wrapper's own :class:`~pipeline.policy.observation.ObservationFlow`, one row per episode. The
    variant is a latent or proprio one with vector goals (``pipeline.policy.rules``:
    ``prior_data_needs_vector_inputs``); ``obs_space`` is the projection its latent stack holds (default: whole).

    :raises PriorDataError: a dataset of another env / camera / image size than the variant's encoder
    """
    names = ("proprio", "object_pos", "goal", "action", "episode") + (("frames",) if variant.obs == "latent" else ())
    data = load_dataset(dataset, names)
    attrs = data.attrs
    if attrs["env_id"] != env_cfg.id or int(attrs["frames_per_episode"]) != env_cfg.max_episode_steps + 1:
        raise PriorDataError(
            f"dataset {dataset} is {attrs['env_id']} with {attrs['frames_per_episode']} frames per "
            f"episode; this run is {env_cfg.id} with {env_cfg.max_episode_steps + 1}"
        )
    if encoder is not None and (encoder.camera != attrs["camera"] or encoder.image_size != attrs["image_size"]):
        raise PriorDataError(
            f"dataset {dataset} was rendered with camera {attrs['camera']} at {attrs['image_size']} "
            f"px; the encoder expects {encoder.camera} at {encoder.image_size} px"
        )
    fpe = int(attrs["frames_per_episode"])
    n_eps = len(data) // fpe if max_episodes is None else min(max_episodes, len(data) // fpe)
    a = {k: v[: n_eps * fpe].reshape(n_eps, fpe, *v.shape[1:]) for k, v in data.arrays.items()}  # (N,..)->(E,T+1,..)
    raw = {"proprio": a["proprio"], "achieved_goal": a["object_pos"], "desired_goal": a["goal"]}  # (E, T+1, d)
    z = None
    if variant.obs == "latent":
        z = encoder.encode(a["frames"].reshape(-1, *a["frames"].shape[2:])).reshape(n_eps, fpe, -1)  # (E, T+1, L)
    flow = ObservationFlow(
        variant, n_eps, {k: v.shape[-1] for k, v in raw.items()}, z.shape[-1] if z is not None else 0, None, obs_space
    )
    at = lambda t: Frames({k: v[:, t] for k, v in raw.items()}, None if z is None else z[:, t])  # noqa: E731
    steps = [flow.reset(at(0))] + [flow.step(at(t), np.zeros(0, np.int64)) for t in range(1, fpe)]
    obs = {k: np.stack([o[k] for o in steps], axis=1) for k in steps[0]}  # (T+1) x (E, d) -> (E, T+1, d)
    info = {"prior_episodes": n_eps, "prior_policy": attrs.get("policy")}  # transitions: as many as seed_replay adds
    return obs, a["action"][:, :-1].astype(np.float32), info


def seed_replay(buffer: HerReplayBuffer, obs: dict[str, np.ndarray], actions: np.ndarray, reward_fn: Any) -> int:
    """Add the episodes to ``buffer`` as the env would have (``n_envs`` at a time, truncated at the time limit).

    :param reward_fn: ``(achieved, desired, infos) -> rewards``, the task's own ``compute_reward``
    :return: the number of transitions added (episodes beyond a multiple of ``n_envs`` are left out)
    """
    n = buffer.n_envs
    n_eps, steps = actions.shape[:2]
    used = n_eps - n_eps % n
    for first in range(0, used, n):
        ep = {k: v[first : first + n] for k, v in obs.items()}  # (n, T+1, d)
        for t in range(steps):
            now = {k: v[:, t] for k, v in ep.items()}
            nxt = {k: v[:, t + 1] for k, v in ep.items()}
            last = t == steps - 1
            infos = [{"TimeLimit.truncated": last, "is_success": 0.0} for _ in range(n)]
            reward = np.asarray(reward_fn(nxt["achieved_goal"], nxt["desired_goal"], infos), np.float32)
            buffer.add(now, nxt, actions[first : first + n, t], reward, np.full(n, last), infos)
    return used * steps


class PriorHerReplayBuffer(HerReplayBuffer):
    """``HerReplayBuffer`` that draws ``prior_share`` of every batch from the first ``prior_rows`` rows (the seeded
    prior episodes) and the rest from the online ones (RLPD's symmetric sampling at ``0.5``).

    ``prior_share=None`` samples every valid transition alike, as SB3 does.
    """

    def __init__(self, *args: Any, prior_share: float | None = None, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.prior_share = prior_share
        self.prior_rows = np.zeros(1, np.int64)  # an array, so checkpoints keep it with the buffer

    def sample(self, batch_size: int, env: Any = None) -> DictReplayBufferSamples:  # type: ignore[override]
        rows = int(self.prior_rows[0])
        if self.prior_share is None or rows == 0:
            return super().sample(batch_size, env)
        is_valid = self.ep_length > 0  # (buffer_size, n_envs)
        prior = np.zeros_like(is_valid)
        prior[:rows] = True
        prior_idx, online_idx = np.flatnonzero(is_valid & prior), np.flatnonzero(is_valid & ~prior)
        n_prior = batch_size if len(online_idx) == 0 else int(round(self.prior_share * batch_size))
        picked = np.concatenate(
            [
                np.random.choice(prior_idx, n_prior),
                np.random.choice(online_idx, batch_size - n_prior) if batch_size > n_prior else np.zeros(0, np.int64),
            ]
        )
        np.random.shuffle(picked)  # HER relabels the first her_ratio of the batch: mix prior and online there
        # from here on as HerReplayBuffer.sample (SB3 2.9), with our indices
        batch_idx, env_idx = np.unravel_index(picked, is_valid.shape)
        nb_virtual = int(self.her_ratio * batch_size)
        virtual_b, real_b = np.split(batch_idx, [nb_virtual])
        virtual_e, real_e = np.split(env_idx, [nb_virtual])
        real = self._get_real_samples(real_b, real_e, env)
        virtual = self._get_virtual_samples(virtual_b, virtual_e, env)
        cat = lambda a, b: th.cat((a, b))  # noqa: E731
        return DictReplayBufferSamples(
            observations={k: cat(real.observations[k], virtual.observations[k]) for k in virtual.observations},
            actions=cat(real.actions, virtual.actions),
            next_observations={
                k: cat(real.next_observations[k], virtual.next_observations[k]) for k in virtual.next_observations
            },
            dones=cat(real.dones, virtual.dones),
            rewards=cat(real.rewards, virtual.rewards),
        )
