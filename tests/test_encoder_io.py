"""Encoder artifact round trip, frozen weights loading, and refusal of pickled files."""

from __future__ import annotations

import json
import pickle
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import save_file

from pipeline.encoders import load_encoder, save_encoder
from pipeline.encoders.atc import ATCConfig
from pipeline.encoders.frozen import FrozenConfig
from pipeline.encoders.registry import ENCODERS, build_encoder
from pipeline.encoders.spatial_ae import SpatialAEConfig
from pipeline.encoders.supervised import SupervisedConfig
from pipeline.encoders.transporter import TransporterConfig
from pipeline.encoders.vae import VAEConfig

torch.set_num_threads(1)
SIZE = 32
CAMERA = {"name": "external", "distance": 1.0, "azimuth": 150.0, "elevation": -25.0}
SMALL = {
    "vae": VAEConfig(latent_dim=8, channels=(8, 16)),
    "spatial_ae": SpatialAEConfig(num_keypoints=4, recon_size=16, channels=(8, 8)),
    "supervised": SupervisedConfig(num_keypoints=4, channels=(8,), head_hidden=16),
    "frozen": FrozenConfig(resize_to=None, seed=3),
    "atc": ATCConfig(num_keypoints=4, channels=(8,), code_dim=16, hidden=16),
    "transporter": TransporterConfig(num_keypoints=4, channels=(8,), feature_channels=8),
}


def frames(n: int, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (n, SIZE, SIZE, 3), dtype=np.uint8)


@pytest.mark.parametrize("name", list(ENCODERS))
def test_round_trip(name: str, tmp_path: Path) -> None:
    net = build_encoder(name, SMALL[name], SIZE).eval()
    if name == "supervised":
        net.set_label_stats(np.arange(6) * 0.1, np.full(6, 0.05))
    if name == "frozen":  # non-trivial BN statistics must survive the trip
        net.bn1.running_mean.uniform_(-0.1, 0.1)
    save_encoder(net, name, SMALL[name], SIZE, CAMERA, "FetchPush-v4", tmp_path / "enc")
    meta = json.loads((tmp_path / "enc" / "encoder.json").read_text())
    assert meta["latent_dim"] == net.latent_dim and meta["camera"] == CAMERA and meta["name"] == name
    enc = load_encoder(tmp_path / "enc", device="cpu")
    assert (enc.latent_dim, enc.image_size, enc.env_id, enc.name) == (net.latent_dim, SIZE, "FetchPush-v4", name)
    x = frames(5)
    with torch.no_grad():
        want = net.encode(torch.from_numpy(x)).numpy()
    got = enc.encode(x)
    assert got.dtype == np.float32 and got.shape == (5, net.latent_dim)
    # the loaded copy runs channels_last convs: same function, float rounding may differ in the last bits
    np.testing.assert_allclose(got, want, rtol=1e-5, atol=1e-6)
    np.testing.assert_array_equal(enc.encode(x), got)
    assert torch.equal(enc.encode_torch(torch.from_numpy(x)), torch.from_numpy(got))
    assert enc.encode(x[:0]).shape == (0, net.latent_dim)
    assert not list((tmp_path / "enc").glob("*.tmp"))


