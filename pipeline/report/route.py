"""What a route costs: wall time to a success level with the latent routes charged their data and encoder, memory,
the final success on many fixed episodes, and the published curve the study is read against.

Charging rule: a latent run is charged the whole collect time of the dataset and the whole pretraining time of its
encoder, as if a user ran that route alone (variants that share an encoder are each charged it in full, not a share:
that is what one route costs). State, control and end-to-end pixel runs read no dataset and no encoder.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

from pipeline.pretrain.metrics import EncoderMetrics
from pipeline.report.stats import success_value

PUBLISHED = (
    (
        "pixels, seed study (published, not run here)",
        ((500_000, 0.04), (2_500_000, 0.45), (3_000_000, 0.85), (3_500_000, 0.96)),
    ),
    ("state, seed study (published, not run here)", ((2_000_000, 0.89),)),
)
"""The seed study's end-to-end SAC+HER success on FetchPush (env steps, success): a reference, never run here"""

PUBLISHED_COST = (
    "pixels, seed study (published, not run here)",
    "—",
    "3.5-4.4 M (95-98 % there)",
    "~40 per seed (GPU box, 4 envs, ~25-35 env steps/s)",
    "—",
    "40,000-80,000",
    "—",
)
"""The published end-to-end pixel agent's cost, a row of the report's cost table (the seed document's later public
results: 95-98 % at 3.5-4.4 M env steps, ~40 h and 40-80 GB of RAM per seed)"""


@dataclass(frozen=True)
class RouteCharge:
    """Seconds a latent route pays before its RL starts."""

    collect_s: float | None
    """the dataset's collect wall time (``None``: not recorded)"""
    pretrain_s: float | None
    """the encoder's training wall time (``None``: not recorded)"""

    @property
    def total_s(self) -> float:
        """What is known of the charge, in seconds (unknown parts count 0 and are named by :meth:`note`)."""
        return (self.collect_s or 0.0) + (self.pretrain_s or 0.0)

    def note(self) -> str:
        """``collect 0.2 h + pretrain 1.1 h``, naming any part not recorded."""
        parts = [
            f"{name} {v / 3600:.2f} h" if v is not None else f"{name} not recorded"
            for name, v in (("collect", self.collect_s), ("pretrain", self.pretrain_s))
        ]
        return " + ".join(parts)


NO_CHARGE = RouteCharge(0.0, 0.0)


def route_charge(encoder: str | None, encoders: list[EncoderMetrics]) -> RouteCharge:
    """The charge of a run that reads ``encoder`` (``None``: no charge): its encoder's pretraining and the collect
    time of the dataset that encoder was trained on, both as its ``metrics.json`` records them."""
    if encoder is None:
        return NO_CHARGE
    found = next((e for e in encoders if e.encoder == encoder), None)
    return RouteCharge(found.collect_seconds if found else None, found.train_seconds if found else None)


def final_on_many(run_dir: Path) -> dict | None:
    """The run's evaluation on the most fixed episodes: its own final one (``final_eval_*`` in ``metrics.json``,
    ``policy.final_eval_episodes``) or a later ``eval_<N>.json`` of ``pipeline.policy.evaluate``."""
    best = None
    for f in [run_dir / "metrics.json", *run_dir.glob("eval_*.json")]:
        try:
            record = json.loads(f.read_text())
            if f.name == "metrics.json":
                record = {k.removeprefix("final_eval_"): v for k, v in record.items() if k.startswith("final_eval_")}
                record["success_ci95"] = record.pop("ci95")
            n, success, ci = int(record["episodes"]), success_value(record["success"]), record["success_ci95"]
        except (OSError, ValueError, KeyError, TypeError):
            continue
        if best is None or n > best["episodes"]:
            best = {"episodes": n, "success": success, "ci": (float(ci[0]), float(ci[1]))}
    return best
