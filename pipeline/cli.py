"""Shared plumbing for the thin ``python -m pipeline.<stage>`` entry points."""

from __future__ import annotations

import argparse
import sys
from collections.abc import Callable
from pathlib import Path

from pipeline.params import DEFAULT_PARAMS, ParamsError

INTERRUPTED = (
    "interrupted: no partial output was left at a final path; run the same command again "
    "(a policy run resumes from its last checkpoint)"
)


def base_parser(description: str) -> argparse.ArgumentParser:
    """Parser with the one option every stage takes: ``--params PATH``."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--params", type=Path, default=DEFAULT_PARAMS, help="params file (default: params.yaml)")
    return parser


def run_stage(fn: Callable[[], object], errors: tuple[type[Exception], ...] = ()) -> None:
    """Run a stage body; turn expected user errors into one clear message and exit code 2, and Ctrl-C into one
    line and exit code 130 (stages write final paths only when done; the policy stage resumes from its checkpoint)."""
    try:
        fn()
    except (ParamsError, *errors) as exc:
        print(f"error: {exc}", file=sys.stderr)
        sys.exit(2)
    except KeyboardInterrupt:
        print(INTERRUPTED, file=sys.stderr)
        sys.exit(130)
