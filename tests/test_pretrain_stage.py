"""Stage 2 end to end: Lightning training on a real tiny dataset, artefacts, probes, resume, bad inputs."""

from __future__ import annotations

import json
import os
import pickle
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
import zarr
from safetensors.torch import save_file

from pipeline.config import Params
from pipeline.encoders import load_encoder
from pipeline.encoders.registry import build_encoder
from pipeline.pretrain.__main__ import main as pretrain_main
from pipeline.pretrain.metrics import EncoderMetrics
from pipeline.pretrain.train import PretrainError, PretrainPaths, pretrain_encoder

from .conftest import tiny_params_dict, write_params

TINY = {
    "max_epochs": 1,
    "max_steps": 4,
    "batch_size": 16,
    "checkpoint_every_steps": 2,
    "vae": {"channels": [8, 16], "latent_dim": 4},
    "spatial_ae": {"channels": [8], "num_keypoints": 4, "recon_size": 16},
    "supervised": {"channels": [8], "num_keypoints": 4, "head_hidden": 16},
    "frozen": {"resize_to": 32},
}


def stage_params(tmp_path: Path, dataset: Path, **pretrain: object) -> dict:
    p = tiny_params_dict(tmp_path)
    p["env"].update(image_size=32, max_episode_steps=20)
    p["paths"]["dataset"] = str(dataset)
    p["pretrain"] = {**TINY, **pretrain}
    return p


def run_pretrain(params: Params, name: str, progress: bool = False) -> EncoderMetrics:
    """The stage as its entry point runs it: the ``pretrain`` section, the encoder name, its paths."""
    return pretrain_encoder(params.pretrain, name, PretrainPaths.of(params.paths, name), progress=progress)


@pytest.mark.parametrize("name", ["vae", "spatial_ae", "spatial_ae_gaussian", "supervised", "frozen"])
def test_encoder_trains_and_round_trips(tmp_path: Path, tiny_dataset: Path, name: str) -> None:
    p = stage_params(tmp_path, tiny_dataset)
    if name.endswith("_gaussian"):
        name = name.removesuffix("_gaussian")
        p["pretrain"]["spatial_ae"] = {**p["pretrain"]["spatial_ae"], "decoder": "gaussian"}
    params = Params.model_validate(p)
    metrics = run_pretrain(params, name, progress=False)
    out = params.paths.encoders / name
    enc = load_encoder(out, device="cpu")
    if params.pretrain.spatial_ae.decoder == "gaussian":  # the background it paints over is saved with the weights
        assert enc.net.decoder.background.std() > 0
    frames = zarr.open_group(str(tiny_dataset), mode="r")["frames"][:5]
    z = enc.encode(frames)
    assert z.shape == (5, enc.latent_dim) and z.dtype == np.float32 and np.array_equal(z, enc.encode(frames))
    assert enc.image_size == 32 and enc.camera["name"] == "workspace" and enc.env_id == "FetchPush-v4"
    saved = json.loads((out / "metrics.json").read_text())
    for key in (
        "probe_object_mm",
        "probe_object_median_mm",
        "probe_gripper_mm",
        "probe_object_r2",
        "mean_object_mm",
        "random_object_mm",
        "probe_object_mlp_mm",
        "probe_gripper_mlp_mm",
        "random_object_mlp_mm",
    ):
        assert np.isfinite(saved[key]) and saved[key] == pytest.approx(metrics.to_metrics()[key])
    assert set(saved) == set(metrics.to_metrics()) and saved["encoder"] == name
    assert 0 < saved["visible_share"] <= 1 and "probe_object_visible_mm" in saved  # the dataset labels visibility
    if name in ("vae", "spatial_ae"):
        assert (out / "reconstructions.png").stat().st_size > 1000
    if name in ("spatial_ae", "supervised"):
        assert (out / "keypoints.png").stat().st_size > 1000
    if name != "frozen":
        assert (params.paths.checkpoints / "pretrain" / name / "last.ckpt").exists()
        assert any((params.paths.logs / "pretrain" / name).glob("events.out.tfevents*"))
    assert (params.paths.checkpoints / "pretrain" / name).is_dir()  # dvc.yaml's out of every pretrain stage
    assert not list(params.paths.encoders.glob("*.partial"))


def test_supervised_beats_mean_predictor_with_more_training(tmp_path: Path, tiny_dataset: Path) -> None:
    params = Params.model_validate(
        stage_params(tmp_path, tiny_dataset, max_steps=120, max_epochs=100, lr_schedule="constant")
    )
    m = run_pretrain(params, "supervised", progress=False)
    assert m.probe.probe_gripper_mm < 0.8 * m.probe.mean_gripper_mm


