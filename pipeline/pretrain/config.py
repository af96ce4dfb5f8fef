"""Typed ``pretrain`` section of ``params.yaml``: one block per encoder family plus shared training knobs.

Which encoders exist, and what they are built and trained with, is :mod:`pipeline.pretrain.registry`; this module
stays free of torch (every stage validates ``params.yaml``), and a test keeps its blocks and the registry in step.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, field_validator, model_validator

from pipeline.params import StrictModel

Channels = tuple[int, ...]


def _check_channels(v: Channels, max_len: int) -> Channels:
    if not 1 <= len(v) <= max_len:
        raise ValueError(f"needs 1..{max_len} conv layers (got {len(v)})")
    if any(not 1 <= c <= 512 for c in v):
        raise ValueError(f"every channel count must be in 1..512 (got {list(v)})")
    return v


class VAEConfig(StrictModel):
    """beta-VAE of RIG (Nair et al. 2018) reconstructing the full RGB frame."""

    latent_dim: int = Field(16, ge=1, le=1024, description="Size of the Gaussian latent; encode() returns its mean.")
    beta: float = Field(
        1.0, ge=0.0, le=100.0, description="KL weight; recon term is a per-image sum of squared errors."
    )
    channels: Channels = Field(
        (32, 64, 128, 256), description="Encoder conv widths (4x4, stride 2 each; 1-4 layers); decoder mirrors them."
    )
    lr: float = Field(1e-3, gt=0.0, le=1.0, description="Adam learning rate.")
    fg_weight: float = Field(
        10.0, ge=0.0, le=1000.0, description="Extra loss weight on pixels differing from the median frame; 0 disables."
    )

    @field_validator("channels")
    @classmethod
    def _channels(cls, v: Channels) -> Channels:
        return _check_channels(v, 4)


class SpatialAEConfig(StrictModel):
    """Deep spatial autoencoder (Finn et al. 2016): keypoints -> linear decoder to a small grayscale image."""

    num_keypoints: int = Field(16, ge=1, le=256, description="K; the latent is the 2K keypoint (x, y) coordinates.")
    recon_size: int = Field(32, ge=8, le=128, description="Side of the downsampled grayscale reconstruction target.")
    channels: Channels = Field(
        (64, 32), description="Conv widths before the K-channel keypoint conv (first conv stride 2; 1-3 layers)."
    )
    slowness_weight: float = Field(
        1.0, ge=0.0, le=1000.0, description="Weight of ||kp(t+1) - kp(t)||^2 between consecutive frames."
    )
    softmax_temperature: float = Field(
        0.1,
        gt=0.0,
        le=10.0,
        description="Initial (learned) spatial-softmax temperature; 1.0 leaves the maps diffuse for hundreds of steps.",
    )
    softmax_logits: Literal["raw", "tanh"] = Field(
        "raw",
        description="raw: the keypoint conv feeds the spatial softmax as is; "
        "tanh: capped first, so maps cannot collapse onto one cell.",
    )
    lr: float = Field(1e-3, gt=0.0, le=1.0, description="Adam learning rate.")
    fg_weight: float = Field(
        10.0, ge=0.0, le=1000.0, description="Extra loss weight on pixels differing from the median frame; 0 disables."
    )
    decoder: Literal["linear", "gaussian"] = Field(
        "linear",
        description="linear: one fully connected layer from the 2K coordinates (Finn et al.); "
        "gaussian: each keypoint drawn "
        "as a Gaussian blob, a 3-layer conv net paints the blobs over the median frame (Jakab et al. 2018).",
    )
    blob_sigma: float = Field(
        0.1, gt=0.0, le=1.0, description="gaussian decoder: blob std in image units ([-1, 1] across the frame)."
    )

    @field_validator("channels")
    @classmethod
    def _channels(cls, v: Channels) -> Channels:
        return _check_channels(v, 3)


class SupervisedConfig(StrictModel):
    """Keypoint regressor trained on privileged object/gripper positions (upper-bound baseline)."""

    num_keypoints: int = Field(
        16, ge=1, le=256, description="K; the latent is 2K keypoint coords + the 6 standardised predictions."
    )
    channels: Channels = Field(
        (64, 32), description="Conv widths before the K-channel keypoint conv (first conv stride 2; 1-3 layers)."
    )
    head_hidden: int = Field(
        128, ge=1, le=4096, description="Hidden width of the MLP head from keypoints to the 6 targets."
    )
    softmax_temperature: float = Field(
        0.1,
        gt=0.0,
        le=10.0,
        description="Initial (learned) spatial-softmax temperature; 1.0 leaves the maps diffuse for hundreds of steps.",
    )
    lr: float = Field(1e-3, gt=0.0, le=1.0, description="Adam learning rate.")

    @field_validator("channels")
    @classmethod
    def _channels(cls, v: Channels) -> Channels:
        return _check_channels(v, 3)


class FrozenConfig(StrictModel):
    """Frozen ResNet-18 trunk (e.g. R3M weights) with global average pooling -> 512-d latent."""

    weights: str | None = Field(
        None,
        description="Local .safetensors file with a torchvision-layout resnet18 state dict (needed when init=file).",
    )
    init: Literal["file", "random"] = Field(
        "random", description="'file' loads `weights`; 'random' is a fixed seeded random init (control)."
    )
    seed: int = Field(0, ge=0, description="Seed of the random init.")
    resize_to: int | None = Field(
        224,
        ge=16,
        le=512,
        description="Frames are bilinearly resized to this side before the trunk; null keeps native size.",
    )

    @model_validator(mode="after")
    def _weights_needed(self) -> FrozenConfig:
        if self.init == "file" and not self.weights:
            raise ValueError("init='file' needs `weights`: a path to a local .safetensors file")
        return self


class PretrainConfig(StrictModel):
    """Stage 2: which encoders to pretrain, shared training knobs, and one block per encoder."""

    encoders: list[str] = Field(
        ["vae", "spatial_ae", "supervised"], description="Encoders to build: names of the encoder blocks below."
    )
    max_epochs: int = Field(30, ge=1, le=100_000, description="Epoch budget per trainable encoder.")
    max_steps: int | None = Field(
        None, ge=1, description="Optional step budget; training stops at whichever comes first."
    )
    batch_size: int = Field(64, ge=1, le=8192, description="Frames per optimisation step.")
    val_fraction: float = Field(
        0.1, gt=0.0, lt=0.5, description="Fraction of episodes held out for validation and the probe."
    )
    devices: int | Literal["auto"] = Field(1, description="Lightning devices per node (GPUs; >1 trains with DDP).")
    num_nodes: int = Field(1, ge=1, le=1024, description="Lightning nodes (multi-node DDP, e.g. under SLURM/torchrun).")
    strategy: str = Field("auto", description="Lightning strategy, e.g. 'auto', 'ddp', 'ddp_spawn'.")
    lr_schedule: Literal["constant", "onecycle"] = Field(
        "onecycle",
        description="'onecycle': warm up to each block's lr over 30 % of the steps, then anneal; "
        "'constant': the block's lr throughout.",
    )
    cpu_threads: int = Field(0, ge=0, le=256, description="torch intra-op threads (0: torch's default, all cores).")
    checkpoint_every_steps: int = Field(
        200, ge=1, description="Optimiser steps between resumable checkpoints (last.ckpt)."
    )
    num_workers: int = Field(0, ge=0, le=64, description="DataLoader worker processes.")
    seed: int = Field(0, ge=0, description="Seed for the episode split, init and data order.")
    probe_ridge: float | Literal["auto"] = Field(
        "auto",
        description="Ridge alpha of the linear position probe (standardised latents); "
        "'auto' cross-validates it over training episodes.",
    )

    @field_validator("probe_ridge")
    @classmethod
    def _ridge(cls, v: float | str) -> float | str:
        if v != "auto" and v < 0:
            raise ValueError(f"must be >= 0 or 'auto' (got {v})")
        return v

    vae: VAEConfig = Field(default_factory=VAEConfig, description="beta-VAE block.")
    spatial_ae: SpatialAEConfig = Field(default_factory=SpatialAEConfig, description="Spatial autoencoder block.")
    supervised: SupervisedConfig = Field(
        default_factory=SupervisedConfig, description="Supervised keypoint regressor block."
    )
    frozen: FrozenConfig = Field(default_factory=FrozenConfig, description="Frozen ResNet-18 block.")

    @field_validator("encoders")
    @classmethod
    def _encoders(cls, v: list[str]) -> list[str]:
        if not v:
            raise ValueError(f"list at least one encoder out of {list(ENCODER_NAMES)}")
        unknown = [n for n in v if n not in ENCODER_NAMES]
        if unknown:
            raise ValueError(f"unknown encoder name(s) {unknown}; choose from {list(ENCODER_NAMES)}")
        dupes = sorted({n for n in v if v.count(n) > 1})
        if dupes:
            raise ValueError(f"encoder name(s) listed twice: {dupes}")
        return v


ENCODER_NAMES: tuple[str, ...] = tuple(
    name
    for name, f in PretrainConfig.model_fields.items()
    if isinstance(f.annotation, type) and issubclass(f.annotation, StrictModel)
)
"""Encoders with a block here, i.e. those ``pretrain.encoders`` may list (each a registry entry; a test checks)."""
