"""Augmented temporal contrast (ATC, Stooke et al. 2021) on a keypoint trunk: its ``pretrain.atc`` block, the model
and its loss. Label-free: frame t and frame t + ``pair_gap`` of the same episode, each randomly shifted, are a
positive pair; the other frames of the batch are the negatives (InfoNCE with a bilinear similarity). The positive
goes through a momentum copy of the encoder, as in ATC and MoCo.

The encoder is the same keypoint trunk as ``spatial_ae`` and ``supervised`` (the latent is 2K keypoint coordinates,
with presence for the occlusion hold), so the three differ only in what they learn from: pixels reconstructed,
simulator labels, or time.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from typing import Any

import kornia.augmentation as K
import torch
import torch.nn.functional as F
from pydantic import Field
from torch import nn

from pipeline.encoders.keypoints import TrunkKeypoints
from pipeline.encoders.losses import Batch
from pipeline.encoders.spec import EncoderSpec, Objective, SoftmaxTemperature, TrunkChannels
from pipeline.nets import frames_to_tensor
from pipeline.params import StrictModel


class ATCConfig(StrictModel):
    """Augmented temporal contrast on the keypoint trunk (label-free)."""

    num_keypoints: int = Field(16, ge=1, le=256, description="K; the latent is the 2K keypoint (x, y) coordinates.")
    channels: TrunkChannels = (64, 32)
    softmax_temperature: SoftmaxTemperature = 0.1
    pair_gap: int = Field(
        3, ge=1, le=49, description="k: frame t's positive is frame t + k of its episode (ATC's temporal shift)."
    )
    shift: int = Field(
        2, ge=0, le=16, description="Random shift in pixels: pad (replicate) and crop back at a random offset."
    )
    code_dim: int = Field(128, ge=8, le=2048, description="Size of the contrastive code the keypoints map to.")
    hidden: int = Field(256, ge=8, le=4096, description="Hidden width of the anchor's residual predictor.")
    momentum: float = Field(
        0.01, gt=0.0, le=1.0, description="Target encoder update per step: target += momentum * (online - target)."
    )
    lr: float = Field(1e-3, gt=0.0, le=1.0, description="Adam learning rate.")


class ATCEncoder(TrunkKeypoints, nn.Module):
    """Keypoint trunk + compressor (online), their momentum copies (target), a residual predictor and the bilinear
    similarity ``W``. Only the trunk encodes; the rest serves the loss.

    :param cfg: :class:`ATCConfig`
    :param image_size: side of the square input frames
    """

    def __init__(self, cfg: ATCConfig, image_size: int) -> None:
        super().__init__()
        self.init_trunk(cfg, image_size)
        self.compressor = nn.Linear(self.latent_dim, cfg.code_dim)
        self.predictor = nn.Sequential(
            nn.Linear(cfg.code_dim, cfg.hidden), nn.ReLU(), nn.Linear(cfg.hidden, cfg.code_dim)
        )
        self.similarity = nn.Parameter(torch.eye(cfg.code_dim))
        self.target_trunk, self.target_compressor = copy.deepcopy(self.trunk), copy.deepcopy(self.compressor)
        for p in [*self.target_trunk.parameters(), *self.target_compressor.parameters()]:
            p.requires_grad_(False)
        # kornia's random crop of a padded frame: a shift of up to ``shift`` pixels each way, edges repeated
        self.augment = K.RandomCrop((image_size, image_size), padding=cfg.shift, padding_mode="replicate")

    @torch.no_grad()
    def update_target(self, momentum: float) -> None:
        """Move the target encoder towards the online one (BatchNorm statistics included)."""
        for online, target in ((self.trunk, self.target_trunk), (self.compressor, self.target_compressor)):
            for p, q in zip(online.parameters(), target.parameters()):
                q.lerp_(p, momentum)
            for b, c in zip(online.buffers(), target.buffers()):
                c.copy_(b)

    def logits(self, anchor: torch.Tensor, positive: torch.Tensor) -> torch.Tensor:
        """``(B, B)`` similarities of every anchor frame with every positive (the diagonal pairs belong together)."""
        c = self.compressor(self.trunk(self.augment(anchor)))  # (B, 2K) -> (B, D)
        a = c + self.predictor(c)  # (B, D)
        with torch.no_grad():
            p = self.target_compressor(self.target_trunk(self.augment(positive)))  # (B, D)
        logits = a @ self.similarity @ p.T  # (B, D) @ (D, D) @ (D, B) -> (B, B)
        return logits - logits.amax(dim=1, keepdim=True).detach()


def atc_loss(net: ATCEncoder, cfg: ATCConfig, batch: Batch, median: torch.Tensor | None) -> dict[str, torch.Tensor]:
    """InfoNCE over the batch's frames that have a frame ``pair_gap`` steps later in their episode."""
    if net.training:
        net.update_target(cfg.momentum)  # once per step, before it is read (MoCo / ATC update the target each step)
    keep = batch["has_next"]  # (B,)
    x, y = frames_to_tensor(batch["frames"][keep]), frames_to_tensor(batch["next_frames"][keep])
    if len(x) < 2:  # no pair to contrast: a zero that still reaches every online weight
        zero = sum(p.sum() for p in net.parameters() if p.requires_grad) * 0.0
        return {"loss": zero, "accuracy": torch.zeros(())}
    logits = net.logits(x, y)
    labels = torch.arange(len(x), device=logits.device)
    return {"loss": F.cross_entropy(logits, labels), "accuracy": (logits.argmax(dim=1) == labels).float().mean()}


def atc_prepare(
    net: ATCEncoder, cfg: ATCConfig, median: torch.Tensor | None, label_stats: Mapping[str, Any] | None
) -> torch.Tensor | None:
    """Nothing to take from the data: the target starts as a copy of the online encoder."""
    net.update_target(1.0)
    return median


SPEC = EncoderSpec(
    ATCConfig, ATCEncoder, Objective(atc_loss, atc_prepare), pictures=("keypoints",), keypoint_latent=True
)