def test_resume_after_interruption(tmp_path: Path, tiny_dataset: Path) -> None:
    p = stage_params(tmp_path, tiny_dataset, max_steps=100000, max_epochs=100000)
    path = write_params(tmp_path, p)
    ckpt = Path(p["paths"]["checkpoints"]) / "pretrain" / "vae" / "last.ckpt"
    cmd = [sys.executable, "-m", "pipeline.pretrain", "--encoder", "vae", "--params", str(path)]
    proc = subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True)
    deadline = time.time() + 180
    while not ckpt.exists() and time.time() < deadline:
        time.sleep(0.3)
    time.sleep(0.5)
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()
    assert ckpt.exists() and not (Path(p["paths"]["encoders"]) / "vae").exists()
    saved = torch.load(ckpt, weights_only=True)
    step, before = saved["global_step"], saved["callbacks"]["TrainClock"]["train_seconds"]
    p["pretrain"]["max_steps"] = step + 3
    result = subprocess.run([*cmd[:-1], str(write_params(tmp_path, p))], capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stderr[-2000:]
    assert "resuming" in result.stdout
    metrics = json.loads((Path(p["paths"]["encoders"]) / "vae" / "metrics.json").read_text())
    assert metrics["steps"] == step + 3 and metrics["train_seconds"] > before > 0  # the first run's seconds count
    results = Path(p["paths"]["pretrain_results"]) / "vae"  # its copy for git: the same record, and the pictures
    assert json.loads((results / "metrics.json").read_text()) == metrics and "collect_seconds" in metrics
    assert sorted(f.name for f in (results / "pictures").iterdir()) == sorted(
        f.name for f in (Path(p["paths"]["encoders"]) / "vae").glob("*.png")
    )


def test_bad_datasets_are_clear_errors(tmp_path: Path, tiny_dataset: Path) -> None:
    missing = Params.model_validate(stage_params(tmp_path, tmp_path / "nope.zarr"))
    with pytest.raises(PretrainError, match="dataset not found"):
        run_pretrain(missing, "vae", progress=False)
    wrong = tmp_path / "wrong.zarr"
    shutil.copytree(tiny_dataset, wrong)
    g = zarr.open_group(str(wrong), mode="r+")
    g.attrs["schema_version"] = 99
    with pytest.raises(PretrainError, match="schema version 99"):
        run_pretrain(Params.model_validate(stage_params(tmp_path, wrong)), "vae", progress=False)
    truncated = tmp_path / "truncated.zarr"
    shutil.copytree(tiny_dataset, truncated)
    chunk = next(p for p in sorted((truncated / "frames").rglob("*")) if p.is_file() and p.name != "zarr.json")
    chunk.write_bytes(chunk.read_bytes()[:7])
    with pytest.raises(PretrainError, match="frames"):
        run_pretrain(Params.model_validate(stage_params(tmp_path, truncated)), "vae", progress=False)


class _Payload:
    def __reduce__(self):  # would create a marker file if anything unpickled it
        return (os.system, (f"touch {_Payload.marker}",))


def test_bad_weights_files_are_clear_errors(tmp_path: Path, tiny_dataset: Path, capsys) -> None:
    # right architecture, R3M-style prefix: loads
    good = tmp_path / "r3m.safetensors"
    net = build_encoder("frozen", {"init": "random", "resize_to": 32}, 32)
    save_file({f"module.convnet.{k}": v.contiguous() for k, v in net.state_dict().items()}, str(good))
    p = stage_params(tmp_path, tiny_dataset, frozen={"init": "file", "weights": str(good), "resize_to": 32})
    assert np.isfinite(run_pretrain(Params.model_validate(p), "frozen", progress=False).probe.probe_object_mm)
    # wrong keys: named in the error, exit code 2
    bad = tmp_path / "bad.safetensors"
    save_file({"conv1.weight": torch.zeros(64, 3, 7, 7), "head.weight": torch.zeros(2, 2)}, str(bad))
    p["pretrain"]["frozen"]["weights"] = str(bad)
    with pytest.raises(SystemExit) as exc:
        pretrain_main(["--encoder", "frozen", "--params", str(write_params(tmp_path, p))])
    err = capsys.readouterr().err
    assert exc.value.code == 2 and "head.weight" in err and "layer1.0.conv1.weight" in err
    # a pickle carrying code: refused, never executed
    _Payload.marker = tmp_path / "pwned"
    evil = tmp_path / "evil.pt"
    evil.write_bytes(pickle.dumps({"conv1.weight": _Payload()}))
    p["pretrain"]["frozen"]["weights"] = str(evil)
    with pytest.raises(SystemExit):
        pretrain_main(["--encoder", "frozen", "--params", str(write_params(tmp_path, p))])
    assert "safetensors" in capsys.readouterr().err and not _Payload.marker.exists()


def test_unknown_encoder_name(tmp_path: Path, tiny_dataset: Path, capsys) -> None:
    with pytest.raises(SystemExit):
        pretrain_main(
            ["--encoder", "resnet", "--params", str(write_params(tmp_path, stage_params(tmp_path, tiny_dataset)))]
        )
    assert "vae" in capsys.readouterr().err


def test_checkpoint_of_another_architecture_is_not_resumed(tmp_path: Path, tiny_dataset: Path, capsys) -> None:
    params = Params.model_validate(stage_params(tmp_path, tiny_dataset))
    run_pretrain(params, "supervised", progress=False)
    fp_file = params.paths.checkpoints / "pretrain" / "supervised" / "fingerprint.json"
    fp = json.loads(fp_file.read_text())
    fp_file.write_text(json.dumps({**fp, "architecture": "an older net"}))
    run_pretrain(params, "supervised", progress=True)
    captured = capsys.readouterr()
    out = captured.out
    assert "starting over" in out and "resuming" not in out
    # probing says what it does, and shows a progress bar while it encodes the frames
    assert "probe supervised: fitting ridge and MLP probes" in out and "probe supervised (random init): fitting" in out
    assert "probe supervised: encode" in captured.err
