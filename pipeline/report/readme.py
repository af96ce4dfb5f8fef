"""README's study results, generated: the report stage writes ``summary.md`` (the policy table and the success plot)
beside ``report.md``, and ``python -m pipeline.report.readme`` copies it between README's markers (``--check``:
exit 1 when README differs from the committed report, as a test does)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

BEGIN, END = "<!-- study results: begin (python -m pipeline.report.readme) -->", "<!-- study results: end -->"
NOT_RUN = (
    "_The study (`params.yaml`) has no committed results on this commit yet: `scripts/run.sh` runs it, then "
    "`python -m pipeline.report.readme` copies its table here._"
)
SUMMARY = "summary.md"


def summary_markdown(table: str, report_dir: Path, has_plot: bool) -> str:
    """The study's results as README shows them: the policy table and, with runs, the success plot."""
    plot = f"\n\n![success against env steps, mean and 95 % CI over seeds]({report_dir.as_posix()}/success.png)"
    return f"From `{report_dir.as_posix()}/report.md` (`dvc repro`):\n\n{table}" + (plot if has_plot else "")


def spliced(readme: str, summary: str | None) -> str:
    """``readme`` with the text between its markers replaced by ``summary`` (None: :data:`NOT_RUN`)."""
    head, found, rest = readme.partition(BEGIN)
    _, found_end, tail = rest.partition(END)
    if not (found and found_end):
        raise ValueError(f"README has no results markers ({BEGIN} ... {END})")
    return f"{head}{BEGIN}\n{summary.strip() if summary else NOT_RUN}\n{END}{tail}"


def main(argv: list[str] | None = None) -> None:
    from pipeline.config import load_params

    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--readme", type=Path, default=Path("README.md"))
    parser.add_argument("--params", type=Path, default=Path("params.yaml"))
    parser.add_argument("--check", action="store_true", help="exit 1 when README differs from the committed report")
    args = parser.parse_args(argv)
    path = load_params(args.params).paths.report / SUMMARY
    text = args.readme.read_text()
    new = spliced(text, path.read_text() if path.is_file() else None)
    if args.check:
        if new != text:
            sys.exit(f"{args.readme}'s results differ from {path}: run python -m pipeline.report.readme")
        return
    args.readme.write_text(new)
    print(f"readme: results from {path if path.is_file() else 'no committed report'} -> {args.readme}")


if __name__ == "__main__":
    main()
