"""Linear probe: how well a frozen latent linearly encodes object and gripper positions.

Error metric: ``rmse_mm = 1000 * sqrt(mean_i ||y_hat_i - y_i||_2^2)`` over held-out samples, i.e. the
root-mean-square *Euclidean* 3-D error in millimetres (targets are metres). ``r2`` pools the three axes:
``1 - sum_i ||y_hat_i - y_i||^2 / sum_i ||y_i - mean_test(y)||^2`` (sklearn's ``variance_weighted``).
"""

from __future__ import annotations

import numpy as np


def _as_2d(a: np.ndarray, name: str) -> np.ndarray:
    a = np.asarray(a, dtype=np.float64)
    if a.ndim == 1:
        a = a[:, None]  # (N,) -> (N, 1)
    if a.ndim != 2:
        raise ValueError(f"{name} must be (N, D); got shape {a.shape}")
    return a


def _errors(pred: np.ndarray, y: np.ndarray) -> tuple[float, float]:
    """``(rmse_mm, r2)`` of predictions ``(N, T)`` against targets ``(N, T)`` in metres."""
    sse = float(((pred - y) ** 2).sum())
    sst = float(((y - y.mean(axis=0)) ** 2).sum())
    rmse_mm = 1000.0 * np.sqrt(sse / max(len(y), 1))
    r2 = 1.0 - sse / sst if sst > 0 else float("nan")
    return rmse_mm, r2


def fit_probe(
    train_latents: np.ndarray,
    train_targets: np.ndarray,
    test_latents: np.ndarray,
    test_targets: np.ndarray,
    alpha: float = 1.0,
) -> dict[str, float]:
    """Closed-form ridge regression from latents to targets, scored on held-out data.

    Latents are standardised with train mean/std (constant dims are left at zero); targets are centred on
    the train mean, which is also the baseline "mean predictor".

    :param train_latents: ``(N, D)``
    :param train_targets: ``(N, T)`` in metres
    :param test_latents: ``(M, D)``
    :param test_targets: ``(M, T)`` in metres
    :param alpha: ridge penalty on the standardised weights (>= 0)
    :return: ``rmse_mm``, ``r2`` of the probe and ``mean_rmse_mm``, ``mean_r2`` of the train-mean predictor
    """
    if alpha < 0:
        raise ValueError(f"alpha must be >= 0 (got {alpha})")
    x, y = _as_2d(train_latents, "train_latents"), _as_2d(train_targets, "train_targets")
    xt, yt = _as_2d(test_latents, "test_latents"), _as_2d(test_targets, "test_targets")
    if len(x) != len(y) or len(xt) != len(yt) or x.shape[1] != xt.shape[1] or y.shape[1] != yt.shape[1]:
        raise ValueError(f"shape mismatch: train {x.shape}/{y.shape}, test {xt.shape}/{yt.shape}")
    mu, sd = x.mean(axis=0), x.std(axis=0)
    sd = np.where(sd > 1e-12, sd, np.inf)  # constant latent dims -> standardised to 0
    z, zt = (x - mu) / sd, (xt - mu) / sd
    y_mean = y.mean(axis=0)
    gram = z.T @ z + alpha * np.eye(z.shape[1])  # (D, N) @ (N, D) -> (D, D)
    w = np.linalg.lstsq(gram, z.T @ (y - y_mean), rcond=None)[0]  # (D, T)
    pred = zt @ w + y_mean  # (M, D) @ (D, T) -> (M, T)
    rmse_mm, r2 = _errors(pred, yt)
    mean_rmse_mm, mean_r2 = _errors(np.broadcast_to(y_mean, yt.shape), yt)
    return {"rmse_mm": rmse_mm, "r2": r2, "mean_rmse_mm": mean_rmse_mm, "mean_r2": mean_r2}


def probe_report(
    train_latents: np.ndarray,
    train_object: np.ndarray,
    train_gripper: np.ndarray,
    test_latents: np.ndarray,
    test_object: np.ndarray,
    test_gripper: np.ndarray,
    alpha: float = 1.0,
) -> dict[str, float]:
    """Probe object and gripper positions (``(N, 3)`` metres each) from the same latents.

    :return: ``probe_object_mm``, ``probe_gripper_mm``, ``probe_object_r2``, ``probe_gripper_r2`` and the
        mean-predictor baselines ``mean_object_mm``, ``mean_gripper_mm``, ``mean_object_r2``, ``mean_gripper_r2``
    """
    report: dict[str, float] = {}
    for body, y_train, y_test in (("object", train_object, test_object), ("gripper", train_gripper, test_gripper)):
        r = fit_probe(train_latents, y_train, test_latents, y_test, alpha)
        report[f"probe_{body}_mm"] = r["rmse_mm"]
        report[f"probe_{body}_r2"] = r["r2"]
        report[f"mean_{body}_mm"] = r["mean_rmse_mm"]
        report[f"mean_{body}_r2"] = r["mean_r2"]
    return report
