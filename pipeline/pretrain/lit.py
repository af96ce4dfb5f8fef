"""Lightning wrappers (one per trainable encoder family) around the plain modules of :mod:`models`.

Batches are dicts: ``frames`` uint8 ``(B, H, W, 3)``, ``object_pos`` / ``gripper_pos`` float32 ``(B, 3)``;
the spatial autoencoder also reads ``next_frames`` uint8 ``(B, H, W, 3)`` and an optional ``has_next``
bool ``(B,)`` (False for an episode's last frame). The trained encoder is ``self.net``.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from typing import Any

import numpy as np
import pytorch_lightning as pl
import torch
import torch.nn.functional as F

from pipeline.nets import frames_to_tensor
from pipeline.pretrain.config import (
    SpatialAEConfig,
    SupervisedConfig,
    VAEConfig,
    encoder_section,
)
from pipeline.pretrain.models import (
    ConvVAE,
    KeypointRegressor,
    SpatialAutoencoder,
    to_gray,
    weighted_recon_loss,
)


def median_to_tensor(median_frame: np.ndarray | torch.Tensor | None, image_size: int) -> torch.Tensor | None:
    """Median frame uint8 ``(H, W, 3)`` -> float ``(1, 3, H, W)`` in [0, 1] (None stays None)."""
    if median_frame is None:
        return None
    t = torch.as_tensor(np.asarray(median_frame))
    if t.shape != (image_size, image_size, 3) or t.dtype != torch.uint8:
        raise ValueError(f"median_frame must be uint8 ({image_size}, {image_size}, 3), got {t.dtype} {tuple(t.shape)}")
    return frames_to_tensor(t.unsqueeze(0))  # (H, W, 3) -> (1, H, W, 3) -> (1, 3, H, W)


def compute_label_stats(object_pos: np.ndarray, gripper_pos: np.ndarray) -> dict[str, np.ndarray]:
    """Mean/std ``(6,)`` of ``[object_pos, gripper_pos]`` (metres) over a training set of ``(N, 3)`` arrays."""
    y = np.concatenate([object_pos, gripper_pos], axis=1).astype(np.float64)  # (N, 3) + (N, 3) -> (N, 6)
    return {"mean": y.mean(axis=0).astype(np.float32), "std": y.std(axis=0).astype(np.float32)}


LR_SCHEDULES = ("constant", "onecycle")


def one_cycle(step: int, total: int, warmup: float = 0.3, start: float = 0.04, end: float = 1e-3) -> float:
    """Learning-rate factor at ``step`` of ``total``: linear ``start -> 1`` over ``warmup * total``,
    cosine ``1 -> end``."""
    peak = max(int(warmup * total), 1)
    if step < peak:
        return start + (1.0 - start) * step / peak
    frac = min((step - peak) / max(total - peak, 1), 1.0)
    return end + (1.0 - end) * 0.5 * (1.0 + math.cos(math.pi * frac))


def _targets(batch: Mapping[str, torch.Tensor]) -> torch.Tensor:
    return torch.cat([batch["object_pos"], batch["gripper_pos"]], dim=-1).float()  # (B, 3) + (B, 3) -> (B, 6)


class EncoderLit(pl.LightningModule):
    """Shared train/val plumbing: subclasses implement :meth:`losses` returning a dict with ``loss``."""

    def __init__(self, lr: float, schedule: str = "constant") -> None:
        super().__init__()
        if schedule not in LR_SCHEDULES:
            raise ValueError(f"unknown lr schedule {schedule!r}; choose from {list(LR_SCHEDULES)}")
        self.lr, self.schedule = lr, schedule

    def losses(self, batch: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        raise NotImplementedError

    def _step(self, batch: Mapping[str, torch.Tensor], stage: str) -> torch.Tensor:
        out = self.losses(batch)
        bs = int(batch["frames"].shape[0])
        for key, value in out.items():
            self.log(f"{stage}/{key}", value, on_step=False, on_epoch=True, batch_size=bs, prog_bar=key == "loss")
        if stage == "val":
            self.log("val_loss", out["loss"], on_step=False, on_epoch=True, batch_size=bs)
        return out["loss"]

    def training_step(self, batch: Mapping[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        return self._step(batch, "train")

    def validation_step(self, batch: Mapping[str, torch.Tensor], batch_idx: int) -> torch.Tensor:
        return self._step(batch, "val")

    def configure_optimizers(self) -> Any:
        opt = torch.optim.Adam(self.net.parameters(), lr=self.lr)
        if self.schedule == "constant":
            return opt
        # one-cycle: warm up to ``lr`` over the first 30 % of the run's steps, then cosine-anneal towards zero.
        # The total is read when fitting starts, so a resumed run with a larger budget stretches the schedule.
        total = max(int(self.trainer.estimated_stepping_batches), 2)
        sched = torch.optim.lr_scheduler.LambdaLR(opt, lambda step: one_cycle(step, total))
        return {"optimizer": opt, "lr_scheduler": {"scheduler": sched, "interval": "step"}}


class VAELit(EncoderLit):
    """beta-VAE: ``loss = recon + beta * KL``, recon = foreground-weighted SSE per image (mean over batch)."""

    def __init__(
        self,
        cfg: VAEConfig,
        image_size: int,
        median_frame: np.ndarray | None = None,
        label_stats: Any = None,
        schedule: str = "constant",
    ) -> None:
        super().__init__(cfg.lr, schedule)
        self.cfg = cfg
        self.net = ConvVAE(cfg, image_size)
        self.register_buffer("median", median_to_tensor(median_frame, image_size), persistent=False)

    def losses(self, batch: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        x = frames_to_tensor(batch["frames"])  # (B, 3, H, W)
        recon, mu, logvar = self.net(x)
        per_image = float(x[0].numel())  # mean-scale loss -> per-image sum of squared errors
        rec = weighted_recon_loss(recon, x, self.median, self.cfg.fg_weight) * per_image
        kl = (-0.5 * (1 + logvar - mu.pow(2) - logvar.exp()).sum(dim=-1)).mean()  # (B, D) -> (B,) -> ()
        return {"loss": rec + self.cfg.beta * kl, "recon": rec, "kl": kl, "mse": F.mse_loss(recon, x)}


class SpatialAELit(EncoderLit):
    """Spatial autoencoder: weighted grayscale SSE + ``slowness_weight * ||kp(t+1) - kp(t)||^2``."""

    def __init__(
        self,
        cfg: SpatialAEConfig,
        image_size: int,
        median_frame: np.ndarray | None = None,
        label_stats: Any = None,
        schedule: str = "constant",
    ) -> None:
        super().__init__(cfg.lr, schedule)
        self.cfg = cfg
        self.net = SpatialAutoencoder(cfg, image_size)
        median = median_to_tensor(median_frame, image_size)
        median = None if median is None else to_gray(median, cfg.recon_size)  # (1, 3, H, W) -> (1, 1, r, r)
        self.register_buffer("median", median, persistent=False)
        if median is not None and hasattr(
            self.net.decoder, "background"
        ):  # gaussian decoder paints over the median frame
            self.net.decoder.background.copy_(median)

    def losses(self, batch: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        x = frames_to_tensor(batch["frames"])
        target = self.net.target(x)  # (B, 1, r, r)
        recon, coords = self.net(x)
        rec = weighted_recon_loss(recon, target, self.median, self.cfg.fg_weight) * float(target[0].numel())
        out = {"recon": rec, "mse": F.mse_loss(recon, target)}
        loss = rec
        if "next_frames" in batch and self.cfg.slowness_weight > 0:
            coords_next = self.net.encode(frames_to_tensor(batch["next_frames"]))  # (B, 2K)
            disp = (coords_next - coords).pow(2).sum(dim=-1)  # (B, 2K) -> (B,)
            mask = batch["has_next"].to(disp.dtype) if "has_next" in batch else torch.ones_like(disp)
            slow = (disp * mask).sum() / mask.sum().clamp(min=1.0)
            out["slowness"] = slow
            loss = loss + self.cfg.slowness_weight * slow
        out["loss"] = loss
        return out


class SupervisedLit(EncoderLit):
    """Keypoint regressor: MSE on standardised targets; also logs Euclidean RMSE in mm per body."""

    def __init__(
        self,
        cfg: SupervisedConfig,
        image_size: int,
        median_frame: np.ndarray | None = None,
        label_stats: Any = None,
        schedule: str = "constant",
    ) -> None:
        super().__init__(cfg.lr, schedule)
        self.cfg = cfg
        self.net = KeypointRegressor(cfg, image_size)
        if label_stats is not None:
            self.net.set_label_stats(label_stats["mean"], label_stats["std"])

    def losses(self, batch: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        y = _targets(batch)  # (B, 6) metres
        pred_std, _ = self.net(frames_to_tensor(batch["frames"]))
        loss = F.mse_loss(pred_std, self.net.standardise(y))
        err = (pred_std.detach() * self.net.label_std + self.net.label_mean - y).reshape(
            -1, 2, 3
        )  # (B, 6) -> (B, 2, 3)
        rmse_mm = err.pow(2).sum(dim=-1).mean(dim=0).sqrt() * 1000.0  # (B, 2, 3) -> (B, 2) -> (2,)
        return {"loss": loss, "object_mm": rmse_mm[0], "gripper_mm": rmse_mm[1]}


LIT_MODULES: dict[str, type[EncoderLit]] = {"vae": VAELit, "spatial_ae": SpatialAELit, "supervised": SupervisedLit}


def build_lit_module(
    name: str,
    cfg: Any,
    image_size: int,
    median_frame: np.ndarray | None = None,
    label_stats: Mapping[str, Any] | None = None,
    schedule: str = "constant",
) -> EncoderLit:
    """Build the LightningModule of trainable encoder ``name``.

    :param cfg: its config block (model or dict) or a whole ``PretrainConfig``
    :param median_frame: per-pixel median frame uint8 ``(H, W, 3)`` for foreground weighting (None disables)
    :param label_stats: ``{"mean": (6,), "std": (6,)}`` of [object_pos, gripper_pos] (supervised only)
    :param schedule: learning-rate schedule, one of :data:`LR_SCHEDULES`
    """
    if name not in LIT_MODULES:
        hint = " (frozen is not trainable; use models.build_encoder)" if name == "frozen" else ""
        raise ValueError(f"no trainable encoder {name!r}{hint}; choose from {list(LIT_MODULES)}")
    return LIT_MODULES[name](encoder_section(name, cfg), image_size, median_frame, label_stats, schedule)
