"""A goal space: where RIG-style latent goals are compared. ``project`` maps encoder latents to goal vectors
and the goal distance is the Euclidean distance between projections, so one projection per frame serves every
goal it is compared with (HER relabels by swapping projected goals)."""

from __future__ import annotations

import json
from abc import ABC, abstractmethod
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

from pipeline.errors import PipelineError
from pipeline.goalspace.config import GoalSpaceConfig
from pipeline.goalspace.data import FitData


class GoalSpaceError(PipelineError, ValueError):
    """A fitted goal space that cannot be read back: a damaged or invalid file (refit it)."""


def refit(out_dir: Path) -> str:
    """What to do about a damaged goal-space folder ``goal_spaces/<encoder>``."""
    name = out_dir.name
    return f"refit it: `python -m pipeline.goalspace --encoder {name}` (or `dvc repro goal_space@{name}`)"


def brief(exc: BaseException) -> str:
    """An exception's message on one line (pydantic and torch spread theirs over several)."""
    return " ".join(str(exc).split())[:300]


class GoalSpace(ABC):
    """Maps latents ``(..., latent_dim)`` to goal vectors ``(..., dim)``; fitted on pretraining data only."""

    name: ClassVar[str]
    uses_labels: ClassVar[bool] = False
    """whether fitting reads simulator labels (at pretraining time; never at RL time)"""

    def __init__(self, latent_dim: int, dim: int) -> None:
        self.latent_dim, self.dim = int(latent_dim), int(dim)

    @abstractmethod
    def project(self, z: np.ndarray) -> np.ndarray:
        """Batched: float32 ``(..., latent_dim)`` -> ``(..., dim)``."""

    def distance(self, za: np.ndarray, zb: np.ndarray) -> np.ndarray:
        """Goal distance of latents, batched over leading dims: ``(..., latent_dim)`` x2 -> ``(...)``."""
        return np.linalg.norm(self.project(za) - self.project(zb), axis=-1)

    def in_sight(self, presence: np.ndarray) -> np.ndarray:
        """Keypoint presence ``(m, K)`` -> ``(m,)`` bool: whether a frame's goal-space point reads what it marks.
        Spaces that do not read keypoints always do."""
        return np.ones(len(presence), dtype=bool)

    def _check(self, z: np.ndarray) -> np.ndarray:
        z = np.asarray(z, np.float32)
        if z.shape[-1] != self.latent_dim:
            raise ValueError(f"goal space {self.name!r} expects latents of size {self.latent_dim}; got {z.shape}")
        return z

    # --- artifact -------------------------------------------------------------------------------
    def meta(self) -> dict[str, Any]:
        """JSON-serialisable description (what :meth:`load` reads back)."""
        return {"name": self.name, "latent_dim": self.latent_dim, "dim": self.dim, "uses_labels": self.uses_labels}

    def save(self, out_dir: Path) -> None:
        """Write ``out_dir/<name>.json`` (subclasses add their weights)."""
        out_dir.mkdir(parents=True, exist_ok=True)
        (out_dir / f"{self.name}.json").write_text(json.dumps(self.meta(), indent=2, sort_keys=True) + "\n")

    @classmethod
    def read_meta(cls, out_dir: Path, latent_dim: int) -> dict[str, Any]:
        """``<name>.json``, checked: a missing file raises ``FileNotFoundError``, a damaged one ``GoalSpaceError``."""
        path = out_dir / f"{cls.name}.json"
        if not path.is_file():
            raise FileNotFoundError(f"goal space {cls.name!r} not fitted: {path} not found (run the goal_space stage)")
        try:
            meta = json.loads(path.read_bytes())
        except ValueError as exc:
            raise GoalSpaceError(f"not valid JSON ({brief(exc)})", path, refit(out_dir)) from exc
        if not isinstance(meta, dict) or not isinstance(meta.get("latent_dim"), int):
            raise GoalSpaceError("not a goal-space description (no integer latent_dim)", path, refit(out_dir))
        if meta["latent_dim"] != int(latent_dim):
            raise GoalSpaceError(
                f"fitted on latents of size {meta['latent_dim']}, the encoder has {latent_dim}", path, refit(out_dir)
            )
        return meta

    @classmethod
    def invalid(cls, out_dir: Path, exc: BaseException, file: str | None = None) -> GoalSpaceError:
        """The error for a goal-space file whose contents do not build the space (default file: ``<name>.json``)."""
        return GoalSpaceError(f"invalid contents: {brief(exc)}", out_dir / (file or f"{cls.name}.json"), refit(out_dir))

    @classmethod
    @abstractmethod
    def fit(cls, cfg: GoalSpaceConfig, data: FitData) -> GoalSpace | None:
        """Fit on the training split's latents; None when the space does not apply to this encoder."""

    @classmethod
    @abstractmethod
    def load(cls, out_dir: Path, latent_dim: int) -> GoalSpace:
        """Read a fitted goal space back (no pickled code)."""


class LatentGoalSpace(GoalSpace):
    """The whole latent (RIG's goal space): the distance sees everything the encoder encodes, the arm included."""

    name = "latent"

    def __init__(self, latent_dim: int) -> None:
        super().__init__(latent_dim, latent_dim)

    def project(self, z: np.ndarray) -> np.ndarray:
        return self._check(z)

    @classmethod
    def fit(cls, cfg: GoalSpaceConfig, data: FitData) -> LatentGoalSpace:
        return cls(data.z.shape[1])

    @classmethod
    def load(cls, out_dir: Path, latent_dim: int) -> LatentGoalSpace:
        return cls(latent_dim)
