"""Shared plumbing for the thin ``python -m pipeline.<stage>`` entry points."""

from __future__ import annotations

import argparse
import os
import sys
from collections.abc import Callable
from pathlib import Path

from pipeline.errors import DEBUG_ENV, PipelineError, debug_enabled, disk_error
from pipeline.params import DEFAULT_PARAMS

INTERRUPTED = (
    "interrupted: no partial output was left at a final path; run the same command again "
    "(a policy run resumes from its last checkpoint)"
)


class _DebugAction(argparse.Action):
    """``--debug``: show tracebacks of known failures (sets ``PIPELINE_DEBUG=1`` for this process and children)."""

    def __init__(self, option_strings: list[str], dest: str, **kwargs: object) -> None:
        super().__init__(option_strings, dest, nargs=0, default=False, help=self.__doc__)

    def __call__(self, parser: argparse.ArgumentParser, namespace: argparse.Namespace, *args: object) -> None:
        os.environ[DEBUG_ENV] = "1"
        setattr(namespace, self.dest, True)


def base_parser(description: str) -> argparse.ArgumentParser:
    """Parser with the options every stage takes: ``--params PATH`` and ``--debug``."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--params", type=Path, default=DEFAULT_PARAMS, help="params file (default: params.yaml)")
    parser.add_argument("--debug", action=_DebugAction)
    return parser


def fail(message: str) -> None:
    """Print a known failure as one line (its traceback too under ``--debug``) and exit with code 2."""
    if debug_enabled():
        import traceback

        traceback.print_exc()
    print(f"error: {message.strip()}", file=sys.stderr)
    sys.exit(2)


def run_stage(fn: Callable[[], object], errors: tuple[type[Exception], ...] = ()) -> None:
    """Run a stage body. Known failures (:class:`PipelineError`, ``errors``, a full disk or an unwritable path)
    print one line and exit with code 2; Ctrl-C prints one line and exits with 130, SIGTERM (as Lightning reports it)
    with 143 (stages write final paths only when done; the policy stage resumes from its checkpoint). Anything else
    keeps its traceback."""
    try:
        fn()
    except (PipelineError, *errors) as exc:
        fail(str(exc))
    except OSError as exc:
        known = disk_error(exc)
        if known is None:
            raise
        fail(str(known))
    except KeyboardInterrupt:
        print(INTERRUPTED, file=sys.stderr)
        sys.exit(130)
    except SystemExit as exc:
        if exc.code not in (None, 0):
            raise
        # Lightning ends a fit on SIGTERM with a SystemExit that carries no code (exit status 0, no output written):
        # a killed pretraining would look finished to the launcher's retries, DVC and a shell's `&&`
        print(INTERRUPTED, file=sys.stderr)
        sys.exit(143)
