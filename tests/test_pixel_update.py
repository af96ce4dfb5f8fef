"""The critic-routed pixel agents' update encodes each observation batch once: fewer encoder passes than SB3's
``SAC.train``, the same critic step, and the routing kept (the critic loss trains the encoder, the actor loss not)."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from stable_baselines3 import SAC

from pipeline.policy.agent import HarnessSAC
from pipeline.policy.routing import Routing, encoder_modules, pixel_policy_kwargs, routed_policy

from .test_routing import RandomPixelEnv, changed, one_update, snapshot

torch.set_num_threads(1)


def critic_routed(augment: bool = False) -> HarnessSAC:
    """A filled-buffer critic-routed pixel agent (no gradient step yet)."""
    policy, kwargs = routed_policy(Routing.critic, pixel_policy_kwargs("manip", net_arch=[32], feature_dim=16,
                                                                       augment=augment))  # fmt: skip
    model = HarnessSAC(policy, RandomPixelEnv(), policy_kwargs=kwargs, buffer_size=200, learning_starts=10_000,
                       batch_size=16, seed=0, device="cpu")  # fmt: skip
    model.learn(total_timesteps=40)  # fills the buffer, no gradient step
    return model


def count_calls(module: torch.nn.Module) -> list[int]:
    calls = [0]
    module.register_forward_hook(lambda *_: calls.__setitem__(0, calls[0] + 1))
    return calls


@pytest.mark.parametrize("update, online, target", [("fused", 2, 1), ("sb3", 4, 1)])
def test_encoder_passes_per_gradient_step(update: str, online: int, target: int) -> None:
    """Fused: the observations once (critic loss, then detached for the actor) and the next observations once per
    encoder; SB3's: the observations three times (actor, critic loss, actor loss's Q values)."""
    model = critic_routed()
    shared, target_enc = (
        count_calls(encoder_modules(model)["critic"]),
        count_calls(model.critic_target.features_extractor),
    )
    (model.train if update == "fused" else lambda g, b: SAC.train(model, g, b))(3, 16)
    assert (shared[0], target_enc[0]) == (3 * online, 3 * target)


def test_critic_step_equals_sb3s_and_routing_holds() -> None:
    """Without augmentation, one fused update moves the critic (its encoder included) exactly as SB3's update does;
    the actor loss changes no encoder weight, the critic loss does."""
    fused = critic_routed()
    reference = copy.deepcopy(fused)
    for model, update in ((fused, fused.train), (reference, lambda g, b: SAC.train(reference, g, b))):
        torch.manual_seed(1)
        np.random.seed(1)  # the replay's sample
        update(1, 16)
    for p, q in zip(fused.critic.parameters(), reference.critic.parameters(), strict=True):
        torch.testing.assert_close(p, q, rtol=0, atol=0)
    assert changed(fused.actor, snapshot(critic_routed().actor))  # the actor learned too

    for which, moves_encoder in (("critic", True), ("actor", False)):
        model = critic_routed()
        enc = encoder_modules(model)["critic"]
        before = snapshot(enc)
        one_update(model, which)
        assert changed(enc, before) == moves_encoder, which
