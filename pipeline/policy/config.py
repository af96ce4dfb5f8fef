"""The ``policy`` params section: shared training settings, the recipe every variant starts from, named variants."""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, Field, ValidationError, model_validator

from pipeline.params import ParamsError, StrictModel, deep_merge
from pipeline.policy.fields import VariantFields
from pipeline.policy.rules import unknown_run, variant_errors


class VariantConfig(VariantFields):
    """One agent of the comparison: its keys, resolved over ``policy.defaults``, passing every rule of
    :mod:`pipeline.policy.rules`."""

    @model_validator(mode="after")
    def _rules(self) -> VariantConfig:
        errors = variant_errors(self)
        if errors:
            raise ValueError("; ".join(errors))
        return self


DEFAULT_VARIANTS: dict[str, dict[str, Any]] = {
    "state": {"obs": "state"},
    "latent_vae": {"obs": "latent", "encoder": "vae"},
}
"""the variants of a ``policy`` section that defines none"""


def resolve_variants(data: dict[str, Any]) -> dict[str, Any]:
    """A raw ``policy`` section with ``defaults`` merged under each variant block (``defaults`` <- block, nested
    blocks key by key); unchanged where ``defaults`` is absent or invalid (its own field then reports it)."""
    defaults = data.get("defaults")
    if isinstance(defaults, BaseModel):
        defaults = defaults.model_dump(exclude_unset=True)
    if not isinstance(defaults, dict) or not defaults:
        return data
    try:
        VariantFields.model_validate(defaults)
    except ValidationError:
        return data
    variants = data.get("variants", DEFAULT_VARIANTS)
    if not isinstance(variants, dict):
        return data
    resolved = {k: deep_merge(defaults, v) if isinstance(v, dict) else v for k, v in variants.items()}
    return {**data, "variants": resolved}


class PolicyConfig(StrictModel):
    """Settings shared by every policy run, and the variants."""

    total_steps: int = Field(200_000, ge=1)
    """env steps per run (all vectorised envs together)"""
    n_envs: int = Field(2, ge=1, le=64)
    """vectorised training envs (one batched encoder call per step)"""
    eval_every: int = Field(10_000, ge=1)
    """env steps between evaluations (and checkpoints)"""
    eval_episodes: int = Field(20, ge=1)
    """deterministic evaluation episodes, on fixed seeds disjoint from training seeds"""
    device: Literal["auto", "cpu", "cuda"] = "auto"
    """torch device for SAC and the encoder (``auto``: cuda when present)"""
    vec_env: Literal["auto", "dummy", "subproc"] = "auto"
    """where envs step: ``dummy`` in this process, ``subproc`` one worker process each (renders in parallel);
    ``auto``: subproc for rendering variants on machines with two or more cores, else dummy"""
    overlap_updates: bool = True
    """with envs in worker processes (state/latent variants): run each SAC update while the workers step and
    render the next frames, the policy acting one update behind (off: SB3's strict alternation)"""
    final_eval_episodes: int = Field(0, ge=0, le=1000)
    """after training, evaluate the final policy on this many fixed episodes with a 95 % Wilson interval
    (``final_eval_*`` in the run's ``metrics.json`` and ``summary.json``; 0: none); the study uses 100"""
    rollout_episodes: int = Field(2, ge=0, le=20)
    """deterministic eval episodes drawn at the end of a run as ``runs/<variant>/<seed>/rollout.gif`` (the agent's
    camera beside its goal; 0: none; pixel variants: none)"""
    cpu_threads: int = Field(1, ge=0, le=256)
    """torch intra-op threads (0: torch's default). 1 suits small MLPs and never oversubscribes shared cores"""
    seeds: list[int] = Field(default_factory=lambda: [0, 1])
    """seeds of the study (the DVC matrix)"""
    defaults: VariantFields = Field(default_factory=VariantFields)
    """the recipe every variant starts from: variant keys, merged under each block of ``variants`` (a variant states
    only how it differs; keys in neither take the defaults above)"""
    variants: dict[str, VariantConfig] = Field(
        default_factory=lambda: {k: VariantConfig(**v) for k, v in DEFAULT_VARIANTS.items()}
    )
    """named agents of the comparison, each resolved over ``defaults``"""
    run: list[str] = Field(default_factory=lambda: ["state", "latent_vae"])
    """variants the DVC matrix runs (names from ``variants``); swap with ``dvc exp run -S 'policy.run=[...]'``"""

    @model_validator(mode="before")
    @classmethod
    def _resolve(cls, data: Any) -> Any:
        return resolve_variants(data) if isinstance(data, dict) else data

    @model_validator(mode="after")
    def _known_run(self) -> PolicyConfig:
        error = unknown_run(self.run, self.variants)
        if error:
            raise ValueError(error)
        return self


def variant_named(policy: PolicyConfig, name: str) -> VariantConfig:
    """``policy.variants[name]``; a clear error naming the defined variants otherwise (a function, not a method, so
    the stage-contract test sees exactly which params key it reads)."""
    if name not in policy.variants:
        raise ParamsError(f"unknown variant {name!r}; defined in policy.variants: {sorted(policy.variants)}")
    return policy.variants[name]
