"""The versioned zarr dataset: schema, streaming atomic writer, validated reader."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import zarr

from pipeline.errors import PipelineError

SCHEMA_VERSION = 2  # 2: + object_visible
PER_FRAME = {
    # name: (trailing shape given image size S, dtype)
    "frames": (lambda s: (s, s, 3), np.uint8),
    "object_pos": (lambda s: (3,), np.float32),
    "gripper_pos": (lambda s: (3,), np.float32),
    "goal": (lambda s: (3,), np.float32),
    "proprio": (lambda s: (10,), np.float32),
    "object_velp": (lambda s: (3,), np.float32),
    "object_visible": (lambda s: (), np.float32),  # share of the object in sight, 0..1 (NaN: no object)
    "action": (lambda s: (4,), np.float32),
    "episode": (lambda s: (), np.int32),
    "step": (lambda s: (), np.int32),
}
"""Every per-frame array of the schema; all share the leading length N."""
INDEX_ARRAYS = ("episode", "step")
"""arrays that locate a frame (written by the collect stage around the episodes)"""
EPISODE_ARRAYS = tuple(k for k in PER_FRAME if k not in INDEX_ARRAYS)
"""what one rolled-out episode holds, per frame"""
LABELS = tuple(k for k in EPISODE_ARRAYS if k not in ("frames", "action"))
"""the simulator's per-frame labels (HDF5 ``obs/<label>``)"""
FILL = {"action": np.nan, "object_visible": np.nan}
"""value of a frame without data: NaN where it is undefined (no action after the last frame, no object)"""


def empty_episode(frames: int, image_size: int) -> dict[str, np.ndarray]:
    """Per-frame arrays of one episode of ``frames`` frames, as the schema says (zeros, or the ``FILL`` value)."""
    return {
        k: np.full((frames, *shape(image_size)), FILL.get(k, 0), dtype)
        for k, (shape, dtype) in PER_FRAME.items()
        if k in EPISODE_ARRAYS
    }


REQUIRED_ATTRS = (
    "schema_version",
    "env_id",
    "camera",
    "image_size",
    "seed",
    "policy",
    "versions",
    "frames_per_episode",
    "episodes",
)
REDO = "collect it again: `python -m pipeline.collect`"
"""what to do about a damaged or inconsistent dataset"""


class DatasetError(PipelineError, ValueError):
    """A dataset is missing, incomplete or does not follow the schema."""


@dataclass
class RolloutData:
    """A dataset in memory: per-frame arrays (see :data:`PER_FRAME`) and attributes."""

    arrays: dict[str, np.ndarray]
    attrs: dict[str, Any] = field(default_factory=dict)

    def __len__(self) -> int:
        return len(self.arrays["episode"])

    def episode_bounds(self) -> np.ndarray:
        """``(E, 2)`` start/stop frame index of each episode, from the ``episode`` array."""
        ep = self.arrays["episode"]
        starts = np.flatnonzero(np.r_[True, ep[1:] != ep[:-1]])
        return np.stack([starts, np.r_[starts[1:], len(ep)]], axis=1)


