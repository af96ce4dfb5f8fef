"""Transporter (Kulkarni et al. 2019), label-free: its ``pretrain.transporter`` block, the model and its loss.

Two frames of one episode, a source ``s`` and a target ``t`` ``pair_gap`` steps later: a feature map of each, and
keypoints of each drawn as Gaussian blobs. The source's features are erased where either frame has a keypoint and
the target's features pasted in at the target's keypoints; a small decoder must rebuild the target frame from that
mix. Only what moves between the two frames and sits under a keypoint can be rebuilt, so the keypoints learn to sit
on the moving things: the arm and, in the pushing episodes, the block.

The keypoint network is the keypoint trunk that ``spatial_ae``, ``supervised`` and ``atc`` share (the latent is the
2K coordinates, with presence for the occlusion hold); only the objective differs.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F
from pydantic import Field
from torch import nn

from pipeline.encoders.keypoints import TrunkKeypoints, gaussian_maps
from pipeline.encoders.losses import Batch, weighted_recon_loss
from pipeline.encoders.spec import EncoderSpec, Objective, SoftmaxTemperature, TrunkChannels
from pipeline.nets import conv_out_hw, frames_to_tensor
from pipeline.params import StrictModel


class TransporterConfig(StrictModel):
    """Transporter: keypoints that carry features from one frame of an episode to a later one (label-free)."""

    num_keypoints: int = Field(16, ge=1, le=256, description="K; the latent is the 2K keypoint (x, y) coordinates.")
    channels: TrunkChannels = (64, 32)
    softmax_temperature: SoftmaxTemperature = 0.1
    feature_channels: int = Field(32, ge=4, le=512, description="Width of the feature maps that are transported.")
    blob_sigma: float = Field(0.1, gt=0.0, le=1.0, description="Keypoint blob std in image units ([-1, 1]).")
    pair_gap: int = Field(5, ge=1, le=49, description="The target frame is pair_gap steps after the source.")
    fg_weight: float = Field(
        10.0, ge=0.0, le=1000.0, description="Extra loss weight on pixels differing from the median frame; 0 disables."
    )
    lr: float = Field(1e-3, gt=0.0, le=1.0, description="Adam learning rate.")


def conv_block(c_in: int, c_out: int, stride: int = 1) -> list[nn.Module]:
    """Conv (5x5 at stride 2, else 3x3) - BatchNorm - ReLU."""
    k = 5 if stride == 2 else 3
    return [nn.Conv2d(c_in, c_out, k, stride, k // 2), nn.BatchNorm2d(c_out), nn.ReLU()]


class Transporter(TrunkKeypoints, nn.Module):
    """Keypoint trunk (the encoder), feature encoder and decoder at half the frame's resolution.

    :param cfg: :class:`TransporterConfig`
    :param image_size: side of the square input frames
    """

    def __init__(self, cfg: TransporterConfig, image_size: int) -> None:
        super().__init__()
        self.init_trunk(cfg, image_size)
        c = cfg.feature_channels
        self.features = nn.Sequential(*conv_block(3, c, stride=2), *conv_block(c, c))  # (B, C, h, w), h = H / 2
        self.decoder = nn.Sequential(*conv_block(c, c), *conv_block(c, c), nn.Conv2d(c, 3, 3, 1, 1))
        self.side, self.sigma = conv_out_hw(image_size, 5, 2, 2), cfg.blob_sigma
        self.register_buffer("grid", torch.linspace(-1.0, 1.0, self.side))  # (h,)

    def target(self, x: torch.Tensor) -> torch.Tensor:
        """What the decoder rebuilds: the frame at the feature maps' resolution, ``(B, 3, h, w)``."""
        return F.interpolate(frames_to_tensor(x), size=(self.side, self.side), mode="area")

    def transport(self, source: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
        """Rebuild ``target`` ``(B, H, W, 3)`` from ``source``: ``(B, 3, h, w)``."""
        xs, xt = frames_to_tensor(source), frames_to_tensor(target)
        blobs_s = gaussian_maps(self.trunk(xs), self.grid, self.sigma).sum(1, keepdim=True).clamp(max=1.0)
        blobs_t = gaussian_maps(self.trunk(xt), self.grid, self.sigma).sum(1, keepdim=True).clamp(max=1.0)
        # (B, K, h, w) -> (B, 1, h, w): where any keypoint sits
        mixed = (1 - blobs_s) * (1 - blobs_t) * self.features(xs) + blobs_t * self.features(xt)  # (B, C, h, w)
        return self.decoder(mixed)

    def reconstruct(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(target, reconstruction)`` of each frame transported onto itself, ``(B, 3, h, w)`` each (pictures)."""
        return self.target(x), self.transport(x, x)


def transporter_prepare(
    net: Transporter, cfg: TransporterConfig, median: torch.Tensor | None, label_stats: Mapping[str, Any] | None
) -> torch.Tensor | None:
    """The median frame at the decoder's resolution, ``(1, 3, h, w)``, for the foreground weighting."""
    return None if median is None else F.interpolate(median, size=(net.side, net.side), mode="area")


def transporter_loss(
    net: Transporter, cfg: TransporterConfig, batch: Batch, median: torch.Tensor | None
) -> dict[str, torch.Tensor]:
    """Foreground-weighted error of the target rebuilt from its source, over the frames with a target."""
    keep = batch["has_next"]  # (B,)
    source, target = batch["frames"][keep], batch["next_frames"][keep]
    if len(source) == 0:  # no pair: a zero that still reaches every weight
        return {"loss": sum(p.sum() for p in net.parameters()) * 0.0}
    recon, goal = net.transport(source, target), net.target(target)
    return {"loss": weighted_recon_loss(recon, goal, median, cfg.fg_weight), "mse": F.mse_loss(recon, goal)}


OBJECTIVE = Objective(transporter_loss, transporter_prepare)
SPEC = EncoderSpec(TransporterConfig, Transporter, OBJECTIVE, ("reconstructions", "keypoints"), keypoint_latent=True)
