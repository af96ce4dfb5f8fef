"""The one registry of encoders: adding an encoder is one module (its config, model and loss) plus one entry here.

Everything that depends on which encoder it is reads its :class:`EncoderSpec`: :func:`build_encoder` (and through
it :mod:`pipeline.encoders`, which saves and loads every stage's encoders), :mod:`lit` (training),
:mod:`train` (the stage) and :mod:`pictures`. No Lightning here: the policy stage imports this module.
An encoder's params block ``pretrain.<name>`` is a field of :class:`~pipeline.pretrain.config.PretrainConfig` (the
``params.yaml`` schema); an encoder without one builds and trains with its config's defaults.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import Any

import torch
from torch import nn

from pipeline.params import StrictModel
from pipeline.pretrain.config import FrozenConfig, PretrainConfig, SpatialAEConfig, SupervisedConfig, VAEConfig
from pipeline.pretrain.models import ConvVAE, KeypointRegressor, SpatialAutoencoder
from pipeline.pretrain.objectives import (
    keep_median,
    spatial_ae_loss,
    spatial_ae_prepare,
    supervised_loss,
    supervised_prepare,
    vae_loss,
)
from pipeline.pretrain.resnet import FrozenResNet18

LossFn = Callable[[nn.Module, Any, Mapping[str, torch.Tensor], torch.Tensor | None], dict[str, torch.Tensor]]
"""``(net, cfg, batch, median) -> named scalars``; ``loss`` is the one minimised (see :mod:`objectives`)."""
PrepareFn = Callable[[nn.Module, Any, torch.Tensor | None, Mapping[str, Any] | None], torch.Tensor | None]
"""``(net, cfg, median, label_stats) -> median the loss sees``, run once before training (see :mod:`objectives`)."""


@dataclass(frozen=True)
class Objective:
    """How a trainable encoder learns, in plain torch; :class:`pipeline.pretrain.lit.EncoderLit` runs it."""

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

    @property
    def trainable(self) -> bool:
        """Whether the pretrain stage trains it (it has an :class:`Objective`)."""
        return self.objective is not None


ENCODERS: dict[str, EncoderSpec] = {
    "vae": EncoderSpec(VAEConfig, ConvVAE, Objective(vae_loss), pictures=("reconstructions",)),
    "spatial_ae": EncoderSpec(
        SpatialAEConfig,
        SpatialAutoencoder,
        Objective(spatial_ae_loss, spatial_ae_prepare),
        pictures=("reconstructions", "keypoints"),
    ),
    "supervised": EncoderSpec(
        SupervisedConfig, KeypointRegressor, Objective(supervised_loss, supervised_prepare), pictures=("keypoints",)
    ),
    "frozen": EncoderSpec(FrozenConfig, FrozenResNet18, random_init={"init": "random"}, external_weights=True),
}
"""Encoder name -> spec; the name is what ``pretrain.encoders``, ``encoder.json`` and the policy variants use."""


def encoder_spec(name: str) -> EncoderSpec:
    """The spec of encoder ``name`` (ValueError naming the choices when it is unknown)."""
    if name not in ENCODERS:
        raise ValueError(f"unknown encoder {name!r}; choose from {list(ENCODERS)}")
    return ENCODERS[name]


def trainable_encoders() -> tuple[str, ...]:
    """Names of the encoders the pretrain stage trains."""
    return tuple(name for name, spec in ENCODERS.items() if spec.trainable)


def encoder_section(name: str, cfg: Any) -> StrictModel:
    """Resolve the config block of encoder ``name``.

    :param cfg: that block (model or plain dict; None: its defaults), or a whole :class:`PretrainConfig`
    :return: the validated block
    """
    section_cls = encoder_spec(name).config
    if isinstance(cfg, PretrainConfig):
        return getattr(cfg, name) if name in type(cfg).model_fields else section_cls()
    if cfg is None:
        return section_cls()
    if isinstance(cfg, dict):
        return section_cls.model_validate(cfg)
    if not isinstance(cfg, section_cls):
        raise TypeError(
            f"config for {name!r} must be {section_cls.__name__}, a dict or PretrainConfig (got {type(cfg).__name__})"
        )
    return cfg


def build_encoder(name: str, cfg: Any, image_size: int, load_weights: bool = True) -> nn.Module:
    """Build encoder ``name`` from its config block (model, dict or whole ``PretrainConfig``).

    :param load_weights: for an encoder with ``external_weights`` (``frozen``, ``init='file'``), read that file
    """
    spec = encoder_spec(name)
    section = encoder_section(name, cfg)
    if spec.external_weights:
        return spec.model(section, image_size, load_weights=load_weights)
    return spec.model(section, image_size)
