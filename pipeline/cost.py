"""What a study costs on this project's 2-core CPU, from the speeds the committed study measured (``python -m
pipeline.profile --cost [PROFILE]``; ``scripts/run.sh`` prints it before it starts).

A policy run costs ``total_steps`` env steps at its route's measured speed, plus the extra updates of a variant
with more gradient steps than the recipe's 1 per vectorised step; a run with ``wall_minutes`` stops there. The
speeds are those of ``results/runs/*/*/eval.csv`` (``wall_seconds`` at 100 k env steps, mean over seeds), with two
runs side by side on the 2 cores, one torch thread each, as ``python -m pipeline.launch --jobs 2`` runs them.
"""

from __future__ import annotations

from typing import Any

from pipeline.params import deep_merge

OBS_STEPS_PER_S = {"state": 72.0, "proprio": 75.0, "latent": 39.0}
"""env steps/s at 1 gradient step per vectorised step: ``state`` (23.2 min per 100 k env steps, 3 seeds),
``goals_only`` and ``blind`` (22.2 min, 6 runs); a latent encoder without its own entry runs as the supervised one"""

ENCODER_STEPS_PER_S = {"supervised": 39.0, "vae": 53.0, "spatial_ae": 26.5, "frozen": 10.2}
"""latent runs by encoder: ``latent_supervised`` 42.7 min, ``latent_vae`` 31.6 min; ``latent_spatial_ae`` 88 min at
2 gradient steps (seeds 0 and 2; seed 1 shared the cores with a third run), less its extra updates at
:data:`UPDATE_SECONDS`; the random-init ResNet-18 at 224 px ``latent_frozen`` ~16.4 min per 10 k steps (seeds 0-1,
10-30 k): encoding two frames per vectorised step is most of its cost"""

PIXEL_STEPS_PER_S = {
    ("nature", True): 1.73,
    ("manip_ss", True): 1.13,
    ("nature", False): 0.99,
    ("manip_ss", False): 0.67,
}
"""end-to-end pixel runs by (extractor, compile): ``benchmarks/pixel_formats.py`` beside two study runs
(docs/stages.md); an unknown extractor runs as the slowest"""

UPDATE_SECONDS = 0.030
"""one SAC update (3×256 MLPs, batch 256) on one thread of this CPU: 22-40 ms (the developers' guide)"""

GPU_PIXEL_STEPS_PER_S = 30.0
"""env steps/s of the seed study's end-to-end pixel agent on a GPU box with 4 envs (~25-35; ../shared/seed), not
measured here"""

PRETRAIN_MIN_PER_1K_STEPS = {"vae": 23.0, "spatial_ae": 36.8, "supervised": 27.0, "atc": 24.0, "transporter": 36.0}
"""pretraining minutes per 1,000 steps of batch 128 at 84 px, two pretrainings side by side on the 2 cores: the
study's 57.5 / 91.9 / 67.4 min for 2,500 steps (docs/notebook/14-the-study.md), ATC's 60 and the Transporter's 90 min
in round 13; an encoder without an entry (frozen: probes only, ~30 min) is charged :data:`PRETRAIN_MIN_UNTRAINED`"""

PRETRAIN_MIN_UNTRAINED = 30.0


def steps_per_s(variant: dict[str, Any], n_envs: int) -> float:
    """Env steps/s of one run of ``variant`` (resolved over ``policy.defaults``) on one core of the 2-core CPU."""
    obs = variant.get("obs", "latent")
    if obs == "pixel":
        table = PIXEL_STEPS_PER_S
        return table.get((variant.get("extractor"), bool(variant.get("compile"))), min(table.values()))
    base = ENCODER_STEPS_PER_S.get(variant.get("encoder"), OBS_STEPS_PER_S["latent"])
    base = base if obs == "latent" else OBS_STEPS_PER_S.get(obs, OBS_STEPS_PER_S["state"])
    sac = variant.get("sac", {})
    extra = max(0, int(sac.get("gradient_steps", 1)) - 1) / int(sac.get("train_freq", 1)) / max(n_envs, 1)
    return 1.0 / (1.0 / base + extra * UPDATE_SECONDS)  # extra updates per env step × seconds each


