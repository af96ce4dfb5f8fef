"""One source of truth: ``params.yaml`` -> typed, validated config per stage.

The pieces every section builds on: :class:`StrictModel` (each stage's config section), :class:`ParamsError` and
reading the file. Every stage calls :func:`pipeline.config.load_params` (which composes the sections) before doing
any work. Unknown keys, wrong types and out-of-range values raise :class:`ParamsError`, whose message names the key
and what is allowed.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml
from pydantic import BaseModel, ConfigDict, ValidationError

from pipeline.errors import PipelineError

DEFAULT_PARAMS = Path("params.yaml")


class StrictModel(BaseModel):
    """Base for every params section: unknown keys are errors, values are validated on assignment."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class ParamsError(PipelineError, ValueError):
    """A params file is missing, unreadable or invalid; the message names the key."""


def format_validation_error(err: ValidationError, source: str) -> str:
    """Render a pydantic error as one line per offending key: ``source: key.path: message``."""
    lines = []
    for e in err.errors():
        key = ".".join(str(p) for p in e["loc"] if not str(p).startswith("function-"))
        msg = e["msg"]
        if e["type"] == "extra_forbidden":
            msg = "unknown key (not a parameter of this section; check spelling)"
        elif "input" in e and not isinstance(e["input"], (dict, list)):
            msg = f"{msg} (got {e['input']!r})"
        lines.append(f"{source}: `{key}`: {msg}")
    return "\n".join(lines)


def deep_merge(base: dict[str, Any], overlay: dict[str, Any]) -> dict[str, Any]:
    """``overlay`` merged into a copy of ``base``: mappings merge key by key, anything else (lists too) replaces."""
    out = dict(base)
    for key, value in overlay.items():
        out[key] = deep_merge(out[key], value) if isinstance(value, dict) and isinstance(out.get(key), dict) else value
    return out


def read_yaml(path: Path | str) -> dict[str, Any]:
    """Read a YAML mapping, raising :class:`ParamsError` when absent or malformed."""
    path = Path(path)
    if not path.is_file():
        raise ParamsError(f"params file not found: {path}")
    try:
        raw = yaml.safe_load(path.read_text())
    except yaml.YAMLError as exc:
        raise ParamsError(f"{path}: not valid YAML: {exc}") from exc
    if raw is None:
        raise ParamsError(f"{path}: the file is empty; it must be a mapping of sections (env, collect, paths, ...)")
    if not isinstance(raw, dict):
        raise ParamsError(f"{path}: top level must be a mapping of sections (got a {type(raw).__name__})")
    return raw
