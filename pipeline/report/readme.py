"""README's study results, generated: the report stage writes ``summary.md`` (the policy table, the cost table and
their plots) beside ``report.md``, and ``python -m pipeline.report.readme`` copies it between README's markers
(``--check``: exit 1 when README differs from the committed report, as a test does)."""

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


def pending(runs_dir: Path, variants: list[str], seeds: list[int]) -> str | None:
    """While the study runs (no report yet): how many of its ``variants x seeds`` runs have finished and are committed
    (a run's ``summary.json`` is written last); None when none has."""
    done = sum((runs_dir / v / str(s) / "summary.json").is_file() for v in variants for s in seeds)
    if not done:
        return None
    return (
        f"_The study (`params.yaml`) is under way: {done} of {len(variants) * len(seeds)} runs have finished, their "
        f"results committed under `{runs_dir.as_posix()}/`. Its table comes here when the report stage has run on all "
        "of them (`python -m pipeline.report.readme`)._"
    )


def summary_markdown(table: str, report_dir: Path, cost: str | None = None) -> str:
    """The study's results as README shows them: the policy table and, with runs, the success plot, then ``cost``
    (what each route took where it ran, beside the seed study's pixel agent) and success against route hours."""
    out = f"From `{report_dir.as_posix()}/report.md` (`dvc repro`):\n\n{table}"
    if cost is None:
        return out
    return (
        f"{out}\n\n![success against env steps, mean and 95 % CI over seeds]({report_dir.as_posix()}/success.png)"
        "\n\nWhat each route took where it ran (the report's \"Where the runs ran\"), beside the seed study's "
        f"end-to-end pixel agent:\n\n{cost}"
        f"\n\n![success against route hours]({report_dir.as_posix()}/success_hours.png)"
    )


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
    params = load_params(args.params)
    path = params.paths.report / SUMMARY
    text = args.readme.read_text()
    summary = path.read_text() if path.is_file() else pending(params.paths.runs, params.policy.run, params.policy.seeds)
    new = spliced(text, summary)
    if args.check:
        if new != text:
            sys.exit(f"{args.readme}'s results differ from {path}: run python -m pipeline.report.readme")
        return
    args.readme.write_text(new)
    print(f"readme: results from {path if path.is_file() else 'no committed report'} -> {args.readme}")


if __name__ == "__main__":
    main()
