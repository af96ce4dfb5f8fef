"""README's study results are generated from the committed report and cannot drift from it."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.report.readme import BEGIN, END, NOT_RUN, SUMMARY, main, pending, spliced
from pipeline.report.stage import make_report

ROOT = Path(__file__).resolve().parents[1]


def test_readme_shows_exactly_the_committed_report(monkeypatch: pytest.MonkeyPatch) -> None:
    """The check CI runs: README's block equals ``paths.report/summary.md`` (or says the study has not run)."""
    monkeypatch.chdir(ROOT)
    main(["--check"])


def test_splice_replaces_only_the_marked_block() -> None:
    readme = f"# Title\n\nbefore\n{BEGIN}\nold table\n{END}\nafter\n"
    assert spliced(readme, "| a |\n") == f"# Title\n\nbefore\n{BEGIN}\n| a |\n{END}\nafter\n"
    assert NOT_RUN in spliced(readme, None) and "old table" not in spliced(readme, None)
    with pytest.raises(ValueError, match="no results markers"):
        spliced("# no markers\n", "| a |")


def test_check_fails_when_readme_differs_from_the_report(tmp_path: Path, capsys) -> None:
    (tmp_path / "params.yaml").write_text(f"paths: {{report: {tmp_path / 'report'}}}\n")
    (tmp_path / "report").mkdir()
    (tmp_path / "report" / SUMMARY).write_text("| variant | success |\n|---|---|\n| state | 0.95 |\n")
    readme = tmp_path / "README.md"
    readme.write_text(f"# R\n{BEGIN}\n{NOT_RUN}\n{END}\n")
    with pytest.raises(SystemExit, match="differ"):
        main(["--readme", str(readme), "--params", str(tmp_path / "params.yaml"), "--check"])
    main(["--readme", str(readme), "--params", str(tmp_path / "params.yaml")])  # regenerate
    assert "| state | 0.95 |" in readme.read_text()
    main(["--readme", str(readme), "--params", str(tmp_path / "params.yaml"), "--check"])  # now in step


def test_while_the_study_runs_readme_counts_its_finished_runs(tmp_path: Path) -> None:
    runs = tmp_path / "runs"
    assert pending(runs, ["state", "blind"], [0, 1]) is None  # nothing finished: "no committed results"
    (runs / "state" / "0").mkdir(parents=True)
    (runs / "state" / "0" / "eval.csv").write_text("step,success\n0,0.05\n")  # running: not counted
    (runs / "state" / "1").mkdir(parents=True)
    (runs / "state" / "1" / "summary.json").write_text("{}")
    (runs / "other" / "0").mkdir(parents=True)
    (runs / "other" / "0" / "summary.json").write_text("{}")  # not asked for: not counted
    assert "1 of 4 runs have finished" in pending(runs, ["state", "blind"], [0, 1])


def test_report_stage_writes_the_summary(tmp_path: Path) -> None:
    (tmp_path / "runs").mkdir()
    md, skipped = make_report(["state"], [0], tmp_path / "runs", tmp_path / "enc", tmp_path / "rep",
                              "test machine")  # fmt: skip
    summary = (tmp_path / "rep" / SUMMARY).read_text()
    assert md.exists() and len(skipped) == 1 and "_no policy runs found_" in summary
