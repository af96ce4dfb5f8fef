"""Image encoders: one module per encoder (its ``pretrain.<name>`` config block, model and loss), the registry
that names them (:mod:`pipeline.encoders.registry`), and the artifact every later stage loads.

This face re-exports the encoder interface the other stages use: :func:`save_encoder`, :func:`load_encoder` and the
:class:`LoadedEncoder` it returns (no Lightning here).
"""

from __future__ import annotations

from pipeline.encoders.artifact import (
    FORMAT_VERSION,
    META_FILE,
    REQUIRED_KEYS,
    WEIGHTS_FILE,
    EncoderError,
    load_encoder,
    save_encoder,
)
from pipeline.encoders.loaded import ENCODE_BATCH, LoadedEncoder

__all__ = [
    "ENCODE_BATCH",
    "FORMAT_VERSION",
    "META_FILE",
    "REQUIRED_KEYS",
    "WEIGHTS_FILE",
    "EncoderError",
    "LoadedEncoder",
    "load_encoder",
    "save_encoder",
]
