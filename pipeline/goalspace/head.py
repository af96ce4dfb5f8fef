"""A goal-distance head: an MLP on the latent trained so that distances between its outputs match the block's
distances between pairs of pretraining frames. It reads the block's positions while it is fitted (as the supervised
encoder does), never at RL time, where only its outputs for frames are compared."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import torch
from safetensors.torch import load_file, save_file
from torch import nn

from pipeline.goalspace.base import GoalSpace, GoalSpaceError, brief, refit
from pipeline.goalspace.config import DistanceHeadConfig, GoalSpaceConfig
from pipeline.goalspace.data import VISIBLE_MIN, FitData

UNIT_M = 0.1
"""output units: distances of 1.0 are 10 cm of block distance"""


class DistanceHeadNet(nn.Module):
    """Standardise the latent, then two hidden ReLU layers to a ``dim``-D embedding."""

    def __init__(self, latent_dim: int, cfg: DistanceHeadConfig) -> None:
        super().__init__()
        self.register_buffer("mean", torch.zeros(latent_dim))
        self.register_buffer("std", torch.ones(latent_dim))
        self.mlp = nn.Sequential(
            nn.Linear(latent_dim, cfg.hidden), nn.ReLU(), nn.Linear(cfg.hidden, cfg.hidden), nn.ReLU(),
            nn.Linear(cfg.hidden, cfg.dim),
        )  # fmt: skip

    def forward(self, z: torch.Tensor) -> torch.Tensor:
        return self.mlp((z - self.mean) / self.std)


def train_head(z: np.ndarray, object_pos: np.ndarray, cfg: DistanceHeadConfig, seed: int) -> DistanceHeadNet:
    """Fit on random pairs: ``(||h(z_i) - h(z_j)|| - ||o_i - o_j|| / UNIT_M)^2``, Adam, ``cfg.steps`` steps."""
    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    net = DistanceHeadNet(z.shape[1], cfg)
    zt, ot = torch.from_numpy(np.asarray(z, np.float32)), torch.from_numpy(np.asarray(object_pos, np.float32))
    net.mean.copy_(zt.mean(0))
    net.std.copy_(zt.std(0) + 1e-6)
    opt = torch.optim.Adam(net.parameters(), lr=cfg.lr)
    for _ in range(cfg.steps):
        i, j = (torch.from_numpy(rng.integers(0, len(zt), cfg.batch_size)) for _ in range(2))
        target = (ot[i] - ot[j]).norm(dim=1) / UNIT_M  # (B,)
        pred = ((net(zt[i]) - net(zt[j])).pow(2).sum(1) + 1e-8).sqrt()  # (B,); eps keeps the gradient finite at 0
        loss = (pred - target).pow(2).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    return net.eval().requires_grad_(False)


class DistanceHeadGoalSpace(GoalSpace):
    """Goals compared in the head's embedding (units of 10 cm of block distance)."""

    name = "distance_head"
    uses_labels = True
    WEIGHTS = "distance_head.safetensors"

    def __init__(self, net: DistanceHeadNet, cfg: DistanceHeadConfig) -> None:
        super().__init__(net.mean.shape[0], cfg.dim)
        self.net, self.cfg = net, cfg

    def project(self, z: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return self.net(torch.from_numpy(self._check(z))).numpy()

    def meta(self) -> dict:
        return {**super().meta(), "config": self.cfg.model_dump()}

    def save(self, out_dir: Path) -> None:
        super().save(out_dir)
        save_file({k: v.contiguous() for k, v in self.net.state_dict().items()}, str(out_dir / self.WEIGHTS))

    @classmethod
    def fit(cls, cfg: GoalSpaceConfig, data: FitData) -> DistanceHeadGoalSpace:
        seen = data.visible >= VISIBLE_MIN  # the latents cannot know where a hidden block is
        seen = seen if seen.sum() >= 2 else np.ones_like(seen)
        return cls(train_head(data.z[seen], data.object_pos[seen], cfg.distance_head, cfg.seed), cfg.distance_head)

    @classmethod
    def load(cls, out_dir: Path, latent_dim: int) -> DistanceHeadGoalSpace:
        meta = cls.read_meta(out_dir, latent_dim)
        try:
            cfg = DistanceHeadConfig.model_validate(meta["config"])
        except (KeyError, ValueError) as exc:
            raise cls.invalid(out_dir, exc) from exc
        net = DistanceHeadNet(latent_dim, cfg)
        try:
            state = load_file(str(out_dir / cls.WEIGHTS))  # safetensors: no pickled code
        except Exception as exc:  # noqa: BLE001 - missing, truncated or not safetensors: re-raised with the path
            raise GoalSpaceError(
                f"cannot read as safetensors: {brief(exc)}", out_dir / cls.WEIGHTS, refit(out_dir)
            ) from exc
        try:
            net.load_state_dict(state, strict=True)
        except RuntimeError as exc:  # weights of another config
            raise cls.invalid(out_dir, exc, cls.WEIGHTS) from exc
        return cls(net.eval().requires_grad_(False), cfg)
