"""Frames and labels of the zarr dataset for Lightning, split by episode (held-out episodes validate)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytorch_lightning as pl
import torch
from torch.utils.data import (
    BatchSampler,
    DataLoader,
    Dataset,
    RandomSampler,
    SequentialSampler,
)

from pipeline.collect.dataset import RolloutData, load_dataset

ARRAYS = ("frames", "object_pos", "gripper_pos", "object_visible", "episode", "step")


def subsample(idx: np.ndarray, n: int) -> np.ndarray:
    """At most ``n`` of the indices ``idx``, evenly spaced (all of them when there are no more than ``n``)."""
    return idx if len(idx) <= n else idx[np.linspace(0, len(idx) - 1, n).astype(int)]


def split_episodes(episodes: np.ndarray, val_fraction: float, seed: int) -> tuple[np.ndarray, np.ndarray]:
    """Frame indices of training and held-out episodes (at least one episode each when possible)."""
    ids = np.unique(episodes)
    rng = np.random.default_rng(seed)
    n_val = min(max(1, int(round(val_fraction * len(ids)))), max(len(ids) - 1, 1))
    val_ids = rng.choice(ids, size=n_val, replace=False)
    is_val = np.isin(episodes, val_ids)
    return np.flatnonzero(~is_val), np.flatnonzero(is_val)


def median_frame(frames: np.ndarray, max_frames: int = 2000, seed: int = 0) -> np.ndarray:
    """Per-pixel median of (a subsample of) frames, uint8 ``(H, W, 3)``: the static background."""
    idx = np.random.default_rng(seed).choice(len(frames), size=min(max_frames, len(frames)), replace=False)
    return np.median(frames[np.sort(idx)], axis=0).astype(np.uint8)


class FrameBatches(Dataset):
    """Batched access: ``dataset[list_of_indices]`` -> dict of tensors (one fancy-index per batch, not per sample).

    Also returns each frame's successor ``gap`` steps later in the same episode (``next_frames``; ``has_next`` False
    where the episode ends sooner, ``next_frames`` then the frame itself): slowness, temporal pairs.
    """

    def __init__(self, data: RolloutData, indices: np.ndarray, gap: int = 1) -> None:
        self.a = data.arrays
        self.indices = indices
        ep = self.a["episode"]
        later = np.arange(len(ep)) + gap
        nxt = np.minimum(later, len(ep) - 1)
        self.has_next = (ep[nxt] == ep) & (later < len(ep))  # episodes are contiguous runs of frames
        self.next = np.where(self.has_next, nxt, np.arange(len(ep)))

    def __len__(self) -> int:
        return len(self.indices)

    def __getitem__(self, items: list[int]) -> dict[str, torch.Tensor]:
        idx = np.sort(self.indices[np.asarray(items)])
        nxt = self.next[idx]
        return {
            "frames": torch.from_numpy(self.a["frames"][idx]),
            "next_frames": torch.from_numpy(self.a["frames"][nxt]),
            "has_next": torch.from_numpy(self.has_next[idx]),
            "object_pos": torch.from_numpy(self.a["object_pos"][idx]),
            "gripper_pos": torch.from_numpy(self.a["gripper_pos"][idx]),
        }


class FrameDataModule(pl.LightningDataModule):
    """The dataset in memory (read chunk-wise from zarr once), split by episode.

    :param path: zarr dataset
    :param batch_size: frames per batch
    :param val_fraction: fraction of episodes held out
    :param seed: split seed
    :param num_workers: DataLoader workers
    :param gap: steps between a frame and its ``next_frames`` (an encoder block's ``pair_gap``, else 1)
    """

    def __init__(
        self, path: Path, batch_size: int, val_fraction: float, seed: int, num_workers: int = 0, gap: int = 1
    ) -> None:
        super().__init__()
        self.data = load_dataset(path, ARRAYS)
        self.batch_size, self.num_workers, self.seed, self.gap = batch_size, num_workers, seed, gap
        self.train_idx, self.val_idx = split_episodes(self.data.arrays["episode"], val_fraction, seed)
        self.median = median_frame(self.data.arrays["frames"][self.train_idx], seed=seed)

    @property
    def image_size(self) -> int:
        return int(self.data.attrs["image_size"])

    def _loader(self, indices: np.ndarray, shuffle: bool) -> DataLoader:
        ds = FrameBatches(self.data, indices, self.gap)
        base = (
            RandomSampler(ds, generator=torch.Generator().manual_seed(self.seed)) if shuffle else SequentialSampler(ds)
        )
        return DataLoader(
            ds,
            sampler=BatchSampler(base, self.batch_size, drop_last=False),
            batch_size=None,
            num_workers=self.num_workers,
            persistent_workers=self.num_workers > 0,
        )

    def train_dataloader(self) -> DataLoader:
        return self._loader(self.train_idx, shuffle=True)

    def val_dataloader(self) -> DataLoader:
        return self._loader(self.val_idx, shuffle=False)
