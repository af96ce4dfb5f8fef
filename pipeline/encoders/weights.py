"""Reading weights files safely: safetensors only, a pickle is refused without being unpickled."""

from __future__ import annotations

from pathlib import Path

import torch
from safetensors.torch import load_file

from pipeline.errors import PipelineError

REFETCH = "copy or write it again"


class WeightsFileError(PipelineError, ValueError):
    """A weights file that is not a readable safetensors file (pickled, truncated, damaged); never unpickled."""


def read_safetensors(path: str | Path) -> dict[str, torch.Tensor]:
    """Load a ``.safetensors`` file; anything else (pickle, ``torch.save`` zip) is refused *without* unpickling.

    Raises :class:`WeightsFileError` (a ``ValueError``) naming the file when it is not one or is truncated."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"weights file not found: {path}")
    size = path.stat().st_size
    with path.open("rb") as f:
        head = f.read(9)  # safetensors: 8-byte little-endian header length, then a JSON object
    n = int.from_bytes(head[:8], "little") if len(head) == 9 else -1
    if len(head) == 9 and head[8:9] == b"{" and 2 <= n < 1 << 30 and n + 8 > size:
        raise WeightsFileError(f"truncated: its header is {n} bytes but the file has only {size}", path, REFETCH)
    if n < 2 or head[8:9] != b"{" or n + 8 > size:
        kind = (
            "a Python pickle" if head[:1] == b"\x80" else "a torch.save zip archive" if head[:2] == b"PK" else "unknown"
        )
        if kind == "unknown":
            what = f"truncated or empty ({size} bytes)" if size < 9 else "of an unknown format (garbled?)"
            raise WeightsFileError(f"not a safetensors file: {what}", path, REFETCH)
        raise WeightsFileError(
            f"not a safetensors file (format: {kind}); pickled checkpoints are never loaded",
            path,
            "convert it once in a trusted environment, e.g. "
            "`safetensors.torch.save_file(torch.load(src, weights_only=True), 'weights.safetensors')`",
        )
    try:
        return load_file(str(path))
    except Exception as exc:  # noqa: BLE001 - re-raised with the path
        detail = " ".join(str(exc).split())[:200]
        raise WeightsFileError(f"cannot read as safetensors (truncated or damaged): {detail}", path, REFETCH) from exc
