"""Damaged datasets (issue 36): inconsistent indices or damaged metadata are refused by every reader with the file
named, and an HDF5 import takes the dataset's lock and verifies before it publishes."""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
import zarr

from pipeline.collect.dataset import DatasetError, load_dataset, open_dataset
from pipeline.collect.hdf5 import export_hdf5, import_hdf5
from pipeline.collect.hdf5 import main as hdf5_main
from pipeline.collect.writer import write_dataset
from pipeline.errors import PipelineError
from pipeline.io import exclusive, partial_path

from .faults_helpers import assert_same_arrays, one_error_line


def test_inconsistent_indices_are_refused(tmp_path: Path, published: Path, capsys: pytest.CaptureFixture[str]) -> None:
    broken = tmp_path / "broken.zarr"
    shutil.copytree(published, broken)
    zarr.open_group(str(broken), mode="r+")["episode"][12:20] = 0  # frames of episode 1 that say episode 0
    for read in (open_dataset, load_dataset):
        with pytest.raises(
            DatasetError, match=r"inconsistent episode/step indices in 8 of 33 frames \(first at frame 12"
        ):
            read(broken)
    line = one_error_line(capsys, lambda: hdf5_main(["export", str(broken), str(tmp_path / "out.hdf5")]))
    assert line.startswith(f"error: {broken}: ") and line.endswith("collect it again: `python -m pipeline.collect`")
    assert not (tmp_path / "out.hdf5").exists()
    missing = tmp_path / "missing.zarr"
    shutil.copytree(published, missing)
    zarr.open_group(str(missing), mode="r+").attrs["episodes"] = 4  # one episode never written
    with pytest.raises(DatasetError, match="33 frames, expected 4 episodes x 11 frames"):
        open_dataset(missing)


@pytest.mark.parametrize("array", ["frames", "episode"])
def test_damaged_array_metadata_is_named(tmp_path: Path, published: Path, array: str) -> None:
    broken = tmp_path / "broken.zarr"
    shutil.copytree(published, broken)
    meta = broken / array / "zarr.json"
    meta.write_bytes(meta.read_bytes()[: meta.stat().st_size // 2])
    with pytest.raises(DatasetError, match="damaged metadata") as exc:
        load_dataset(broken)
    assert str(exc.value).startswith(f"{meta}: ")
    (broken / "zarr.json").write_text("{not json")  # the root's: still a clear error
    with pytest.raises(DatasetError, match="not a zarr group"):
        open_dataset(broken)


def test_hdf5_import_takes_the_lock_and_verifies(tmp_path: Path, published: Path) -> None:
    data = import_hdf5(export_hdf5(load_dataset(published), tmp_path / "rollouts.hdf5"))
    final = tmp_path / "imported.zarr"
    with exclusive(final), pytest.raises(PipelineError, match="another run is writing it"):
        write_dataset(data, final)
    assert not final.exists() and not partial_path(final).exists()
    data.arrays["step"][3] = 7
    with pytest.raises(DatasetError, match="not published, the new data failed verification"):
        write_dataset(data, final)
    assert not final.exists() and not partial_path(final).exists()
    data.arrays["step"][3] = 3
    assert_same_arrays(load_dataset(write_dataset(data, final)).arrays, load_dataset(published).arrays)
