"""Encoder gradient routing: which SAC loss updates which extractor."""

from __future__ import annotations

from typing import Any

import gymnasium as gym
import numpy as np
import pytest
import torch
from gymnasium import spaces
from stable_baselines3 import SAC

from pipeline.policy.routing import Routing, encoder_modules, pixel_policy_kwargs, routed_policy

torch.set_num_threads(1)


def make_sac(routing: Routing | str, env: Any, policy_kwargs: dict[str, Any], **sac_kwargs: Any) -> SAC:
    """SB3 SAC whose image encoder is trained according to ``routing``."""
    policy, kwargs = routed_policy(routing, policy_kwargs)
    return SAC(policy, env, policy_kwargs=kwargs, **sac_kwargs)


class RandomPixelEnv(gym.Env):
    """Dict obs with random 16 px pixels and goals; reward depends on the pixels so the critic has signal."""

    def __init__(self) -> None:
        self.observation_space = spaces.Dict(
            {
                "pixels": spaces.Box(0, 255, (6, 16, 16), np.uint8),
                "achieved_goal": spaces.Box(-1, 1, (3,), np.float32),
                "desired_goal": spaces.Box(-1, 1, (3,), np.float32),
            }
        )
        self.action_space = spaces.Box(-1, 1, (2,), np.float32)
        self._obs: dict[str, np.ndarray] = {}

    def reset(self, *, seed: int | None = None, options: dict | None = None) -> tuple[dict, dict]:
        super().reset(seed=seed)
        self.observation_space.seed(seed)
        self._obs = self.observation_space.sample()
        return self._obs, {}

    def step(self, action: np.ndarray) -> tuple[dict, float, bool, bool, dict]:
        reward = float(self._obs["pixels"].mean() / 255.0 + action.sum())
        self._obs = self.observation_space.sample()
        return self._obs, reward, False, False, {}


def filled_model(routing: Routing) -> SAC:
    model = make_sac(
        routing,
        RandomPixelEnv(),
        pixel_policy_kwargs("manip", net_arch=[32], feature_dim=16),
        buffer_size=200,
        learning_starts=10_000,
        batch_size=16,
        seed=0,
        device="cpu",
    )
    model.learn(total_timesteps=40)  # fills the buffer, no gradient step
    return model


def snapshot(module: torch.nn.Module) -> list[torch.Tensor]:
    return [p.detach().clone() for p in module.parameters()]


def changed(module: torch.nn.Module, before: list[torch.Tensor]) -> bool:
    return any(not torch.equal(p, b) for p, b in zip(module.parameters(), before, strict=True))


def one_update(model: SAC, which: str) -> None:
    """One real ``SAC.train`` step in which only the ``which`` ("actor" / "critic") optimizer steps."""
    frozen = model.critic if which == "actor" else model.actor
    frozen.optimizer.step = lambda *args, **kwargs: None  # type: ignore[method-assign]
    model.train(gradient_steps=1, batch_size=16)
    del frozen.optimizer.step  # restore the class method


def optimized_ids(optimizer: torch.optim.Optimizer) -> set[int]:
    return {id(p) for group in optimizer.param_groups for p in group["params"]}


# routing -> (critic update changes (actor enc, critic enc), actor update changes (actor enc, critic enc))
EXPECTED = {
    Routing.separate: ((False, True), (True, False)),
    Routing.shared: ((False, False), (True, True)),
    Routing.critic: ((True, True), (False, False)),
}


@pytest.mark.parametrize("routing", list(Routing))
def test_encoder_routing(routing: Routing) -> None:
    model = filled_model(routing)
    enc = encoder_modules(model)
    assert (enc["actor"] is enc["critic"]) == (routing is not Routing.separate)
    assert model.critic_target.features_extractor is not enc["critic"]

    enc_ids = {name: {id(p) for p in m.parameters()} for name, m in enc.items()}
    actor_opt, critic_opt = optimized_ids(model.actor.optimizer), optimized_ids(model.critic.optimizer)
    in_actor_opt = enc_ids["actor"] <= actor_opt
    in_critic_opt = enc_ids["critic"] <= critic_opt
    assert in_actor_opt == (routing is not Routing.critic)
    assert in_critic_opt == (routing is not Routing.shared)
    assert not (enc_ids["actor"] & actor_opt) or in_actor_opt  # all or nothing
    assert not (enc_ids["critic"] & critic_opt) or in_critic_opt

    for which, expected in zip(("critic", "actor"), EXPECTED[routing], strict=True):
        before = {name: snapshot(m) for name, m in enc.items()}
        one_update(model, which)
        got = tuple(changed(enc[name], before[name]) for name in ("actor", "critic"))
        assert got == expected, f"{routing.value}: {which} update changed (actor enc, critic enc) = {got}"


def test_routing_accepts_names() -> None:
    model = make_sac("critic", RandomPixelEnv(), pixel_policy_kwargs("manip_ss"), buffer_size=10, device="cpu")
    assert model.policy.normalize_images is False
    obs, _ = RandomPixelEnv().reset(seed=0)
    action, _ = model.predict(obs, deterministic=True)
    assert action.shape == (2,)
