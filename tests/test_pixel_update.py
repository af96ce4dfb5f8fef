"""The pixel agents' update runs each encoder once per observation batch: fewer encoder passes than SB3's
``SAC.train``, the same critic step (the whole update, for the shared routing), and each routing kept (which loss
moves which encoder)."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from stable_baselines3 import SAC

from pipeline.policy.agent import HarnessSAC
from pipeline.policy.routing import Routing, encoder_modules, pixel_policy_kwargs, routed_policy

from .test_routing import EXPECTED, RandomPixelEnv, changed, one_update, snapshot

torch.set_num_threads(1)
PASSES = {  # routing -> (actor encoder, critic encoder, target encoder) calls per gradient step: fused, SB3's
    Routing.critic: ((2, 2, 1), (4, 4, 1)),  # one shared encoder: obs, next obs | actor obs, next obs, critic x2
    Routing.separate: ((2, 1, 1), (2, 2, 1)),  # the critic's: obs once | critic loss and actor loss's Q values
    Routing.shared: ((2, 2, 1), (4, 4, 1)),
}


def pixel_agent(routing: Routing) -> HarnessSAC:
    """A filled-buffer pixel agent (no gradient step yet), without augmentation."""
    policy, kwargs = routed_policy(routing, pixel_policy_kwargs("manip", net_arch=[32], feature_dim=16))
    model = HarnessSAC(policy, RandomPixelEnv(), policy_kwargs=kwargs, buffer_size=200, learning_starts=10_000,
                       batch_size=16, seed=0, device="cpu")  # fmt: skip
    model.learn(total_timesteps=40)  # fills the buffer, no gradient step
    return model


def count_calls(module: torch.nn.Module) -> list[int]:
    calls = [0]
    module.register_forward_hook(lambda *_: calls.__setitem__(0, calls[0] + 1))
    return calls


@pytest.mark.parametrize("routing", list(Routing))
@pytest.mark.parametrize("update", ["fused", "sb3"])
def test_encoder_passes_per_gradient_step(routing: Routing, update: str) -> None:
    model = pixel_agent(routing)
    enc = encoder_modules(model)
    counters = [count_calls(m) for m in (enc["actor"], enc["critic"], model.critic_target.features_extractor)]
    (model.train if update == "fused" else lambda g, b: SAC.train(model, g, b))(3, 16)
    expected = PASSES[routing][update == "sb3"]
    if enc["actor"] is enc["critic"]:  # one module, one counter seen twice
        expected = (expected[0], expected[0], expected[2])
    assert tuple(c[0] for c in counters) == tuple(3 * n for n in expected)


@pytest.mark.parametrize("routing", list(Routing))
def test_critic_step_equals_sb3s_and_routing_holds(routing: Routing) -> None:
    """Without augmentation one fused update moves the critic (its encoder included) exactly as SB3's update does,
    and with the shared routing the actor too; each loss moves the encoders the routing says."""
    fused = pixel_agent(routing)
    reference = copy.deepcopy(fused)
    for update in (fused.train, lambda g, b: SAC.train(reference, g, b)):
        torch.manual_seed(1)
        np.random.seed(1)  # the replay's sample
        update(1, 16)
    exact = [fused.critic] + ([fused.actor] if routing is Routing.shared else [])
    for module, ref in zip(exact, [reference.critic, reference.actor]):
        for p, q in zip(module.parameters(), ref.parameters(), strict=True):
            torch.testing.assert_close(p, q, rtol=0, atol=0)
    assert changed(fused.actor, snapshot(pixel_agent(routing).actor))  # the actor learned too

    for which, expected in zip(("critic", "actor"), EXPECTED[routing], strict=True):
        model = pixel_agent(routing)
        enc = encoder_modules(model)
        before = {name: snapshot(m) for name, m in enc.items()}
        one_update(model, which)
        assert tuple(changed(enc[n], before[n]) for n in ("actor", "critic")) == expected, which
