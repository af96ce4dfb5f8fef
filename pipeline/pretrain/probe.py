"""Linear probe: how well a frozen latent linearly encodes object and gripper positions.

Error metric: ``rmse_mm = 1000 * sqrt(mean_i ||y_hat_i - y_i||_2^2)`` over held-out samples, i.e. the
root-mean-square *Euclidean* 3-D error in millimetres (targets are metres). ``r2`` pools the three axes:
``1 - sum_i ||y_hat_i - y_i||^2 / sum_i ||y_i - mean_test(y)||^2`` (sklearn's ``variance_weighted``).
``median_mm`` is the median of the per-sample Euclidean errors: on random Push data the RMSE is dominated
by the few frames where the arm hides the block, the median shows the typical frame. Where the dataset
labels visibility (``object_visible``, the share of the block the camera sees), a second object probe
is fit on the training frames where at least :data:`VISIBLE_MIN` of it is in sight and scored on the
held-out frames where it is: what a single-frame encoder can be asked to know. (Fit on all frames, the
hidden ones, whose latents cannot know where the block is, act as outliers in the least-squares fit and
cost the visible frames precision: 11.3 vs 9.0 mm for one spatial autoencoder.)

The ridge penalty is either fixed or chosen by cross-validation *within the training episodes*
(:func:`select_alpha`, folds split by episode): one fixed penalty overfits wide or noisy latents (a
512-D frozen ResNet, many idle keypoints) and over-shrinks narrow exact ones, and the held-out episodes
must not choose it.

``probe_report`` returns a :class:`~pipeline.pretrain.metrics.ProbeReport`; with ``mlp=True`` it adds the nonlinear
probe of :mod:`pipeline.pretrain.mlp_probe` beside each fit.
"""

from __future__ import annotations

import numpy as np

from pipeline.pretrain.metrics import ProbeReport
from pipeline.pretrain.mlp_probe import fit_mlp_probe
from pipeline.pretrain.probe_scores import as_2d, errors, score, standardise

VISIBLE_MIN = 0.5
"""A frame counts as "object visible" when at least this share of the block is in the camera's sight."""


def _ridge_predictions(x: np.ndarray, y: np.ndarray, xt: np.ndarray, alphas: tuple[float, ...]) -> list[np.ndarray]:
    """Ridge predictions ``(M, T)`` for ``xt``, one per alpha, sharing one :func:`standardise` and Gram matrix.

    Targets are centred on their training mean.
    """
    z, zt = standardise(x, xt)
    y_mean = y.mean(axis=0)
    gram, rhs = z.T @ z, z.T @ (y - y_mean)  # (D, N) @ (N, D) -> (D, D); (D, N) @ (N, T) -> (D, T)
    eye = np.eye(z.shape[1])
    return [
        zt @ np.linalg.lstsq(gram + a * eye, rhs, rcond=None)[0] + y_mean for a in alphas
    ]  # (M, D) @ (D, T) -> (M, T)


def ridge_readout(x: np.ndarray, y: np.ndarray, xt: np.ndarray, alpha: float) -> np.ndarray:
    """Predictions ``(M, T)`` for latents ``xt`` ``(M, D)`` of a ridge probe fitted on ``x`` ``(N, D)`` -> ``y``."""
    return _ridge_predictions(as_2d(x, "x"), as_2d(y, "y"), as_2d(xt, "xt"), (alpha,))[0]


