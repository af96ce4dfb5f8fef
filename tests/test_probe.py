"""Linear position probe: exact latents give ~0 mm, noise latents match the mean predictor."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.pretrain.probe import VISIBLE_MIN, fit_probe, probe_report, ridge_readout, select_alpha


def positions(n: int, rng: np.random.Generator) -> tuple[np.ndarray, np.ndarray]:
    obj = rng.uniform([1.2, 0.6, 0.42], [1.5, 0.9, 0.42], size=(n, 3))  # object z fixed on the table
    grip = rng.uniform([1.1, 0.5, 0.4], [1.5, 1.0, 0.7], size=(n, 3))
    return obj, grip


def test_exact_latents_give_zero_error() -> None:
    rng = np.random.default_rng(0)
    obj, grip = positions(600, rng)
    proj = rng.normal(size=(6, 12))
    lat = np.concatenate([obj, grip], axis=1) @ proj + 3.0  # (N, 6) @ (6, 12) -> (N, 12)
    r = probe_report(lat[:500], obj[:500], grip[:500], lat[500:], obj[500:], grip[500:], alpha=1e-8)
    assert r.probe_object_mm < 1e-3 and r.probe_gripper_mm < 1e-3
    assert r.probe_object_r2 > 0.999999 and r.probe_gripper_r2 > 0.999999
    assert r.mean_object_mm > 50 and r.mean_gripper_mm > 50
    assert abs(r.mean_object_r2) < 0.05


def test_ridge_readout_predicts_what_fit_probe_scores() -> None:
    rng = np.random.default_rng(3)
    obj, grip = positions(600, rng)
    lat = np.concatenate([obj, grip], axis=1) @ rng.normal(size=(6, 12)) + rng.normal(0, 0.01, (600, 12))  # (N, 12)
    pred = ridge_readout(lat[:500], obj[:500], lat[500:], alpha=0.1)
    assert pred.shape == (100, 3)
    rmse_mm = 1000 * np.sqrt(((pred - obj[500:]) ** 2).sum(axis=1).mean())
    assert rmse_mm == pytest.approx(fit_probe(lat[:500], obj[:500], lat[500:], obj[500:], alpha=0.1)["rmse_mm"])
    assert rmse_mm < 20  # the positions are read out, not the mean (~100 mm off)


def test_noise_latents_match_mean_predictor() -> None:
    rng = np.random.default_rng(1)
    obj, grip = positions(3000, rng)
    lat = rng.normal(size=(3000, 16))
    r = probe_report(lat[:2500], obj[:2500], grip[:2500], lat[2500:], obj[2500:], grip[2500:], alpha=1.0)
    for body in ("object", "gripper"):
        assert getattr(r, f"probe_{body}_mm") == pytest.approx(getattr(r, f"mean_{body}_mm"), rel=0.05)
        assert getattr(r, f"probe_{body}_r2") < 0.02


def test_rmse_definition_and_errors() -> None:
    y_train = np.zeros((4, 3))
    y_test = np.array([[0.003, 0.004, 0.0], [0.0, 0.0, 0.0], [0.0, 0.0, 0.001]])  # 5, 0 and 1 mm from the train mean
    r = fit_probe(np.zeros((4, 2)), y_train, np.zeros((3, 2)), y_test, alpha=1.0)
    assert r["mean_rmse_mm"] == pytest.approx(np.sqrt(26 / 3)) and r["rmse_mm"] == pytest.approx(r["mean_rmse_mm"])
    assert r["median_mm"] == pytest.approx(1.0)  # per-sample Euclidean errors 5, 0, 1 -> median 1
    with pytest.raises(ValueError, match="shape mismatch"):
        fit_probe(np.zeros((4, 2)), y_train, np.zeros((2, 3)), y_test)
    with pytest.raises(ValueError, match="alpha"):
        fit_probe(np.zeros((4, 2)), y_train, np.zeros((2, 2)), y_test, alpha=-1)


def test_cross_validated_alpha_follows_the_latents() -> None:
    """Exact latents want almost no penalty; many noise dims on few samples want a large one."""
    rng = np.random.default_rng(2)
    obj, grip = positions(400, rng)
    episodes = np.repeat(np.arange(40), 10)
    exact = np.concatenate([obj, grip], axis=1) @ rng.normal(size=(6, 12))  # (N, 6) @ (6, 12) -> (N, 12)
    assert select_alpha(exact, obj, episodes) <= 1e-2
    noise = rng.normal(size=(400, 200))
    assert select_alpha(noise, obj, episodes) >= 1e3


def test_auto_alpha_beats_a_tiny_fixed_one_when_latents_overfit() -> None:
    """Many noisy dims on few training episodes: a tiny fixed penalty overfits, the cross-validated one does not."""
    rng = np.random.default_rng(3)
    obj, grip = positions(700, rng)
    signal = obj[:, :2] + rng.normal(scale=0.03, size=(700, 2))  # informative but noisy
    lat = np.concatenate([signal, rng.normal(size=(700, 150))], axis=1)  # (N, 152)
    groups = np.repeat(np.arange(40), 5)
    args = (lat[:200], obj[:200], grip[:200], lat[200:], obj[200:], grip[200:])
    tiny = probe_report(*args, alpha=1e-3).probe_object_mm
    auto = probe_report(*args, alpha=None, train_groups=groups)
    assert auto.probe_object_mm < 0.9 * tiny and auto.probe_object_alpha >= 1.0
    assert auto.probe_object_mm < auto.mean_object_mm
    with pytest.raises(ValueError, match="train_groups"):
        probe_report(*args, alpha=None)


def test_visible_frames_are_scored_apart() -> None:
    """Latents exact where the object is in sight and blind where it is hidden: the visible score is ~0."""
    rng = np.random.default_rng(2)
    obj, grip = positions(2000, rng)
    visible = rng.uniform(size=2000)  # share of the block in sight
    hidden = visible < VISIBLE_MIN
    seen_obj = np.where(hidden[:, None], obj.mean(axis=0), obj)  # an encoder that sees nothing falls back to the mean
    lat = np.concatenate([seen_obj, grip], axis=1) @ rng.normal(size=(6, 10))  # (N, 6) @ (6, 10) -> (N, 10)
    visible[:5] = np.nan  # unknown visibility counts as not visible
    r = probe_report(
        lat[:1500],
        seen_obj[:1500],
        grip[:1500],
        lat[1500:],
        obj[1500:],
        grip[1500:],
        alpha=1e-8,
        test_visible=visible[1500:],
    )
    assert r.probe_object_visible_mm < 1e-3 and r.probe_object_visible_median_mm < 1e-3
    assert r.probe_object_mm > 30  # the hidden frames carry all the error
    assert r.visible_share == pytest.approx((visible[1500:] >= VISIBLE_MIN).mean())
    unlabelled = probe_report(
        lat[:1500], obj[:1500], grip[:1500], lat[1500:], obj[1500:], grip[1500:], test_visible=np.full(500, np.nan)
    )
    assert unlabelled.probe_object_visible_mm is None and unlabelled.visible_share is None


def test_visible_probe_is_fit_on_visible_training_frames() -> None:
    """Hidden training frames, whose latents cannot know where the object is, must not pull the visible fit."""
    rng = np.random.default_rng(4)
    obj, grip = positions(3000, rng)
    visible = rng.uniform(size=3000)
    hidden = visible < VISIBLE_MIN
    lat = np.concatenate([obj, grip], axis=1) @ rng.normal(size=(6, 10))  # (N, 6) @ (6, 10) -> (N, 10)
    lat[hidden] = rng.normal(scale=lat.std(axis=0), size=(int(hidden.sum()), 10))  # hidden: the latent is noise
    args = (lat[:2000], obj[:2000], grip[:2000], lat[2000:], obj[2000:], grip[2000:])
    groups = np.arange(2000) // 50
    fit_all = probe_report(*args, alpha=None, train_groups=groups, test_visible=visible[2000:])
    fit_seen = probe_report(
        *args, alpha=None, train_groups=groups, test_visible=visible[2000:], train_visible=visible[:2000]
    )
    assert fit_all.probe_object_visible_mm > 10  # the outliers bias the shared fit
    assert fit_seen.probe_object_visible_mm < 1  # the visible fit recovers the exact map
    assert fit_seen.probe_object_mm == fit_all.probe_object_mm  # the all-frame probe is unchanged
    # too few visible training frames: falls back to the fit on all of them
    few = probe_report(
        *args, alpha=None, train_groups=groups, test_visible=visible[2000:], train_visible=np.zeros(2000)
    )
    assert few.probe_object_visible_mm == pytest.approx(fit_all.probe_object_visible_mm)
    with pytest.raises(ValueError, match="train_visible"):
        probe_report(*args, alpha=1.0, test_visible=visible[2000:], train_visible=visible[:1000])


def test_held_out_latents_outside_the_training_range_are_not_extrapolated() -> None:
    """A dim that barely moved in training and jumps on a held-out sample must not blow up the read-out."""
    rng = np.random.default_rng(3)
    obj, grip = positions(600, rng)
    still = rng.normal(scale=1e-4, size=(600, 1))  # e.g. a keypoint parked on a static corner
    lat = np.concatenate([obj, grip, still], axis=1) @ np.diag(rng.uniform(1, 2, size=7))  # (N, 7)
    lat[500:, 6] = 0.5  # ... that moves on held-out frames: 5000 training stds away
    noisy_obj, noisy_grip = (
        obj + rng.normal(scale=0.002, size=obj.shape),
        grip + rng.normal(scale=0.002, size=grip.shape),
    )
    r = probe_report(lat[:500], noisy_obj[:500], noisy_grip[:500], lat[500:], obj[500:], grip[500:], alpha=1e-6)
    assert r.probe_object_mm < 5 and r.probe_gripper_mm < 5  # label noise gives the still dim a small weight
