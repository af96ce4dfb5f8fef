"""SB3 features extractors for goal-conditioned pixel observations (Dict spaces).

Observation layout (see :mod:`pipeline.policy.frame_buffer`)::

    pixels         uint8 (3*k, H, W)  channel-first frame stack, oldest frame first
    proprio        float (10,)        optional
    achieved_goal  float (3,)
    desired_goal   float (3,)

Every extractor encodes ``pixels`` with a CNN and concatenates the flattened vector keys (in the
Dict space's key order). Pixels are divided by 255 *inside* the extractor, so the SB3 policy must be
built with ``normalize_images=False`` (``pipeline.policy.routing.routed_policy`` does this); otherwise
``preprocess_obs`` would already have divided them once.

Augmentation: with ``augment=True`` the extractor applies :class:`RandomShift` (DrQ / DrQ-v2) to
the raw pixels. ``RandomShift`` is identity in eval mode, so the shift is only active while the
extractor is in train mode. SB3 puts the policy in train mode during gradient updates
(``SAC.train`` calls ``policy.set_training_mode(True)``) and in eval mode when collecting rollouts
or predicting (``policy.set_training_mode(False)``), so only sampled replay batches are augmented.
"""

from __future__ import annotations

import numpy as np
import torch
from gymnasium import spaces
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor, NatureCNN
from torch import nn

from pipeline.nets import CoordConv2d, SpatialSoftmax, conv_out_hw

PIXEL_KEY = "pixels"


class RandomShift(nn.Module):
    """DrQ random-shift augmentation: replicate-pad by ``pad`` then crop back at a random integer offset.

    Each sample in the batch gets its own offset in ``[0, 2 * pad]`` along each axis (equivalent to the
    DrQ-v2 ``grid_sample`` implementation, whose shifts are whole pixels). Identity in eval mode.

    :param pad: padding (maximum shift) in pixels
    """

    def __init__(self, pad: int = 4) -> None:
        super().__init__()
        self.pad = int(pad)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if not self.training or self.pad == 0:
            return x
        n, c, h, w = x.shape
        p = self.pad
        x = nn.functional.pad(x.float(), (p, p, p, p), mode="replicate")  # (N, C, H+2p, W+2p)
        shift = torch.randint(0, 2 * p + 1, (n, 2), device=x.device)  # (N, 2) = (dy, dx)
        rows = shift[:, 0:1] + torch.arange(h, device=x.device)  # (N, H)
        cols = shift[:, 1:2] + torch.arange(w, device=x.device)  # (N, W)
        batch = torch.arange(n, device=x.device).view(n, 1, 1, 1)  # (N, 1, 1, 1)
        chan = torch.arange(c, device=x.device).view(1, c, 1, 1)  # (1, C, 1, 1)
        # advanced indexing broadcasts to (N, C, H, W)
        return x[batch, chan, rows.view(n, 1, h, 1), cols.view(n, 1, 1, w)]


def manipulation_convs(in_channels: int, coordconv: bool = False, channels: int = 32) -> nn.Sequential:
    """DrQ-v2-style conv stack: four 3x3 convs, ``channels`` wide, strides 2/1/1/2, padding 1, ReLU."""
    strides = (2, 1, 1, 2)
    layers: list[nn.Module] = []
    c_in = in_channels
    for i, stride in enumerate(strides):
        if i == 0 and coordconv:
            layers.append(CoordConv2d(c_in, channels, kernel_size=3, stride=stride, padding=1))
        else:
            layers.append(nn.Conv2d(c_in, channels, kernel_size=3, stride=stride, padding=1))
        layers.append(nn.ReLU())
        c_in = channels
    return nn.Sequential(*layers)


def manipulation_out_hw(height: int, width: int) -> tuple[int, int]:
    """Spatial size after :func:`manipulation_convs`."""
    for stride in (2, 1, 1, 2):
        height, width = conv_out_hw(height, 3, stride, 1), conv_out_hw(width, 3, stride, 1)
    return height, width


