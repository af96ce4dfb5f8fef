"""``dvc.yaml`` lists what each stage's code imports and what its run fingerprint reads (no drift)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
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


def module_file(name: str) -> str | None:
    """``pipeline.a.b`` -> the repo-relative file that defines it (package ``__init__`` or module)."""
    parts = name.split(".")
    if parts[0] != "pipeline":
        return None
    base = ROOT.joinpath(*parts)
    for candidate in (base.with_suffix(".py"), base / "__init__.py"):
        if candidate.is_file():
            return str(candidate.relative_to(ROOT))
    return None


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
