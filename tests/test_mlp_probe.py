"""Nonlinear (MLP) probe: reads a position a linear probe cannot, stays at the mean predictor on noise."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.pretrain.mlp_probe import fit_mlp_probe
from pipeline.pretrain.probe import fit_probe, probe_report


def folded(n: int, seed: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Object xy on the table, latents = (cos, sin) of each coordinate wrapped once around a circle."""
    rng = np.random.default_rng(seed)
    obj = rng.uniform([1.2, 0.6, 0.42], [1.5, 0.9, 0.42], size=(n, 3))  # (N, 3), z fixed on the table
    phase = (obj[:, :2] - [1.2, 0.6]) / 0.3 * 1.8 * np.pi  # (N, 2) in [0, 1.8 pi): invertible, far from linear
    lat = np.concatenate([np.cos(phase), np.sin(phase)], axis=1)  # (N, 2) + (N, 2) -> (N, 4)
    groups = np.arange(n) // 40  # 40 samples an "episode"
    return lat, obj, groups


def test_mlp_reads_a_nonlinear_code_the_ridge_probe_cannot() -> None:
    lat, obj, groups = folded(3000, 0)
    ridge = fit_probe(lat[:2400], obj[:2400], lat[2400:], obj[2400:], alpha=1e-6)
    mlp = fit_mlp_probe(lat[:2400], obj[:2400], lat[2400:], obj[2400:], groups[:2400], max_epochs=25)
    assert ridge["rmse_mm"] > 40  # the linear read-out of a wrapped code is poor ...
    assert mlp["rmse_mm"] < 10 and mlp["r2"] > 0.98  # ... the MLP unwraps it
    again = fit_mlp_probe(lat[:2400], obj[:2400], lat[2400:], obj[2400:], groups[:2400], max_epochs=25)
    assert again == mlp  # deterministic for a seed


def test_mlp_on_noise_matches_the_mean_predictor_and_stops_early() -> None:
    rng = np.random.default_rng(1)
    _, obj, groups = folded(3000, 1)
    lat = rng.normal(size=(3000, 8))
    mean = fit_probe(lat[:2400], obj[:2400], lat[2400:], obj[2400:])["mean_rmse_mm"]
    mlp = fit_mlp_probe(lat[:2400], obj[:2400], lat[2400:], obj[2400:], groups[:2400], patience=3)
    assert mlp["rmse_mm"] == pytest.approx(mean, rel=0.1)  # nothing to read; early stopping keeps it from fitting noise
    assert mlp["epochs"] < 20


def test_probe_report_adds_mlp_keys_and_needs_episodes() -> None:
    lat, obj, groups = folded(1000, 2)
    grip = obj + 0.1
    visible = np.where(np.arange(1000) % 5 == 0, 0.0, 1.0)
    args = (lat[:800], obj[:800], grip[:800], lat[800:], obj[800:], grip[800:])
    r = probe_report(
        *args, alpha=1.0, train_groups=groups[:800], test_visible=visible[800:], train_visible=visible[:800], mlp=True
    )
    for value in (
        r.probe_object_mlp_mm,
        r.probe_object_mlp_median_mm,
        r.probe_gripper_mlp_mm,
        r.probe_object_visible_mlp_mm,
        r.probe_object_visible_mlp_median_mm,
    ):
        assert value is not None and 0 <= value < 20
    assert r.probe_object_mlp_mm < r.probe_object_mm / 3
    # no visible training frames: the all-frame MLP fit is scored where the object is visible
    few = probe_report(
        *args, alpha=1.0, train_groups=groups[:800], test_visible=visible[800:], train_visible=np.zeros(800), mlp=True
    )
    shared = fit_mlp_probe(lat[:800], obj[:800], lat[800:], obj[800:], groups[:800], test_subset=visible[800:] > 0)
    assert few.probe_object_visible_mlp_mm == pytest.approx(shared["subset_rmse_mm"])
    assert few.probe_object_mlp_mm == pytest.approx(shared["rmse_mm"])
    ridge_only = probe_report(*args, alpha=1.0)
    assert ridge_only.probe_object_mlp_mm is None and ridge_only.probe_gripper_mlp_mm is None
    with pytest.raises(ValueError, match="train_groups"):
        probe_report(*args, alpha=1.0, mlp=True)
    with pytest.raises(ValueError, match="shape mismatch"):
        fit_mlp_probe(lat[:10], obj[:10], lat[:5], obj[:5], groups[:9])
