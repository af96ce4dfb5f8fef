"""beta-VAE of RIG (Nair et al. 2018): its ``pretrain.vae`` block, the model, and its loss."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from pydantic import Field
from torch import nn

from pipeline.encoders.losses import Batch, weighted_recon_loss
from pipeline.encoders.spec import EncoderSpec, Objective, conv_widths
from pipeline.nets import check_image_size, conv_out_hw, frames_to_tensor
from pipeline.params import StrictModel


class VAEConfig(StrictModel):
    """beta-VAE of RIG (Nair et al. 2018) reconstructing the full RGB frame."""

    latent_dim: int = Field(16, ge=1, le=1024, description="Size of the Gaussian latent; encode() returns its mean.")
    beta: float = Field(
        1.0, ge=0.0, le=100.0, description="KL weight; recon term is a per-image sum of squared errors."
    )
    channels: conv_widths(4, "Encoder conv widths (4x4, stride 2 each; 1-4 layers); decoder mirrors them.") = (
        32, 64, 128, 256)  # fmt: skip
    lr: float = Field(1e-3, gt=0.0, le=1.0, description="Adam learning rate.")
    fg_weight: float = Field(
        10.0, ge=0.0, le=1000.0, description="Extra loss weight on pixels differing from the median frame; 0 disables."
    )


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


def vae_loss(net: ConvVAE, cfg: VAEConfig, batch: Batch, median: torch.Tensor | None) -> dict[str, torch.Tensor]:
    """beta-VAE: ``loss = recon + beta * KL``, recon = foreground-weighted SSE per image (mean over batch)."""
    x = frames_to_tensor(batch["frames"])  # (B, 3, H, W)
    recon, mu, logvar = net(x)
    per_image = float(x[0].numel())  # mean-scale loss -> per-image sum of squared errors
    rec = weighted_recon_loss(recon, x, median, cfg.fg_weight) * per_image
    kl = (-0.5 * (1 + logvar - mu.pow(2) - logvar.exp()).sum(dim=-1)).mean()  # (B, D) -> (B,) -> ()
    return {"loss": rec + cfg.beta * kl, "recon": rec, "kl": kl, "mse": F.mse_loss(recon, x)}


SPEC = EncoderSpec(VAEConfig, ConvVAE, Objective(vae_loss), pictures=("reconstructions",))
