"""Reading a policy checkpoint's three files back, checked in full before anything is restored from them.

Each reader raises :class:`Damaged` (the file and what is wrong) for a missing, truncated or garbled file, or one
whose contents do not fit the freshly built model: :func:`~pipeline.policy.checkpoint.load_checkpoint` then sets
the checkpoint aside instead of resuming from it, and nothing of the model has been touched yet.
"""

from __future__ import annotations

import json
import zipfile
from pathlib import Path
from typing import Any

import numpy as np
import torch

WEIGHTS, REPLAY, STATE = "weights.pt", "replay.npz", "state.json"
COUNTERS = ("num_timesteps", "n_updates", "episode_num", "buffer_pos")
"""non-negative integers every ``state.json`` holds (with the boolean ``buffer_full``)"""
EVAL_KEYS = ("success", "final_object_distance")
"""what a run's last evaluation (``last_eval``) must hold for its metrics"""


class Damaged(Exception):
    """A checkpoint file that cannot be resumed from: missing, truncated, garbled or not what this code writes."""

    def __init__(self, name: str, reason: str) -> None:
        self.name, self.reason = name, reason
        super().__init__(f"{name}: {reason}")


def brief(exc: BaseException) -> str:
    """An exception's message on one line (torch spreads its over several)."""
    return " ".join(str(exc).split())[:200] or type(exc).__name__


def _number(value: Any) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def read_state(path: Path) -> dict[str, Any]:
    """``state.json``: its counters, and the evaluation history and timing that a resumed run continues."""
    try:
        state = json.loads((path / STATE).read_bytes())
    except FileNotFoundError:
        raise Damaged(STATE, "missing") from None
    except (OSError, ValueError) as exc:
        raise Damaged(STATE, f"not valid JSON ({brief(exc)})") from None
    if not isinstance(state, dict):
        raise Damaged(STATE, "not a JSON object")
    bad = [k for k in COUNTERS if not (isinstance(state.get(k), int) and state[k] >= 0)]
    bad += [] if isinstance(state.get("buffer_full"), bool) else ["buffer_full"]
    if bad:
        raise Damaged(STATE, f"missing or invalid {', '.join(bad)}")
    rows, last = state.get("eval_rows", []), state.get("last_eval", {})
    if not (isinstance(rows, list) and all(isinstance(r, dict) and _number(r.get("step")) for r in rows)):
        raise Damaged(STATE, "invalid eval_rows (the evaluation history)")
    if not isinstance(last, dict) or (last and not all(_number(last.get(k)) for k in EVAL_KEYS)):
        raise Damaged(STATE, "invalid last_eval")
    if not all(_number(state.get(k, 0.0)) for k in ("wall_seconds", "train_seconds")):
        raise Damaged(STATE, "invalid wall_seconds or train_seconds")
    return state


def _check_tensors(saved: Any, own: dict[str, torch.Tensor], what: str) -> None:
    """``saved`` is a state dict with exactly the keys and shapes of ``own``."""
    if not isinstance(saved, dict):
        raise Damaged(WEIGHTS, f"{what} is not a state dict")
    wrong = sorted(set(own) ^ set(saved)) or [
        k for k, v in own.items() if not isinstance(saved[k], torch.Tensor) or saved[k].shape != v.shape
    ]
    if wrong:
        raise Damaged(WEIGHTS, f"{what} does not fit the model ({len(wrong)} keys, e.g. {wrong[:3]})")


