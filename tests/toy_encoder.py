"""A toy encoder written the way a new one is: this one module (config, model, loss, ``SPEC``) plus one registry line.

A module of ``pipeline/encoders/`` would be registered with the line ``"toy": toy_encoder.SPEC,`` in ``ENCODERS``
(:mod:`pipeline.encoders.registry`); tests add that entry with ``monkeypatch.setitem(ENCODERS, "toy", SPEC)``
(undone afterwards).
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
import torch.nn.functional as F
from pydantic import Field
from torch import nn

from pipeline.encoders.spec import EncoderSpec, Objective
from pipeline.nets import frames_to_tensor
from pipeline.params import StrictModel


class ToyConfig(StrictModel):
    """Mean colour of each image quadrant through one linear layer."""

    latent_dim: int = Field(3, ge=1, le=64)
    lr: float = Field(1e-3, gt=0.0)


class ToyEncoder(nn.Module):
    """``(B, 3, H, W)`` -> the mean colour of each quadrant ``(B, 12)`` -> ``(B, latent_dim)``."""

    def __init__(self, cfg: ToyConfig, image_size: int) -> None:
        super().__init__()
        self.latent_dim = cfg.latent_dim
        self.proj = nn.Linear(12, cfg.latent_dim)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Latent ``(B, latent_dim)`` of uint8 ``(B, H, W, 3)`` or float ``(B, 3, H, W)`` frames."""
        quadrants = F.adaptive_avg_pool2d(frames_to_tensor(x), 2).flatten(1)  # (B, 3, H, W) -> (B, 3, 2, 2) -> (B, 12)
        return self.proj(quadrants)


def toy_loss(
    net: ToyEncoder, cfg: ToyConfig, batch: Mapping[str, torch.Tensor], median: torch.Tensor | None
) -> dict[str, torch.Tensor]:
    """Shrink the latent (a stand-in objective): ``loss`` is minimised, ``norm`` is logged."""
    z = net.encode(batch["frames"])
    return {"loss": z.pow(2).mean(), "norm": z.norm(dim=-1).mean()}


SPEC = EncoderSpec(ToyConfig, ToyEncoder, Objective(toy_loss))
