"""Resuming a pretrain run: which ``last.ckpt`` Lightning may continue from, and what is cleared or set aside.

``checkpoints/pretrain/<encoder>/`` holds Lightning's ``last.ckpt`` and ``fingerprint.json`` (what the run was
started with). A checkpoint of other params is removed (the encoder is retrained from scratch); a damaged one
(a truncated ``last.ckpt``, an unreadable ``fingerprint.json``) is moved aside to ``<encoder>.damaged``, never
deleted, and the run starts from scratch. Each case says so in one log line.
"""

from __future__ import annotations

import json
import time
import zipfile
from pathlib import Path
from typing import Any

import torch
from pytorch_lightning.callbacks import Callback

from pipeline.collect.dataset import open_dataset
from pipeline.encoders.registry import encoder_section
from pipeline.io import remove, write_json
from pipeline.pretrain.config import PretrainConfig

LAST, FINGERPRINT = "last.ckpt", "fingerprint.json"


class TrainClock(Callback):
    """Training seconds summed over every run of one encoder: each checkpoint stores the total so far, and a resumed
    run adds to it (the seconds between the last checkpoint and an interruption are lost with their steps)."""

    def __init__(self) -> None:
        self.prior, self.start = 0.0, time.perf_counter()

    def seconds(self) -> float:
        """Seconds trained before this run's checkpoint plus this run's own."""
        return self.prior + time.perf_counter() - self.start

    def state_dict(self) -> dict[str, float]:
        return {"train_seconds": self.seconds()}

    def load_state_dict(self, state_dict: dict[str, Any]) -> None:
        self.prior = float(state_dict.get("train_seconds", 0.0))


def fingerprint(pre: PretrainConfig, name: str, dataset: Path) -> dict[str, Any]:
    """What a checkpoint must match to be resumed: the encoder block, shared knobs, and the dataset."""
    attrs = dict(open_dataset(dataset).attrs)
    return {
        "encoder": name,
        "block": encoder_section(name, getattr(pre, name, None)).model_dump(mode="json"),
        "batch_size": pre.batch_size,
        "lr_schedule": pre.lr_schedule,
        "val_fraction": pre.val_fraction,
        "seed": pre.seed,
        "dataset": {k: attrs[k] for k in ("env_id", "camera", "image_size", "seed", "episodes")},
    }


def checkpoint_step(path: Path) -> int:
    """The global step of a Lightning checkpoint, read in full without running pickled code (``weights_only``) and
    its checksums checked; raises ``ValueError`` when it is truncated, garbled or not a Lightning checkpoint (well
    under a second for a few hundred MB)."""
    try:
        with zipfile.ZipFile(path) as zf:  # torch.load does not check the checksums: a flipped bit would load
            bad = zf.testzip()
        ckpt = torch.load(path, map_location="cpu", weights_only=True) if bad is None else None
    except Exception as exc:  # noqa: BLE001 - truncated, garbled or pickled code: any of them means do not resume
        raise ValueError(" ".join(str(exc).split())[:200] or type(exc).__name__) from None
    if bad is not None:
        raise ValueError(f"{bad} fails its checksum")
    if not isinstance(ckpt, dict) or not isinstance(ckpt.get("global_step"), int) or "state_dict" not in ckpt:
        raise ValueError("not a Lightning checkpoint (no global_step or state_dict)")
    return ckpt["global_step"]


def _set_aside(ckpt_dir: Path, name: str, why: str) -> None:
    aside = ckpt_dir.with_name(ckpt_dir.name + ".damaged")
    remove(aside)
    ckpt_dir.rename(aside)
    print(f"pretrain {name}: {why}; moved {ckpt_dir} to {aside}; starting from scratch", flush=True)


def resumable(ckpt_dir: Path, fp: dict[str, Any], name: str) -> Path | None:
    """The ``last.ckpt`` to continue from (None: start from scratch), after clearing a checkpoint of other params and
    setting a damaged one aside; records ``fp`` as what the checkpoints in ``ckpt_dir`` are written with. Says which
    it is in one line."""
    resume, fp_file = ckpt_dir / LAST, ckpt_dir / FINGERPRINT
    step = None
    if resume.exists():
        try:
            stored = json.loads(fp_file.read_bytes()) if fp_file.exists() else None
        except (OSError, ValueError) as exc:
            _set_aside(ckpt_dir, name, f"{fp_file} is damaged ({' '.join(str(exc).split())[:200]})")
        else:
            if stored != fp:
                print(
                    f"pretrain {name}: params, dataset or architecture changed since the last checkpoint; starting over"
                )
                remove(ckpt_dir)
            else:
                try:
                    step = checkpoint_step(resume)
                except ValueError as exc:
                    _set_aside(ckpt_dir, name, f"{resume} is damaged ({exc})")
    ckpt_dir.mkdir(parents=True, exist_ok=True)
    write_json(fp_file, fp)
    if step is None:
        print(f"pretrain {name}: starting from scratch", flush=True)
        return None
    # Lightning restarts a mid-epoch dataloader at the epoch's start (its warning is silenced in pipeline.quiet)
    print(f"pretrain {name}: resuming from {resume} at step {step} (the current epoch's batches restart)", flush=True)
    return resume