def verify_dataset(source: zarr.Group | RolloutData, path: Path | str) -> None:
    """Check that every episode is complete and in order; raise :class:`DatasetError` naming ``path`` otherwise.

    As the schema promises: ``episode`` is ``0..E-1``, each repeated for ``frames_per_episode`` consecutive frames,
    ``step`` counts ``0..frames_per_episode-1`` within each (E and the length from the attributes, or from the
    ``episode`` array where absent), and every chunk of a zarr group's ``frames`` was written.
    """
    try:
        ep, step = (
            np.asarray(source.arrays[k] if isinstance(source, RolloutData) else source[k][:]) for k in INDEX_ARRAYS
        )
    except Exception as exc:  # zarr raises several types for a damaged chunk
        raise DatasetError(f"cannot read 'episode'/'step' (truncated or corrupt chunk?): {exc}", path, REDO) from exc
    n = len(ep)
    fpe = int(source.attrs.get("frames_per_episode", np.argmax(np.r_[ep[1:] != ep[:-1], True]) + 1 if n else 1))
    episodes = int(source.attrs.get("episodes", n // max(fpe, 1)))
    if fpe < 1 or n != episodes * fpe or len(step) != n:
        raise DatasetError(f"{n} frames, expected {episodes} episodes x {fpe} frames", path, REDO)
    want_ep, want_step = np.repeat(np.arange(episodes), fpe), np.tile(np.arange(fpe), episodes)
    bad = np.flatnonzero((ep != want_ep) | (step != want_step))
    if bad.size:
        i = int(bad[0])
        raise DatasetError(
            f"inconsistent episode/step indices in {bad.size} of {n} frames (first at frame {i}: episode {ep[i]} "
            f"step {step[i]}, expected episode {want_ep[i]} step {want_step[i]}); incomplete or mixed writes",
            path,
            REDO,
        )
    frames = source["frames"] if isinstance(source, zarr.Group) else None
    if frames is not None and frames.nchunks_initialized != frames.nchunks:
        missing = frames.nchunks - frames.nchunks_initialized
        raise DatasetError(f"{missing} of {frames.nchunks} chunks of 'frames' were never written", path, REDO)


def open_dataset(path: Path | str) -> zarr.Group:
    """Open a dataset read-only, check it follows the schema and is consistent (:func:`verify_dataset`)."""
    path = Path(path)
    if not path.exists():
        raise DatasetError(f"dataset not found: {path} (run `python -m pipeline.collect` first)")
    try:
        group = zarr.open_group(str(path), mode="r")
    except Exception as exc:  # zarr raises several types for a non-group path
        raise DatasetError(f"{path} is not a zarr group: {exc}") from exc
    attrs = dict(group.attrs)
    missing = [a for a in REQUIRED_ATTRS if a not in attrs]
    if missing:
        raise DatasetError(f"{path}: missing attributes {missing}; not a dataset written by pipeline.collect")
    if attrs["schema_version"] != SCHEMA_VERSION:
        raise DatasetError(
            f"{path}: schema version {attrs['schema_version']}, this code reads {SCHEMA_VERSION} "
            f"(collect it again: `python -m pipeline.collect`)"
        )
    for name in PER_FRAME:  # parse each array's metadata first: zarr would raise a bare JSON error
        meta = path / name / "zarr.json"
        try:
            if meta.is_file() and not isinstance(json.loads(meta.read_bytes()), dict):
                raise ValueError("not a JSON object")
        except (OSError, ValueError) as exc:  # JSONDecodeError and UnicodeDecodeError are ValueErrors
            raise DatasetError(f"array {name!r} has damaged metadata ({exc})", meta, REDO) from exc
    try:
        names = set(group.array_keys())
        arrays = {name: group[name] for name in PER_FRAME if name in names}
    except Exception as exc:  # metadata that parses but zarr cannot read
        raise DatasetError(f"unreadable array metadata: {exc}", path, REDO) from exc
    if len(arrays) < len(PER_FRAME):
        raise DatasetError(f"{path}: missing arrays {sorted(set(PER_FRAME) - names)}")
    n, size = arrays["episode"].shape[0], attrs["image_size"]
    for name, (shape_fn, dtype) in PER_FRAME.items():
        got, want = (arrays[name].shape, np.dtype(arrays[name].dtype)), ((n, *shape_fn(size)), np.dtype(dtype))
        if got != want:
            raise DatasetError(f"{path}: array {name!r} has shape {got[0]} {got[1]}, expected {want[0]} {want[1]}")
    verify_dataset(group, path)
    return group


def load_dataset(path: Path | str, arrays: tuple[str, ...] | None = None) -> RolloutData:
    """Read a dataset (or some of its arrays) into memory; a corrupt chunk raises :class:`DatasetError`."""
    group, out = open_dataset(path), {}
    for name in arrays or tuple(PER_FRAME):
        try:
            out[name] = group[name][:]
        except Exception as exc:
            raise DatasetError(f"{path}: cannot read array {name!r} (truncated or corrupt chunk?): {exc}") from exc
    return RolloutData(out, dict(group.attrs))
