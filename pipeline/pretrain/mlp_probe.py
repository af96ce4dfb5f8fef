"""Nonlinear probe: a small MLP from latents to positions, beside the ridge probe of :mod:`probe`.

The ridge probe asks whether a position is *linearly* readable, which suits keypoint coordinates but
underrates a latent that holds the position nonlinearly: a VAE draws the block where it is, yet its
16-D posterior mean maps to the block's position through a curved manifold. The policy downstream is
an MLP, so what it can read is closer to this probe. Fit on the training episodes, with early stopping
on a share of *training* episodes (the held-out episodes only score it), deterministic for a seed.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import numpy as np
import torch
from torch import nn

from pipeline.pretrain.data import split_episodes
from pipeline.pretrain.probe_scores import as_2d, score, standardise

MLP_HIDDEN = 256
"""Width of the probe's two hidden layers."""


@contextmanager
def _one_thread() -> Iterator[None]:
    """Run torch on one CPU thread, then restore the setting. The probe's batch-256 layers are too small to split:
    with two threads on a busy 2-core machine one probe fit took 30x longer (93 s against 3 s)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(before)


def fit_mlp_probe(
    train_latents: np.ndarray,
    train_targets: np.ndarray,
    test_latents: np.ndarray,
    test_targets: np.ndarray,
    train_groups: np.ndarray,
    test_subset: np.ndarray | None = None,
    max_epochs: int = 100,
    patience: int = 10,
    batch_size: int = 256,
    lr: float = 1e-3,
    stop_share: float = 0.2,
    seed: int = 0,
) -> dict[str, float]:
    """Two-hidden-layer ReLU MLP regression from latents to targets, scored on held-out data.

    Latents are standardised (and clipped) as for the ridge probe, targets standardised per dim. Training
    runs epochs over the training samples outside ``stop_share`` of the training episodes and keeps the
    weights with the lowest squared error on those episodes; it stops after ``patience`` epochs without gain.

    :param train_latents: ``(N, D)``
    :param train_targets: ``(N, T)`` in metres
    :param test_latents: ``(M, D)``
    :param test_targets: ``(M, T)`` in metres
    :param train_groups: ``(N,)`` episode id per training sample (early-stopping episodes are whole episodes)
    :param test_subset: optional bool ``(M,)``: also score on these held-out samples only
    :return: ``rmse_mm``, ``r2``, ``median_mm``, ``epochs``; with ``test_subset`` also ``subset_rmse_mm``,
        ``subset_median_mm``
    """
    x, y = as_2d(train_latents, "train_latents"), as_2d(train_targets, "train_targets")
    xt, yt = as_2d(test_latents, "test_latents"), as_2d(test_targets, "test_targets")
    groups = np.asarray(train_groups)
    if (
        len(x) != len(y)
        or len(groups) != len(x)
        or len(xt) != len(yt)
        or x.shape[1] != xt.shape[1]
        or y.shape[1] != yt.shape[1]
    ):
        raise ValueError(f"shape mismatch: train {x.shape}/{y.shape}/groups {groups.shape}, test {xt.shape}/{yt.shape}")
    z, zt = standardise(x, xt)
    y_mu, y_sd = y.mean(axis=0), np.maximum(y.std(axis=0), 1e-6)
    stop = np.zeros(len(groups), dtype=bool)  # early-stopping samples: whole training episodes (none if only one)
    if len(np.unique(groups)) > 1:
        stop[split_episodes(groups, stop_share, seed)[1]] = True
    as_t = lambda a: torch.as_tensor(a, dtype=torch.float32)  # noqa: E731
    z_fit, y_fit = as_t(z[~stop]), as_t((y[~stop] - y_mu) / y_sd)
    z_stop, y_stop = as_t(z[stop]), as_t((y[stop] - y_mu) / y_sd)
    with torch.random.fork_rng(devices=[]), _one_thread():
        torch.manual_seed(seed)
        net = nn.Sequential(
            nn.Linear(x.shape[1], MLP_HIDDEN),
            nn.ReLU(),
            nn.Linear(MLP_HIDDEN, MLP_HIDDEN),
            nn.ReLU(),
            nn.Linear(MLP_HIDDEN, y.shape[1]),
        )
        opt = torch.optim.Adam(net.parameters(), lr=lr)
        gen = torch.Generator().manual_seed(seed)
        best, best_state, waited, epoch = float("inf"), None, 0, 0
        for epoch in range(1, max_epochs + 1):
            for b in torch.randperm(len(z_fit), generator=gen).split(batch_size):
                loss = (net(z_fit[b]) - y_fit[b]).pow(2).mean()
                opt.zero_grad()
                loss.backward()
                opt.step()
            if not len(z_stop):
                continue  # one training episode: fixed epochs, no early stopping
            with torch.no_grad():
                err = float((net(z_stop) - y_stop).pow(2).mean())
            if err < best:
                best, best_state, waited = err, {k: v.clone() for k, v in net.state_dict().items()}, 0
            elif (waited := waited + 1) >= patience:
                break
        if best_state is not None:
            net.load_state_dict(best_state)
        with torch.no_grad():
            pred = net(as_t(zt)).double().numpy() * y_sd + y_mu  # (M, T) standardised -> metres
    return {**score(pred, yt, test_subset), "epochs": float(epoch)}
