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


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("name", help="profile name (a file in profiles/)")
    args = parser.parse_args(argv)
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
