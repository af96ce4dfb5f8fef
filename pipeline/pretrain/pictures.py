"""Pictures people would rather look at than read: reconstructions beside originals, keypoints on frames.

Which pictures an encoder gets is its registry entry's ``pictures``; each picture asks one method of the net.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
import torch  # noqa: E402
from torch import nn  # noqa: E402

from pipeline.encoders.registry import encoder_spec  # noqa: E402
from pipeline.nets import frames_to_tensor  # noqa: E402


def _to_hwc(x: torch.Tensor) -> np.ndarray:
    """float ``(B, C, H, W)`` in [0, 1] -> ``(B, H, W, C)``; grayscale repeated to RGB."""
    x = x.detach().clamp(0, 1).cpu()
    if x.shape[1] == 1:
        x = x.expand(-1, 3, -1, -1)  # (B, 1, H, W) -> (B, 3, H, W)
    return x.permute(0, 2, 3, 1).numpy()  # (B, C, H, W) -> (B, H, W, C)


@torch.no_grad()
def reconstructions(net: nn.Module, frames: np.ndarray, path: Path) -> Path:
    """Originals (top row) and reconstructions (bottom row), from ``net.reconstruct(x) -> (target, recon)``."""
    x = frames_to_tensor(torch.from_numpy(frames))
    net.eval()
    target, recon = net.reconstruct(x)
    top, bottom = _to_hwc(target), _to_hwc(recon)
    n = len(frames)
    fig, axes = plt.subplots(2, n, figsize=(1.4 * n, 3.0), dpi=100)
    for i in range(n):
        for row, img in enumerate((top[i], bottom[i])):
            axes[row, i].imshow(img, interpolation="nearest")
            axes[row, i].axis("off")
    axes[0, 0].set_title("original", fontsize=8, loc="left")
    axes[1, 0].set_title("reconstruction", fontsize=8, loc="left")
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


@torch.no_grad()
def keypoints(net: nn.Module, frames: np.ndarray, path: Path, object_px: np.ndarray | None = None) -> Path:
    """Keypoints (coloured dots) drawn on frames, from ``net.keypoints(x) -> (B, K, 2)`` in [-1, 1]."""
    net.eval()
    kp = net.keypoints(torch.from_numpy(frames)).cpu().numpy()  # (B, K, 2) in [-1, 1]
    size = frames.shape[1]
    px = (kp + 1) / 2 * (size - 1)  # [-1, 1] -> pixel coordinates
    colours = plt.cm.hsv(np.linspace(0, 1, kp.shape[1], endpoint=False))
    n = len(frames)
    fig, axes = plt.subplots(1, n, figsize=(2.0 * n, 2.2), dpi=100)
    for i, ax in enumerate(np.atleast_1d(axes)):
        ax.imshow(frames[i], interpolation="nearest")
        ax.scatter(px[i, :, 0], px[i, :, 1], c=colours, s=14, edgecolors="black", linewidths=0.4)
        ax.axis("off")
    fig.suptitle("keypoints (expected positions of the spatial softmax)", fontsize=8)
    fig.tight_layout()
    fig.savefig(path)
    plt.close(fig)
    return path


PICTURES: dict[str, Callable[[nn.Module, np.ndarray, Path], Path]] = {
    "reconstructions": reconstructions,
    "keypoints": keypoints,
}
"""Picture name -> drawing function; a registry entry's ``pictures`` names some of these."""


def draw_pictures(name: str, net: nn.Module, frames: np.ndarray, out_dir: Path) -> list[Path]:
    """Every picture encoder ``name`` declares in the registry, drawn on ``frames`` as ``out_dir/<picture>.png``."""
    return [PICTURES[kind](net, frames, out_dir / f"{kind}.png") for kind in encoder_spec(name).pictures]
