"""One error path: known failures print one line (exit 2), --debug shows the traceback; locks; unreadable runs."""

from __future__ import annotations

import errno
import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

from pipeline.cli import base_parser, run_stage
from pipeline.errors import DEBUG_ENV, PipelineError
from pipeline.io import building, exclusive, lock_path, partial_path
from pipeline.report.__main__ import main as report_main

from .conftest import tiny_params_dict, write_params


def tree_digest(root: Path) -> dict[str, str]:
    """{relative path: sha256} of every file under ``root``."""
    return {
        str(p.relative_to(root)): hashlib.sha256(p.read_bytes()).hexdigest() for p in root.rglob("*") if p.is_file()
    }


def stage_exit(fn, capsys: pytest.CaptureFixture) -> tuple[int, list[str]]:
    """Run a stage body through ``run_stage``; its exit code and stderr lines."""
    with pytest.raises(SystemExit) as exc:
        run_stage(fn)
    return exc.value.code, capsys.readouterr().err.strip().splitlines()


def test_known_failure_is_one_line_with_exit_2(capsys: pytest.CaptureFixture) -> None:
    def body() -> None:
        raise PipelineError("damaged", Path("data/x.json"), "run it again")

    code, lines = stage_exit(body, capsys)
    assert code == 2 and lines == ["error: data/x.json: damaged; run it again"]


def test_debug_shows_the_traceback_of_a_known_failure(capsys: pytest.CaptureFixture) -> None:
    args = base_parser("x").parse_args(["--debug"])  # sets the env variable for this process
    assert args.debug

    def body() -> None:
        raise PipelineError("damaged", "f.json")

    code, lines = stage_exit(body, capsys)
    assert code == 2 and lines[0].startswith("Traceback") and lines[-1] == "error: f.json: damaged"
    assert os.environ[DEBUG_ENV] == "1"  # for the whole process: conftest's autouse fixture removes it afterwards


@pytest.mark.parametrize("err", [errno.ENOSPC, errno.EROFS])
def test_a_full_or_read_only_disk_is_one_line_naming_the_file(err: int, capsys) -> None:
    def body() -> None:
        raise OSError(err, "disk", "/data/out/file.bin")

    code, lines = stage_exit(body, capsys)
    assert code == 2 and len(lines) == 1 and "/data/out/file.bin" in lines[0] and lines[0].startswith("error:")


def test_an_unexpected_error_keeps_its_traceback() -> None:
    def body() -> None:
        raise ZeroDivisionError("bug")

    with pytest.raises(ZeroDivisionError):
        run_stage(body)


def test_a_second_writer_fails_at_once_naming_the_holder(tmp_path: Path) -> None:
    out = tmp_path / "out"
    code = f"from pathlib import Path\nfrom pipeline.io import exclusive\nwith exclusive(Path({str(out)!r})): pass"
    with exclusive(out):
        r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.returncode != 0 and f"pid {__import__('os').getpid()}" in r.stderr
    r = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert r.returncode == 0, r.stderr  # released


def test_leftovers_of_a_dead_writer_are_cleaned(tmp_path: Path, capsys) -> None:
    out = tmp_path / "out"
    partial_path(out).mkdir()
    (partial_path(out) / "half").write_text("x")
    out.with_name("out.old").mkdir()  # died between the two renames of publish: final missing
    (out.with_name("out.old") / "kept").write_text("old")
    with exclusive(out):
        pass
    said = capsys.readouterr().out
    assert "removed" in said and "restored" in said
    assert not partial_path(out).exists() and (out / "kept").read_text() == "old"


def test_a_failed_build_leaves_the_published_output_untouched(tmp_path: Path) -> None:
    out = tmp_path / "out"
    with building(out) as tmp:
        tmp.mkdir()
        (tmp / "a").write_text("first")
    before = tree_digest(out)
    with pytest.raises(OSError), building(out) as tmp:
        tmp.mkdir()
        (tmp / "a").write_text("half")
        raise OSError(errno.ENOSPC, "full", str(tmp / "a"))
    assert tree_digest(out) == before and not partial_path(out).exists() and lock_path(out).exists()


def write_curve(path: Path, text: str | bytes) -> None:
    path.mkdir(parents=True, exist_ok=True)
    f = path / "eval.csv"
    f.write_bytes(text) if isinstance(text, bytes) else f.write_text(text)


GOOD = "step,success\n0,0.0\n10,0.5\n20,0.75\n"


@pytest.mark.parametrize("garbage", [b"\x00\xff\xfe\x89PNG\x00\x13" * 20, "step,success\n0,zero\n", "no,header\n1,2\n"])
def test_the_report_names_and_skips_an_unreadable_run(tmp_path: Path, garbage, capsys) -> None:
    p = tiny_params_dict(tmp_path, policy={"run": ["state", "blind"], "seeds": [0, 1, 2]})
    runs = Path(p["paths"]["runs"])
    for seed in (0, 2):
        write_curve(runs / "state" / str(seed), GOOD)
    write_curve(runs / "state" / "1", garbage)
    write_curve(runs / "blind" / "0", garbage)  # a variant with no readable seed at all (1 and 2 never ran)
    before = tree_digest(runs)
    report_main(["--params", str(write_params(tmp_path, p))])
    err = capsys.readouterr().err
    assert "state/1" in err and "blind/0" in err and "eval.csv" in err
    md = (Path(p["paths"]["report"]) / "report.md").read_text()
    assert "| state | 2 (missing: seed 1) |" in md
    assert "## Missing runs" in md and "`state` seed 1" in md and "`blind` seed 0" in md and "`blind` seed 2" in md
    assert tree_digest(runs) == before
