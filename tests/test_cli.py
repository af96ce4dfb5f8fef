"""The stage entry points' shared error handling: user errors and Ctrl-C end in one line, not a traceback."""

from __future__ import annotations

import pytest

from pipeline.cli import INTERRUPTED, run_stage
from pipeline.params import ParamsError


def test_params_error_is_one_line_and_exit_code_2(capsys: pytest.CaptureFixture[str]) -> None:
    def body() -> None:
        raise ParamsError("policy.total_steps: must be > 0")

    with pytest.raises(SystemExit) as exc:
        run_stage(body)
    assert exc.value.code == 2 and capsys.readouterr().err == "error: policy.total_steps: must be > 0\n"


def test_ctrl_c_is_one_line_and_exit_code_130(capsys: pytest.CaptureFixture[str]) -> None:
    def body() -> None:
        raise KeyboardInterrupt

    with pytest.raises(SystemExit) as exc:
        run_stage(body)
    assert exc.value.code == 130 and capsys.readouterr().err == INTERRUPTED + "\n"


def test_sigterm_in_a_lightning_fit_is_not_a_success(capsys: pytest.CaptureFixture[str]) -> None:
    """Lightning turns SIGTERM into a code-less SystemExit (exit status 0): the stage must still fail."""
    from pytorch_lightning.utilities.exceptions import SIGTERMException

    def body() -> None:
        raise SIGTERMException

    with pytest.raises(SystemExit) as exc:
        run_stage(body)
    assert exc.value.code == 143 and capsys.readouterr().err == INTERRUPTED + "\n"


def test_a_stage_exit_code_is_kept() -> None:
    def body() -> None:
        raise SystemExit(3)

    with pytest.raises(SystemExit) as exc:
        run_stage(body)
    assert exc.value.code == 3


def test_other_errors_still_raise() -> None:
    def body() -> None:
        raise RuntimeError("a bug")

    with pytest.raises(RuntimeError, match="a bug"):
        run_stage(body)