def fit_probe(
    train_latents: np.ndarray,
    train_targets: np.ndarray,
    test_latents: np.ndarray,
    test_targets: np.ndarray,
    alpha: float = 1.0,
    test_subset: np.ndarray | None = None,
) -> dict[str, float]:
    """Closed-form ridge regression from latents to targets, scored on held-out data.

    Latents are standardised with train mean/std (constant dims are left at zero); targets are centred on
    the train mean, which is also the baseline "mean predictor".

    :param train_latents: ``(N, D)``
    :param train_targets: ``(N, T)`` in metres
    :param test_latents: ``(M, D)``
    :param test_targets: ``(M, T)`` in metres
    :param alpha: ridge penalty on the standardised weights (>= 0)
    :param test_subset: optional bool ``(M,)``: also score the probe on these held-out samples only
    :return: ``rmse_mm``, ``r2``, ``median_mm`` of the probe and ``mean_rmse_mm``, ``mean_r2`` of the train-mean
        predictor; with ``test_subset`` also ``subset_rmse_mm``, ``subset_median_mm`` (NaN when it is empty)
    """
    if alpha < 0:
        raise ValueError(f"alpha must be >= 0 (got {alpha})")
    x, y = as_2d(train_latents, "train_latents"), as_2d(train_targets, "train_targets")
    xt, yt = as_2d(test_latents, "test_latents"), as_2d(test_targets, "test_targets")
    if len(x) != len(y) or len(xt) != len(yt) or x.shape[1] != xt.shape[1] or y.shape[1] != yt.shape[1]:
        raise ValueError(f"shape mismatch: train {x.shape}/{y.shape}, test {xt.shape}/{yt.shape}")
    y_mean = y.mean(axis=0)
    pred = _ridge_predictions(x, y, xt, (alpha,))[0]
    mean_rmse_mm, mean_r2, _ = errors(np.broadcast_to(y_mean, yt.shape), yt)
    return {**score(pred, yt, test_subset), "mean_rmse_mm": mean_rmse_mm, "mean_r2": mean_r2}


ALPHA_GRID: tuple[float, ...] = tuple(10.0**e for e in range(-3, 5))  # 1e-3 .. 1e4


def select_alpha(
    latents: np.ndarray,
    targets: np.ndarray,
    groups: np.ndarray,
    alphas: tuple[float, ...] = ALPHA_GRID,
    folds: int = 5,
) -> float:
    """Ridge penalty with the lowest cross-validated squared error, folds split by ``groups`` (episodes).

    :param latents: ``(N, D)`` training latents
    :param targets: ``(N, T)`` training targets (metres)
    :param groups: ``(N,)`` episode id of each sample; a group never spans train and validation folds
    :param alphas: candidate penalties
    :param folds: number of folds (fewer when there are fewer groups)
    :return: the best alpha (ties -> the larger one)
    """
    ids = np.unique(groups)
    k = min(folds, len(ids))
    if k < 2:
        raise ValueError(f"cross-validating the probe needs >= 2 training episodes (got {len(ids)})")
    fold_of = {g: i % k for i, g in enumerate(np.random.default_rng(0).permutation(ids))}
    fold = np.array([fold_of[g] for g in groups])
    sse = np.zeros(len(alphas))
    for f in range(k):
        tr, va = fold != f, fold == f
        preds = _ridge_predictions(latents[tr], targets[tr], latents[va], alphas)  # one Gram matrix per fold
        sse += [((p - targets[va]) ** 2).sum() for p in preds]
    best = sse.min()
    return float(max(a for a, e in zip(alphas, sse) if e <= best * (1 + 1e-9)))


def _visible_mask(share: np.ndarray | None) -> np.ndarray | None:
    """``(N,)`` bool: at least :data:`VISIBLE_MIN` in sight (NaN, unknown, counts as not); None when nothing is
    known."""
    if share is None or not np.isfinite(share).any():
        return None
    return np.nan_to_num(np.asarray(share, dtype=np.float64), nan=0.0) >= VISIBLE_MIN


def _body_fields(body: str, alpha: float, ridge: dict[str, float], mlp: dict[str, float] | None) -> dict[str, float]:
    """The :class:`ProbeReport` fields of one body's all-frame fits, e.g. ``probe_object_mm``, ``mean_object_r2``."""
    prefix = f"probe_{body}"
    out = {
        f"{prefix}_alpha": alpha,
        f"{prefix}_mm": ridge["rmse_mm"],
        f"{prefix}_r2": ridge["r2"],
        f"{prefix}_median_mm": ridge["median_mm"],
        f"mean_{body}_mm": ridge["mean_rmse_mm"],
        f"mean_{body}_r2": ridge["mean_r2"],
    }
    if mlp is not None:
        out[f"{prefix}_mlp_mm"], out[f"{prefix}_mlp_median_mm"] = mlp["rmse_mm"], mlp["median_mm"]
    return out


