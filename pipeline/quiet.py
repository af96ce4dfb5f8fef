"""Known third-party notices that say nothing about a run here, silenced where the project imports the library.

Each entry names what it hides and why; anything else still prints.
"""

from __future__ import annotations

import logging
import warnings

LIGHTNING_WARNINGS = (
    r".*isinstance\(treespec, LeafSpec\)` is deprecated.*",  # torch 2.13 pytree deprecation, inside Lightning
    r"Checkpoint directory .* exists and is not empty",  # our resumable checkpoints live there on purpose
    r"The number of training batches .* is smaller than the logging interval",  # tiny profiles
    r".*does not have many workers which may be a bottleneck.*",  # frames are in memory; workers would copy them
    r"You're resuming from a checkpoint that ended before the epoch ended.*",  # said in our own resume line
)


def quiet_gymnasium_robotics() -> None:
    """Drop gymnasium-robotics' import-time Adroit reward notice (we build no Adroit env) before the import."""
    try:
        from farama_notifications import notifications
    except ImportError:  # pragma: no cover - a dependency of gymnasium
        return
    notifications.pop("gymnasium_robotics", None)


def quiet_lightning() -> None:
    """Lightning's start-up lines (GPU/TPU availability, tips, 'fit stopped') and the warnings above."""
    for name in ("pytorch_lightning", "lightning.pytorch", "lightning_fabric", "lightning"):
        logging.getLogger(name).setLevel(logging.WARNING)
    for pattern in LIGHTNING_WARNINGS:
        warnings.filterwarnings("ignore", message=pattern)
