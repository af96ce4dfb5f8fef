"""``dvc.yaml`` lists what each stage's code imports and which params it reads (no drift).

The params are derived from each stage's function (:mod:`tests.stage_params`): a stage function takes its own
config sections, typed, and explicit paths.
"""

from __future__ import annotations

import ast
import re

import pytest
import yaml

from .stage_params import ITEM, ROOT, function_reads, module_file, syntax, within

PLUMBING = {"pipeline/__init__.py", "pipeline/cli.py", "pipeline/params.py", "pipeline/config.py"}
"""Validation and argument parsing every stage shares: they decide whether a stage runs, not what it computes
(the import walk does not enter them; their params are validated for every stage alike)."""
STAGE_ENTRY = {
    "collect": "pipeline/collect/__main__.py",
    "pretrain": "pipeline/pretrain/__main__.py",
    "goal_space": "pipeline/goalspace/__main__.py",
    "policy": "pipeline/policy/__main__.py",
    "policy_inputs": "pipeline/policy/inputs.py",
    "report": "pipeline/report/__main__.py",
}
STAGE_FUNCTION = {
    "collect": "collect",
    "pretrain": "pretrain_encoder",
    "goal_space": "fit_goal_spaces",
    "policy": "train_policy",
    "policy_inputs": "write_inputs",
    "report": "make_report",
}
"""the function each entry point calls with the sections and paths it unpacks from the params"""


def imported_files(entry: str) -> set[str]:
    """Every project file reachable by imports (module level or inside functions) from ``entry``."""
    seen, todo = set(), [entry]
    while todo:
        path = todo.pop()
        if path in seen or path in PLUMBING:
            continue
        seen.add(path)
        for node in ast.walk(ast.parse((ROOT / path).read_text())):
            names = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.module:
                names = [node.module] + [f"{node.module}.{a.name}" for a in node.names]  # a.name may be a module
            for name in names:
                parts = name.split(".")
                for i in range(1, len(parts) + 1):  # importing a.b.c runs a/__init__, a/b/__init__ too
                    f = module_file(".".join(parts[:i]))
                    if f:
                        todo.append(f)
    return {f for f in seen - PLUMBING if (ROOT / f).read_text().strip()}  # an empty __init__ computes nothing


def stage_deps(stage: str) -> list[str]:
    spec = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"][stage]
    return [d for d in spec.get("deps", []) if d.startswith("pipeline")]


def covered(path: str, deps: list[str]) -> bool:
    return any(path == d or path.startswith(d.rstrip("/") + "/") for d in deps)


@pytest.mark.parametrize("stage", list(STAGE_ENTRY))
def test_dvc_deps_list_every_imported_file(stage: str) -> None:
    files = imported_files(STAGE_ENTRY[stage])
    deps = stage_deps(stage)
    missing = sorted(f for f in files if not covered(f, deps))
    assert not missing, f"stage {stage} imports {missing}; add them to its deps in dvc.yaml"
    unused = [d for d in deps if not any(covered(f, [d]) for f in files)]
    assert not unused, f"stage {stage} lists deps {unused} it never imports"


def test_policy_params_cover_the_resume_fingerprint() -> None:
    """Every ``policy.*`` key that changes what a run computes (the resume fingerprint) is a DVC param."""
    source = (ROOT / "pipeline/policy/train.py").read_text()
    tree = ast.parse(source)
    fp = next(n.value for n in ast.walk(tree) if isinstance(n, ast.Assign) and getattr(n.targets[0], "id", "") == "fp")
    keys = {k.value for k in fp.keys if isinstance(k, ast.Constant)}
    params = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]["policy"]["params"]
    listed = {p.removeprefix("policy.") for p in params} | {"variant"}  # policy.variants.${item.variant}
    policy_keys = keys - {"env", "variant", "seed", "architecture", "overlapped"}
    assert "env" in params
    assert policy_keys <= listed, f"fingerprint keys {sorted(policy_keys - listed)} missing from policy params"


def dvc_params(stage: str) -> list[str]:
    spec = yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"][stage]
    return [re.sub(r"\$\{item\.\w+\}", ITEM, p) for p in spec.get("params", [])]


@pytest.mark.parametrize("stage", list(STAGE_ENTRY))
def test_dvc_params_list_exactly_what_each_stage_reads(stage: str) -> None:
    """A key the stage function reads is a DVC param of the stage (so changing it reruns the stage), and a listed
    param is one it reads (so changing anything else does not)."""
    read = function_reads(STAGE_ENTRY[stage], STAGE_FUNCTION[stage])
    params = dvc_params(stage)
    missing = sorted(k for k in read if not within(k, params))
    assert not missing, f"stage {stage} reads {missing}; add them to its params in dvc.yaml"
    unused = [p for p in params if not any(within(k, [p]) or within(p, [k]) for k in read)]
    assert not unused, (
        f"stage {stage} lists params {unused} its stage function never reads (a path it reads or writes is one of "
        "its deps or outs, not a param)"
    )


def test_stage_reads_cover_the_policy_fingerprint() -> None:
    """The derivation misses nothing the policy run's resume fingerprint reads."""
    tree, _ = syntax("pipeline/policy/train.py")
    fp = next(n.value for n in ast.walk(tree) if isinstance(n, ast.Assign) and getattr(n.targets[0], "id", "") == "fp")
    keys = {k.value for k in fp.keys if isinstance(k, ast.Constant)} - {"seed", "architecture"}
    expected = {"env", f"policy.variants.{ITEM}"} | {f"policy.{k}" for k in keys - {"env", "variant"}}
    assert expected <= function_reads(STAGE_ENTRY["policy"], STAGE_FUNCTION["policy"])
