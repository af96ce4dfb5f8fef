"""The versioned zarr dataset: schema, streaming atomic writer, validated reader."""

from __future__ import annotations

import shutil
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import zarr

from pipeline.io import partial_path, publish

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


class DatasetError(ValueError):
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


class DatasetWriter:
    """Create the zarr group at a temporary path, append whole episodes in order, then publish.

    :param path: final dataset path
    :param n_frames: total frames N (known up front)
    :param image_size: frame size S
    :param chunk_frames: chunk length along N
    :param attrs: dataset attributes (:data:`REQUIRED_ATTRS` minus the schema version)
    :param compress: zstd-compress the arrays
    """

    def __init__(
        self, path: Path, n_frames: int, image_size: int, chunk_frames: int, attrs: dict, compress: bool = True
    ) -> None:
        self.final, self.tmp = Path(path), partial_path(Path(path))
        if self.tmp.exists():
            shutil.rmtree(self.tmp)  # leftovers of an interrupted run
        self.tmp.parent.mkdir(parents=True, exist_ok=True)
        self.group = zarr.open_group(str(self.tmp), mode="w", zarr_format=3)
        self.group.attrs.update({"schema_version": SCHEMA_VERSION, **attrs})
        codecs = {} if compress else {"compressors": None}
        for name, (shape_fn, dtype) in PER_FRAME.items():
            shape = (n_frames, *shape_fn(image_size))
            chunks = (chunk_frames, *shape_fn(image_size))
            self.group.create_array(name, shape=shape, chunks=chunks, dtype=dtype, fill_value=0, **codecs)
        self.n_frames, self.cursor = n_frames, 0

    def write(self, block: dict[str, np.ndarray]) -> None:
        """Append a block of consecutive frames (all arrays of :data:`PER_FRAME`)."""
        n = len(block["episode"])
        write_region(self.group, self.cursor, block)
        self.cursor += n

    def written_elsewhere(self, n: int) -> None:
        """Count frames that worker processes wrote straight into the temporary group."""
        self.cursor += n

    def close(self) -> Path:
        """Check completeness and publish at the final path."""
        if self.cursor != self.n_frames:
            raise DatasetError(f"dataset incomplete: wrote {self.cursor} of {self.n_frames} frames")
        publish(self.tmp, self.final)
        return self.final


def write_region(group: zarr.Group, start: int, block: dict[str, np.ndarray]) -> None:
    """Write consecutive frames at ``start``; callers keep regions chunk-aligned across processes."""
    n = len(block["episode"])
    for name in PER_FRAME:
        group[name][start : start + n] = block[name]


def open_dataset(path: Path | str) -> zarr.Group:
    """Open a dataset read-only and check it follows the schema (clear error otherwise)."""
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
    names = set(group.array_keys())
    if not set(PER_FRAME) <= names:
        raise DatasetError(f"{path}: missing arrays {sorted(set(PER_FRAME) - names)}")
    n = group["episode"].shape[0]
    size = attrs["image_size"]
    for name, (shape_fn, dtype) in PER_FRAME.items():
        arr = group[name]
        if arr.shape != (n, *shape_fn(size)) or np.dtype(arr.dtype) != np.dtype(dtype):
            raise DatasetError(
                f"{path}: array {name!r} has shape {arr.shape} {arr.dtype}, "
                f"expected {(n, *shape_fn(size))} {np.dtype(dtype)}"
            )
    return group


def load_dataset(path: Path | str, arrays: tuple[str, ...] | None = None) -> RolloutData:
    """Read a dataset (or some of its arrays) into memory; a corrupt chunk raises :class:`DatasetError`."""
    group = open_dataset(path)
    names = arrays or tuple(PER_FRAME)
    out = {}
    for name in names:
        try:
            out[name] = group[name][:]
        except Exception as exc:
            raise DatasetError(f"{path}: cannot read array {name!r} (truncated or corrupt chunk?): {exc}") from exc
    return RolloutData(out, dict(group.attrs))


def write_dataset(data: RolloutData, path: Path | str, chunk_frames: int | None = None) -> Path:
    """Write an in-memory dataset (e.g. imported from HDF5) atomically."""
    attrs = {k: v for k, v in data.attrs.items() if k != "schema_version"}
    chunk = chunk_frames or int(attrs.get("frames_per_episode", 51)) * 4
    writer = DatasetWriter(Path(path), len(data), int(attrs["image_size"]), min(chunk, len(data)), attrs)
    writer.write(data.arrays)
    return writer.close()
