"""Keypoint pieces the keypoint encoders share: the conv trunk ending in a spatial softmax (``spatial_ae``,
``supervised``) and the Gaussian-map decoder that paints keypoints back into an image (``spatial_ae``)."""

from __future__ import annotations

from typing import Any

import torch
from torch import nn

from pipeline.nets import SpatialSoftmax, check_image_size, conv_out_hw, frames_to_tensor


class KeypointTrunk(nn.Module):
    """Conv-BN-ReLU stack (first conv 5x5 stride 2, then 3x3) ending in K channels -> spatial softmax -> ``(B, 2K)``.

    Output layout is ``[x_0..x_{K-1}, y_0..y_{K-1}]`` in [-1, 1] (see :class:`SpatialSoftmax`).
    """

    def __init__(
        self,
        channels: tuple[int, ...],
        num_keypoints: int,
        image_size: int,
        temperature: float = 0.1,
        bounded_logits: bool = False,
    ) -> None:
        super().__init__()
        check_image_size(image_size)
        chans = [3, *channels]
        # conv-BatchNorm-ReLU: without the norm the softmax maps stay diffuse for thousands of steps
        # (object probe 118 mm vs 43 mm after 400 steps on 200 Push episodes)
        layers: list[nn.Module] = [nn.Conv2d(3, chans[1], 5, 2, 2), nn.BatchNorm2d(chans[1]), nn.ReLU()]
        for c_in, c_out in zip(chans[1:-1], chans[2:]):
            layers += [nn.Conv2d(c_in, c_out, 3, 1, 1), nn.BatchNorm2d(c_out), nn.ReLU()]
        layers.append(nn.Conv2d(chans[-1], num_keypoints, 3, 1, 1))
        if bounded_logits:
            # tanh caps the softmax logits: unbounded ones grew until each map was one-hot on a single cell of
            # the 42x42 grid, so keypoints could only hop from cell to cell (~11 mm on the Push table); capped,
            # a map saturates over the region it marks and its expected coordinate moves smoothly
            layers.append(nn.Tanh())
        self.convs = nn.Sequential(*layers)
        side = conv_out_hw(image_size, 5, 2, 2)  # the 3x3 convs keep the size
        # a low initial temperature makes each map a sharp peak from the start: on 200 Push episodes the
        # supervised head's held-out object error after 100 steps was 32 mm at 0.1 against 137 mm at 1.0
        # (one ad-hoc run with a plain training loop, not yet a benchmark figure)
        self.softmax = SpatialSoftmax(side, side, temperature=temperature)
        self.num_keypoints = num_keypoints

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """Keypoint coordinates ``(B, 2K)``."""
        return self.softmax(self.convs(frames_to_tensor(x)))  # (B, K, h, w) -> (B, 2K)

    def forward_presence(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(coords (B, 2K), presence (B, K))``: presence is each map's peak logit. A keypoint's expected
        coordinate is defined even when what it marks is out of sight; the peak drops (the first-round spatial
        AE's block keypoint, split at its Otsu threshold: in sight on 97 % of frames with the block at least half
        in view, 24 % of the rest; README "Tenth round")."""
        maps = self.convs(frames_to_tensor(x))  # (B, K, h, w)
        return self.softmax(maps), maps.flatten(2).amax(-1)  # (B, 2K), (B, K, h*w) -> (B, K)

    def keypoints(self, x: torch.Tensor) -> torch.Tensor:
        """Keypoints ``(B, K, 2)`` as (x, y) in [-1, 1], x along the width."""
        flat = self.forward(x)  # (B, 2K)
        return flat.reshape(-1, 2, self.num_keypoints).transpose(1, 2)  # (B, 2K) -> (B, 2, K) -> (B, K, 2)


class TrunkKeypoints:
    """``encode`` / ``encode_presence`` / ``keypoints`` of an encoder whose latent is its ``trunk``'s coordinates
    (a mixin before ``nn.Module``: ``spatial_ae``, ``atc``, ``transporter``)."""

    trunk: KeypointTrunk

    def init_trunk(self, cfg: Any, image_size: int) -> None:
        """Its trunk from a config's ``channels``, ``num_keypoints``, ``softmax_temperature``; ``latent_dim`` 2K."""
        self.trunk = KeypointTrunk(cfg.channels, cfg.num_keypoints, image_size, cfg.softmax_temperature)
        self.latent_dim = 2 * cfg.num_keypoints

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Keypoint coordinates ``(B, 2K)``."""
        return self.trunk(x)

    def encode_presence(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(latent (B, 2K), keypoint presence (B, K))`` in one pass (:meth:`KeypointTrunk.forward_presence`)."""
        return self.trunk.forward_presence(x)

    def keypoints(self, x: torch.Tensor) -> torch.Tensor:
        """Keypoints ``(B, K, 2)`` for drawing."""
        return self.trunk.keypoints(x)


def gaussian_maps(coords: torch.Tensor, grid: torch.Tensor, sigma: float) -> torch.Tensor:
    """Keypoint coordinates ``(B, 2K)`` laid out ``[x.., y..]`` -> a Gaussian blob per keypoint, ``(B, K, r, r)``
    on the ``(r,)`` ``grid`` of image units ([-1, 1] across the frame)."""
    k = coords.shape[1] // 2
    x, y = coords[:, :k, None], coords[:, k:, None]  # (B, 2K) -> (B, K, 1) each
    inv = -0.5 / sigma**2
    gx = torch.exp(inv * (grid - x) ** 2)  # (r,) - (B, K, 1) -> (B, K, r) along the width
    gy = torch.exp(inv * (grid - y) ** 2)  # (B, K, r) along the height
    return gy.unsqueeze(-1) * gx.unsqueeze(-2)  # (B, K, r, 1) * (B, K, 1, r) -> (B, K, r, r)


class GaussianMapDecoder(nn.Module):
    """Keypoints -> one Gaussian blob map each -> 3 conv layers -> grayscale image over a fixed background.

    The decoder is local (7 px receptive field), so painting a body where it is needs a keypoint there:
    the inductive bias of Jakab et al. 2018 / Transporter, against a linear map of raw coordinates.
    ``background`` (the dataset's median frame in grayscale) is set by the trainer and saved with the weights.

    :param num_keypoints: K
    :param size: side of the output image
    :param sigma: blob std in image units ([-1, 1] across the frame)
    :param hidden: conv width
    """

    def __init__(self, num_keypoints: int, size: int, sigma: float, hidden: int = 32) -> None:
        super().__init__()
        self.sigma = sigma
        self.register_buffer("grid", torch.linspace(-1.0, 1.0, size))  # (r,)
        self.register_buffer("background", torch.zeros(1, 1, size, size))
        self.net = nn.Sequential(
            nn.Conv2d(num_keypoints + 1, hidden, 3, 1, 1),
            nn.ReLU(),
            nn.Conv2d(hidden, hidden, 3, 1, 1),
            nn.ReLU(),
            nn.Conv2d(hidden, 1, 3, 1, 1),
        )

    def forward(self, coords: torch.Tensor) -> torch.Tensor:
        """Coordinates ``(B, 2K)`` laid out ``[x.., y..]`` -> image ``(B, 1, r, r)``."""
        maps = gaussian_maps(coords, self.grid, self.sigma)  # (B, K, r, r)
        bg = self.background.expand(len(coords), -1, -1, -1)  # (1, 1, r, r) -> (B, 1, r, r)
        return bg + self.net(torch.cat([maps, bg], dim=1))  # (B, K+1, r, r) -> (B, 1, r, r)
