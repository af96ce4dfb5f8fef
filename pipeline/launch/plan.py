"""The sweep as tasks: one per DVC stage instance (``pretrain@vae``, ``policy@state-0``), with the tasks each waits
for, its command (from :data:`pipeline.stages.STAGES`) and its resources (``launch``)."""

from __future__ import annotations

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

from pipeline.config import Params
from pipeline.params import ParamsError
from pipeline.policy.config import variant_named
from pipeline.stages import STAGES


@dataclass(frozen=True)
class Task:
    """One stage instance of the sweep."""

    name: str
    """its DVC stage name (``dvc commit`` records it)"""
    argv: tuple[str, ...]
    after: tuple[str, ...]
    """the tasks that must finish first"""
    cpus: float = 1.0
    gpus: float = 0.0
    record: str | None = None
    """where its machine and load go (``host.json`` beside a run's or an encoder's results), if anywhere"""

    @property
    def log_name(self) -> str:
        return self.name.replace("@", "_")


def _task(stage: str, after: list[str], cpus: float, gpus: float, record: Path | None = None, **item: object) -> Task:
    name = stage if not item else f"{stage}@{'-'.join(str(v) for v in item.values())}"
    where = None if record is None else str(record / "host.json")
    return Task(name, tuple(STAGES[stage].cmd.format(**item).split()), tuple(after), cpus, gpus, where)


def plan(params: Params) -> list[Task]:
    """Every task of ``params``' sweep, each after the tasks DVC's graph puts before it (the report excluded: the
    driver runs it through DVC at the end)."""
    pre, pol, res, paths = params.pretrain, params.policy, params.launch, params.paths
    tasks = [_task("collect", [], res.pretrain_cpus, 0.0)]
    for e in pre.encoders:
        where = paths.pretrain_results / e
        tasks.append(_task("pretrain", ["collect"], res.pretrain_cpus, res.pretrain_gpus, where, encoder=e))
        tasks.append(_task("goal_space", [f"pretrain@{e}"], res.pretrain_cpus, 0.0, encoder=e))
    upstream = ["collect", *(f"goal_space@{e}" for e in pre.encoders)]  # policy_inputs hashes the whole folders
    for v in pol.run:
        tasks.append(_task("policy_inputs", upstream, res.pretrain_cpus, 0.0, variant=v))
        for s in pol.seeds:
            where = paths.runs / v / str(s)
            after = [f"policy_inputs@{v}"]
            tasks.append(_task("policy", after, res.policy_cpus, res.policy_gpus, where, variant=v, seed=s))
    return tasks


def narrowed(params: Params, variants: list[str] | None = None, seeds: list[int] | None = None) -> Params:
    """The sweep cut to ``variants`` and the encoders they read, and to ``seeds`` (``None``: all of them), e.g. one
    encoder and its runs on a machine that holds nothing else. Both must be among ``policy.run`` / ``policy.seeds``:
    ``dvc.yaml`` has no stage for others."""
    pol, pre = params.policy, params.pretrain
    for flag, asked, known in (("--variants", variants, pol.run), ("--seeds", seeds, pol.seeds)):
        if asked is not None and set(asked) - set(known):
            raise ParamsError(f"{flag} {sorted(set(asked) - set(known))}: not in the sweep's {known}")
    run = pol.run if variants is None else [v for v in pol.run if v in variants]
    if variants is None:
        encoders = pre.encoders
    else:  # a variant reads an encoder when it observes latents (its goal spaces are that encoder's too)
        reads = {variant_named(pol, v).encoder for v in run if variant_named(pol, v).obs == "latent"}
        encoders = [e for e in pre.encoders if e in reads]
    return params.model_copy(
        update={
            "policy": pol.model_copy(update={"run": run, "seeds": pol.seeds if seeds is None else seeds}),
            "pretrain": pre.model_copy(update={"encoders": encoders}),
        }
    )


def to_run(tasks: list[Task], changed: set[str]) -> list[Task]:
    """The tasks DVC reports changed and every task after one of them (its inputs will change when that one runs)."""
    names: set[str] = set()
    for t in tasks:  # planned in dependency order
        if t.name in changed or names & set(t.after):
            names.add(t.name)
    return [t for t in tasks if t.name in names]


def dvc(*args: str) -> list[str]:
    """A DVC command line: the ``dvc`` installed beside this interpreter when there is one (as a task's ``python``
    is this interpreter, so a launcher started as ``.venv/bin/python`` needs no activated venv), else PATH's."""
    beside = Path(sys.executable).parent / "dvc"
    return [str(beside) if beside.exists() else "dvc", *args]


def dvc_changed(root: Path) -> set[str]:
    """Stage names ``dvc status`` reports changed in ``root``."""
    out = subprocess.run(dvc("status", "--json"), cwd=root, capture_output=True, text=True, check=True).stdout
    return set(json.loads(out or "{}"))
