"""Adding an encoder is one module plus one registry line: its params block, training, saving and loading all follow
from the entry, and without it nothing in the pipeline knows the name."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
import zarr

from pipeline.config import Params, load_params
from pipeline.encoders import EncoderError, load_encoder
from pipeline.encoders.registry import ENCODERS, build_encoder, encoder_section, trainable_encoders
from pipeline.params import ParamsError
from pipeline.pretrain.config import PretrainConfig
from pipeline.pretrain.train import PretrainPaths, pretrain_encoder

from . import toy_encoder
from .conftest import tiny_params_dict, write_params

torch.set_num_threads(1)


def toy_params(tmp_path: Path, dataset: Path) -> dict:
    """Tiny params that pretrain only ``toy``, with its own ``pretrain.toy`` block (the others left out)."""
    p = tiny_params_dict(tmp_path)
    p["env"].update(image_size=32, max_episode_steps=20)
    p["paths"]["dataset"] = str(dataset)
    p["pretrain"] = {
        "encoders": ["toy"],
        "max_epochs": 1,
        "max_steps": 3,
        "batch_size": 16,
        "checkpoint_every_steps": 2,
        "toy": {"latent_dim": 5},
    }
    return p


def test_a_new_encoder_is_one_module_and_one_registry_line(
    tmp_path: Path, tiny_dataset: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    p = toy_params(tmp_path, tiny_dataset)
    path = write_params(tmp_path, p)
    with pytest.raises(ParamsError, match=r"`pretrain.toy`: unknown key.*encoder blocks: vae, spatial_ae"):
        load_params(path)  # not registered yet: its block is an unknown key
    monkeypatch.setitem(ENCODERS, "toy", toy_encoder.SPEC)  # the one registry line; tests/toy_encoder.py the module
    assert "toy" in trainable_encoders()

    params = load_params(path)  # validated through the registry: `pretrain.toy` is a ToyConfig
    assert params.pretrain.toy == toy_encoder.ToyConfig(latent_dim=5) == encoder_section("toy", params.pretrain)
    assert params.pretrain.vae == ENCODERS["vae"].config()  # blocks left out take their encoder's defaults
    bad = {**p, "pretrain": {**p["pretrain"], "toy": {"latent_dim": 0, "depth": 2}}}
    with pytest.raises(ParamsError) as err:
        load_params(write_params(tmp_path, bad, "bad.yaml"))
    assert "`pretrain.toy.latent_dim`: Input should be greater than or equal to 1 (got 0)" in str(err.value)
    assert "`pretrain.toy.depth`: unknown key" in str(err.value)

    metrics = pretrain_encoder(params.pretrain, "toy", PretrainPaths.of(params.paths, "toy"), progress=False)
    assert metrics.encoder == "toy" and metrics.steps == 3 and metrics.latent_dim == 5
    out = params.paths.encoders / "toy"
    enc = load_encoder(out, device="cpu")
    assert (enc.name, enc.latent_dim, enc.config, enc.image_size) == ("toy", 5, {"latent_dim": 5, "lr": 1e-3}, 32)
    frames = zarr.open_group(str(tiny_dataset), mode="r")["frames"][:4]
    z = enc.encode(frames)
    assert z.shape == (4, 5) and np.isfinite(z).all()
    fresh = build_encoder("toy", enc.config, 32)
    fresh.load_state_dict(enc.net.state_dict())
    with torch.no_grad():
        np.testing.assert_allclose(z, fresh.encode(torch.from_numpy(frames)).numpy(), rtol=1e-5, atol=1e-6)

    monkeypatch.delitem(ENCODERS, "toy")  # without its line, nothing knows the name
    with pytest.raises(EncoderError, match="unknown encoder name 'toy'"):
        load_encoder(out, device="cpu")
    with pytest.raises(ParamsError, match=r"`pretrain.encoders`: .*unknown encoder name\(s\) \['toy'\]"):
        load_params(path)


def test_the_pretrain_section_validates_encoder_blocks_through_the_registry() -> None:
    """Each registered encoder has a ``pretrain.<name>`` block of its config class; other keys are refused, naming
    what is allowed."""
    pre = PretrainConfig.model_validate({"vae": {"beta": 4.0}})
    assert pre.vae.beta == 4.0 and pre.encoder_block("vae") is pre.vae
    for name, spec in ENCODERS.items():
        assert type(getattr(pre, name)) is spec.config
        assert encoder_section(name, pre) is getattr(pre, name)
    assert list(pre.model_dump())[-len(ENCODERS) :] == list(ENCODERS)  # dumped like fields, in registry order
    assert Params.model_validate({"pretrain": {"vae": {"beta": 4.0}}}).pretrain == pre
    with pytest.raises(ValueError, match=r"resnet\n.*unknown key: .*encoder blocks: vae, spatial_ae, supervised"):
        PretrainConfig.model_validate({"resnet": {}})
    with pytest.raises(ValueError, match=r"spatial_ae.channels\n.*needs 1..3 conv layers") as err:
        PretrainConfig.model_validate({"spatial_ae": {"channels": [8, 8, 8, 8]}, "batch_size": 0})
    assert "batch_size" in str(err.value)  # shared fields and blocks are reported together
    with pytest.raises(ValueError, match="unknown encoder name"):
        PretrainConfig(encoders=["vae", "resnet"])
