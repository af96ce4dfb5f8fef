"""``compile: true`` (pixel variants): the compiled image encoders compute what the eager ones do, one update moves
the weights as the eager update does, and parameters and checkpoints are those of the eager modules."""

from __future__ import annotations

import copy

import numpy as np
import torch

from pipeline.policy.pixel import compile_encoders
from pipeline.policy.routing import Routing, encoder_modules

from .test_pixel_update import pixel_agent


def seeded_update(model, seed: int = 0) -> None:
    np.random.seed(seed)  # the replay's batch indices
    torch.manual_seed(seed)  # SAC's action samples
    model.train(1, 16)


def test_compiled_encoders_compute_and_update_as_eager_ones() -> None:
    eager = pixel_agent(Routing.critic)  # the study's pixel_manip_ss routing, without augmentation
    compiled = copy.deepcopy(eager)
    compile_encoders(compiled)
    encoder = encoder_modules(compiled)["critic"]
    assert encoder.forward is not type(encoder).forward.__get__(encoder)  # replaced in place
    assert list(compiled.policy.state_dict()) == list(eager.policy.state_dict())  # same keys, same checkpoints
    obs = compiled.replay_buffer.sample(8).observations
    with torch.no_grad():
        want = encoder_modules(eager)["critic"](obs)
        got = encoder(obs)
    torch.testing.assert_close(got, want, atol=1e-5, rtol=1e-4)
    seeded_update(eager)
    seeded_update(compiled)
    for (name, a), b in zip(eager.policy.state_dict().items(), compiled.policy.state_dict().values()):
        torch.testing.assert_close(b, a, atol=1e-4, rtol=1e-3, msg=lambda m, n=name: f"{n}: {m}")
    moved = [k for k, v in eager.policy.state_dict().items() if "features_extractor" in k and v.dtype.is_floating_point]
    assert moved  # the update moved the encoder, so the comparison above covers it
