"""Profiles: overlays on ``params.yaml`` (``profiles/<name>.yaml``), applied as ``dvc exp run -S`` overrides.

``python -m pipeline.profile quick`` prints one ``-S key=value`` pair per overlay leaf, so
``dvc exp run $(python -m pipeline.profile quick)`` runs the study with that profile while
``params.yaml`` stays the one source of truth. ``merged()`` builds the full dict (tests use it).
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path
from typing import Any

import yaml

from pipeline.params import ParamsError, read_yaml

PROFILES = Path("profiles")


def merge(base: dict[str, Any], overlay: dict[str, Any]) -> dict[str, Any]:
    """Deep-merge ``overlay`` into a copy of ``base`` (mappings merge, anything else replaces)."""
    out = dict(base)
    for key, value in overlay.items():
        out[key] = merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def leaves(overlay: dict[str, Any], prefix: str = "") -> list[tuple[str, Any]]:
    """Flatten an overlay to ``(dotted.key, value)`` pairs (lists stay whole)."""
    out = []
    for key, value in overlay.items():
        path = f"{prefix}{key}"
        out += leaves(value, path + ".") if isinstance(value, dict) else [(path, value)]
    return out


def load_profile(name: str, root: Path = Path(".")) -> dict[str, Any]:
    """The overlay of profile ``name``."""
    path = root / PROFILES / f"{name}.yaml"
    if not path.is_file():
        known = sorted(p.stem for p in (root / PROFILES).glob("*.yaml"))
        raise ParamsError(f"unknown profile {name!r}; available: {', '.join(known)}")
    return read_yaml(path)


def merged(name: str, root: Path = Path(".")) -> dict[str, Any]:
    """``params.yaml`` with profile ``name`` applied."""
    return merge(read_yaml(root / "params.yaml"), load_profile(name, root))


CPU_STEPS_PER_S = {"state": 100.0, "proprio": 100.0, "latent": 44.0, "pixel": 0.2}
"""env steps/s of one policy run on this project's 2-core CPU: state from ``benchmarks/push_recipe.py`` (50 k steps in
~8 min, 1 update per 2 env steps), latent and pixel from ``benchmarks/policy_throughput.py`` (README)."""


def study_cost(params: dict[str, Any]) -> str:
    """One paragraph: how many policy runs the params ask for and their CPU hours at the measured speeds."""
    pol = params.get("policy", {})
    variants, runs, seeds = pol.get("variants", {}), pol.get("run", []), pol.get("seeds", [0])
    steps = int(pol.get("total_steps", 0))
    hours = sum(steps / CPU_STEPS_PER_S[variants.get(v, {}).get("obs", "latent")] / 3600 for v in runs) * len(seeds)
    encoders = len(params.get("pretrain", {}).get("encoders", []))
    return (
        f"{len(runs)} variants x {len(seeds)} seeds x {steps:,} env steps = {len(runs) * len(seeds)} policy runs, "
        f"~{hours:,.0f} CPU hours at the speeds measured on a 2-core CPU (~{hours / 24:,.1f} days), "
        f"after pretraining {encoders} encoders (hours each on a CPU)"
    )


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("name", nargs="?", help="profile name (a file in profiles/)")
    parser.add_argument("--cost", action="store_true", help="print the policy runs and CPU hours params.yaml asks for")
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
    for key, value in leaves(overlay):
        print("-S")
        text = (
            json.dumps(value)
            if isinstance(value, (list, dict))
            else yaml.safe_dump(value).strip().removesuffix("...").strip()
        )
        print(f"{key}={text}")


if __name__ == "__main__":
    main()
