"""A toy encoder written the way a new one is: this one module (config, model, loss) plus one registry entry.

Tests register :data:`TOY` under ``"toy"`` with ``monkeypatch.setitem(ENCODERS, "toy", TOY)`` (undone afterwards).
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
import torch.nn.functional as F
from pydantic import Field
from torch import nn

from pipeline.nets import frames_to_tensor
from pipeline.params import StrictModel
from pipeline.pretrain.registry import EncoderSpec, Objective


class ToyConfig(StrictModel):
    """Mean colour of each image quadrant through one linear layer."""

    latent_dim: int = Field(3, ge=1, le=64)
    lr: float = Field(1e-3, gt=0.0)


class ToyEncoder(nn.Module):
    def __init__(self, cfg: ToyConfig, image_size: int) -> None:
        super().__init__()
        self.latent_dim = cfg.latent_dim
        self.proj = nn.Linear(12, cfg.latent_dim)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        quadrants = F.adaptive_avg_pool2d(frames_to_tensor(x), 2).flatten(1)  # (B, 3, H, W) -> (B, 3, 2, 2) -> (B, 12)
        return self.proj(quadrants)


def toy_loss(
    net: ToyEncoder, cfg: ToyConfig, batch: Mapping[str, torch.Tensor], median: torch.Tensor | None
) -> dict[str, torch.Tensor]:
    z = net.encode(batch["frames"])
    return {"loss": z.pow(2).mean(), "norm": z.norm(dim=-1).mean()}


TOY = EncoderSpec(ToyConfig, ToyEncoder, Objective(toy_loss))
