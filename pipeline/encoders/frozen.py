"""Frozen pretrained encoder: its ``pretrain.frozen`` block and a ResNet-18 trunk in the layout torchvision and R3M
publish, loaded from safetensors. Not trained: the pretrain stage only builds, probes and saves it."""

from __future__ import annotations

from pathlib import Path
from typing import Literal

import torch
import torch.nn.functional as F
from pydantic import Field, model_validator
from torch import nn

from pipeline.encoders.spec import EncoderSpec
from pipeline.encoders.weights import read_safetensors
from pipeline.nets import check_image_size, frames_to_tensor
from pipeline.params import StrictModel

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


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
        """``init='file'`` needs a weights file."""
        if self.init == "file" and not self.weights:
            raise ValueError("init='file' needs `weights`: a path to a local .safetensors file")
        return self


class BasicBlock(nn.Module):
    """ResNet basic block with torchvision's parameter names."""

    def __init__(self, c_in: int, c_out: int, stride: int) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(c_in, c_out, 3, stride, 1, bias=False)
        self.bn1 = nn.BatchNorm2d(c_out)
        self.relu = nn.ReLU(inplace=True)
        self.conv2 = nn.Conv2d(c_out, c_out, 3, 1, 1, bias=False)
        self.bn2 = nn.BatchNorm2d(c_out)
        self.downsample = None
        if stride != 1 or c_in != c_out:
            self.downsample = nn.Sequential(nn.Conv2d(c_in, c_out, 1, stride, bias=False), nn.BatchNorm2d(c_out))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, C_in, H, W)`` -> ``(B, C_out, H / stride, W / stride)``."""
        identity = x if self.downsample is None else self.downsample(x)
        out = self.relu(self.bn1(self.conv1(x)))
        return self.relu(self.bn2(self.conv2(out)) + identity)


class FrozenResNet18(nn.Module):
    """Frozen ResNet-18 trunk (torchvision / R3M key layout, no ``fc``) -> global average pool -> 512-d latent.

    Frames in [0, 1] are bilinearly resized to ``resize_to`` (whole frame, no crop; None keeps the native
    size) and ImageNet-normalised. Always in eval mode with ``requires_grad=False``.

    :param cfg: :class:`FrozenConfig`
    :param image_size: side of the square input frames
    :param load_weights: read ``cfg.weights`` when ``init='file'`` (False when a saved encoder restores them)
    """

    STRIP_PREFIXES = ("module.convnet.", "convnet.", "module.")

    def __init__(self, cfg: FrozenConfig, image_size: int, load_weights: bool = True) -> None:
        super().__init__()
        check_image_size(image_size, 16, 512)
        self.latent_dim = 512
        self.resize_to = cfg.resize_to
        with torch.random.fork_rng(devices=[]):
            torch.manual_seed(cfg.seed)
            self.conv1 = nn.Conv2d(3, 64, 7, 2, 3, bias=False)
            self.bn1 = nn.BatchNorm2d(64)
            self.relu = nn.ReLU(inplace=True)
            self.maxpool = nn.MaxPool2d(3, 2, 1)
            widths = [64, 64, 128, 256, 512]
            for i in range(1, 5):
                stride = 1 if i == 1 else 2
                blocks = [BasicBlock(widths[i - 1], widths[i], stride), BasicBlock(widths[i], widths[i], 1)]
                self.add_module(f"layer{i}", nn.Sequential(*blocks))
            for m in self.modules():  # torchvision's init
                if isinstance(m, nn.Conv2d):
                    nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        self.register_buffer(
            "img_mean", torch.tensor(IMAGENET_MEAN).reshape(1, 3, 1, 1), persistent=False
        )  # (3,) -> (1, 3, 1, 1)
        self.register_buffer(
            "img_std", torch.tensor(IMAGENET_STD).reshape(1, 3, 1, 1), persistent=False
        )  # (3,) -> (1, 3, 1, 1)
        if cfg.init == "file" and load_weights:
            self.load_weights(cfg.weights)
        self.requires_grad_(False)
        self.eval()

    def train(self, mode: bool = True) -> FrozenResNet18:
        """Frozen: batch-norm statistics never update."""
        return super().train(False)

    def load_weights(self, path: str | Path) -> None:
        """Load a torchvision-layout resnet18 state dict from ``path`` (safetensors only).

        Prefixes ``module.convnet.`` (R3M), ``convnet.`` and ``module.`` are stripped (keys outside the
        prefix are ignored) and ``fc.*`` is dropped; any other mismatch raises ``ValueError``.
        """
        raw = read_safetensors(path)
        sd = raw
        for p in self.STRIP_PREFIXES:
            if any(k.startswith(p) for k in raw):
                sd = {k[len(p) :]: v for k, v in raw.items() if k.startswith(p)}
                break
        sd = {k: v for k, v in sd.items() if not k.startswith("fc.")}
        own = self.state_dict()
        missing = [k for k in own if k not in sd and not k.endswith("num_batches_tracked")]
        unexpected = [k for k in sd if k not in own]
        shapes = [
            f"{k}: file {tuple(sd[k].shape)} vs model {tuple(v.shape)}"
            for k, v in own.items()
            if k in sd and sd[k].shape != v.shape
        ]
        if missing or unexpected or shapes:
            raise ValueError(
                f"{path}: not a resnet18 trunk state dict: {len(missing)} missing keys {missing[:5]}, "
                f"{len(unexpected)} unexpected keys {unexpected[:5]}, {len(shapes)} shape mismatches {shapes[:5]}"
            )
        self.load_state_dict(sd, strict=False)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Average-pooled layer4 features ``(B, 512)``."""
        x = frames_to_tensor(x)
        if self.resize_to is not None and x.shape[-1] != self.resize_to:
            x = F.interpolate(x, size=(self.resize_to, self.resize_to), mode="bilinear", align_corners=False)
        x = (x - self.img_mean) / self.img_std
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer4(self.layer3(self.layer2(self.layer1(x))))
        return x.mean(dim=(2, 3))  # (B, 512, h, w) -> (B, 512)

    forward = encode


SPEC = EncoderSpec(FrozenConfig, FrozenResNet18, random_init={"init": "random"}, external_weights=True)