class PixelGoalExtractor(BaseFeaturesExtractor):
    """Base class: image encoder on ``pixels`` + concatenation of the flattened vector keys.

    Subclasses implement :meth:`build_image_encoder`.

    :param observation_space: Dict space with a ``pixels`` uint8 (C, H, W) key and 1-D vector keys
    :param feature_dim: size of the image embedding (ignored by ``manip_ss``, whose size is 2 * channels)
    :param coordconv: replace the first conv with :class:`pipeline.nets.CoordConv2d`
    :param augment: apply :class:`RandomShift` to the pixels in train mode
    :param pad: RandomShift padding in pixels
    :param vector_keys: the vector keys concatenated to the image embedding (default: all of them)
    """

    def __init__(
        self,
        observation_space: spaces.Dict,
        feature_dim: int = 50,
        coordconv: bool = False,
        augment: bool = False,
        pad: int = 4,
        vector_keys: list[str] | None = None,
    ) -> None:
        assert isinstance(observation_space, spaces.Dict), "PixelGoalExtractor needs a Dict observation space"
        pix_space = observation_space[PIXEL_KEY]
        assert isinstance(pix_space, spaces.Box) and len(pix_space.shape) == 3, "pixels must be (C, H, W)"
        if vector_keys is None:
            vector_keys = [k for k in observation_space.spaces if k != PIXEL_KEY]
        vector_dim = sum(int(np.prod(observation_space[k].shape)) for k in vector_keys)
        image_encoder, image_dim = self.build_image_encoder(pix_space, feature_dim, coordconv)
        super().__init__(observation_space, features_dim=image_dim + vector_dim)
        self.image_encoder = image_encoder
        self.image_dim = image_dim
        self.vector_keys = vector_keys
        self.augment = augment
        self.shift = RandomShift(pad)

    def build_image_encoder(self, pix_space: spaces.Box, feature_dim: int, coordconv: bool) -> tuple[nn.Module, int]:
        """:return: (module mapping float (B, C, H, W) in [0, 1] -> (B, D), D)"""
        raise NotImplementedError

    def forward(self, observations: dict[str, torch.Tensor]) -> torch.Tensor:
        pixels = observations[PIXEL_KEY].float()  # (B, 3k, H, W), values in [0, 255]
        if self.augment:
            pixels = self.shift(pixels)  # identity unless self.shift.training
        image = self.image_encoder(pixels / 255.0)  # (B, D_img)
        vectors = [observations[k].reshape(observations[k].shape[0], -1).float() for k in self.vector_keys]  # (B, d_k)
        return torch.cat([image, *vectors], dim=1)  # (B, D_img + sum d_k)


class NatureExtractor(PixelGoalExtractor):
    """SB3 ``NatureCNN`` (8x8/4, 4x4/2, 3x3/1 convs -> Linear -> ReLU) on the pixels. Needs >= 36 px."""

    def build_image_encoder(self, pix_space: spaces.Box, feature_dim: int, coordconv: bool) -> tuple[nn.Module, int]:
        cnn = NatureCNN(pix_space, features_dim=feature_dim)
        if coordconv:
            first = cnn.cnn[0]
            assert isinstance(first, nn.Conv2d)
            cnn.cnn[0] = CoordConv2d(
                first.in_channels,
                first.out_channels,
                kernel_size=first.kernel_size,
                stride=first.stride,
                padding=first.padding,
            )
        return cnn, feature_dim


class ManipulationExtractor(PixelGoalExtractor):
    """DrQ-v2-style ManipulationCNN: conv stack -> flatten -> Linear(feature_dim) -> LayerNorm -> Tanh."""

    def build_image_encoder(self, pix_space: spaces.Box, feature_dim: int, coordconv: bool) -> tuple[nn.Module, int]:
        c, h, w = pix_space.shape
        oh, ow = manipulation_out_hw(h, w)
        encoder = nn.Sequential(
            manipulation_convs(c, coordconv),  # (B, C, H, W) -> (B, 32, oh, ow)
            nn.Flatten(),  # (B, 32, oh, ow) -> (B, 32*oh*ow)
            nn.Linear(32 * oh * ow, feature_dim),
            nn.LayerNorm(feature_dim),
            nn.Tanh(),
        )
        return encoder, feature_dim


class ManipulationSpatialSoftmaxExtractor(PixelGoalExtractor):
    """ManipulationCNN conv stack -> SpatialSoftmax (learnable temperature, (x, y) per channel) -> LayerNorm -> Tanh."""

    def build_image_encoder(self, pix_space: spaces.Box, feature_dim: int, coordconv: bool) -> tuple[nn.Module, int]:
        c, h, w = pix_space.shape
        oh, ow = manipulation_out_hw(h, w)
        channels = 32
        encoder = nn.Sequential(
            manipulation_convs(c, coordconv, channels),  # (B, C, H, W) -> (B, 32, oh, ow)
            SpatialSoftmax(oh, ow, learnable_temperature=True),  # (B, 32, oh, ow) -> (B, 64)
            nn.LayerNorm(2 * channels),
            nn.Tanh(),
        )
        return encoder, 2 * channels


EXTRACTORS: dict[str, type[PixelGoalExtractor]] = {
    "nature": NatureExtractor,
    "manip": ManipulationExtractor,
    "manip_ss": ManipulationSpatialSoftmaxExtractor,
}
