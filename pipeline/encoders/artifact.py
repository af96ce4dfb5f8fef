"""Encoder artifacts: save a trained encoder, load it back as a :class:`~pipeline.encoders.loaded.LoadedEncoder`.

An encoder artifact is a directory with ``encoder.safetensors`` (the module's state dict) and
``encoder.json`` (name, config block, image size, camera, env id, latent size, format version).
No Lightning here.
"""

from __future__ import annotations

import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch
from safetensors.torch import save_file
from torch import nn

from pipeline.encoders.loaded import LoadedEncoder
from pipeline.encoders.registry import ENCODERS, build_encoder
from pipeline.encoders.weights import WeightsFileError, read_safetensors
from pipeline.errors import PipelineError

FORMAT_VERSION = 1
WEIGHTS_FILE = "encoder.safetensors"
META_FILE = "encoder.json"
REQUIRED_KEYS = ("format_version", "name", "config", "image_size", "camera", "env_id", "latent_dim")


class EncoderError(PipelineError, ValueError):
    """An encoder artifact that cannot be loaded: a damaged or invalid file, or a config that no longer fits."""


def _atomic_write(path: Path, write: Callable[[str], None]) -> None:
    """Call ``write(tmp_path)`` on a temp file next to ``path``, then ``os.replace`` it into place."""
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(tmp)
        os.replace(tmp, path)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def save_encoder(
    net: nn.Module, name: str, cfg_dict: Any, image_size: int, camera: dict, env_id: str, out_dir: str | Path
) -> Path:
    """Write ``out_dir/encoder.safetensors`` and ``out_dir/encoder.json`` (each atomically; JSON last).

    :param net: the encoder module (a wrapper with a ``.net`` module, e.g. a LightningModule, is unwrapped)
    :param name: its name in :data:`pipeline.encoders.registry.ENCODERS`
    :param cfg_dict: the encoder's config block (dict or pydantic model)
    :param image_size: side of the square frames it was trained on
    :param camera: camera settings the frames were rendered with (JSON-serialisable)
    :param env_id: gymnasium id of the environment
    :param out_dir: output directory (created)
    :return: ``out_dir``
    """
    if name not in ENCODERS:
        raise ValueError(f"unknown encoder {name!r}; choose from {list(ENCODERS)}")
    inner = getattr(net, "net", None)
    net = inner if isinstance(inner, nn.Module) else net
    if not isinstance(getattr(net, "latent_dim", None), int):
        raise ValueError(f"{type(net).__name__} has no integer `latent_dim`; not an encoder")
    cfg = cfg_dict.model_dump(mode="json") if hasattr(cfg_dict, "model_dump") else dict(cfg_dict)
    meta = {
        "format_version": FORMAT_VERSION,
        "name": name,
        "config": cfg,
        "image_size": int(image_size),
        "camera": dict(camera),
        "env_id": str(env_id),
        "latent_dim": int(net.latent_dim),
    }
    text = json.dumps(meta, indent=2, sort_keys=True) + "\n"  # fails early if camera is not JSON-serialisable
    out_dir = Path(out_dir)
    out_dir.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().cpu().contiguous() for k, v in net.state_dict().items()}
    _atomic_write(out_dir / WEIGHTS_FILE, lambda tmp: save_file(tensors, tmp, metadata={"name": name}))
    _atomic_write(out_dir / META_FILE, lambda tmp: Path(tmp).write_text(text))
    return out_dir


def _brief(exc: BaseException) -> str:
    """An exception's message on one line (pydantic and torch spread theirs over several)."""
    return " ".join(str(exc).split())[:300]


def _redo(out_dir: Path) -> str:
    """What to do about a damaged or invalid encoder artifact."""
    name = out_dir.name.removesuffix(".partial")
    return f"pretrain it again: `dvc repro pretrain@{name}` or `python -m pipeline.pretrain --encoder {name}`"


