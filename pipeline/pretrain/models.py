"""Image encoders of Stage 2 as plain ``nn.Module``s (no Lightning here); :mod:`registry` lists them and
:mod:`objectives` holds their training losses.

Every encoder has ``latent_dim`` and ``encode(x) -> (B, latent_dim)`` for float frames ``(B, 3, H, W)``
in [0, 1] (uint8 ``(B, H, W, 3)`` is accepted too, via :func:`frames_to_tensor`). Square images of
side 16..128 work for the trainable encoders; layer sizes are derived from the image size.
"""

from __future__ import annotations

from typing import Any

import torch
import torch.nn.functional as F
from torch import nn

from pipeline.nets import (
    SpatialSoftmax,
    check_image_size,
    conv_out_hw,
    frames_to_tensor,
)
from pipeline.pretrain.config import SpatialAEConfig, SupervisedConfig, VAEConfig
from pipeline.pretrain.resnet import FrozenResNet18, read_safetensors  # noqa: F401  (re-exported)

NUM_TARGETS = 6  # object_pos xyz + gripper_pos xyz


def to_gray(x: torch.Tensor, size: int) -> torch.Tensor:
    """RGB ``(B, 3, H, W)`` -> luminance ``(B, 1, size, size)`` (area downsampling)."""
    lum = x.new_tensor([0.299, 0.587, 0.114]).reshape(1, 3, 1, 1)  # (3,) -> (1, 3, 1, 1)
    gray = (x * lum).sum(dim=1, keepdim=True)  # (B, 3, H, W) -> (B, 1, H, W)
    return F.interpolate(gray, size=(size, size), mode="area") if gray.shape[-1] != size else gray


