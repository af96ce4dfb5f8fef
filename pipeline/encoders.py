"""The one encoder interface every later stage uses: save a trained encoder, load it back, encode frames.

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

import numpy as np
import torch
from safetensors.torch import save_file
from torch import nn

from pipeline.errors import PipelineError
from pipeline.nets import frames_to_tensor
from pipeline.pretrain.registry import ENCODERS, build_encoder
from pipeline.pretrain.resnet import WeightsFileError, read_safetensors

FORMAT_VERSION = 1
WEIGHTS_FILE = "encoder.safetensors"
META_FILE = "encoder.json"
REQUIRED_KEYS = ("format_version", "name", "config", "image_size", "camera", "env_id", "latent_dim")
ENCODE_BATCH = 256


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
    :param name: its name in :data:`pipeline.pretrain.registry.ENCODERS`
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


class LoadedEncoder:
    """A frozen encoder in eval mode on ``device``; see :func:`load_encoder`.

    :ivar name: registry name
    :ivar latent_dim: size of the encoding
    :ivar image_size: expected frame side (frames are ``(N, image_size, image_size, 3)`` uint8)
    :ivar camera: camera settings recorded at save time
    :ivar env_id: environment id recorded at save time
    :ivar config: the encoder's config block (dict)
    :ivar device: torch device the module lives on
    :ivar net: the underlying ``nn.Module``
    """

    def __init__(self, net: nn.Module, meta: dict[str, Any], device: torch.device) -> None:
        # channels_last conv weights: frames arrive (N, H, W, 3), so their NCHW view is already channels_last
        # and the convs skip a layout conversion (~20-25 % faster at small batches on a CPU)
        self.net = net.to(device, memory_format=torch.channels_last).eval().requires_grad_(False)
        self.device = device
        self.name: str = meta["name"]
        self.latent_dim: int = int(meta["latent_dim"])
        self.image_size: int = int(meta["image_size"])
        self.camera: dict = meta["camera"]
        self.env_id: str = meta["env_id"]
        self.config: dict = meta["config"]

    def _check(self, shape: tuple[int, ...], channels_last: bool) -> None:
        s = self.image_size
        want = (s, s, 3) if channels_last else (3, s, s)
        if len(shape) != 4 or tuple(shape[1:]) != want:
            layout = "(N, H, W, 3) uint8" if channels_last else "(N, 3, H, W) float"
            raise ValueError(
                f"encoder {self.name!r} expects frames {layout} with shape (N, {', '.join(map(str, want))}); "
                f"got {tuple(shape)}"
            )

    def encode(self, frames: np.ndarray) -> np.ndarray:
        """uint8 frames ``(N, H, W, 3)`` -> float32 latents ``(N, latent_dim)`` (batched, no grad, deterministic)."""
        frames = np.asarray(frames)
        if frames.dtype != np.uint8:
            raise TypeError(f"encoder {self.name!r} expects uint8 frames; got {frames.dtype}")
        self._check(frames.shape, channels_last=True)
        out = np.empty((frames.shape[0], self.latent_dim), dtype=np.float32)
        for i in range(0, frames.shape[0], ENCODE_BATCH):
            chunk = torch.from_numpy(np.ascontiguousarray(frames[i : i + ENCODE_BATCH]))
            out[i : i + ENCODE_BATCH] = self.encode_torch(chunk).cpu().numpy()
        return out

    @property
    def has_presence(self) -> bool:
        """Whether the encoder reports keypoint presence (:meth:`encode_presence`): the keypoint encoders."""
        return callable(getattr(self.net, "encode_presence", None))

    def encode_presence(self, frames: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """uint8 frames ``(N, H, W, 3)`` -> latents ``(N, latent_dim)`` and keypoint presence ``(N, K)`` (each map's
        peak logit: low where what the keypoint marks is out of sight), in one batched pass."""
        if not self.has_presence:
            raise ValueError(f"encoder {self.name!r} has no keypoints, so no keypoint presence")
        frames = np.asarray(frames)
        if frames.dtype != np.uint8:
            raise TypeError(f"encoder {self.name!r} expects uint8 frames; got {frames.dtype}")
        self._check(frames.shape, channels_last=True)
        zs, ps = [], []
        with torch.no_grad():
            for i in range(0, frames.shape[0], ENCODE_BATCH):
                chunk = torch.from_numpy(np.ascontiguousarray(frames[i : i + ENCODE_BATCH])).to(self.device)
                z, p = self.net.encode_presence(frames_to_tensor(chunk))  # (b, latent_dim), (b, K)
                zs.append(z.cpu().numpy())
                ps.append(p.cpu().numpy())
        k = int(self.config.get("num_keypoints", 0))
        if not zs:
            return np.zeros((0, self.latent_dim), np.float32), np.zeros((0, k), np.float32)
        return np.concatenate(zs).astype(np.float32), np.concatenate(ps).astype(np.float32)

    def encode_torch(self, frames: torch.Tensor) -> torch.Tensor:
        """uint8 ``(N, H, W, 3)`` (or float ``(N, 3, H, W)`` in [0, 1]) tensor -> ``(N, latent_dim)`` on ``device``,
        no grad."""
        self._check(tuple(frames.shape), channels_last=frames.dtype == torch.uint8)
        with torch.no_grad():
            return self.net.encode(frames_to_tensor(frames.to(self.device)))

    def __repr__(self) -> str:
        return (
            f"LoadedEncoder(name={self.name!r}, latent_dim={self.latent_dim}, image_size={self.image_size}, "
            f"device={self.device})"
        )


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