def _check_optimizer(saved: Any, opt: torch.optim.Optimizer, what: str) -> None:
    """``saved`` is an optimiser state for ``opt``'s parameter groups, each state tensor shaped like its parameter."""
    groups = saved.get("param_groups") if isinstance(saved, dict) else None
    state = saved.get("state") if isinstance(saved, dict) else None
    if not isinstance(groups, list) or not isinstance(state, dict) or len(groups) != len(opt.param_groups):
        raise Damaged(WEIGHTS, f"{what} is not an optimiser state for this model")
    for g, own in zip(groups, opt.param_groups):
        ids = g.get("params") if isinstance(g, dict) else None
        if not isinstance(ids, list) or len(ids) != len(own["params"]):
            raise Damaged(WEIGHTS, f"{what} has parameter groups of other sizes")
        for i, p in zip(ids, own["params"]):
            entry = state.get(i, {})
            if not isinstance(entry, dict) or any(
                isinstance(v, torch.Tensor) and v.dim() and v.shape != p.shape for v in entry.values()
            ):
                raise Damaged(WEIGHTS, f"{what} holds state of another shape")


def read_weights(
    path: Path, policy: torch.nn.Module, optimizers: dict[str, torch.optim.Optimizer], device: torch.device | str
) -> dict[str, Any]:
    """``weights.pt`` (no pickled code: ``weights_only``) on ``device``, checked against ``policy``, ``optimizers``."""
    file = path / WEIGHTS
    if not file.is_file():
        raise Damaged(WEIGHTS, "missing")
    try:
        with zipfile.ZipFile(file) as zf:  # torch.load does not check the checksums: a flipped bit would load
            bad = zf.testzip()
        weights = torch.load(file, map_location=device, weights_only=True) if bad is None else None
    except Exception as exc:  # noqa: BLE001 - truncated, garbled or pickled: any of them means do not resume
        raise Damaged(WEIGHTS, f"cannot be read ({brief(exc)})") from None
    if bad is not None:
        raise Damaged(WEIGHTS, f"{bad} fails its checksum")
    if not isinstance(weights, dict):
        raise Damaged(WEIGHTS, "not a dict of state dicts")
    _check_tensors(weights.get("policy"), policy.state_dict(), "the policy")
    for k, opt in optimizers.items():
        _check_optimizer(weights.get(f"opt_{k}"), opt, f"the {k} optimiser")
    coef = weights.get("log_ent_coef")
    if coef is not None and not isinstance(coef, torch.Tensor):
        raise Damaged(WEIGHTS, "log_ent_coef is not a tensor")
    return weights


def _npy_header(member: Any) -> tuple[tuple[int, ...], np.dtype]:
    """Shape and dtype of an ``.npy`` stream, read from its header only."""
    version = np.lib.format.read_magic(member)
    read = np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0
    shape, _, dtype = read(member)
    return tuple(shape), dtype


def check_replay(path: Path, targets: dict[str, np.ndarray], buffer_size: int, rows: int) -> None:
    """``replay.npz``: every byte passes its checksum (read in 1 MiB chunks: no second copy of the buffer in memory)
    and every array fits its buffer array (``rows`` filled rows of those ``buffer_size`` long, others whole)."""
    file = path / REPLAY
    if not file.is_file():
        raise Damaged(REPLAY, "missing")
    try:
        with zipfile.ZipFile(file) as zf:
            bad = zf.testzip()
            headers = {}
            for name in zf.namelist() if bad is None else []:
                with zf.open(name) as member:
                    headers[name.removesuffix(".npy")] = _npy_header(member)
    except Exception as exc:  # noqa: BLE001 - truncated or garbled: do not resume
        raise Damaged(REPLAY, f"cannot be read ({brief(exc)})") from None
    if bad is not None:
        raise Damaged(REPLAY, f"{bad} fails its checksum")
    for key, (shape, dtype) in headers.items():
        dst = targets.get(key)
        if dst is None:
            raise Damaged(REPLAY, f"array {key!r} unknown to this buffer")
        rowwise = dst.ndim > 0 and dst.shape[0] == buffer_size
        want = (rows, *dst.shape[1:]) if rowwise else dst.shape
        if dtype != dst.dtype or dtype.hasobject or shape != want:
            raise Damaged(REPLAY, f"array {key!r} is {dtype} {shape}; this buffer needs {dst.dtype} {want}")
