"""The committed ``params.yaml`` is the real study: valid, and not a profile's overrides left behind."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.config import load_params
from pipeline.params import read_yaml
from pipeline.profile import merged

ROOT = Path(__file__).resolve().parents[1]
PROFILES = sorted(p.stem for p in (ROOT / "profiles").glob("*.yaml"))


def test_study_params_validate() -> None:
    params = load_params(ROOT / "params.yaml")
    assert set(params.policy.run) <= set(params.policy.variants)


@pytest.mark.parametrize("profile", PROFILES)
def test_params_yaml_is_not_a_profile_applied(profile: str) -> None:
    """A workspace ``dvc exp run`` stages its overrides into params.yaml; committing them would
    silently shrink the study. Applying any profile must still change the committed file."""
    assert merged(profile, ROOT) != read_yaml(ROOT / "params.yaml"), (
        f"params.yaml already equals params.yaml + profiles/{profile}.yaml: restore the study params"
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "the file is empty"),
        ("# only a comment\n", "the file is empty"),
        ("- env\n- collect\n", "must be a mapping of sections (got a list)"),
        ("3\n", "must be a mapping of sections (got a int)"),
    ],
)
def test_empty_or_non_mapping_params_file_is_a_clear_error(tmp_path: Path, text: str, message: str, capsys) -> None:
    from pipeline.collect.__main__ import main as collect_main

    path = tmp_path / "params.yaml"
    path.write_text(text)
    with pytest.raises(SystemExit) as exc:
        collect_main(["--params", str(path)])
    assert exc.value.code == 2 and message in capsys.readouterr().err
    assert not (tmp_path / "data").exists()