def _read_meta(meta_path: Path, fix: str) -> dict[str, Any]:
    """``encoder.json``, checked: every key there with the type :func:`save_encoder` writes."""
    try:
        meta = json.loads(meta_path.read_bytes())
    except ValueError as exc:
        raise EncoderError(f"not valid JSON ({_brief(exc)})", meta_path, fix) from exc
    missing = [k for k in REQUIRED_KEYS if not isinstance(meta, dict) or k not in meta]
    if missing:
        raise EncoderError(f"missing keys {missing} (expected {list(REQUIRED_KEYS)})", meta_path, fix)
    kinds = {"name": str, "config": dict, "image_size": int, "camera": dict, "env_id": str, "latent_dim": int}
    wrong = [f"{k} is not {t.__name__}" for k, t in kinds.items() if not isinstance(meta[k], t)]
    if wrong:
        raise EncoderError(f"invalid values: {', '.join(wrong)}", meta_path, fix)
    if meta["format_version"] != FORMAT_VERSION:
        raise EncoderError(
            f"format_version {meta['format_version']} not supported (expected {FORMAT_VERSION})", meta_path, fix
        )
    if meta["name"] not in ENCODERS:
        raise EncoderError(f"unknown encoder name {meta['name']!r}; choose from {list(ENCODERS)}", meta_path, fix)
    return meta


def _mismatch(own: dict[str, torch.Tensor], saved: dict[str, torch.Tensor]) -> str:
    """What keeps ``saved`` from loading into a module with state dict ``own`` (empty: nothing)."""
    found = {
        "missing keys": [k for k in own if k not in saved],
        "unexpected keys": [k for k in saved if k not in own],
        "shape mismatches (file vs config)": [
            f"{k} {tuple(v.shape)} vs {tuple(own[k].shape)}"
            for k, v in saved.items()
            if k in own and v.shape != own[k].shape
        ],
    }
    return ", ".join(f"{len(x)} {what} {x[:3]}" for what, x in found.items() if x)


def load_encoder(path: str | Path, device: str | torch.device | None = None) -> LoadedEncoder:
    """Load an encoder artifact written by :func:`save_encoder`.

    A missing file raises ``FileNotFoundError``; a damaged or invalid one (truncated weights, bad ``encoder.json``,
    a config that no longer fits the weights) an :class:`EncoderError` naming the file and what to do.

    :param path: the artifact directory (or either of its two files)
    :param device: torch device; default cuda when available, else cpu
    """
    path = Path(path)
    out_dir = path.parent if path.name in (WEIGHTS_FILE, META_FILE) else path
    meta_path, weights_path = out_dir / META_FILE, out_dir / WEIGHTS_FILE
    for p in (meta_path, weights_path):
        if not p.is_file():
            raise FileNotFoundError(
                f"encoder artifact incomplete: {p} not found (run the pretrain stage, or check the path)"
            )
    fix = _redo(out_dir)
    meta = _read_meta(meta_path, fix)
    try:
        net = build_encoder(meta["name"], meta["config"], meta["image_size"], load_weights=False)
    except (ValueError, TypeError, KeyError) as exc:
        raise EncoderError(
            f"its config does not build a {meta['name']!r} encoder: {_brief(exc)}", meta_path, fix
        ) from exc
    try:
        state = read_safetensors(weights_path)
    except WeightsFileError as exc:
        raise EncoderError(exc.what, weights_path, fix) from exc
    problem = _mismatch(net.state_dict(), state)
    if problem:
        raise EncoderError(
            f"weights do not fit the {meta['name']!r} encoder that {meta_path} configures: {problem}",
            weights_path,
            fix + " (or put back the encoder.json written with these weights)",
        )
    net.load_state_dict(state, strict=True)
    if int(net.latent_dim) != meta["latent_dim"]:
        raise EncoderError(
            f"latent_dim {meta['latent_dim']} but the rebuilt encoder has {net.latent_dim}", meta_path, fix
        )
    dev = torch.device(device) if device is not None else torch.device("cuda" if torch.cuda.is_available() else "cpu")
    return LoadedEncoder(net, meta, dev)
