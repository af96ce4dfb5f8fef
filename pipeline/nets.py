"""Small network building blocks shared by the pretraining encoders and the pixel RL extractors."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn


class SpatialSoftmax(nn.Module):
    """Per-channel spatial softmax -> expected (x, y) image coordinates in [-1, 1].

    Levine et al. 2016 / Finn et al. 2016. Output layout is ``[x_0..x_{C-1}, y_0..y_{C-1}]``.

    :param height: feature-map height
    :param width: feature-map width
    :param temperature: initial softmax temperature
    :param learnable_temperature: whether the temperature is a trained parameter
    """

    def __init__(self, height: int, width: int, temperature: float = 1.0, learnable_temperature: bool = True) -> None:
        super().__init__()
        self.height, self.width = height, width
        log_t = torch.tensor(float(temperature)).log()
        if learnable_temperature:
            self.log_temperature = nn.Parameter(log_t)
        else:
            self.register_buffer("log_temperature", log_t)
        self.register_buffer("pos_x", torch.linspace(-1.0, 1.0, width))  # (W,)
        self.register_buffer("pos_y", torch.linspace(-1.0, 1.0, height))  # (H,)

    @property
    def temperature(self) -> torch.Tensor:
        return self.log_temperature.exp()

    def attention(self, features: torch.Tensor) -> torch.Tensor:
        """Softmax attention maps, ``(B, C, H, W)``, each summing to one."""
        b, c, h, w = features.shape
        flat = features.reshape(b, c, h * w)  # (B, C, H, W) -> (B, C, H*W)
        att = F.softmax(flat / self.temperature, dim=-1)
        return att.reshape(b, c, h, w)  # (B, C, H*W) -> (B, C, H, W)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        att = self.attention(features)  # (B, C, H, W)
        x = (att.sum(dim=2) * self.pos_x).sum(dim=-1)  # (B, C, W) -> (B, C)
        y = (att.sum(dim=3) * self.pos_y).sum(dim=-1)  # (B, C, H) -> (B, C)
        return torch.cat([x, y], dim=-1)  # (B, 2C)


class CoordConv2d(nn.Module):
    """``Conv2d`` over the input with two extra channels holding x and y in [-1, 1] (Liu et al. 2018)."""

    def __init__(self, in_channels: int, out_channels: int, **conv_kwargs) -> None:
        super().__init__()
        self.conv = nn.Conv2d(in_channels + 2, out_channels, **conv_kwargs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, _, h, w = x.shape
        xx = torch.linspace(-1.0, 1.0, w, device=x.device, dtype=x.dtype).view(1, 1, 1, w).expand(b, 1, h, w)
        yy = torch.linspace(-1.0, 1.0, h, device=x.device, dtype=x.dtype).view(1, 1, h, 1).expand(b, 1, h, w)
        return self.conv(torch.cat([x, xx, yy], dim=1))  # (B, C+2, H, W) -> (B, C', H', W')


def conv_out_hw(size: int, kernel: int, stride: int, padding: int = 0) -> int:
    """Spatial size after a conv layer."""
    return (size + 2 * padding - kernel) // stride + 1


def check_image_size(image_size: int, lo: int = 16, hi: int = 128) -> None:
    """Raise a clear error for frame sizes a network is not built for."""
    if not lo <= image_size <= hi:
        raise ValueError(f"image_size must be in {lo}..{hi} (got {image_size})")


def frames_to_tensor(frames: torch.Tensor) -> torch.Tensor:
    """uint8 ``(B, H, W, 3)`` (or already ``(B, 3, H, W)`` float) -> float ``(B, 3, H, W)`` in [0, 1]."""
    if frames.dtype == torch.uint8:
        return frames.permute(0, 3, 1, 2).float().div_(255.0)  # (B, H, W, 3) -> (B, 3, H, W)
    return frames
