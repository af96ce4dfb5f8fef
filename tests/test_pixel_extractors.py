"""Pixel features extractors: declared features_dim, RandomShift behaviour."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from gymnasium import spaces

from pipeline.policy.extractors import EXTRACTORS, RandomShift

torch.set_num_threads(1)


def goal_space(size: int = 36, k: int = 2, proprio: bool = True) -> spaces.Dict:
    d = {
        "pixels": spaces.Box(0, 255, (3 * k, size, size), np.uint8),
        "achieved_goal": spaces.Box(-np.inf, np.inf, (3,), np.float32),
        "desired_goal": spaces.Box(-np.inf, np.inf, (3,), np.float32),
    }
    if proprio:
        d["proprio"] = spaces.Box(-np.inf, np.inf, (10,), np.float32)
    return spaces.Dict(d)


def batch(space: spaces.Dict, n: int = 4) -> dict[str, torch.Tensor]:
    return {k: torch.as_tensor(np.stack([s.sample() for _ in range(n)])).float() for k, s in space.spaces.items()}


@pytest.mark.parametrize("coordconv", [False, True])
@pytest.mark.parametrize("name", sorted(EXTRACTORS))
def test_extractor_features_dim(name: str, coordconv: bool) -> None:
    space = goal_space()
    ext = EXTRACTORS[name](space, coordconv=coordconv, augment=True)
    out = ext(batch(space))
    assert out.shape == (4, ext.features_dim)
    image_dim = 64 if name == "manip_ss" else 50
    assert ext.features_dim == image_dim + 16
    assert torch.isfinite(out).all()
    # vectors are appended unchanged after the image features
    obs = batch(space)
    ext.eval()
    out = ext(obs)
    torch.testing.assert_close(out[:, image_dim:], torch.cat([obs[k] for k in ext.vector_keys], dim=1))
    if name != "nature":
        assert out[:, :image_dim].abs().max() <= 1.0  # LayerNorm -> Tanh


def test_extractor_without_proprio() -> None:
    space = goal_space(size=24, proprio=False)
    ext = EXTRACTORS["manip"](space, feature_dim=32)
    assert ext(batch(space)).shape == (4, 32 + 6)


def test_augment_only_in_train_mode() -> None:
    space = goal_space(size=24)
    ext = EXTRACTORS["manip"](space, augment=True)
    obs = batch(space)
    ext.eval()
    torch.testing.assert_close(ext(obs), ext(obs))
    ext.train()
    torch.manual_seed(0)
    assert not torch.allclose(ext(obs), ext(obs))


def test_random_shift() -> None:
    torch.manual_seed(0)
    x = torch.rand(8, 6, 20, 20) * 255
    shift = RandomShift(pad=4)
    y = shift(x)
    assert y.shape == x.shape
    assert not torch.equal(x, y)
    # every output is an integer-shifted crop of the replicate-padded input
    padded = torch.nn.functional.pad(x, (4, 4, 4, 4), mode="replicate")
    for i in range(8):
        crops = [padded[i, :, dy : dy + 20, dx : dx + 20] for dy in range(9) for dx in range(9)]
        assert any(torch.equal(y[i], c) for c in crops)
    shift.eval()
    assert torch.equal(shift(x), x)
