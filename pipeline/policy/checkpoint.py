"""Checkpoints that resume a run without unpickling code.

A checkpoint directory holds ``weights.pt`` (state dicts only; read with ``torch.load(weights_only=True)``),
``replay.npz`` (the replay buffer's numeric arrays, filled part only; ``allow_pickle=False``) and
``state.json`` (counters). It is written at a temporary path and renamed into place. A damaged one is never
resumed from (:mod:`pipeline.policy.checkpoint_files` checks it in full first) and never deleted.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from stable_baselines3.common.off_policy_algorithm import OffPolicyAlgorithm

from pipeline.errors import PipelineError
from pipeline.io import partial_path, publish, remove
from pipeline.policy.checkpoint_files import REPLAY, STATE, WEIGHTS, Damaged, check_replay, read_state, read_weights


def _buffer_arrays(buffer: Any) -> dict[str, np.ndarray]:
    """Numeric array attributes of a replay buffer (dicts of arrays flattened as ``name/key``)."""
    out = {}
    for name, value in vars(buffer).items():
        if isinstance(value, np.ndarray) and value.dtype != object:
            out[name] = value
        elif isinstance(value, dict) and value and all(isinstance(v, np.ndarray) for v in value.values()):
            out.update({f"{name}/{k}": v for k, v in value.items() if v.dtype != object})
    return out


def replay_bytes_per_transition(buffer: Any) -> float:
    """Bytes of storage per transition slot (all numeric arrays, at full capacity)."""
    total = sum(a.nbytes for a in _buffer_arrays(buffer).values())
    return total / (buffer.buffer_size * buffer.n_envs)


def _optimizers(model: OffPolicyAlgorithm) -> dict[str, torch.optim.Optimizer]:
    opts = {"actor": model.actor.optimizer, "critic": model.critic.optimizer}
    if getattr(model, "ent_coef_optimizer", None) is not None:  # SAC / TQC with a learned coefficient; not TD3
        opts["ent_coef"] = model.ent_coef_optimizer
    return opts


def save_checkpoint(model: OffPolicyAlgorithm, path: Path, extra: dict[str, Any] | None = None) -> None:
    """Write model weights, optimiser states, the replay buffer and counters to ``path``."""
    tmp = partial_path(path)
    remove(tmp)
    tmp.mkdir(parents=True)
    weights = {
        "policy": model.policy.state_dict(),
        **{f"opt_{k}": o.state_dict() for k, o in _optimizers(model).items()},
    }
    if getattr(model, "log_ent_coef", None) is not None:
        weights["log_ent_coef"] = model.log_ent_coef.detach().cpu()
    torch.save(weights, tmp / WEIGHTS)
    buf = model.replay_buffer
    n = buf.buffer_size if buf.full else buf.pos
    arrays = {k: (v[:n] if v.ndim and v.shape[0] == buf.buffer_size else v) for k, v in _buffer_arrays(buf).items()}
    np.savez(tmp / REPLAY, **arrays)
    state = {
        "num_timesteps": model.num_timesteps,
        "n_updates": model._n_updates,
        "episode_num": model._episode_num,
        "buffer_pos": buf.pos,
        "buffer_full": buf.full,
        **(extra or {}),
    }
    (tmp / STATE).write_text(json.dumps(state, indent=2))
    publish(tmp, path)


class CheckpointError(PipelineError, ValueError):
    """A run's checkpoint is missing or damaged where it is only read (re-evaluation, pictures)."""


def _train_command(path: Path) -> str:
    """The command that trains the run whose checkpoint is ``checkpoints/policy/<variant>/<seed>``."""
    return f"`python -m pipeline.policy --variant {path.parent.name} --seed {path.name}`"


