"""Stage 2 model side: encoder shapes, Lightning training smoke tests, foreground-weighted loss."""

from __future__ import annotations

import math

import numpy as np
import pytest
import pytorch_lightning as pl
import torch
import torch.nn.functional as F
from pydantic import ValidationError
from torch.utils.data import DataLoader, Dataset

from pipeline.encoders.atc import ATCConfig
from pipeline.encoders.frozen import FrozenConfig
from pipeline.encoders.losses import weighted_recon_loss
from pipeline.encoders.registry import ENCODERS, build_encoder, trainable_encoders
from pipeline.encoders.spatial_ae import SpatialAEConfig
from pipeline.encoders.supervised import SupervisedConfig
from pipeline.encoders.transporter import TransporterConfig
from pipeline.encoders.vae import VAEConfig
from pipeline.pretrain.config import PretrainConfig
from pipeline.pretrain.lit import LR_SCHEDULES, build_lit_module, compute_label_stats, one_cycle
from pipeline.pretrain.pictures import PICTURES

from . import toy_encoder

torch.set_num_threads(1)
SIZE = 32
SMALL = {
    "vae": VAEConfig(latent_dim=8, channels=(8, 16)),
    "spatial_ae": SpatialAEConfig(num_keypoints=4, recon_size=16, channels=(8, 8)),
    "supervised": SupervisedConfig(num_keypoints=4, channels=(8,), head_hidden=16),
    "frozen": FrozenConfig(resize_to=None),
    "atc": ATCConfig(num_keypoints=4, channels=(8,), code_dim=16, hidden=16),
    "transporter": TransporterConfig(num_keypoints=4, channels=(8,), feature_channels=8),
}
LATENT = {"vae": 8, "spatial_ae": 8, "supervised": 8 + 6, "frozen": 512, "atc": 8, "transporter": 8}


def frames(n: int, size: int = SIZE, seed: int = 0) -> torch.Tensor:
    return torch.from_numpy(np.random.default_rng(seed).integers(0, 256, (n, size, size, 3), dtype=np.uint8))


@pytest.mark.parametrize("name", list(ENCODERS))
def test_encoder_shapes_and_determinism(name: str) -> None:
    net = build_encoder(name, SMALL[name], SIZE).eval()
    x = frames(3)
    assert net.latent_dim == LATENT[name]
    with torch.no_grad():
        z1, z2 = net.encode(x), net.encode(frames(3).permute(0, 3, 1, 2).float() / 255.0)
    assert z1.shape == (3, LATENT[name]) and z1.dtype == torch.float32
    assert torch.allclose(z1, z2, atol=1e-6)  # uint8 (B,H,W,3) and float (B,3,H,W) agree, deterministic
    assert torch.isfinite(z1).all()


def test_decoder_outputs_and_keypoints() -> None:
    x = frames(2)
    recon, mu, logvar = build_encoder("vae", SMALL["vae"], SIZE)(x)
    assert (
        recon.shape == (2, 3, SIZE, SIZE)
        and 0 <= recon.min()
        and recon.max() <= 1
        and mu.shape == logvar.shape == (2, 8)
    )
    sae = build_encoder("spatial_ae", SMALL["spatial_ae"], SIZE)
    recon, coords = sae(x)
    assert recon.shape == (2, 1, 16, 16) and coords.shape == (2, 8)
    kp = sae.keypoints(x)
    assert kp.shape == (2, 4, 2) and kp.abs().max() <= 1
    assert torch.equal(kp[:, :, 0], coords[:, :4]) and torch.equal(kp[:, :, 1], coords[:, 4:])


