"""The documentation stays usable: a short README, links that resolve, CI's command in the README, notebook rounds
that name real commits."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
README = ROOT / "README.md"
NOTEBOOK = ROOT / "docs" / "notebook"
README_MAX_LINES = 300

LINK = re.compile(r"!?\[[^\]]*\]\(\s*<?([^)\s>]+)>?(?:\s+\"[^\"]*\")?\s*\)")
"""a markdown link or image: ``[text](target)``, ``![alt](target "title")``"""
FENCE = re.compile(r"^(```|~~~).*?^\1", re.M | re.S)
CODE_SPAN = re.compile(r"`[^`\n]*`")
HASH = re.compile(r"\b[0-9a-f]{7,40}\b")


def doc_files() -> list[Path]:
    return [README, ROOT / "CONTRIBUTING.md", *sorted((ROOT / "docs").rglob("*.md"))]


def round_files() -> list[Path]:
    return sorted(NOTEBOOK.glob("[0-9][0-9]-*.md"))


def relative_targets(text: str) -> list[str]:
    """Link and image targets outside code that point into the repository (not URLs, not same-page anchors)."""
    text = CODE_SPAN.sub("", FENCE.sub("", text))
    targets = []
    for target in LINK.findall(text):
        if re.match(r"^[a-z][a-z0-9+.-]*:", target, re.I) or target.startswith("#"):
            continue
        targets.append(target.split("#", 1)[0])
    return targets


def test_readme_is_short() -> None:
    lines = README.read_text().count("\n")
    assert lines <= README_MAX_LINES, f"README.md has {lines} lines; move detail to docs/ (at most {README_MAX_LINES})"


@pytest.mark.parametrize("doc", doc_files(), ids=lambda p: str(p.relative_to(ROOT)))
def test_relative_links_and_images_exist(doc: Path) -> None:
    targets = relative_targets(doc.read_text())
    missing = sorted({t for t in targets if not (doc.parent / t).exists()})
    assert not missing, f"{doc.relative_to(ROOT)} links to missing files: {missing}"


def test_the_link_finder_reads_links_images_and_skips_code() -> None:
    text = (
        "[a](docs/a.md#part) ![b](img/b.png) [c](https://x.org) [d](#top)\n"
        "`[e](not/a/link.md)`\n```\n[f](in/code.md)\n```\n"
    )
    assert relative_targets(text) == ["docs/a.md", "img/b.png"]


def test_readme_states_the_command_ci_runs() -> None:
    ci = (ROOT / ".ci" / "run").read_text()
    command = next(line.strip() for line in ci.splitlines() if line.strip().startswith("scripts/setup.sh"))
    assert command == "scripts/setup.sh && .venv/bin/ruff check . && .venv/bin/python -m pytest"
    assert command in README.read_text(), "README.md must show the exact test command .ci/run runs"


def test_every_round_is_in_the_notebook_index() -> None:
    rounds = round_files()
    assert rounds, "no round files in docs/notebook/"
    index = (NOTEBOOK / "README.md").read_text()
    unlisted = [p.name for p in rounds if f"]({p.name})" not in index]
    assert not unlisted, f"docs/notebook/README.md does not list {unlisted}"


def in_git_checkout() -> bool:
    if shutil.which("git") is None:
        return False
    probe = subprocess.run(["git", "rev-parse", "--git-dir"], cwd=ROOT, capture_output=True)
    return probe.returncode == 0


@pytest.mark.parametrize("path", round_files(), ids=lambda p: p.name)
def test_each_round_starts_by_naming_a_commit_that_exists(path: Path) -> None:
    first = path.read_text().splitlines()[0]
    hashes = HASH.findall(first)
    assert hashes, f"{path.name}: the first line must name the commit its runs used (got {first!r})"
    if not in_git_checkout():
        pytest.skip("git is not available here")
    unknown = [
        h
        for h in hashes
        if subprocess.run(["git", "cat-file", "-e", f"{h}^{{commit}}"], cwd=ROOT, capture_output=True).returncode
    ]
    assert not unknown, f"{path.name}: no such commit(s) {unknown}"
