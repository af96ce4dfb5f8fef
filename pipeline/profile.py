"""Profiles: overlays on ``params.yaml`` (``profiles/<name>.yaml``), applied as ``dvc exp run -S`` overrides.

``python -m pipeline.profile quick`` prints one ``-S key=value`` pair per overlay leaf (``++key=value`` for a key
``params.yaml`` lacks, e.g. a variant the profile defines), so ``dvc exp run $(python -m pipeline.profile quick)``
runs the study with that profile while ``params.yaml`` stays the one source of truth. ``merged()`` builds the full
dict (tests and ``scripts/run_isolated.sh`` use it). A name may hold a folder: ``ablations/frame_stack`` is
``profiles/ablations/frame_stack.yaml``. A profile's ``include: [name, ...]`` merges those profiles first, in order,
and its own keys over them (push_cpu includes the ablation overlays whose variants it runs).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import yaml

from pipeline.params import ParamsError, deep_merge, read_yaml

PROFILES = Path("profiles")
merge = deep_merge
"""deep merge: mappings merge key by key, anything else replaces"""


def leaves(overlay: dict[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    """Flatten an overlay to ``(dotted.key, value)`` pairs (lists stay whole)."""
    out = []
    for key, value in overlay.items():
        path = f"{prefix}{key}"
        out += leaves(value, path + ".") if isinstance(value, dict) else [(path, value)]
    return out


def profile_names(root: Path = Path(".")) -> list[str]:
    """Every profile's name, ablation overlays included (``ablations/frame_stack``)."""
    folder = root / PROFILES
    return sorted(p.relative_to(folder).with_suffix("").as_posix() for p in folder.rglob("*.yaml"))


def load_profile(name: str, root: Path = Path("."), _seen: tuple[str, ...] = ()) -> dict[str, Any]:
    """The overlay of profile ``name``, with the profiles it ``include``s merged under it."""
    path = root / PROFILES / f"{name}.yaml"
    if ".." in Path(name).parts or not path.is_file():
        raise ParamsError(f"unknown profile {name!r}; available: {', '.join(profile_names(root))}")
    if name in _seen:
        raise ParamsError(f"{path}: `include` cycles through {' -> '.join((*_seen, name))}")
    overlay = read_yaml(path)
    include = overlay.pop("include", [])
    if not isinstance(include, list) or not all(isinstance(n, str) for n in include):
        raise ParamsError(f"{path}: `include` is a list of profile names (got {include!r})")
    out: dict[str, Any] = {}
    for other in include:
        out = merge(out, load_profile(other, root, (*_seen, name)))
    return merge(out, overlay)


def merged(name: str, root: Path = Path(".")) -> dict[str, Any]:
    """``params.yaml`` with profile ``name`` applied."""
    return merge(read_yaml(root / "params.yaml"), load_profile(name, root))


CPU_STEPS_PER_S = {"state": 100.0, "proprio": 100.0, "latent": 44.0, "pixel": 0.2}
"""env steps/s of one policy run on this project's 2-core CPU: state from ``benchmarks/push_recipe.py`` (50 k steps in
~8 min, 1 update per 2 env steps), latent and pixel from ``benchmarks/policy_throughput.py`` (README)."""


GPU_PIXEL_STEPS_PER_S = 30.0
"""env steps/s of the seed study's end-to-end pixel agent on a GPU box with 4 envs (~25-35; ../shared/seed), not
measured here"""


def run_hours(pol: dict[str, Any], variant: dict[str, Any], per_s: dict[str, float]) -> float:
    """Hours of one policy run: ``total_steps`` at the measured speed of its ``obs``, capped by its ``wall_minutes``."""
    hours = int(pol.get("total_steps", 0)) / per_s[variant.get("obs", "latent")] / 3600
    return hours if variant.get("wall_minutes") is None else min(hours, variant["wall_minutes"] / 60)


def study_cost(params: dict[str, Any]) -> str:
    """One paragraph: how many policy runs the params ask for and their CPU hours at the measured speeds (a run
    with ``wall_minutes`` stops there), and the pixel runs' GPU hours at the seed study's speed."""
    pol = params.get("policy", {})
    variants, runs, seeds = pol.get("variants", {}), pol.get("run", []), pol.get("seeds", [0])
    resolved = {v: merge(pol.get("defaults", {}), variants.get(v, {})) for v in runs}
    steps = int(pol.get("total_steps", 0))
    hours = sum(run_hours(pol, resolved[v], CPU_STEPS_PER_S) for v in runs) * len(seeds)
    pixel = [v for v in runs if resolved[v].get("obs") == "pixel"]
    gpu = sum(run_hours(pol, resolved[v], {"pixel": GPU_PIXEL_STEPS_PER_S}) for v in pixel) * len(seeds)
    budget = [v for v in runs if resolved[v].get("wall_minutes") is not None]
    encoders = len(params.get("pretrain", {}).get("encoders", []))
    return (
        f"{len(runs)} variants x {len(seeds)} seeds x {steps:,} env steps = {len(runs) * len(seeds)} policy runs, "
        f"~{hours:,.0f} CPU hours at the speeds measured on a 2-core CPU (~{hours / 24:,.1f} days)"
        + (f", {', '.join(budget)} stopped at their wall_minutes" if budget else "")
        + (f"; the {len(pixel)} pixel rows ~{gpu:,.0f} GPU hours at the seed study's ~30 env steps/s" if pixel else "")
        + f"; after pretraining {encoders} encoder{'s' * (encoders != 1)} (~30 min each on 2 CPU cores)"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("name", nargs="?", help="profile name (profiles/NAME.yaml, e.g. quick, ablations/frame_stack)")
    parser.add_argument(
        "--cost",
        action="store_true",
        help="print the policy runs and hours params.yaml (with the profile, if named) asks for",
    )
    args = parser.parse_args(argv)
    if args.cost:
        print(study_cost(read_yaml("params.yaml") if args.name is None else merged(args.name)))
        return
    if args.name is None:
        parser.error("a profile name is needed")
    try:
        overlay = load_profile(args.name)
    except ParamsError as exc:
        sys.exit(f"error: {exc}")
    study = dict(leaves(read_yaml("params.yaml")))
    for key, value in leaves(overlay):
        print("-S")
        text = (
            json.dumps(value)
            if isinstance(value, (list, dict))
            else yaml.safe_dump(value).strip().removesuffix("...").strip()
        )
        new = key not in study and not any(k.startswith(key + ".") for k in study)
        print(f"{'++' if new else ''}{key}={text}")  # DVC's -S adds a key params.yaml lacks only as ++key


if __name__ == "__main__":
    main()
