"""Each stage's contract, declared once: the project code it imports and the ``params.yaml`` keys it reads.

``dvc.yaml`` is tested against :data:`STAGES` (``tests/test_stage_contracts.py``). At run time every entry point
hands its stage function :func:`stage_view` of the params, in which each key the stage does not declare is a guard
that raises :class:`UndeclaredParam` when used: a stage that starts reading a new key fails at once (the tiny
graph's tests run every stage through its entry point), instead of silently missing from ``dvc.yaml``'s params.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any, NoReturn, TypeVar

from pydantic import BaseModel

from pipeline.errors import PipelineError

ITEM = "<item>"
"""a matrix item in a declared key: ``pretrain.<item>`` is the block of the encoder a pretrain run trains"""
SHARED = ("pipeline/io.py", "pipeline/errors.py")
"""imported by every stage"""


@dataclass(frozen=True)
class Stage:
    """What one DVC stage depends on."""

    cmd: str
    """its command, ``{encoder}`` / ``{variant}`` / ``{seed}`` for matrix items (``dvc.yaml``'s ``${item.*}``)"""
    code: tuple[str, ...]
    """project files and packages it imports (its ``pipeline/`` deps in ``dvc.yaml``)"""
    params: tuple[str, ...]
    """the params keys it reads; ``paths`` aside, since where it reads and writes are its deps and outs"""


STAGES: dict[str, Stage] = {
    "collect": Stage(
        cmd="python -m pipeline.collect",
        code=("pipeline/collect", "pipeline/envs", *SHARED, "pipeline/quiet.py"),
        params=("env", "collect"),
    ),
    "pretrain": Stage(
        cmd="python -m pipeline.pretrain --encoder {encoder}",
        code=(
            "pipeline/pretrain",
            "pipeline/encoders",
            "pipeline/nets.py",
            "pipeline/collect/dataset.py",
            *SHARED,
            "pipeline/quiet.py",
        ),  # fmt: skip
        params=tuple(
            f"pretrain.{k}"
            for k in (
                "max_epochs",
                "max_steps",
                "batch_size",
                "val_fraction",
                "seed",
                "probe_ridge",
                "lr_schedule",
                "devices",
                "num_nodes",
                "strategy",
                "cpu_threads",
                "checkpoint_every_steps",
                "num_workers",
                ITEM,
            )
        ),  # fmt: skip
    ),
    "goal_space": Stage(
        cmd="python -m pipeline.goalspace --encoder {encoder}",
        code=(
            "pipeline/goalspace",
            "pipeline/encoders",
            "pipeline/nets.py",
            *SHARED,
            "pipeline/collect/dataset.py",
            "pipeline/pretrain/data.py",
        ),  # fmt: skip
        params=("goal_space", "pretrain.val_fraction", "pretrain.seed"),
    ),
    "policy_inputs": Stage(
        cmd="python -m pipeline.policy.inputs --variant {variant}",
        code=(
            "pipeline/policy/inputs.py",
            "pipeline/policy/config.py",
            "pipeline/policy/blocks.py",
            "pipeline/policy/fields.py",
            "pipeline/policy/rules.py",
            *SHARED,
        ),  # fmt: skip
        params=("policy.defaults", f"policy.variants.{ITEM}"),
    ),
    "policy": Stage(
        cmd="python -m pipeline.policy --variant {variant} --seed {seed}",
        code=(
            "pipeline/policy",
            "pipeline/envs",
            "pipeline/encoders",
            "pipeline/nets.py",
            *SHARED,
            "pipeline/quiet.py",
            "pipeline/collect/config.py",
            "pipeline/collect/dataset.py",
            "pipeline/collect/rollout.py",
            "pipeline/collect/writer.py",
            "pipeline/goalspace",
        ),  # fmt: skip
        params=(
            "env",
            *(
                f"policy.{k}"
                for k in (
                    "total_steps",
                    "n_envs",
                    "eval_every",
                    "eval_episodes",
                    "device",
                    "cpu_threads",
                    "overlap_updates",
                    "vec_env",
                    "rollout_episodes",
                    "final_eval_episodes",
                    "defaults",
                )
            ),
            f"policy.variants.{ITEM}",
        ),  # fmt: skip
    ),
    "report": Stage(
        cmd="python -m pipeline.report",
        code=("pipeline/report", *SHARED, "pipeline/pretrain/metrics.py", "pipeline/launch/host.py"),
        params=("policy.run", "policy.seeds"),
    ),
}


class UndeclaredParam(PipelineError):
    """A stage read a params key that its entry in :data:`STAGES` (and so ``dvc.yaml``) does not list."""

    def __init__(self, key: str, stage: str) -> None:
        super().__init__(
            f"stage {stage!r} read params key {key!r}, which it does not declare: add it to the stage's params in "
            "pipeline/stages.py and dvc.yaml (else changing it would not rerun the stage)"
        )


class Undeclared:
    """Stands for an undeclared key in a :func:`stage_view`: any use of it raises :class:`UndeclaredParam`."""

    def __init__(self, key: str, stage: str) -> None:
        object.__setattr__(self, "_where", (key, stage))

    def _raise(self, *_: object, **__: object) -> NoReturn:
        raise UndeclaredParam(*object.__getattribute__(self, "_where"))

    def __getattr__(self, name: str) -> NoReturn:
        if name.startswith("__"):  # protocol lookups (copy, pickle) find nothing, as on a plain object
            raise AttributeError(name)
        self._raise()

    def __repr__(self) -> str:
        return f"<undeclared {object.__getattribute__(self, '_where')[0]}>"

    __bool__ = __eq__ = __ne__ = __lt__ = __le__ = __gt__ = __ge__ = __hash__ = _raise
    __iter__ = __len__ = __contains__ = __getitem__ = __call__ = _raise
    __int__ = __float__ = __index__ = __str__ = __format__ = __fspath__ = _raise
    __add__ = __radd__ = __sub__ = __rsub__ = __mul__ = __rmul__ = __truediv__ = __rtruediv__ = _raise


class DeclaredItems(dict):
    """A params mapping (``policy.variants``) holding only the declared item: the names of all are there (a name is
    not a setting), reading any other item raises."""

    def __init__(self, items: dict[str, Any], names: list[str], key: str, stage: str) -> None:
        super().__init__(items)
        self._names, self._where = tuple(names), (key, stage)

    def __missing__(self, name: str) -> NoReturn:
        if name in self._names:
            raise UndeclaredParam(f"{self._where[0]}.{name}", self._where[1])
        raise KeyError(name)

    def __contains__(self, name: object) -> bool:
        return name in self._names

    def __iter__(self) -> Iterator[str]:
        return iter(self._names)

    def __len__(self) -> int:
        return len(self._names)

    def keys(self) -> list[str]:  # type: ignore[override]
        return list(self._names)

    def _all(self, *_: object) -> NoReturn:
        raise UndeclaredParam(f"{self._where[0]} (all of it)", self._where[1])

    values = items = get = _all  # type: ignore[assignment]


def within(key: str, declared: str) -> bool:
    """``key`` is ``declared`` or lies inside it (``env.id`` inside ``env``)."""
    return key == declared or key.startswith(declared + ".")


M = TypeVar("M", bound=BaseModel)


def _masked(model: M, prefix: str, keys: tuple[str, ...], stage: str) -> M:
    """A copy of ``model`` (the params at ``prefix``) keeping the declared ``keys`` and guarding every other."""
    update: dict[str, Any] = {}
    for name in [*type(model).model_fields, *(model.__pydantic_extra__ or {})]:
        key = f"{prefix}.{name}".lstrip(".")
        if key == "paths" or any(within(key, k) for k in keys):
            continue  # read whole
        inner = [k for k in keys if within(k, key)]
        value = getattr(model, name)
        if inner and isinstance(value, BaseModel):
            update[name] = _masked(value, key, keys, stage)
        elif inner and isinstance(value, dict):
            kept = {k: v for k, v in value.items() if f"{key}.{k}" in keys}
            update[name] = DeclaredItems(kept, list(value), key, stage)
        else:
            update[name] = Undeclared(key, stage)
    return model.model_copy(update=update)


def stage_view(stage: str, params: M, item: str | None = None) -> M:
    """``params`` as stage ``stage`` (for matrix item ``item``) may read them: its declared keys and ``paths``
    as they are, every other key an :class:`Undeclared` guard."""
    keys = tuple(k.replace(ITEM, item) if item is not None else k for k in STAGES[stage].params)
    return _masked(params, "", keys, stage)
