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

from pipeline.cost import study_cost
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
