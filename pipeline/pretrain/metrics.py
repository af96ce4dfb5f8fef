"""Typed records of what the pretrain stage measures, and the one mapping to and from its ``metrics.json``.

The field names are the ``metrics.json`` keys (DVC reads them as metrics), so :meth:`EncoderMetrics.to_metrics`
and :meth:`EncoderMetrics.from_metrics` are the only places that spell them. A field is None where it was not
computed (no MLP probe, no visibility labels, a frozen encoder's training stats) or where an older pipeline did
not record it; None fields are left out of ``metrics.json``. No torch here: the report reads these records.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class ProbeReport:
    """Held-out position probes of one encoder's latents (:func:`pipeline.pretrain.probe.probe_report`).

    ``probe_report`` fills every ridge and mean-predictor field; ``mlp=True`` adds the ``mlp`` fields, visibility
    labels the ``visible`` ones. Errors are Euclidean 3-D errors in mm, R² pools the three axes.
    """

    probe_object_mm: float | None = None
    """ridge probe RMSE of the object position"""
    probe_object_median_mm: float | None = None
    """ridge probe median error of the object position"""
    probe_object_r2: float | None = None
    """ridge probe R² of the object position"""
    probe_object_alpha: float | None = None
    """ridge penalty of the object probe (fixed or cross-validated)"""
    mean_object_mm: float | None = None
    """RMSE of the training-mean predictor of the object position (the baseline)"""
    mean_object_r2: float | None = None
    """R² of the training-mean predictor of the object position"""
    probe_object_mlp_mm: float | None = None
    """MLP probe RMSE of the object position"""
    probe_object_mlp_median_mm: float | None = None
    """MLP probe median error of the object position"""
    probe_gripper_mm: float | None = None
    """ridge probe RMSE of the gripper position"""
    probe_gripper_median_mm: float | None = None
    """ridge probe median error of the gripper position"""
    probe_gripper_r2: float | None = None
    """ridge probe R² of the gripper position"""
    probe_gripper_alpha: float | None = None
    """ridge penalty of the gripper probe"""
    mean_gripper_mm: float | None = None
    """RMSE of the training-mean predictor of the gripper position"""
    mean_gripper_r2: float | None = None
    """R² of the training-mean predictor of the gripper position"""
    probe_gripper_mlp_mm: float | None = None
    """MLP probe RMSE of the gripper position"""
    probe_gripper_mlp_median_mm: float | None = None
    """MLP probe median error of the gripper position"""
    visible_share: float | None = None
    """share of held-out frames with the object visible (visibility-labelled datasets)"""
    probe_object_visible_mm: float | None = None
    """object ridge probe RMSE over the held-out frames where the object is visible"""
    probe_object_visible_median_mm: float | None = None
    """object ridge probe median error where the object is visible"""
    probe_object_visible_alpha: float | None = None
    """ridge penalty of the visible-frame object probe"""
    probe_object_visible_mlp_mm: float | None = None
    """object MLP probe RMSE where the object is visible"""
    probe_object_visible_mlp_median_mm: float | None = None
    """object MLP probe median error where the object is visible"""


@dataclass(frozen=True)
class EncoderMetrics:
    """One encoder's ``metrics.json``: what was trained, its probes, and the random-init control's probes."""

    encoder: str
    """registry name of the encoder"""
    latent_dim: int | None = None
    """size of its latent"""
    train_seconds: float | None = None
    """wall time of training (or of building, for a frozen encoder)"""
    val_loss: float | None = None
    """last validation loss (trainable encoders)"""
    epochs: int | None = None
    """epochs trained (trainable encoders)"""
    steps: int | None = None
    """optimiser steps trained (trainable encoders)"""
    train_frames_per_s: float | None = None
    """training throughput (trainable encoders)"""
    probe: ProbeReport = field(default_factory=ProbeReport)
    """the trained encoder's probes"""
    random_object_mm: float | None = None
    """object ridge probe RMSE of the same architecture at random init"""
    random_gripper_mm: float | None = None
    """gripper ridge probe RMSE at random init"""
    random_object_mlp_mm: float | None = None
    """object MLP probe RMSE at random init"""
    collect_seconds: float | None = None
    """collect wall time of the dataset it was trained on (the report charges it to the latent routes)"""

    def to_metrics(self) -> dict[str, Any]:
        """The flat ``metrics.json`` mapping (None fields left out)."""
        flat = {**asdict(self), **asdict(self.probe)}
        del flat["probe"]
        return {k: v for k, v in flat.items() if v is not None}

    @classmethod
    def from_metrics(cls, metrics: Mapping[str, Any], encoder: str | None = None) -> EncoderMetrics:
        """Read a ``metrics.json`` mapping (older files may lack keys; unknown keys are ignored).

        :param encoder: the name to use when the mapping has no ``encoder`` key (e.g. its folder's name)
        """
        probe = ProbeReport(**{f.name: metrics[f.name] for f in fields(ProbeReport) if f.name in metrics})
        own = {f.name: metrics[f.name] for f in fields(cls) if f.name in metrics and f.name != "probe"}
        if "encoder" not in own:
            if encoder is None:
                raise ValueError("metrics have no 'encoder' key and no encoder name was given")
            own["encoder"] = encoder
        return cls(**own, probe=probe)


def summary_line(m: EncoderMetrics, out: Path | str) -> str:
    """One line on what the probes found, printed when the stage is done."""
    r = m.probe
    seen = "" if r.probe_object_visible_mm is None else f", {r.probe_object_visible_mm:.1f} mm RMSE where visible"
    return (
        f"pretrain {m.encoder}: object probe {r.probe_object_mm:.1f} mm RMSE, "
        f"{r.probe_object_median_mm:.1f} mm median{seen} "
        f"(mean predictor {r.mean_object_mm:.1f}, random init {m.random_object_mm:.1f}); "
        f"MLP probe {r.probe_object_mlp_mm:.1f} mm (random init {m.random_object_mlp_mm:.1f}); "
        f"gripper {r.probe_gripper_mm:.1f} mm -> {out}"
    )