def run_hours(pol: dict[str, Any], variant: dict[str, Any], per_s: float) -> float:
    """Hours of one policy run: ``total_steps`` at ``per_s`` env steps/s, capped by the variant's ``wall_minutes``."""
    hours = int(pol.get("total_steps", 0)) / per_s / 3600
    return hours if variant.get("wall_minutes") is None else min(hours, variant["wall_minutes"] / 60)


def encoder_hours(pre: dict[str, Any], encoder: str) -> float:
    """Hours of pretraining one encoder at the side-by-side speed (an untrained one: its probes)."""
    if encoder not in PRETRAIN_MIN_PER_1K_STEPS:
        return PRETRAIN_MIN_UNTRAINED / 60
    return PRETRAIN_MIN_PER_1K_STEPS[encoder] * int(pre.get("max_steps", 0)) / 1000 / 60


def pretrain_hours(pre: dict[str, Any]) -> float:
    """Hours of pretraining every listed encoder, one after another at the side-by-side speed."""
    return sum(encoder_hours(pre, e) for e in pre.get("encoders", []))


def _hours(h: float) -> str:
    """``~36`` hours, ``~2.5`` under 10, ``~12 min`` under one."""
    return f"~{h * 60:.0f} min" if h < 1 else f"~{h:.1f} h" if h < 10 else f"~{h:,.0f} h"


def study_cost(params: dict[str, Any]) -> str:
    """One paragraph: the policy runs the params ask for, their hours at the measured speeds, the wall time of the
    whole study two tasks at a time (half the hours, or its longest encoder-then-run chain), and the pixel runs' GPU
    hours at the seed study's speed."""
    pol = params.get("policy", {})
    variants, runs, seeds = pol.get("variants", {}), pol.get("run", []), pol.get("seeds", [0])
    resolved = {v: deep_merge(pol.get("defaults", {}), variants.get(v, {})) for v in runs}
    n_envs = int(pol.get("n_envs", 1))
    steps = int(pol.get("total_steps", 0))
    hours = sum(run_hours(pol, resolved[v], steps_per_s(resolved[v], n_envs)) for v in runs) * len(seeds)
    pixel = [v for v in runs if resolved[v].get("obs") == "pixel"]
    gpu = sum(run_hours(pol, {}, GPU_PIXEL_STEPS_PER_S) for _ in pixel) * len(seeds)
    budget = [v for v in runs if resolved[v].get("wall_minutes") is not None]
    pre = params.get("pretrain", {})
    n_enc = len(pre.get("encoders", []))
    pre_h = pretrain_hours(pre)
    chain = max(  # a run waits for its encoder: no packing makes the study shorter than its longest chain
        (
            run_hours(pol, resolved[v], steps_per_s(resolved[v], n_envs))
            + (encoder_hours(pre, resolved[v]["encoder"]) if resolved[v].get("encoder") else 0.0)
            for v in runs
        ),
        default=0.0,
    )
    return (
        f"{len(runs)} variants x {len(seeds)} seeds x {steps:,} env steps = {len(runs) * len(seeds)} policy runs, "
        f"{_hours(hours)} of runs at the speeds this study measured on a 2-core CPU"
        + (f" ({', '.join(budget)} stopped at their wall_minutes)" if budget else "")
        + f", after {_hours(pre_h)} of pretraining {n_enc} encoder{'s' * (n_enc != 1)}"
        + f"; {_hours(max((hours + pre_h) / 2, chain))} wall time two tasks at a time"
        + " (python -m pipeline.launch --jobs 2, at side-by-side speeds: a task alone runs faster)"
        + (f"; the {len(pixel)} pixel rows {_hours(gpu)} on a GPU at the seed study's ~30 env steps/s" if pixel else "")
    )
