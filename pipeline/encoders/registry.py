"""The one registry of encoders: adding an encoder is one module (its config, model, loss and ``SPEC``) plus one
line here.

Everything that depends on which encoder it is reads its :class:`~pipeline.encoders.spec.EncoderSpec`:
:func:`build_encoder` (and through it :mod:`pipeline.encoders.artifact`, which saves and loads every stage's
encoders), the ``pretrain`` params section (each ``pretrain.<name>`` block is validated with its spec's config),
:mod:`pipeline.pretrain.lit` (training), :mod:`pipeline.pretrain.train` (the stage) and
:mod:`pipeline.pretrain.pictures`. No Lightning here: the policy stage imports this module.
"""

from __future__ import annotations

from typing import Any

from torch import nn

from pipeline.encoders import atc, frozen, spatial_ae, supervised, transporter, vae
from pipeline.encoders.spec import EncoderSpec
from pipeline.params import StrictModel

ENCODERS: dict[str, EncoderSpec] = {
    "vae": vae.SPEC,
    "spatial_ae": spatial_ae.SPEC,
    "supervised": supervised.SPEC,
    "frozen": frozen.SPEC,
    "atc": atc.SPEC,
    "transporter": transporter.SPEC,
}
"""Encoder name -> spec; the name is what ``pretrain.encoders``, ``pretrain.<name>``, ``encoder.json`` and the policy
variants use."""


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

    :param cfg: that block (model or plain dict; None: its defaults), or a whole ``pretrain`` section
        (:class:`~pipeline.pretrain.config.PretrainConfig`: its ``pretrain.<name>`` block, or the defaults)
    :return: the validated block
    """
    section_cls = encoder_spec(name).config
    blocks = getattr(cfg, "encoder_block", None)  # a whole pretrain section (duck-typed: it imports this module)
    if callable(blocks):
        return blocks(name) or section_cls()
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
