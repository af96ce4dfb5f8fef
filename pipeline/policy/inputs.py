"""``python -m pipeline.policy.inputs --variant NAME``: fingerprint what one policy variant reads besides params.

A policy run reads one encoder (latent variants), with ``prior_data`` the dataset, and with a fitted goal space
(``goal_space`` or ``obs_space`` other than ``latent``) that encoder's goal spaces. DVC cannot list "the
encoder this variant names" as a dependency, so this small stage writes ``inputs/<variant>.json`` with the
content hashes of exactly those inputs, and the policy runs depend on that file: changing one encoder reruns the
runs that use it and leaves ``state`` and the blind controls alone. The file is rewritten at every run of this
stage, but its bytes change only when the inputs do, so DVC skips the policy runs otherwise.
"""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

from pipeline.cli import base_parser, run_stage
from pipeline.config import load_params
from pipeline.io import exclusive, write_json
from pipeline.params import ParamsError
from pipeline.policy.config import PolicyConfig, variant_named
from pipeline.stages import stage_view


def tree_hash(path: Path) -> str:
    """SHA-256 over the relative names and bytes of every file under ``path`` (or of the file itself)."""
    h = hashlib.sha256()
    files = sorted(p for p in path.rglob("*") if p.is_file()) if path.is_dir() else [path]
    for f in files:
        h.update(str(f.relative_to(path) if path.is_dir() else f.name).encode())
        with f.open("rb") as fh:
            for block in iter(lambda: fh.read(1 << 20), b""):
                h.update(block)
    return h.hexdigest()


def variant_inputs(
    policy: PolicyConfig, variant: str, encoders: Path, dataset: Path, goal_spaces: Path
) -> dict[str, Any]:
    """What the variant reads: ``{"encoder": name, "encoder_sha256", "dataset_sha256", "goal_spaces_sha256"}``
    (``None`` where it reads nothing of the kind)."""
    v = variant_named(policy, variant)
    out: dict[str, Any] = {
        "encoder": v.encoder if v.obs == "latent" else None,
        "encoder_sha256": None,
        "dataset_sha256": None,
        "goal_spaces_sha256": None,
    }
    if out["encoder"]:
        path = encoders / v.encoder
        if not path.is_dir():
            raise ParamsError(f"variant {variant!r} needs encoder {v.encoder!r}: {path} does not exist")
        out["encoder_sha256"] = tree_hash(path)
    if v.prior_data:
        out["dataset_sha256"] = tree_hash(dataset)
    if v.fitted_spaces():
        path = goal_spaces / v.encoder
        if not path.is_dir():
            raise ParamsError(f"variant {variant!r} needs the goal spaces of {v.encoder!r}: {path} does not exist")
        out["goal_spaces_sha256"] = tree_hash(path)
    return out


def write_inputs(
    policy: PolicyConfig, variant: str, encoders: Path, dataset: Path, goal_spaces: Path, out_dir: Path
) -> Path:
    """Write ``out_dir/<variant>.json`` (atomically)."""
    path = out_dir / f"{variant}.json"
    with exclusive(path):
        write_json(path, variant_inputs(policy, variant, encoders, dataset, goal_spaces))
    return path


def main(argv: list[str] | None = None) -> None:
    parser = base_parser(__doc__)
    parser.add_argument("--variant", required=True, help="a name under policy.variants")
    args = parser.parse_args(argv)

    def body() -> None:
        params = stage_view("policy_inputs", load_params(args.params), args.variant)
        p = params.paths
        path = write_inputs(params.policy, args.variant, p.encoders, p.dataset, p.goal_spaces, p.inputs)
        print(f"policy inputs {args.variant}: {json.loads(path.read_text())['encoder'] or 'no encoder'} -> {path}")

    run_stage(body)


if __name__ == "__main__":
    main()