def test_gaussian_map_decoder_paints_at_the_keypoints() -> None:
    cfg = SpatialAEConfig(num_keypoints=2, recon_size=16, channels=(8,), decoder="gaussian", blob_sigma=0.1)
    sae = build_encoder("spatial_ae", cfg, SIZE)
    dec = sae.decoder
    background = torch.rand(1, 1, 16, 16)
    dec.background.copy_(background)
    coords = torch.tensor([[-0.5, 0.5, 0.0, 0.5]], requires_grad=True)  # keypoints (-0.5, 0) and (0.5, 0.5)
    out = dec(coords)
    assert out.shape == (1, 1, 16, 16)
    out.sum().backward()
    assert coords.grad.abs().sum() > 0  # the reconstruction moves the keypoints
    with torch.no_grad():  # a decoder that sums the two blob maps into one channel and passes it through
        for conv in (dec.net[0], dec.net[2], dec.net[4]):
            conv.weight.zero_(), conv.bias.zero_()
        dec.net[0].weight[0, :2, 1, 1] = 1.0
        dec.net[2].weight[0, 0, 1, 1] = 1.0
        dec.net[4].weight[0, 0, 1, 1] = 1.0
        paint = (dec(coords.detach()) - background)[0, 0]  # (r, r)
    hot = {tuple(int(v) for v in idx) for idx in (paint > 0.5 * paint.max()).nonzero()}
    grid = torch.linspace(-1, 1, 16)
    near = lambda x, y: {(int((grid - y).abs().argmin()), int((grid - x).abs().argmin()))}  # noqa: E731  (row, col)
    assert near(-0.5, 0.0) <= hot and near(0.5, 0.5) <= hot and paint[0, 0] < 1e-3 * paint.max()


@pytest.mark.parametrize("logits", ["raw", "tanh"])
def test_bounded_logits_keep_keypoint_maps_from_collapsing(logits: str) -> None:
    """Grown keypoint-conv weights make raw maps one-hot on a single cell; tanh-capped maps stay spread."""
    torch.manual_seed(0)
    trunk = build_encoder(
        "spatial_ae", SMALL["spatial_ae"].model_copy(update={"softmax_logits": logits}), SIZE
    ).trunk.eval()
    keypoint_conv = [m for m in trunk.convs if isinstance(m, torch.nn.Conv2d)][-1]
    with torch.no_grad():
        keypoint_conv.weight.mul_(1000.0)
        att = trunk.softmax.attention(trunk.convs(frames(2).permute(0, 3, 1, 2).float() / 255.0))  # (B, K, h, w)
    peak = att.flatten(2).max(dim=-1).values  # (B, K, h*w) -> (B, K) largest cell weight per map
    if logits == "raw":
        assert peak.median() > 0.99  # most maps put all their weight on one cell
    else:
        assert peak.median() < 0.05  # spread over every cell where the capped logit saturates


def test_frozen_is_frozen_and_seeded() -> None:
    a, b = build_encoder("frozen", SMALL["frozen"], SIZE), build_encoder("frozen", SMALL["frozen"], SIZE)
    a.train()
    assert not a.training and not any(p.requires_grad for p in a.parameters())
    assert all(torch.equal(p, q) for p, q in zip(a.state_dict().values(), b.state_dict().values()))
    c = build_encoder("frozen", FrozenConfig(resize_to=None, seed=1), SIZE)
    assert not torch.equal(a.conv1.weight, c.conv1.weight)


def test_config_validation() -> None:
    assert PretrainConfig().encoders == ["vae", "spatial_ae", "supervised"]
    with pytest.raises(ValidationError, match="unknown encoder name"):
        PretrainConfig(encoders=["vae", "resnet"])
    with pytest.raises(ValidationError):
        PretrainConfig(batch_size=64, typo=1)
    with pytest.raises(ValidationError, match="init='file' needs"):
        FrozenConfig(init="file")
    with pytest.raises(ValueError, match="image_size"):
        build_encoder("vae", None, 8)


class RandomFrames(Dataset):
    def __init__(self, n: int = 8) -> None:
        rng = np.random.default_rng(0)
        self.frames = rng.integers(0, 256, (n + 1, SIZE, SIZE, 3), dtype=np.uint8)
        self.obj = rng.normal(size=(n, 3)).astype(np.float32) * 0.05
        self.grip = rng.normal(size=(n, 3)).astype(np.float32) * 0.05
        self.n = n

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, i: int) -> dict:
        return {
            "frames": torch.from_numpy(self.frames[i]),
            "next_frames": torch.from_numpy(self.frames[i + 1]),
            "has_next": torch.tensor(i % 4 != 3),
            "object_pos": torch.from_numpy(self.obj[i]),
            "gripper_pos": torch.from_numpy(self.grip[i]),
        }


