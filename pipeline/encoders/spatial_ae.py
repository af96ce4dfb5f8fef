"""Deep spatial autoencoder (Finn et al. 2016): its ``pretrain.spatial_ae`` block, the model, its prepare hook and
its loss (reconstruction plus keypoint slowness)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Literal

import torch
import torch.nn.functional as F
from pydantic import Field
from torch import nn

from pipeline.encoders.keypoints import GaussianMapDecoder, KeypointTrunk, TrunkKeypoints
from pipeline.encoders.losses import Batch, weighted_recon_loss
from pipeline.encoders.spec import EncoderSpec, Objective, SoftmaxTemperature, TrunkChannels
from pipeline.nets import frames_to_tensor
from pipeline.params import StrictModel


class SpatialAEConfig(StrictModel):
    """Deep spatial autoencoder (Finn et al. 2016): keypoints -> linear decoder to a small grayscale image."""

    num_keypoints: int = Field(16, ge=1, le=256, description="K; the latent is the 2K keypoint (x, y) coordinates.")
    recon_size: int = Field(32, ge=8, le=128, description="Side of the downsampled grayscale reconstruction target.")
    channels: TrunkChannels = (64, 32)
    slowness_weight: float = Field(
        1.0, ge=0.0, le=1000.0, description="Weight of ||kp(t+1) - kp(t)||^2 between consecutive frames."
    )
    softmax_temperature: SoftmaxTemperature = 0.1
    softmax_logits: Literal["raw", "tanh"] = Field(
        "raw",
        description="raw: the keypoint conv feeds the spatial softmax as is; "
        "tanh: capped first, so maps cannot collapse onto one cell.",
    )
    lr: float = Field(1e-3, gt=0.0, le=1.0, description="Adam learning rate.")
    fg_weight: float = Field(
        10.0, ge=0.0, le=1000.0, description="Extra loss weight on pixels differing from the median frame; 0 disables."
    )
    decoder: Literal["linear", "gaussian"] = Field(
        "linear",
        description="linear: one fully connected layer from the 2K coordinates (Finn et al.); "
        "gaussian: each keypoint drawn "
        "as a Gaussian blob, a 3-layer conv net paints the blobs over the median frame (Jakab et al. 2018).",
    )
    blob_sigma: float = Field(
        0.1, gt=0.0, le=1.0, description="gaussian decoder: blob std in image units ([-1, 1] across the frame)."
    )


def to_gray(x: torch.Tensor, size: int) -> torch.Tensor:
    """RGB ``(B, 3, H, W)`` -> luminance ``(B, 1, size, size)`` (area downsampling)."""
    lum = x.new_tensor([0.299, 0.587, 0.114]).reshape(1, 3, 1, 1)  # (3,) -> (1, 3, 1, 1)
    gray = (x * lum).sum(dim=1, keepdim=True)  # (B, 3, H, W) -> (B, 1, H, W)
    return F.interpolate(gray, size=(size, size), mode="area") if gray.shape[-1] != size else gray


class SpatialAutoencoder(TrunkKeypoints, nn.Module):
    """Deep spatial autoencoder: keypoint trunk -> 2K coords (latent) -> decoder to a grayscale image.

    :param cfg: :class:`SpatialAEConfig` (``decoder``: ``linear`` as in Finn et al., or ``gaussian`` maps)
    :param image_size: side of the square input frames
    """

    def __init__(self, cfg: SpatialAEConfig, image_size: int) -> None:
        super().__init__()
        self.trunk = KeypointTrunk(
            cfg.channels,
            cfg.num_keypoints,
            image_size,
            cfg.softmax_temperature,
            bounded_logits=cfg.softmax_logits == "tanh",
        )
        self.recon_size = cfg.recon_size
        self.latent_dim = 2 * cfg.num_keypoints
        if cfg.decoder == "gaussian":
            self.decoder: nn.Module = GaussianMapDecoder(cfg.num_keypoints, cfg.recon_size, cfg.blob_sigma)
        else:
            self.decoder = nn.Linear(self.latent_dim, cfg.recon_size**2)

    def target(self, x: torch.Tensor) -> torch.Tensor:
        """Reconstruction target ``(B, 1, r, r)``: the frame in grayscale at ``recon_size``."""
        return to_gray(frames_to_tensor(x), self.recon_size)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(recon (B, 1, r, r), coords (B, 2K))``."""
        coords = self.trunk(x)  # (B, 2K)
        recon = self.decoder(coords)  # linear: (B, r*r); gaussian: (B, 1, r, r)
        return recon.reshape(-1, 1, self.recon_size, self.recon_size), coords  # (B, r*r) -> (B, 1, r, r)

    def reconstruct(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(target, reconstruction)``, each ``(B, 1, r, r)`` grayscale."""
        return self.target(x), self.forward(x)[0]


def spatial_ae_prepare(
    net: SpatialAutoencoder, cfg: SpatialAEConfig, median: torch.Tensor | None, label_stats: Mapping[str, Any] | None
) -> torch.Tensor | None:
    """The median frame in grayscale at ``recon_size``; the gaussian decoder paints over it."""
    if median is None:
        return None
    gray = to_gray(median, cfg.recon_size)  # (1, 3, H, W) -> (1, 1, r, r)
    if isinstance(net.decoder, GaussianMapDecoder):
        net.decoder.background.copy_(gray)
    return gray


def spatial_ae_loss(
    net: SpatialAutoencoder, cfg: SpatialAEConfig, batch: Batch, median: torch.Tensor | None
) -> dict[str, torch.Tensor]:
    """Spatial autoencoder: weighted grayscale SSE + ``slowness_weight * ||kp(t+1) - kp(t)||^2``."""
    x = frames_to_tensor(batch["frames"])
    target = net.target(x)  # (B, 1, r, r)
    recon, coords = net(x)
    rec = weighted_recon_loss(recon, target, median, cfg.fg_weight) * float(target[0].numel())
    out = {"recon": rec, "mse": F.mse_loss(recon, target)}
    loss = rec
    if "next_frames" in batch and cfg.slowness_weight > 0:
        coords_next = net.encode(frames_to_tensor(batch["next_frames"]))  # (B, 2K)
        disp = (coords_next - coords).pow(2).sum(dim=-1)  # (B, 2K) -> (B,)
        mask = batch["has_next"].to(disp.dtype) if "has_next" in batch else torch.ones_like(disp)
        slow = (disp * mask).sum() / mask.sum().clamp(min=1.0)
        out["slowness"] = slow
        loss = loss + cfg.slowness_weight * slow
    out["loss"] = loss
    return out


SPEC = EncoderSpec(
    SpatialAEConfig,
    SpatialAutoencoder,
    Objective(spatial_ae_loss, spatial_ae_prepare),
    pictures=("reconstructions", "keypoints"),
    keypoint_latent=True,
)
