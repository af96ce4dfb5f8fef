"""HDF5 interop (h5py): a robomimic-like file with one group per episode.

Layout::

    data/                      attrs: pipeline_attrs (JSON), total (frames), env_args (JSON)
      demo_0/                  attrs: num_samples, episode
        actions                (T+1, 4)  float32 (last row NaN: no action after the final frame)
        obs/agentview_image    (T+1, H, W, 3) uint8
        obs/<label>            (T+1, ...) object_pos, gripper_pos, goal, proprio, object_velp, object_visible
                                                     (a file without object_visible reads as NaN: unknown)
"""

from __future__ import annotations

import json
import os
from pathlib import Path

import h5py
import numpy as np

from pipeline.collect.dataset import LABELS, PER_FRAME, DatasetError, RolloutData
from pipeline.io import partial_path, remove

IMAGE_KEY = "agentview_image"


def export_hdf5(data: RolloutData, path: Path | str) -> Path:
    """Write ``data`` to an HDF5 file at ``path`` (atomically)."""
    path = Path(path)
    tmp = partial_path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    try:
        _write_hdf5(data, tmp)
    except BaseException:
        remove(tmp)  # a full disk or Ctrl-C leaves nothing behind
        raise
    os.replace(tmp, path)
    return path


def _write_hdf5(data: RolloutData, tmp: Path) -> None:
    """Write the file's groups and datasets at ``tmp``."""
    with h5py.File(tmp, "w") as f:
        root = f.create_group("data")
        root.attrs["pipeline_attrs"] = json.dumps(data.attrs)
        root.attrs["env_args"] = json.dumps({"env_name": data.attrs.get("env_id"), "type": "gymnasium-robotics"})
        root.attrs["total"] = len(data)
        for i, (start, stop) in enumerate(data.episode_bounds()):
            demo = root.create_group(f"demo_{i}")
            demo.attrs["num_samples"] = int(stop - start)
            demo.attrs["episode"] = int(data.arrays["episode"][start])
            demo.create_dataset("actions", data=data.arrays["action"][start:stop])
            obs = demo.create_group("obs")
            obs.create_dataset(
                IMAGE_KEY, data=data.arrays["frames"][start:stop], chunks=True, compression="gzip", compression_opts=4
            )
            for name in LABELS:
                obs.create_dataset(name, data=data.arrays[name][start:stop])


def import_hdf5(path: Path | str) -> RolloutData:
    """Read an HDF5 file of the layout above into the in-memory dataset form.

    The dataset schema holds episodes of one length numbered ``0..E-1``: a demo without an ``episode`` attribute
    (another tool's file) is numbered by its place in the file, and demos of different lengths are refused.
    """
    path = Path(path)
    if not path.is_file():
        raise DatasetError(f"HDF5 file not found: {path}")
    with h5py.File(path, "r") as f:
        if "data" not in f:
            raise DatasetError(f"{path}: no 'data' group (not a robomimic-like file)")
        root = f["data"]
        attrs = json.loads(root.attrs.get("pipeline_attrs", "{}"))
        demos = sorted((k for k in root if k.startswith("demo_")), key=lambda k: int(k.split("_")[1]))
        if not demos:
            raise DatasetError(f"{path}: no demo_* groups")
        parts: dict[str, list[np.ndarray]] = {k: [] for k in PER_FRAME}
        for i, key in enumerate(demos):
            demo = root[key]
            n = int(demo.attrs.get("num_samples", demo["actions"].shape[0]))
            parts["action"].append(demo["actions"][:])
            parts["frames"].append(demo["obs"][IMAGE_KEY][:])
            for name in LABELS:
                if name == "object_visible" and name not in demo["obs"]:
                    parts[name].append(np.full(n, np.nan, np.float32))  # other tools' files lack this label
                    continue
                parts[name].append(demo["obs"][name][:])
            parts["episode"].append(np.full(n, int(demo.attrs.get("episode", i)), np.int32))
            parts["step"].append(np.arange(n, dtype=np.int32))
    lengths = sorted({len(s) for s in parts["step"]})
    if len(lengths) > 1:
        raise DatasetError(f"{path}: demos of {lengths} frames; the dataset holds episodes of one length")
    arrays = {k: np.concatenate(v).astype(PER_FRAME[k][1], copy=False) for k, v in parts.items()}
    if not attrs:
        attrs = {"image_size": int(arrays["frames"].shape[1]), "frames_per_episode": lengths[0], "episodes": len(demos)}
    return RolloutData(arrays, attrs)


def main(argv: list[str] | None = None) -> None:
    """``python -m pipeline.collect.hdf5 {export,import} SRC DST``: convert zarr <-> HDF5."""
    import argparse

    from pipeline.cli import run_stage
    from pipeline.collect.dataset import load_dataset
    from pipeline.collect.writer import write_dataset

    parser = argparse.ArgumentParser(description=main.__doc__)
    parser.add_argument("direction", choices=["export", "import"])
    parser.add_argument("src", type=Path)
    parser.add_argument("dst", type=Path)
    args = parser.parse_args(argv)

    def body() -> None:
        if args.direction == "export":
            print(export_hdf5(load_dataset(args.src), args.dst))
        else:
            print(write_dataset(import_hdf5(args.src), args.dst))

    run_stage(body, (DatasetError,))


if __name__ == "__main__":
    main()