def load_policy_weights(model: OffPolicyAlgorithm, path: Path) -> int:
    """Load only the networks of a checkpoint (no optimiser, no replay): for pictures; returns its env steps.

    A missing or damaged checkpoint raises :class:`CheckpointError` naming the file."""
    if not path.is_dir():
        raise CheckpointError("no policy checkpoint here", path, f"train the run first: {_train_command(path)}")
    try:
        state = read_state(path)
        weights = read_weights(path, model.policy, {}, model.device)
    except Damaged as exc:
        fix = f"train the run again: {_train_command(path)} (it moves the damaged checkpoint aside and starts over)"
        raise CheckpointError(f"damaged checkpoint: {exc.reason}", path / exc.name, fix) from None
    model.policy.load_state_dict(weights["policy"])
    return int(state["num_timesteps"])


def _set_aside(path: Path, exc: Damaged) -> None:
    """Move a damaged checkpoint to ``<path>.damaged`` (replacing an older one there): never deleted."""
    aside = path.with_name(path.name + ".damaged")
    remove(aside)
    path.rename(aside)
    print(f"checkpoint {path} is damaged ({exc}); moved it to {aside}; the run starts from scratch", flush=True)


def load_checkpoint(
    model: OffPolicyAlgorithm,
    path: Path,
    fingerprint: dict[str, Any] | None = None,
    upgrade: Callable[[dict[str, Any]], dict[str, Any]] | None = None,
) -> dict[str, Any] | None:
    """Restore a checkpoint into a freshly built ``model``; ``None`` when there is none to resume.

    A checkpoint written under another ``fingerprint`` (changed env or variant params) is not resumed: it is
    moved aside to ``<path>.discarded`` (replacing an older one there), so a changed param loses no run for good.
    ``upgrade`` maps a stored fingerprint to what this code would write for the same params (fields added since,
    at their defaults, then do not count as a change); an error in it counts as a mismatch.
    A damaged one (a file missing, truncated, garbled, or not fitting the model) is moved aside to
    ``<path>.damaged`` likewise, with one log line. All three files are read and checked in full before the model is
    touched, so a damaged checkpoint leaves the model as freshly built.
    """
    if not path.exists() or (path.is_dir() and not any(path.iterdir())):
        return None
    buf = model.replay_buffer
    try:
        state = read_state(path)
    except Damaged as exc:
        _set_aside(path, exc)
        return None
    stored = state.get("fingerprint")
    if fingerprint is not None and upgrade is not None and stored is not None:
        try:
            stored = upgrade(stored)
        except (ValueError, KeyError, TypeError):
            pass
    if fingerprint is not None and stored != fingerprint:
        aside = path.with_name(path.name + ".discarded")
        remove(aside)
        path.rename(aside)
        print(f"checkpoint {path} was written with other params; starting over (the old one: {aside})")
        return None
    targets = _buffer_arrays(buf)
    try:
        if state["buffer_pos"] > buf.buffer_size:
            raise Damaged(STATE, f"buffer_pos {state['buffer_pos']} beyond the buffer's {buf.buffer_size} rows")
        weights = read_weights(path, model.policy, _optimizers(model), model.device)
        check_replay(path, targets, buf.buffer_size, buf.buffer_size if state["buffer_full"] else state["buffer_pos"])
    except Damaged as exc:
        _set_aside(path, exc)
        return None
    model.policy.load_state_dict(weights["policy"])
    for k, opt in _optimizers(model).items():
        opt.load_state_dict(weights[f"opt_{k}"])
    if "log_ent_coef" in weights and getattr(model, "log_ent_coef", None) is not None:
        with torch.no_grad():
            model.log_ent_coef.copy_(weights["log_ent_coef"].to(model.device))
    with np.load(path / REPLAY, allow_pickle=False) as saved:  # checked above: every array fits
        for key in saved.files:
            src = saved[key]
            targets[key][: len(src)] = src if src.ndim else src.item()
    buf.pos, buf.full = state["buffer_pos"], state["buffer_full"]
    if hasattr(buf, "_current_ep_start"):
        buf._current_ep_start[:] = buf.pos  # episodes in flight at save time were dropped
    model.num_timesteps, model._n_updates, model._episode_num = (
        state["num_timesteps"],
        state["n_updates"],
        state["episode_num"],
    )
    return state
