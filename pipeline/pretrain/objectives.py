"""What each trainable encoder of :mod:`models` minimises, in plain torch (:mod:`lit` runs these with Lightning).

Each encoder's :class:`~pipeline.pretrain.registry.Objective` pairs a loss ``(net, cfg, batch, median) -> named
scalars`` (``loss`` is minimised, the others are logged) with a prepare hook ``(net, cfg, median, label_stats) ->
median`` run once before training: it sets what the net takes from the training data (label statistics, a
decoder's background) and returns the median frame its loss weights pixels against. Batches are dicts as in
:mod:`lit`; ``median`` is the dataset's median frame, float ``(1, 3, H, W)`` in [0, 1], or None.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch
import torch.nn.functional as F

from pipeline.nets import frames_to_tensor
from pipeline.pretrain.config import SpatialAEConfig, SupervisedConfig, VAEConfig
from pipeline.pretrain.models import ConvVAE, GaussianMapDecoder, KeypointRegressor, SpatialAutoencoder, to_gray

FG_THRESHOLD = 0.1  # |frame - median| above this (in [0, 1] units, max over channels) counts as foreground
Batch = Mapping[str, torch.Tensor]


def weighted_recon_loss(
    recon: torch.Tensor, target: torch.Tensor, median_frame: torch.Tensor | None, fg_weight: float
) -> torch.Tensor:
    """Foreground-weighted mean squared error.

    Pixel weight ``w = 1 + fg_weight * [max_c |target - median| > FG_THRESHOLD]``; the loss is
    ``sum(w * err^2) / sum(w)``, so it stays on the MSE scale and ``fg_weight=0`` is exactly MSE.

    :param recon: reconstruction ``(B, C, H, W)``
    :param target: target ``(B, C, H, W)``
    :param median_frame: per-pixel median of the dataset, ``(C, H, W)`` or ``(1, C, H, W)``; None disables weighting
    :param fg_weight: foreground emphasis (>= 0)
    """
    sq = (recon - target).pow(2)  # (B, C, H, W)
    if median_frame is None or fg_weight == 0:
        return sq.mean()
    diff = (target - median_frame.reshape(1, *target.shape[1:])).abs()  # (C, H, W) -> (1, C, H, W); diff (B, C, H, W)
    fg = (diff.amax(dim=1, keepdim=True) > FG_THRESHOLD).to(sq.dtype)  # (B, 1, H, W)
    w = (1.0 + fg_weight * fg).expand_as(sq)  # (B, 1, H, W) -> (B, C, H, W)
    return (w * sq).sum() / w.sum()


def keep_median(
    net: torch.nn.Module, cfg: Any, median: torch.Tensor | None, label_stats: Mapping[str, Any] | None
) -> torch.Tensor | None:
    """Default prepare hook: nothing to set; the loss sees the median frame as it is."""
    return median


def vae_loss(net: ConvVAE, cfg: VAEConfig, batch: Batch, median: torch.Tensor | None) -> dict[str, torch.Tensor]:
    """beta-VAE: ``loss = recon + beta * KL``, recon = foreground-weighted SSE per image (mean over batch)."""
    x = frames_to_tensor(batch["frames"])  # (B, 3, H, W)
    recon, mu, logvar = net(x)
    per_image = float(x[0].numel())  # mean-scale loss -> per-image sum of squared errors
    rec = weighted_recon_loss(recon, x, median, cfg.fg_weight) * per_image
    kl = (-0.5 * (1 + logvar - mu.pow(2) - logvar.exp()).sum(dim=-1)).mean()  # (B, D) -> (B,) -> ()
    return {"loss": rec + cfg.beta * kl, "recon": rec, "kl": kl, "mse": F.mse_loss(recon, x)}


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