def test_the_encoder_interface_does_not_import_lightning() -> None:
    """The policy stage loads encoders through pipeline.encoders (the registry and every encoder module) and
    validates its params (which validates the encoder blocks) without Lightning."""
    code = (
        "import sys, pipeline.encoders, pipeline.encoders.registry, pipeline.config; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('pytorch_lightning', 'lightning')))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert result.returncode == 0 and result.stdout.strip() == "[]", result.stdout + result.stderr


def test_keypoint_options_survive_the_round_trip(tmp_path: Path) -> None:
    """Options that add no weights (tanh-capped logits) must come back from encoder.json, not from defaults."""
    cfg = SMALL["spatial_ae"].model_copy(update={"softmax_logits": "tanh", "decoder": "gaussian"})
    net = build_encoder("spatial_ae", cfg, SIZE).eval()
    save_encoder(net, "spatial_ae", cfg, SIZE, CAMERA, "FetchPush-v4", tmp_path / "enc")
    enc = load_encoder(tmp_path / "enc", device="cpu")
    assert isinstance(enc.net.trunk.convs[-1], torch.nn.Tanh)
    with torch.no_grad():
        want = net.encode(torch.from_numpy(frames(3))).numpy()
    np.testing.assert_allclose(enc.encode(frames(3)), want, rtol=1e-5, atol=1e-6)


def test_load_errors(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="encoder.json"):
        load_encoder(tmp_path / "nope")
    net = build_encoder("vae", SMALL["vae"], SIZE)
    out = save_encoder(net, "vae", SMALL["vae"], SIZE, CAMERA, "FetchPush-v4", tmp_path / "enc")
    enc = load_encoder(out / "encoder.json", device="cpu")
    with pytest.raises(ValueError, match=r"\(N, 32, 32, 3\).*got \(2, 48, 48, 3\)"):
        enc.encode(np.zeros((2, 48, 48, 3), np.uint8))
    with pytest.raises(TypeError, match="uint8"):
        enc.encode(np.zeros((2, SIZE, SIZE, 3), np.float32))
    meta = json.loads((out / "encoder.json").read_text())
    del meta["image_size"], meta["camera"]
    (out / "encoder.json").write_text(json.dumps(meta))
    with pytest.raises(ValueError, match=r"missing keys \['image_size', 'camera'\]"):
        load_encoder(out)


def resnet_state(seed: int) -> dict[str, torch.Tensor]:
    return build_encoder("frozen", FrozenConfig(resize_to=None, seed=seed), SIZE).state_dict()


def test_frozen_loads_prefixed_safetensors(tmp_path: Path) -> None:
    src = resnet_state(seed=7)
    r3m_like = {f"module.convnet.{k}": v for k, v in src.items()}
    r3m_like["module.lang_enc.proj.weight"] = torch.zeros(2, 2)  # other R3M heads are ignored
    r3m_like["module.convnet.fc.weight"] = torch.zeros(10, 512)  # classifier is dropped
    path = tmp_path / "r3m.safetensors"
    save_file(r3m_like, str(path))
    net = build_encoder("frozen", FrozenConfig(init="file", weights=str(path), resize_to=None), SIZE)
    assert all(torch.equal(net.state_dict()[k], v) for k, v in src.items())
    plain = tmp_path / "plain.safetensors"
    save_file({f"convnet.{k}": v for k, v in src.items() if not k.endswith("num_batches_tracked")}, str(plain))
    net2 = build_encoder("frozen", FrozenConfig(init="file", weights=str(plain), resize_to=None), SIZE)
    assert torch.equal(net2.layer4[1].bn2.bias, src["layer4.1.bn2.bias"])
    assert not net2.training and not any(p.requires_grad for p in net2.parameters())


def test_frozen_wrong_keys_and_shapes(tmp_path: Path) -> None:
    src = resnet_state(seed=0)
    bad = dict(src)
    bad["layer9.weight"] = bad.pop("layer3.1.conv2.weight")
    path = tmp_path / "bad.safetensors"
    save_file(bad, str(path))
    with pytest.raises(ValueError, match=r"layer3\.1\.conv2\.weight.*layer9\.weight"):
        build_encoder("frozen", FrozenConfig(init="file", weights=str(path)), SIZE)
    bad = dict(src)
    bad["conv1.weight"] = torch.zeros(64, 3, 3, 3)
    save_file(bad, str(path))
    with pytest.raises(ValueError, match=r"conv1\.weight: file \(64, 3, 3, 3\) vs model \(64, 3, 7, 7\)"):
        build_encoder("frozen", FrozenConfig(init="file", weights=str(path)), SIZE)


class Trap:
    """Unpickling this would create a marker file."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self):
        return (Path.touch, (self.marker,))


@pytest.mark.parametrize("filename", ["weights.safetensors", "weights.pt"])
def test_pickle_is_refused_unexecuted(tmp_path: Path, filename: str) -> None:
    marker = tmp_path / "pwned"
    path = tmp_path / filename
    path.write_bytes(pickle.dumps(Trap(marker)))
    with pytest.raises(ValueError, match="not a safetensors file.*pickle"):
        build_encoder("frozen", FrozenConfig(init="file", weights=str(path)), SIZE)
    assert not marker.exists()


def test_torch_save_zip_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "ckpt.safetensors"
    torch.save({"conv1.weight": torch.zeros(1)}, path)
    with pytest.raises(ValueError, match="torch.save zip"):
        build_encoder("frozen", FrozenConfig(init="file", weights=str(path)), SIZE)
