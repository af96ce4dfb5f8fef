"""Loss pieces the encoders' objectives share, in plain torch.

An encoder's objective pairs a loss ``(net, cfg, batch, median) -> named scalars`` (``loss`` is minimised, the others
are logged) with a prepare hook ``(net, cfg, median, label_stats) -> median`` run once before training: it sets what
the net takes from the training data (label statistics, a decoder's background) and returns the median frame its
loss weights pixels against.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import torch

FG_THRESHOLD = 0.1  # |frame - median| above this (in [0, 1] units, max over channels) counts as foreground
Batch = Mapping[str, torch.Tensor]
"""a training batch: ``frames`` uint8 ``(B, H, W, 3)``, labels, ... (see :mod:`pipeline.pretrain.lit`)"""


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