@pytest.mark.parametrize("name", [*trainable_encoders(), "spatial_ae_gaussian"])
@pytest.mark.parametrize("schedule", LR_SCHEDULES)
def test_lightning_steps(name: str, schedule: str) -> None:
    ds = RandomFrames()
    median = np.median(ds.frames, axis=0).astype(np.uint8)
    cfg = SMALL[name] if name in SMALL else SMALL["spatial_ae"].model_copy(update={"decoder": "gaussian"})
    name = name.removesuffix("_gaussian")
    module = build_lit_module(name, cfg, SIZE, median, compute_label_stats(ds.obj, ds.grip), schedule)
    if cfg.model_dump().get("decoder") == "gaussian":
        assert torch.equal(module.net.decoder.background, module.median)  # paints over the dataset's median frame
    trainer = pl.Trainer(
        max_steps=3,
        logger=False,
        enable_checkpointing=False,
        accelerator="cpu",
        enable_progress_bar=False,
        enable_model_summary=False,
        limit_val_batches=1,
    )
    trainer.fit(module, DataLoader(ds, batch_size=4, shuffle=True), DataLoader(ds, batch_size=4))
    assert trainer.global_step == 3
    lr_now = trainer.optimizers[0].param_groups[0]["lr"]  # after three scheduler steps
    assert lr_now == pytest.approx(module.lr * (one_cycle(3, 3) if schedule == "onecycle" else 1.0))
    for key in ("val_loss", "train/loss"):
        assert math.isfinite(float(trainer.callback_metrics[key])), key
    if name == "spatial_ae":
        assert "val/slowness" in trainer.callback_metrics
    if name == "supervised":
        assert torch.allclose(
            module.net.label_std, torch.from_numpy(compute_label_stats(ds.obj, ds.grip)["std"]).clamp(min=0.01)
        )


def test_one_cycle_factor() -> None:
    f = [one_cycle(s, 100) for s in range(101)]
    assert f[0] == pytest.approx(0.04) and max(f) == pytest.approx(1.0) and f.index(max(f)) == 30
    assert all(a <= b for a, b in zip(f[:30], f[1:31])) and all(a >= b for a, b in zip(f[30:], f[31:]))
    assert f[100] == pytest.approx(1e-3) and f[200 // 2] == one_cycle(500, 100)  # stays at the end value past the total
    with pytest.raises(ValueError, match="lr schedule"):
        build_lit_module("vae", SMALL["vae"], SIZE, schedule="cosine")


def test_frozen_is_not_a_lit_module() -> None:
    with pytest.raises(ValueError, match="not trainable"):
        build_lit_module("frozen", None, SIZE)


def test_registry_and_params_blocks_agree() -> None:
    """Every registered encoder has a ``pretrain.<name>`` block of its config class (defaults when left out)."""
    pre = PretrainConfig()
    for name, spec in ENCODERS.items():
        assert type(getattr(pre, name)) is spec.config and getattr(pre, name) == spec.config(), name
    assert trainable_encoders() == ("vae", "spatial_ae", "supervised", "atc", "transporter")
    assert all(set(spec.pictures) <= set(PICTURES) for spec in ENCODERS.values())


def test_a_registered_encoder_trains_through_its_objective(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(ENCODERS, "toy", toy_encoder.SPEC)
    module = build_lit_module("toy", {"latent_dim": 4}, SIZE)
    out = module.losses({"frames": frames(3)})
    assert set(out) == {"loss", "norm"} and out["loss"].requires_grad and module.lr == pytest.approx(1e-3)
    assert module.net.latent_dim == 4 and module.median is None


def test_weighted_recon_loss() -> None:
    g = torch.Generator().manual_seed(0)
    target = torch.rand(2, 3, 8, 8, generator=g)
    median = target[0].clone()
    median[:, :2, :2] += 0.5  # sample 0 differs from the median in a 2x2 corner only
    recon = target + 0.1 * torch.rand(2, 3, 8, 8, generator=g)
    assert torch.allclose(weighted_recon_loss(recon, target, median, 0.0), F.mse_loss(recon, target))
    assert torch.allclose(weighted_recon_loss(recon, target, None, 10.0), F.mse_loss(recon, target))
    one = target[:1]
    bg_err, fg_err = one.clone(), one.clone()
    bg_err[:, :, 5, 5] += 0.3  # error on a background pixel
    fg_err[:, :, 0, 0] += 0.3  # same error on a foreground pixel
    med = median.unsqueeze(0)
    assert weighted_recon_loss(fg_err, one, med, 10.0) > 5 * weighted_recon_loss(bg_err, one, med, 10.0)
    assert torch.allclose(weighted_recon_loss(fg_err, one, med, 0.0), weighted_recon_loss(bg_err, one, med, 0.0))
