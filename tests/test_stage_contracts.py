"""Stage contracts: ``dvc.yaml`` lists exactly what :data:`pipeline.stages.STAGES` declares, the declared code is
what each entry point imports, and a stage's view of the params refuses every key it does not declare (so the
tiny graph's ``dvc repro``, which runs every stage through its entry point, fails on an undeclared read)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest
import yaml

from pipeline.config import Params
from pipeline.stages import ITEM, STAGES, UndeclaredParam, stage_view

ROOT = Path(__file__).resolve().parents[1]
PLUMBING = {"pipeline/__init__.py", "pipeline/cli.py", "pipeline/params.py", "pipeline/config.py", "pipeline/stages.py"}
"""Validation, argument parsing and the contracts every stage shares: they decide whether a stage runs, not what it
computes (the import walk does not enter them)."""
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


def dvc_stage(stage: str) -> dict:
    return yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"][stage]


def covered(path: str, code: tuple[str, ...]) -> bool:
    return any(path == d or path.startswith(d.rstrip("/") + "/") for d in code)


def test_every_dvc_stage_is_declared() -> None:
    assert set(yaml.safe_load((ROOT / "dvc.yaml").read_text())["stages"]) == set(STAGES) == set(STAGE_ENTRY)


@pytest.mark.parametrize("stage", list(STAGES))
def test_dvc_yaml_lists_the_declared_code_and_params(stage: str) -> None:
    spec = dvc_stage(stage)
    assert re.sub(r"\$\{item\.(\w+)\}", r"{\1}", spec["cmd"]) == STAGES[stage].cmd
    code = [d for d in spec["deps"] if d.startswith("pipeline")]
    assert sorted(code) == sorted(STAGES[stage].code), f"dvc.yaml's deps of {stage} differ from pipeline/stages.py"
    params = [re.sub(r"\$\{item\.\w+\}", ITEM, p) for p in spec.get("params", [])]
    assert sorted(params) == sorted(STAGES[stage].params), (
        f"dvc.yaml's params of {stage} differ from pipeline/stages.py"
    )


@pytest.mark.parametrize("stage", list(STAGES))
def test_declared_code_is_exactly_what_the_entry_point_imports(stage: str) -> None:
    files, code = imported_files(STAGE_ENTRY[stage]), STAGES[stage].code
    missing = sorted(f for f in files if not covered(f, code))
    assert not missing, f"stage {stage} imports {missing}; declare them in pipeline/stages.py and dvc.yaml"
    unused = [d for d in code if not any(covered(f, (d,)) for f in files)]
    assert not unused, f"stage {stage} declares code {unused} it never imports"


@pytest.mark.parametrize("stage", list(STAGES))
def test_entry_point_hands_its_stage_the_declared_view(stage: str) -> None:
    source = (ROOT / STAGE_ENTRY[stage]).read_text()
    assert f'stage_view("{stage}", load_params(' in source


def test_view_keeps_declared_keys_and_guards_the_rest(tiny_params: dict) -> None:
    params = Params.model_validate(tiny_params)
    encoder = params.pretrain.encoders[0]
    view = stage_view("pretrain", params, encoder)
    assert view.pretrain.max_epochs == params.pretrain.max_epochs
    assert view.pretrain.encoder_block(encoder) == params.pretrain.encoder_block(encoder)
    assert view.paths == params.paths  # where a stage reads and writes: its deps and outs
    with pytest.raises(UndeclaredParam, match=r"stage 'pretrain' read params key 'pretrain\.encoders'"):
        list(view.pretrain.encoders)
    with pytest.raises(UndeclaredParam, match="'env'"):
        print(view.env.image_size)
    with pytest.raises(UndeclaredParam, match="'policy'"):
        bool(view.policy.total_steps > 0)
    assert params.pretrain.encoders == Params.model_validate(tiny_params).pretrain.encoders  # the loaded ones untouched


def test_view_of_a_matrix_mapping_holds_only_its_item(tiny_params: dict) -> None:
    params = Params.model_validate(tiny_params)
    names = list(params.policy.variants)
    view = stage_view("policy", params, names[0])
    assert view.policy.variants[names[0]] == params.policy.variants[names[0]]
    assert names[0] in view.policy.variants and names[1] in view.policy.variants and "nope" not in view.policy.variants
    assert list(view.policy.variants) == names  # the names are there; a name is not a setting
    assert view.policy.n_envs == params.policy.n_envs
    with pytest.raises(UndeclaredParam, match=rf"policy\.variants\.{names[1]}"):
        view.policy.variants[names[1]]
    with pytest.raises(KeyError):
        view.policy.variants["nope"]
    with pytest.raises(UndeclaredParam, match="all of it"):
        list(view.policy.variants.values())
    with pytest.raises(UndeclaredParam, match="policy.run"):
        len(view.policy.run)


def test_a_stage_reading_an_undeclared_key_stops_with_one_line(
    tiny_params: dict, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture
) -> None:
    """Through the real entry point: the report reads ``policy.total_steps``, which it does not declare; the stage
    ends with exit code 2 and one line naming the key."""
    import pipeline.report.stage
    from pipeline.report.__main__ import main

    from .conftest import write_params

    views: list[Params] = []

    def view_kept(stage: str, params: Params, item: str | None = None) -> Params:
        views.append(stage_view(stage, params, item))
        return views[-1]

    def reads_total_steps(*args: object) -> None:
        print(views[-1].policy.total_steps + 1)

    monkeypatch.setattr("pipeline.report.__main__.stage_view", view_kept)
    monkeypatch.setattr(pipeline.report.stage, "make_report", reads_total_steps)
    with pytest.raises(SystemExit) as stop:
        main(["--params", str(write_params(tmp_path, tiny_params))])
    assert stop.value.code == 2
    assert "read params key 'policy.total_steps'" in capsys.readouterr().err
