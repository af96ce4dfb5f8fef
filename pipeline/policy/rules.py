"""Every cross-field rule of the ``policy`` section, in one place.

A rule is a small function of a resolved variant (``policy.defaults`` <- its block) that returns an error message,
naming the keys and the values they allow, or None. ``VariantFields`` applies every rule of :data:`VARIANT_RULES`
when it is built, so each variant of ``params.yaml`` (and of any profile) is checked before a stage does any work;
:data:`TASK_RULES` need the task too and are applied when a run builds its envs (``pipeline.policy.build``).
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from typing import Protocol

from pipeline.policy.fields import VariantFields


class Task(Protocol):
    """What the task rules read of the ``env`` section (``pipeline.envs.EnvConfig``)."""

    id: str

    @property
    def has_object(self) -> bool: ...


def inputs_distinct(v: VariantFields) -> str | None:
    if v.inputs is not None and (not v.inputs or len(set(v.inputs)) != len(v.inputs)):
        return f"inputs lists each of observation, achieved_goal, desired_goal at most once, not none (got {v.inputs})"
    return None


def latent_needs_encoder(v: VariantFields) -> str | None:
    if v.obs == "latent" and not v.encoder:
        return "obs: latent needs `encoder` (a name listed in pretrain.encoders)"
    return None


def latent_goals_need_latent_obs(v: VariantFields) -> str | None:
    if v.goal_mode == "latent" and v.obs != "latent":
        return f"goal_mode: latent needs obs: latent (got obs: {v.obs}); state, pixel and proprio use goal_mode: vector"
    return None


def goal_space_needs_latent_goals(v: VariantFields) -> str | None:
    if v.goal_space != "latent" and v.goal_mode != "latent":
        return f"goal_space: {v.goal_space} needs goal_mode: latent (with goal_mode: vector leave goal_space: latent)"
    return None


def occluded_goal_needs_keypoints(v: VariantFields) -> str | None:
    if v.occluded_goal != "read" and (v.goal_mode != "latent" or v.goal_space != "keypoints"):
        return (
            f"occluded_goal: {v.occluded_goal} needs goal_mode: latent and goal_space: keypoints (got goal_mode: "
            f"{v.goal_mode}, goal_space: {v.goal_space}); otherwise occluded_goal: read"
        )
    return None


def goal_reward_needs_latent_goals(v: VariantFields) -> str | None:
    if v.goal_reward != "latent" and v.goal_mode != "latent":
        return (
            f"goal_reward: {v.goal_reward} needs goal_mode: latent (with goal_mode: vector leave goal_reward: latent)"
        )
    return None


def achieved_window_needs_latent_goals(v: VariantFields) -> str | None:
    if v.achieved_window > 1 and v.goal_mode != "latent":
        return f"achieved_window: {v.achieved_window} needs goal_mode: latent (with goal_mode: vector: 1)"
    return None


def prior_goal_fraction_needs_latent_goals(v: VariantFields) -> str | None:
    if v.prior_goal_fraction > 0 and v.goal_mode != "latent":
        return f"prior_goal_fraction > 0 needs goal_mode: latent (and a vae encoder; got goal_mode: {v.goal_mode})"
    return None


def obs_space_needs_latent_obs(v: VariantFields) -> str | None:
    if v.obs_space != "latent" and v.obs != "latent":
        return f"obs_space: {v.obs_space} needs obs: latent (got obs: {v.obs}); other observations: obs_space: latent"
    return None


def prior_data_needs_vector_inputs(v: VariantFields) -> str | None:
    if v.prior_data and (v.obs not in ("latent", "proprio") or v.goal_mode != "vector"):
        return (
            f"prior_data needs obs: latent or proprio with goal_mode: vector (got obs: {v.obs}, goal_mode: "
            f"{v.goal_mode}; the dataset holds frames, proprio and positions, not the full state or goal images)"
        )
    return None


def prior_options_need_prior_data(v: VariantFields) -> str | None:
    if (v.prior_share is not None or v.prior_episodes is not None) and not v.prior_data:
        return "prior_share and prior_episodes need prior_data: true (or leave them out)"
    return None


def object_estimate_needs_proprio(v: VariantFields) -> str | None:
    if v.object_estimate is not None and (v.obs != "proprio" or v.prior_data):
        return (
            f"object_estimate needs obs: proprio and no prior_data (it corrupts the env's positions; got obs: {v.obs}, "
            f"prior_data: {str(v.prior_data).lower()})"
        )
    return None


def critic_layernorm_algos(v: VariantFields) -> str | None:
    if v.sac.critic_layernorm and (v.obs == "pixel" or v.algo == "tqc"):
        return (
            f"sac.critic_layernorm is for state, latent and proprio variants with algo: sac or td3 (got obs: {v.obs}, "
            f"algo: {v.algo})"
        )
    return None


def pixel_sac_only(v: VariantFields) -> str | None:
    if v.obs == "pixel" and v.algo != "sac":
        return f"algo: {v.algo} is for state, latent and proprio variants; pixel variants use algo: sac"
    return None


def compile_is_for_pixel_encoders(v: VariantFields) -> str | None:
    if v.compile and v.obs != "pixel":
        return f"compile: true compiles a pixel agent's image encoders; obs: {v.obs} has none (set compile: false)"
    return None


def pixel_scripted_warmup_needs_proprio(v: VariantFields) -> str | None:
    if v.obs == "pixel" and v.warmup == "scripted" and not v.proprio:
        return "obs: pixel with warmup: scripted needs the gripper position: set proprio: true or warmup: random"
    return None


VARIANT_RULES: list[Callable[[VariantFields], str | None]] = [
    inputs_distinct,
    latent_needs_encoder,
    latent_goals_need_latent_obs,
    goal_space_needs_latent_goals,
    occluded_goal_needs_keypoints,
    goal_reward_needs_latent_goals,
    achieved_window_needs_latent_goals,
    prior_goal_fraction_needs_latent_goals,
    obs_space_needs_latent_obs,
    prior_data_needs_vector_inputs,
    prior_options_need_prior_data,
    object_estimate_needs_proprio,
    critic_layernorm_algos,
    pixel_sac_only,
    pixel_scripted_warmup_needs_proprio,
    compile_is_for_pixel_encoders,
]
"""the rules every resolved variant must pass"""


def latent_goals_need_an_object(v: VariantFields, task: Task) -> str | None:
    if v.goal_mode == "latent" and not task.has_object:
        return f"goal_mode: latent needs a task with an object; env.id {task.id} has none (use goal_mode: vector)"
    return None


def object_estimate_needs_an_object(v: VariantFields, task: Task) -> str | None:
    if v.object_estimate is not None and not task.has_object:
        return f"object_estimate needs a task with an object; env.id {task.id} has none"
    return None


TASK_RULES: list[Callable[[VariantFields, Task], str | None]] = [
    latent_goals_need_an_object,
    object_estimate_needs_an_object,
]
"""the rules a variant must pass on the task a run trains it on"""


def variant_errors(v: VariantFields) -> list[str]:
    """The messages of every rule ``v`` breaks (none: it is valid)."""
    return [msg for rule in VARIANT_RULES if (msg := rule(v))]


def task_errors(v: VariantFields, task: Task) -> list[str]:
    """The messages of every task rule ``v`` breaks on ``task``."""
    return [msg for rule in TASK_RULES if (msg := rule(v, task))]


def unknown_run(run: list[str], variants: Collection[str]) -> str | None:
    """``policy.run`` names only variants that ``policy.variants`` defines."""
    unknown = sorted(set(run) - set(variants))
    if unknown:
        return f"`run` lists unknown variants {unknown}; defined in policy.variants: {sorted(variants)}"
    return None
