"""The Lightning wrapper that trains any registered encoder: its :class:`~pipeline.encoders.spec.Objective`
on batches of the frame data module, Adam at the block's ``lr``, an optional one-cycle schedule.

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
from torch import nn

from pipeline.encoders.registry import build_encoder, encoder_section, encoder_spec, trainable_encoders
from pipeline.encoders.spec import Objective
from pipeline.nets import frames_to_tensor


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


class EncoderLit(pl.LightningModule):
    """Trains ``net`` on its objective; logs every named loss per stage (``train/...``, ``val/...``) and ``val_loss``.

    :param net: the plain encoder module (a registered model)
    :param cfg: its config block (needs ``lr``)
    :param objective: its loss and prepare hook
    :param median: the dataset's median frame, float ``(1, 3, H, W)`` in [0, 1] (None disables foreground weighting)
    :param label_stats: ``{"mean": (6,), "std": (6,)}`` of [object_pos, gripper_pos], for objectives that use them
    :param schedule: learning-rate schedule, one of :data:`LR_SCHEDULES`
    """

    def __init__(
        self,
        net: nn.Module,
        cfg: Any,
        objective: Objective,
        median: torch.Tensor | None = None,
        label_stats: Mapping[str, Any] | None = None,
        schedule: str = "constant",
    ) -> None:
        super().__init__()
        if schedule not in LR_SCHEDULES:
            raise ValueError(f"unknown lr schedule {schedule!r}; choose from {list(LR_SCHEDULES)}")
        self.lr, self.schedule, self.cfg, self.objective = cfg.lr, schedule, cfg, objective
        self.net = net
        self.register_buffer("median", objective.prepare(net, cfg, median, label_stats), persistent=False)

    def losses(self, batch: Mapping[str, torch.Tensor]) -> dict[str, torch.Tensor]:
        return self.objective.loss(self.net, self.cfg, batch, self.median)

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
    :param label_stats: ``{"mean": (6,), "std": (6,)}`` of [object_pos, gripper_pos] (for objectives that use them)
    :param schedule: learning-rate schedule, one of :data:`LR_SCHEDULES`
    """
    spec = encoder_spec(name)
    if spec.objective is None:
        raise ValueError(
            f"encoder {name!r} is not trainable (build it with pipeline.encoders.registry.build_encoder); "
            f"trainable: {list(trainable_encoders())}"
        )
    section = encoder_section(name, cfg)
    net = build_encoder(name, section, image_size)
    return EncoderLit(net, section, spec.objective, median_to_tensor(median_frame, image_size), label_stats, schedule)
