"""Stage 1: dataset schema, determinism, atomic output, bad params, HDF5 interop."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import h5py
import numpy as np
import pytest

from pipeline.collect.__main__ import main as collect_main
from pipeline.collect.core import collect
from pipeline.collect.dataset import PER_FRAME, SCHEMA_VERSION, DatasetError, load_dataset, open_dataset
from pipeline.collect.hdf5 import export_hdf5, import_hdf5
from pipeline.config import Params
from pipeline.io import partial_path

from .conftest import tiny_params_dict, write_params


def test_schema_and_shapes(tiny_dataset: Path) -> None:
    group = open_dataset(tiny_dataset)
    attrs = dict(group.attrs)
    assert attrs["env_id"] == "FetchPush-v4" and attrs["image_size"] == 32 and attrs["schema_version"] == SCHEMA_VERSION
    assert attrs["camera"]["name"] == "workspace" and "mujoco" in attrs["versions"]
    data = load_dataset(tiny_dataset)
    n = 6 * 21
    for name, (shape_fn, dtype) in PER_FRAME.items():
        assert data.arrays[name].shape == (n, *shape_fn(32)) and data.arrays[name].dtype == dtype
    assert group["frames"].chunks[0] < n  # chunked along N
    bounds = data.episode_bounds()
    assert len(bounds) == 6 and np.all(bounds[:, 1] - bounds[:, 0] == 21)
    assert np.array_equal(data.arrays["step"][:21], np.arange(21))
    last = data.arrays["step"] == 20
    assert np.isnan(data.arrays["action"][last]).all() and not np.isnan(data.arrays["action"][~last]).any()
    # frames change within an episode (the arm moves), and the proprio head is the gripper position
    assert (data.arrays["frames"][1:21] != data.arrays["frames"][0]).any()
    np.testing.assert_allclose(data.arrays["proprio"][:, :3], data.arrays["gripper_pos"])
    vis = data.arrays["object_visible"]
    assert ((vis >= 0) & (vis <= 1)).all() and vis.max() == 1.0  # share of the block in sight, labelled per frame


def test_scripted_pusher_moves_the_object(tiny_dataset: Path) -> None:
    data = load_dataset(tiny_dataset, ("object_pos", "episode"))
    moved = []
    for start, stop in data.episode_bounds():
        pos = data.arrays["object_pos"][start:stop]
        moved.append(np.linalg.norm(pos[-1, :2] - pos[0, :2]))
    assert max(moved[1::2]) > 0.01  # odd episodes are scripted at fraction 0.5


def test_same_data_whatever_the_worker_count(tmp_path: Path) -> None:
    arrays = []
    for workers in (1, 3):
        p = tiny_params_dict(
            tmp_path / str(workers), collect={"workers": workers, "episodes": 4, "scripted_fraction": 0.5}
        )
        params = Params.model_validate(p)
        collect(params.env, params.collect, params.paths.dataset, progress=False)
        arrays.append(load_dataset(params.paths.dataset).arrays)
    for name in PER_FRAME:
        assert np.array_equal(arrays[0][name], arrays[1][name], equal_nan=True), name


def test_other_seed_gives_other_data(tmp_path: Path) -> None:
    frames = []
    for seed in (1, 2):
        params = Params.model_validate(tiny_params_dict(tmp_path / str(seed), collect={"seed": seed, "episodes": 1}))
        collect(params.env, params.collect, params.paths.dataset, progress=False)
        frames.append(load_dataset(params.paths.dataset, ("object_pos",)).arrays["object_pos"])
    assert not np.array_equal(frames[0], frames[1])


@pytest.mark.parametrize(
    ("section", "values", "key", "hint"),
    [
        ("collect", {"episodes": 0}, "collect.episodes", "greater than or equal to 1"),
        ("collect", {"episodes": "many"}, "collect.episodes", "integer"),
        ("env", {"image_size": 8}, "env.image_size", "16"),
        ("env", {"id": "FetchPoke-v4"}, "env.id", "FetchPush-v4"),
        ("env", {"camera": "ceiling"}, "env.camera", "external_camera_0"),
        ("collect", {"episodez": 3}, "collect.episodez", "unknown key"),
        ("collect", {"workers": 0}, "collect.workers", "greater than or equal to 1"),
    ],
)
def test_bad_params_fail_before_any_work(tmp_path: Path, capsys, section, values, key, hint) -> None:
    p = tiny_params_dict(tmp_path)
    p[section].update(values)
    with pytest.raises(SystemExit) as exc:
        collect_main(["--params", str(write_params(tmp_path, p))])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert f"`{key}`" in err and hint in err
    assert not list(tmp_path.glob("dataset*"))  # nothing written, not even a partial


def test_missing_params_file_is_a_clear_error(tmp_path: Path, capsys) -> None:
    with pytest.raises(SystemExit):
        collect_main(["--params", str(tmp_path / "nope.yaml")])
    assert "params file not found" in capsys.readouterr().err


def test_killed_collect_leaves_nothing_and_rerun_succeeds(tmp_path: Path) -> None:
    p = tiny_params_dict(tmp_path, collect={"episodes": 400, "workers": 2})
    path = write_params(tmp_path, p)
    final = Path(p["paths"]["dataset"])
    proc = subprocess.Popen(
        [sys.executable, "-m", "pipeline.collect", "--params", str(path)],
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.time() + 60
    while not (partial_path(final) / "frames").exists() and time.time() < deadline:
        time.sleep(0.2)
    time.sleep(1.0)  # let it write a few chunks
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert partial_path(final).exists() and not final.exists()
    p["collect"]["episodes"] = 2
    collect_main(["--params", str(write_params(tmp_path, p))])
    assert final.exists() and not partial_path(final).exists()
    assert len(load_dataset(final, ("episode",))) == 2 * 11


def test_hdf5_round_trip(tiny_dataset: Path, tmp_path: Path) -> None:
    data = load_dataset(tiny_dataset)
    h5 = export_hdf5(data, tmp_path / "rollouts.hdf5")
    back = import_hdf5(h5)
    assert back.attrs == data.attrs
    for name in PER_FRAME:
        assert back.arrays[name].dtype == data.arrays[name].dtype
        assert np.array_equal(back.arrays[name], data.arrays[name], equal_nan=True), name
    with h5py.File(h5, "a") as f:  # a file from another tool has no visibility label: it reads as unknown
        for demo in f["data"].values():
            del demo["obs"]["object_visible"]
    assert np.isnan(import_hdf5(h5).arrays["object_visible"]).all()


def test_truncated_chunk_is_a_clear_error(tiny_dataset: Path, tmp_path: Path) -> None:
    import shutil

    copy = tmp_path / "broken.zarr"
    shutil.copytree(tiny_dataset, copy)
    chunk = next(p for p in sorted((copy / "frames").rglob("*")) if p.is_file() and p.name != "zarr.json")
    chunk.write_bytes(chunk.read_bytes()[:10])
    with pytest.raises(DatasetError, match="frames"):
        load_dataset(copy)
    with pytest.raises(DatasetError, match="not found"):
        open_dataset(tmp_path / "missing.zarr")


def test_dataset_labels_agree_with_its_pixels(tiny_dataset: Path) -> None:
    """Project the stored object_pos through the dataset's camera: the pixel there is the dark block."""
    from pipeline.envs import EnvConfig, FetchPixelEnv

    data = load_dataset(tiny_dataset, ("frames", "object_pos"))
    attrs = data.attrs
    env = FetchPixelEnv(EnvConfig(image_size=attrs["image_size"], camera=attrs["camera"]["name"]))
    env.reset(seed=0)
    px = np.round(env.renderer.project(env.fetch.data, data.arrays["object_pos"])).astype(int)  # (N, 2) col,row
    off = np.round(env.renderer.project(env.fetch.data, data.arrays["object_pos"] + [0.08, 0.0, 0.0])).astype(int)
    env.close()
    gray = data.arrays["frames"].astype(int).mean(axis=-1)  # (N, S, S)
    pad = np.pad(gray, ((0, 0), (1, 1), (1, 1)), constant_values=255)

    def darkest_near(p: np.ndarray) -> np.ndarray:
        """Darkest pixel in the 3x3 window around each (col, row)."""
        c, r = p[:, 0].clip(0, gray.shape[2] - 1) + 1, p[:, 1].clip(0, gray.shape[1] - 1) + 1
        n = np.arange(len(gray))
        return np.min([pad[n, r + dr, c + dc] for dr in (-1, 0, 1) for dc in (-1, 0, 1)], axis=0)

    assert np.mean(darkest_near(px) < 100) > 0.8  # in some frames the arm hides the block
    assert np.mean(darkest_near(off) < 100) < 0.3
