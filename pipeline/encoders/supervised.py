"""Supervised keypoints (the upper bound where simulator labels exist): its ``pretrain.supervised`` block, the
keypoint regressor, its prepare hook (label statistics) and its loss."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F
from pydantic import Field
from torch import nn

from pipeline.encoders.keypoints import KeypointTrunk
from pipeline.encoders.losses import Batch
from pipeline.encoders.spec import EncoderSpec, Objective, SoftmaxTemperature, TrunkChannels
from pipeline.nets import frames_to_tensor
from pipeline.params import StrictModel

NUM_TARGETS = 6  # object_pos xyz + gripper_pos xyz


class SupervisedConfig(StrictModel):
    """Keypoint regressor trained on privileged object/gripper positions (upper-bound baseline)."""

    num_keypoints: int = Field(
        16, ge=1, le=256, description="K; the latent is 2K keypoint coords + the 6 standardised predictions."
    )
    channels: TrunkChannels = (64, 32)
    head_hidden: int = Field(
        128, ge=1, le=4096, description="Hidden width of the MLP head from keypoints to the 6 targets."
    )
    softmax_temperature: SoftmaxTemperature = 0.1
    lr: float = Field(1e-3, gt=0.0, le=1.0, description="Adam learning rate.")


class KeypointRegressor(nn.Module):
    """Supervised keypoint net: trunk -> MLP regressing standardised (object_pos, gripper_pos).

    Latent = ``[2K keypoint coords, 6 standardised predictions]`` (``latent_dim = 2K + 6``), so the
    latent carries both the raw keypoints and the position read-out on a comparable (~unit) scale.

    :param cfg: :class:`SupervisedConfig`
    :param image_size: side of the square input frames
    """

    def __init__(self, cfg: SupervisedConfig, image_size: int) -> None:
        super().__init__()
        self.trunk = KeypointTrunk(cfg.channels, cfg.num_keypoints, image_size, cfg.softmax_temperature)
        k2 = 2 * cfg.num_keypoints
        self.head = nn.Sequential(nn.Linear(k2, cfg.head_hidden), nn.ReLU(), nn.Linear(cfg.head_hidden, NUM_TARGETS))
        self.latent_dim = k2 + NUM_TARGETS
        self.register_buffer("label_mean", torch.zeros(NUM_TARGETS))
        self.register_buffer("label_std", torch.ones(NUM_TARGETS))

    def set_label_stats(self, mean: Any, std: Any, min_std: float = 0.01) -> None:
        """Store target mean/std (metres, 6 values each); std is floored at ``min_std`` (e.g. a fixed table height)."""
        self.label_mean.copy_(torch.as_tensor(mean, dtype=torch.float32).reshape(NUM_TARGETS))
        self.label_std.copy_(torch.as_tensor(std, dtype=torch.float32).reshape(NUM_TARGETS).clamp(min=min_std))

    def standardise(self, targets: torch.Tensor) -> torch.Tensor:
        """Metres ``(B, 6)`` -> standardised ``(B, 6)``."""
        return (targets - self.label_mean) / self.label_std

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(standardised predictions (B, 6), coords (B, 2K))``."""
        coords = self.trunk(x)
        return self.head(coords), coords

    def predict(self, x: torch.Tensor) -> torch.Tensor:
        """Predicted positions in metres ``(B, 6)``: object xyz, gripper xyz."""
        return self.forward(x)[0] * self.label_std + self.label_mean

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, 2K + 6)``."""
        pred, coords = self.forward(x)
        return torch.cat([coords, pred], dim=-1)

    def encode_presence(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(latent (B, 2K + 6), keypoint presence (B, K))`` in one pass."""
        coords, presence = self.trunk.forward_presence(x)
        return torch.cat([coords, self.head(coords)], dim=-1), presence

    def keypoints(self, x: torch.Tensor) -> torch.Tensor:
        """Keypoints ``(B, K, 2)`` for drawing."""
        return self.trunk.keypoints(x)


def supervised_prepare(
    net: KeypointRegressor, cfg: SupervisedConfig, median: torch.Tensor | None, label_stats: Mapping[str, Any] | None
) -> None:
    """Store the training labels' mean/std (``{"mean": (6,), "std": (6,)}``) in the net; no median frame."""
    if label_stats is not None:
        net.set_label_stats(label_stats["mean"], label_stats["std"])
    return None


def supervised_loss(
    net: KeypointRegressor, cfg: SupervisedConfig, batch: Batch, median: torch.Tensor | None
) -> dict[str, torch.Tensor]:
    """Keypoint regressor: MSE on standardised targets; also logs Euclidean RMSE in mm per body."""
    y = torch.cat([batch["object_pos"], batch["gripper_pos"]], dim=-1).float()  # (B, 3) + (B, 3) -> (B, 6) metres
    pred_std, _ = net(frames_to_tensor(batch["frames"]))
    loss = F.mse_loss(pred_std, net.standardise(y))
    err = (pred_std.detach() * net.label_std + net.label_mean - y).reshape(-1, 2, 3)  # (B, 6) -> (B, 2, 3)
    rmse_mm = err.pow(2).sum(dim=-1).mean(dim=0).sqrt() * 1000.0  # (B, 2, 3) -> (B, 2) -> (2,)
    return {"loss": loss, "object_mm": rmse_mm[0], "gripper_mm": rmse_mm[1]}


SPEC = EncoderSpec(
    SupervisedConfig,
    KeypointRegressor,
    Objective(supervised_loss, supervised_prepare),
    pictures=("keypoints",),
    keypoint_latent=True,
)