class ConvVAE(nn.Module):
    """beta-VAE (RIG): 4x4 stride-2 convs -> (mu, logvar); mirrored transposed convs -> sigmoid RGB frame.

    :param cfg: :class:`VAEConfig`
    :param image_size: side of the square input frames
    """

    def __init__(self, cfg: VAEConfig, image_size: int) -> None:
        super().__init__()
        check_image_size(image_size)
        self.latent_dim = cfg.latent_dim
        self.image_size = image_size
        sizes = [image_size]
        for _ in cfg.channels:
            sizes.append(conv_out_hw(sizes[-1], 4, 2, 1))
        if sizes[-1] < 1:
            raise ValueError(
                f"{len(cfg.channels)} stride-2 convs shrink a {image_size}px frame to nothing; use fewer channels"
            )
        chans = [3, *cfg.channels]
        enc: list[nn.Module] = []
        for c_in, c_out in zip(chans[:-1], chans[1:]):
            enc += [nn.Conv2d(c_in, c_out, 4, 2, 1), nn.ReLU()]
        self.encoder = nn.Sequential(*enc, nn.Flatten())  # (B, C, h, w) -> (B, C*h*w)
        self.feat_shape = (chans[-1], sizes[-1], sizes[-1])
        flat = chans[-1] * sizes[-1] ** 2
        self.fc_stats = nn.Linear(flat, 2 * cfg.latent_dim)
        self.fc_dec = nn.Linear(cfg.latent_dim, flat)
        dec: list[nn.Module] = []
        for i in range(len(chans) - 1, 0, -1):  # output_padding makes each step invert its conv exactly
            pad = sizes[i - 1] - 2 * sizes[i]
            dec += [nn.ConvTranspose2d(chans[i], chans[i - 1] if i > 1 else 3, 4, 2, 1, output_padding=pad)]
            dec += [nn.ReLU()] if i > 1 else [nn.Sigmoid()]
        self.decoder = nn.Sequential(*dec)

    def posterior(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """Gaussian posterior ``(mu, logvar)``, each ``(B, latent_dim)``."""
        stats = self.fc_stats(self.encoder(frames_to_tensor(x)))  # (B, 2 * latent_dim)
        mu, logvar = stats.chunk(2, dim=-1)
        return mu, logvar.clamp(-10.0, 10.0)

    def decode(self, z: torch.Tensor) -> torch.Tensor:
        """Latent ``(B, latent_dim)`` -> frame ``(B, 3, H, W)`` in (0, 1)."""
        h = self.fc_dec(z).reshape(-1, *self.feat_shape)  # (B, C*h*w) -> (B, C, h, w)
        return self.decoder(h)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        """``(recon, mu, logvar)``; samples z in train mode, uses mu in eval mode."""
        mu, logvar = self.posterior(x)
        z = mu + torch.randn_like(mu) * (0.5 * logvar).exp() if self.training else mu
        return self.decode(z), mu, logvar

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Posterior mean ``(B, latent_dim)``."""
        return self.posterior(x)[0]

    def reconstruct(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(target, reconstruction)``, each ``(B, 3, H, W)``: the frame and the decoded posterior mean."""
        x = frames_to_tensor(x)
        return x, self.decode(self.encode(x))


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
        k = coords.shape[1] // 2
        x, y = coords[:, :k, None], coords[:, k:, None]  # (B, 2K) -> (B, K, 1) each
        inv = -0.5 / self.sigma**2
        gx = torch.exp(inv * (self.grid - x) ** 2)  # (r,) - (B, K, 1) -> (B, K, r) along the width
        gy = torch.exp(inv * (self.grid - y) ** 2)  # (B, K, r) along the height
        maps = gy.unsqueeze(-1) * gx.unsqueeze(-2)  # (B, K, r, 1) * (B, K, 1, r) -> (B, K, r, r)
        bg = self.background.expand(len(coords), -1, -1, -1)  # (1, 1, r, r) -> (B, 1, r, r)
        return bg + self.net(torch.cat([maps, bg], dim=1))  # (B, K+1, r, r) -> (B, 1, r, r)


class SpatialAutoencoder(nn.Module):
    """Deep spatial autoencoder: keypoint trunk -> 2K coords (latent) -> decoder to a grayscale image.

    :param cfg: :class:`SpatialAEConfig` (``decoder``: ``linear`` as in Finn et al., or ``gaussian`` maps)
    :param image_size: side of the square input frames
    """

    def __init__(self, cfg: SpatialAEConfig, image_size: int) -> None:
        super().__init__()
        self.trunk = KeypointTrunk(
            cfg.channels,
            cfg.num_keypoints,
            image_size,
            cfg.softmax_temperature,
            bounded_logits=cfg.softmax_logits == "tanh",
        )
        self.recon_size = cfg.recon_size
        self.latent_dim = 2 * cfg.num_keypoints
        if cfg.decoder == "gaussian":
            self.decoder: nn.Module = GaussianMapDecoder(cfg.num_keypoints, cfg.recon_size, cfg.blob_sigma)
        else:
            self.decoder = nn.Linear(self.latent_dim, cfg.recon_size**2)

    def target(self, x: torch.Tensor) -> torch.Tensor:
        """Reconstruction target ``(B, 1, r, r)``: the frame in grayscale at ``recon_size``."""
        return to_gray(frames_to_tensor(x), self.recon_size)

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(recon (B, 1, r, r), coords (B, 2K))``."""
        coords = self.trunk(x)  # (B, 2K)
        recon = self.decoder(coords)  # linear: (B, r*r); gaussian: (B, 1, r, r)
        return recon.reshape(-1, 1, self.recon_size, self.recon_size), coords  # (B, r*r) -> (B, 1, r, r)

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """Keypoint coordinates ``(B, 2K)``."""
        return self.trunk(x)

    def encode_presence(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(latent (B, 2K), keypoint presence (B, K))`` in one pass (:meth:`KeypointTrunk.forward_presence`)."""
        return self.trunk.forward_presence(x)

    def keypoints(self, x: torch.Tensor) -> torch.Tensor:
        """Keypoints ``(B, K, 2)`` for drawing."""
        return self.trunk.keypoints(x)

    def reconstruct(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(target, reconstruction)``, each ``(B, 1, r, r)`` grayscale."""
        return self.target(x), self.forward(x)[0]


class KeypointRegressor(nn.Module):
    """Supervised keypoint net: trunk -> MLP regressing standardised (object_pos, gripper_pos).

    Latent = ``[2K keypoint coords, 6 standardised predictions]`` (``latent_dim = 2K + 6``), so the
    latent carries both the raw keypoints and the position read-out on a comparable (~unit) scale.

    :param cfg: :class:`SupervisedConfig`
    :param image_size: side of the square input frames
    """

    def __init__(self, cfg: SupervisedConfig, image_size: int) -> None:
        super().__init__()
        self.trunk = KeypointTrunk(cfg.channels, cfg.num_keypoints, image_size, cfg.softmax_temperature)
        k2 = 2 * cfg.num_keypoints
        self.head = nn.Sequential(nn.Linear(k2, cfg.head_hidden), nn.ReLU(), nn.Linear(cfg.head_hidden, NUM_TARGETS))
        self.latent_dim = k2 + NUM_TARGETS
        self.register_buffer("label_mean", torch.zeros(NUM_TARGETS))
        self.register_buffer("label_std", torch.ones(NUM_TARGETS))

    def set_label_stats(self, mean: Any, std: Any, min_std: float = 0.01) -> None:
        """Store target mean/std (metres, 6 values each); std is floored at ``min_std`` (e.g. a fixed table height)."""
        self.label_mean.copy_(torch.as_tensor(mean, dtype=torch.float32).reshape(NUM_TARGETS))
        self.label_std.copy_(torch.as_tensor(std, dtype=torch.float32).reshape(NUM_TARGETS).clamp(min=min_std))

    def standardise(self, targets: torch.Tensor) -> torch.Tensor:
        """Metres ``(B, 6)`` -> standardised ``(B, 6)``."""
        return (targets - self.label_mean) / self.label_std

    def forward(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(standardised predictions (B, 6), coords (B, 2K))``."""
        coords = self.trunk(x)
        return self.head(coords), coords

    def predict(self, x: torch.Tensor) -> torch.Tensor:
        """Predicted positions in metres ``(B, 6)``: object xyz, gripper xyz."""
        return self.forward(x)[0] * self.label_std + self.label_mean

    def encode(self, x: torch.Tensor) -> torch.Tensor:
        """``(B, 2K + 6)``."""
        pred, coords = self.forward(x)
        return torch.cat([coords, pred], dim=-1)

    def encode_presence(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """``(latent (B, 2K + 6), keypoint presence (B, K))`` in one pass."""
        coords, presence = self.trunk.forward_presence(x)
        return torch.cat([coords, self.head(coords)], dim=-1), presence

    def keypoints(self, x: torch.Tensor) -> torch.Tensor:
        """Keypoints ``(B, K, 2)`` for drawing."""
        return self.trunk.keypoints(x)
