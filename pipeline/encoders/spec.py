"""What one encoder module provides: its :class:`EncoderSpec` (config, model, objective, pictures), and the config
pieces the encoder blocks share.

An encoder module (``vae.py``, ``spatial_ae.py``, ...) defines its config block, its model, its loss (and prepare
hook) and ``SPEC = EncoderSpec(...)``; :mod:`pipeline.encoders.registry` lists the specs by name. Every model has
``latent_dim`` and ``encode(x) -> (B, latent_dim)`` for float frames ``(B, 3, H, W)`` in [0, 1] (uint8
``(B, H, W, 3)`` is accepted too, via :func:`pipeline.nets.frames_to_tensor`); square images of side 16..128 work
for the trainable encoders, whose layer sizes are derived from the image size.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Annotated, Any

import torch
from pydantic import AfterValidator, Field
from torch import nn

from pipeline.encoders.losses import keep_median
from pipeline.params import StrictModel

LossFn = Callable[[nn.Module, Any, Mapping[str, torch.Tensor], torch.Tensor | None], dict[str, torch.Tensor]]
"""``(net, cfg, batch, median) -> named scalars``; ``loss`` is the one minimised."""
PrepareFn = Callable[[nn.Module, Any, torch.Tensor | None, Mapping[str, Any] | None], torch.Tensor | None]
"""``(net, cfg, median, label_stats) -> median the loss sees``, run once before training."""

Channels = tuple[int, ...]
"""conv widths of an encoder block"""


def check_channels(v: Channels, max_len: int) -> Channels:
    """Validate a block's conv widths: 1..``max_len`` layers of 1..512 channels (ValueError otherwise)."""
    if not 1 <= len(v) <= max_len:
        raise ValueError(f"needs 1..{max_len} conv layers (got {len(v)})")
    if any(not 1 <= c <= 512 for c in v):
        raise ValueError(f"every channel count must be in 1..512 (got {list(v)})")
    return v


def conv_widths(max_len: int, description: str) -> Any:
    """A field type: ``Channels`` validated by :func:`check_channels` with ``max_len`` layers at most."""
    return Annotated[Channels, AfterValidator(lambda v: check_channels(v, max_len)), Field(description=description)]


TrunkChannels = conv_widths(3, "Conv widths before the K-channel keypoint conv (first conv stride 2; 1-3 layers).")
"""the keypoint trunk's conv widths (``spatial_ae``, ``supervised``)"""
SoftmaxTemperature = Annotated[float, Field(
    gt=0.0, le=10.0,
    description="Initial (learned) spatial-softmax temperature; 1.0 leaves the maps diffuse for hundreds of steps.",
)]  # fmt: skip
"""the keypoint trunk's initial spatial-softmax temperature"""


@dataclass(frozen=True)
class Objective:
    """How a trainable encoder learns, in plain torch; :class:`pipeline.pretrain.lit.EncoderLit` runs it.

    Batches are dicts as in :mod:`pipeline.pretrain.lit`; ``median`` is the dataset's median frame, float
    ``(1, 3, H, W)`` in [0, 1], or None.
    """

    loss: LossFn
    """the training and validation loss of one batch"""
    prepare: PrepareFn = keep_median
    """sets what the net takes from the training data (label statistics, a background) before training"""


@dataclass(frozen=True)
class EncoderSpec:
    """Everything the pipeline needs to know about one encoder."""

    config: type[StrictModel]
    """its config block (``pretrain.<name>``; saved in ``encoder.json``)"""
    model: Callable[..., nn.Module]
    """``model(cfg, image_size)`` -> a plain module with an int ``latent_dim`` and ``encode(x) -> (B, latent_dim)``"""
    objective: Objective | None = None
    """how it trains; None: not trainable, used as built"""
    pictures: tuple[str, ...] = ()
    """pictures the pretrain stage draws (:data:`pipeline.pretrain.pictures.PICTURES`): ``reconstructions`` needs
    ``net.reconstruct(x) -> (target, recon)``, ``keypoints`` needs ``net.keypoints(x) -> (B, K, 2)``"""
    random_init: Mapping[str, Any] = field(default_factory=dict)
    """config overrides of the random-init control the probes compare against (none: the same config, fresh seed)"""
    external_weights: bool = False
    """``model`` also takes ``load_weights``: it reads a weights file its config names (artifacts load without)"""
    keypoint_latent: bool = False
    """its latent starts with ``2K`` spatial-softmax coordinates ``[x_1..x_K, y_1..y_K]`` (``num_keypoints`` in its
    config): the keypoint goal space selects from them"""

    @property
    def trainable(self) -> bool:
        """Whether the pretrain stage trains it (it has an :class:`Objective`)."""
        return self.objective is not None