def probe_report(
    train_latents: np.ndarray,
    train_object: np.ndarray,
    train_gripper: np.ndarray,
    test_latents: np.ndarray,
    test_object: np.ndarray,
    test_gripper: np.ndarray,
    alpha: float | None = 1.0,
    train_groups: np.ndarray | None = None,
    test_visible: np.ndarray | None = None,
    train_visible: np.ndarray | None = None,
    mlp: bool = False,
) -> ProbeReport:
    """Probe object and gripper positions (``(N, 3)`` metres each) from the same latents.

    :param alpha: ridge penalty; None chooses it per body with :func:`select_alpha` over ``train_groups``
    :param train_groups: ``(N,)`` episode ids of the training samples (needed when ``alpha`` is None)
    :param test_visible: optional ``(M,)`` share of the object in sight per held-out sample (NaN: unknown); when
        some are known, adds ``probe_object_visible_mm``, ``probe_object_visible_median_mm`` over the samples
        with at least :data:`VISIBLE_MIN` in sight and ``visible_share``, the share of held-out samples that are visible
    :param train_visible: ``(N,)`` the same for the training samples; with ``test_visible``, the visible-frame
        object probe is its own fit on the visible training samples (penalty ``probe_object_visible_alpha``);
        without it (or with too few visible training samples), the probe fit on all training samples is scored there
    :param mlp: also fit the nonlinear probe of :mod:`mlp_probe` (needs ``train_groups``): the same fields with
        ``mlp`` after the body, e.g. ``probe_object_mlp_mm``, ``probe_object_mlp_median_mm``,
        ``probe_object_visible_mlp_mm``
    :return: the ridge probes' ``probe_object_mm``, ``probe_gripper_mm`` (RMSE), medians, R² and penalties, and the
        mean-predictor baselines ``mean_object_mm``, ``mean_gripper_mm``, ``mean_object_r2``, ``mean_gripper_r2``;
        fields not computed are None
    """
    if (alpha is None or mlp) and train_groups is None:
        raise ValueError("alpha=None (cross-validated) and mlp=True need train_groups (episode id per training sample)")

    x, xt = as_2d(train_latents, "train_latents"), as_2d(test_latents, "test_latents")
    groups = np.asarray(train_groups) if train_groups is not None else None
    seen = _visible_mask(test_visible)
    fit_on = _visible_mask(train_visible) if seen is not None else None
    if fit_on is not None and fit_on.shape != (len(x),):
        raise ValueError(f"train_visible must have shape ({len(x)},); got {fit_on.shape}")
    report: dict[str, float] = {}
    fits: dict[
        str, tuple[float, dict[str, float], dict[str, float] | None]
    ] = {}  # body -> all-frame (alpha, ridge, mlp)
    for body, y_train, y_test in (("object", train_object, test_object), ("gripper", train_gripper, test_gripper)):
        subset = seen if body == "object" else None
        a = alpha if alpha is not None else select_alpha(x, as_2d(y_train, "train_targets"), groups)
        r = fit_probe(x, y_train, xt, y_test, a, test_subset=subset)
        m = fit_mlp_probe(x, y_train, xt, y_test, groups, test_subset=subset) if mlp else None
        report.update(_body_fields(body, a, r, m))
        fits[body] = (a, r, m)
    if seen is None:
        return ProbeReport(**report)
    if fit_on is None or fit_on.sum() < 2 or (alpha is None and len(np.unique(groups[fit_on])) < 2):
        # too few visible training frames (or none labelled): the all-frame fit, scored where the object is visible
        a, r, m = fits["object"]
    else:
        y = as_2d(train_object, "train_targets")[fit_on]
        a = alpha if alpha is not None else select_alpha(x[fit_on], y, groups[fit_on])
        r = fit_probe(x[fit_on], y, xt, test_object, a, test_subset=seen)
        m = fit_mlp_probe(x[fit_on], y, xt, test_object, groups[fit_on], test_subset=seen) if mlp else None
    return ProbeReport(
        **report,
        visible_share=float(seen.mean()),
        probe_object_visible_mm=r["subset_rmse_mm"],
        probe_object_visible_median_mm=r["subset_median_mm"],
        probe_object_visible_alpha=a,
        probe_object_visible_mlp_mm=None if m is None else m["subset_rmse_mm"],
        probe_object_visible_mlp_median_mm=None if m is None else m["subset_median_mm"],
    )
