"""The recipe in ``params.yaml``: ``policy.defaults`` under every variant, the rules of ``pipeline.policy.rules``,
the comparison in ``policy.run`` and the ablation overlays in ``profiles/ablations/``."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest

from pipeline.config import Params, load_params
from pipeline.params import ParamsError, read_yaml
from pipeline.policy import rules
from pipeline.policy.config import PolicyConfig, VariantConfig
from pipeline.policy.fields import VariantFields
from pipeline.profile import load_profile, main, merge, merged, profile_names

from .conftest import write_params

ROOT = Path(__file__).resolve().parents[1]
ABLATIONS = [n for n in profile_names(ROOT) if n.startswith("ablations/")]
SAC = {
    "learning_rate": 0.001, "buffer_size": 1_000_000, "batch_size": 256, "gamma": 0.95, "tau": 0.05,
    "learning_starts": 5000, "train_freq": 1, "gradient_steps": 1, "ent_coef": 0.05, "net_arch": [256, 256, 256],
    "critic_layernorm": False, "target_clip": True, "action_noise": 0.1, "top_quantiles_to_drop": 2,
}  # fmt: skip
STATE = {
    "obs": "state", "inputs": None, "encoder": None, "goal_mode": "vector", "proprio": True, "frame_stack": 1,
    "goal_space": "latent", "obs_space": "latent", "achieved_window": 1, "goal_reward": "latent",
    "latent_threshold": "auto", "goal_min_visible": 0.9, "occluded_goal": "read", "prior_goal_fraction": 0.0,
    "extractor": "manip_ss", "coordconv": False, "routing": "critic", "augment": True, "algo": "sac",
    "warmup": "scripted", "warmup_noise": 0.3, "normalize": True, "prior_data": False, "prior_episodes": None,
    "prior_share": None, "object_estimate": None, "sac": SAC,
    "her": {"n_sampled_goal": 4, "goal_selection_strategy": "future"}, "wall_minutes": None, "compile": False,
}  # fmt: skip
LATENT_SUPERVISED = {**STATE, "obs": "latent", "encoder": "supervised", "frame_stack": 8}
EXPECTED = {
    "state": STATE,
    "latent_supervised": LATENT_SUPERVISED,
    "rig_spatial_ae_keypoints_obs_hold": {
        **LATENT_SUPERVISED, "encoder": "spatial_ae", "goal_mode": "latent", "goal_space": "keypoints",
        "obs_space": "keypoints", "occluded_goal": "hold",
    },
    "pixel_manip_ss": {
        **STATE, "obs": "pixel", "frame_stack": 4, "augment": False,
        "sac": {**SAC, "buffer_size": 500_000, "learning_rate": 0.0001},
        "her": {"n_sampled_goal": 8, "goal_selection_strategy": "future"}, "wall_minutes": 115.0, "compile": True,
    },
    # the eleventh round's latent_spatial_ae_utd2, now the study's latent_spatial_ae
    "latent_spatial_ae": {**LATENT_SUPERVISED, "encoder": "spatial_ae", "sac": {**SAC, "gradient_steps": 2}},
}  # fmt: skip
"""resolved variants as the params before ``policy.defaults`` resolved them (the same dicts: old checkpoints resume)"""
COMPARISON = {
    "state", "goals_only", "blind", "latent_supervised", "latent_spatial_ae", "latent_vae", "latent_frozen",
    "rig_vae", "rig_spatial_ae_keypoints_obs_hold", "pixel_nature", "pixel_manip_ss",
}  # fmt: skip


@pytest.fixture(scope="module")
def study() -> Params:
    return load_params(ROOT / "params.yaml")


@pytest.mark.parametrize("name", list(EXPECTED))
def test_key_variants_resolve_as_before(study: Params, name: str) -> None:
    assert study.policy.variants[name].model_dump(mode="json") == EXPECTED[name]


def test_old_fingerprints_still_match(study: Params) -> None:
    """A checkpoint's stored variant (written before the defaults block) upgrades to what a run writes now."""
    from pipeline.policy.train import NOT_FINGERPRINTED, upgrade_fingerprint

    env = study.env.model_dump(mode="json")
    for name in ("state", "latent_supervised", "pixel_manip_ss"):
        added = {"obs_space", "wall_minutes", "compile"}  # keys added since
        old = {k: v for k, v in EXPECTED[name].items() if k not in added}
        now = study.policy.variants[name].model_dump(mode="json", exclude=NOT_FINGERPRINTED)
        assert upgrade_fingerprint({"env": env, "variant": old})["variant"] == now


def test_policy_run_is_the_comparison_and_the_defaults_hold_the_recipe(study: Params) -> None:
    assert set(study.policy.run) == COMPARISON == set(study.policy.variants)
    raw = read_yaml(ROOT / "params.yaml")["policy"]["defaults"]
    assert {"warmup", "warmup_noise", "normalize", "frame_stack", "sac", "her"} <= set(raw)
    assert {"learning_starts", "ent_coef", "gamma", "target_clip", "gradient_steps"} <= set(raw["sac"])
    for name in ("pixel_nature", "pixel_manip_ss"):  # scripted warm-up, pixels + proprio + desired goal only
        v = study.policy.variants[name]
        assert v.warmup == "scripted" and v.proprio and v.input_keys() == ["observation", "desired_goal"]


@pytest.mark.parametrize("name", profile_names(ROOT))
def test_every_profile_validates_and_runs_variants_it_defines(name: str) -> None:
    params = Params.model_validate(merged(name, ROOT))
    assert params.policy.run and set(params.policy.run) <= set(params.policy.variants)
    assert merged(name, ROOT) != read_yaml(ROOT / "params.yaml")


@pytest.mark.parametrize("name", ABLATIONS)
def test_ablation_overlays_define_only_new_variants_and_say_what_they_ablate(name: str) -> None:
    path = ROOT / "profiles" / f"{name}.yaml"
    text = path.read_text()
    assert text.startswith("# Ablation: "), f"{path}: start with a header saying what it ablates"
    rounds = re.findall(r"\b(\d\d-[a-z0-9-]+\.md)", text)
    assert rounds and all((ROOT / "docs/notebook" / r).is_file() for r in rounds), f"{path}: cite its rounds"
    own = read_yaml(path)["policy"]["variants"]
    assert not set(own) & set(read_yaml(ROOT / "params.yaml")["policy"]["variants"])
    others = [set(read_yaml(ROOT / "profiles" / f"{o}.yaml")["policy"]["variants"]) for o in ABLATIONS if o != name]
    assert not any(set(own) & o for o in others), "a variant is defined in one overlay only"


def test_push_cpu_runs_the_rounds_variants_through_its_includes() -> None:
    params = Params.model_validate(merged("push_cpu", ROOT))
    assert "latent_spatial_ae_utd1" in params.policy.run and "latent_supervised_prior" in params.policy.run
    assert params.policy.variants["latent_spatial_ae_utd1"].sac.gradient_steps == 1


def test_a_variant_overriding_a_nested_default_keeps_the_other_defaults(study: Params) -> None:
    raw = read_yaml(ROOT / "params.yaml")["policy"]
    assert raw["variants"]["latent_spatial_ae"]["sac"] == {"gradient_steps": 2}
    sac = study.policy.variants["latent_spatial_ae"].sac
    assert sac.gradient_steps == 2
    assert all(getattr(sac, k) == v for k, v in raw["defaults"]["sac"].items() if k != "gradient_steps")
    policy = PolicyConfig.model_validate(
        {"defaults": {"frame_stack": 4, "sac": {"gamma": 0.9, "batch_size": 64}}, "run": ["a"],
         "variants": {"a": {"obs": "state", "sac": {"batch_size": 32}}}}
    )  # fmt: skip
    a = policy.variants["a"]
    assert (a.frame_stack, a.sac.gamma, a.sac.batch_size, a.sac.tau) == (4, 0.9, 32, 0.05)


def study_with(tmp_path: Path, policy: dict[str, Any]) -> Path:
    return write_params(tmp_path, merge(read_yaml(ROOT / "params.yaml"), {"policy": policy}))


@pytest.mark.parametrize(
    ("policy", "key"),
    [
        ({"defaults": {"frame_stacks": 8}}, "`policy.defaults.frame_stacks`: unknown key"),
        ({"defaults": {"sac": {"gama": 0.9}}}, "`policy.defaults.sac.gama`: unknown key"),
        ({"defaults": {"sac": {"gamma": 2.0}}}, "`policy.defaults.sac.gamma`: Input should be less than or equal"),
        ({"variants": {"latent_vae": {"frame_stack": 9}}}, "`policy.variants.latent_vae.frame_stack`: Input should"),
    ],
)
def test_errors_name_the_key_in_the_defaults_or_the_variant(tmp_path: Path, policy: dict, key: str) -> None:
    with pytest.raises(ParamsError) as exc:
        load_params(study_with(tmp_path, policy))
    assert key in str(exc.value)


RULE_CASES = {
    "inputs_distinct": ({"obs": "state", "inputs": []}, ["inputs"]),
    "latent_needs_encoder": ({"obs": "latent"}, ["obs: latent", "encoder"]),
    "latent_goals_need_latent_obs": ({"obs": "state", "goal_mode": "latent"}, ["goal_mode: latent", "obs: latent"]),
    "goal_space_needs_latent_goals": ({"obs": "state", "goal_space": "keypoints"}, ["goal_space: keypoints"]),
    "occluded_goal_needs_keypoints": ({"obs": "state", "occluded_goal": "hold"}, ["occluded_goal: hold"]),
    "goal_reward_needs_latent_goals": ({"obs": "state", "goal_reward": "simulator"}, ["goal_reward: simulator"]),
    "achieved_window_needs_latent_goals": ({"obs": "state", "achieved_window": 3}, ["achieved_window: 3"]),
    "prior_goal_fraction_needs_latent_goals": ({"obs": "state", "prior_goal_fraction": 0.5}, ["prior_goal_fraction"]),
    "obs_space_needs_latent_obs": ({"obs": "proprio", "obs_space": "keypoints"}, ["obs_space: keypoints"]),
    "prior_data_needs_vector_inputs": ({"obs": "state", "prior_data": True}, ["prior_data", "obs: latent or proprio"]),
    "prior_options_need_prior_data": ({"obs": "state", "prior_share": 0.5}, ["prior_share", "prior_data: true"]),
    "object_estimate_needs_proprio": ({"obs": "state", "object_estimate": {}}, ["object_estimate", "obs: proprio"]),
    "critic_layernorm_algos": (
        {"obs": "state", "algo": "tqc", "sac": {"critic_layernorm": True}},
        ["algo: sac or td3"],
    ),
    "pixel_sac_only": ({"obs": "pixel", "algo": "td3"}, ["algo: td3", "algo: sac"]),
    "pixel_scripted_warmup_needs_proprio": ({"obs": "pixel", "proprio": False}, ["warmup: scripted", "proprio: true"]),
    "compile_is_for_pixel_encoders": ({"obs": "proprio", "compile": True}, ["compile: true", "obs: proprio"]),
}
"""one variant breaking each rule (and only it), and the keys its message must name"""


def test_every_rule_has_a_case() -> None:
    assert [r.__name__ for r in rules.VARIANT_RULES] == list(RULE_CASES)


def unchecked(values: dict[str, Any]) -> VariantConfig:
    """A variant with ``values`` over the Python defaults, built without the rules (to ask each rule on its own)."""
    return VariantConfig.model_construct(**dict(VariantFields.model_validate(values)))


@pytest.mark.parametrize("rule", list(RULE_CASES))
def test_each_rule_names_its_keys(rule: str) -> None:
    values, names = RULE_CASES[rule]
    assert [r.__name__ for r in rules.VARIANT_RULES if r(unchecked(values))] == [rule]
    with pytest.raises(ValueError) as exc:
        VariantConfig.model_validate(values)
    assert all(name in str(exc.value) for name in names), str(exc.value)


def test_task_rules_name_the_env() -> None:
    from pipeline.envs import EnvConfig

    reach = EnvConfig(id="FetchReach-v4")
    rig = VariantConfig(obs="latent", encoder="vae", goal_mode="latent")
    assert rules.task_errors(rig, reach) == [
        "goal_mode: latent needs a task with an object; env.id FetchReach-v4 has none (use goal_mode: vector)"
    ]
    estimate = VariantConfig(obs="proprio", object_estimate={"std": 0.01})
    assert "object_estimate" in rules.task_errors(estimate, reach)[0]
    assert not rules.task_errors(rig, EnvConfig())


def test_unknown_run_names_the_defined_variants(tmp_path: Path) -> None:
    with pytest.raises(ParamsError, match=r"`run` lists unknown variants \['nope'\]"):
        load_params(study_with(tmp_path, {"run": ["state", "nope"]}))


def test_ablation_names_print_overrides_adding_new_keys(monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    monkeypatch.chdir(ROOT)
    main(["ablations/frame_stack"])
    out = capsys.readouterr().out.splitlines()
    assert 'policy.run=["latent_supervised", "latent_supervised_stack2"]' in out
    assert "++policy.variants.latent_supervised_stack2.frame_stack=2" in out
    main(["--cost", "ablations/frame_stack"])
    assert "2 variants x 3 seeds" in capsys.readouterr().out


def test_include_merges_other_profiles_first_and_refuses_cycles(tmp_path: Path) -> None:
    folder = tmp_path / "profiles"
    (folder / "sub").mkdir(parents=True)
    (folder / "sub" / "a.yaml").write_text("policy: {run: [x], seeds: [1]}\n")
    (folder / "b.yaml").write_text("include: [sub/a]\npolicy: {run: [y]}\n")
    assert load_profile("b", tmp_path) == {"policy": {"run": ["y"], "seeds": [1]}}
    (folder / "c.yaml").write_text("include: [c]\n")
    with pytest.raises(ParamsError, match="cycles"):
        load_profile("c", tmp_path)
    with pytest.raises(ParamsError, match="available: b, c, sub/a"):
        load_profile("../b", tmp_path)


@pytest.mark.parametrize("name", ["ablations/critic_norm", "reach"])
def test_dvc_set_param_overrides_give_the_merged_params(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys, name: str
) -> None:
    """``dvc exp run $(python -m pipeline.profile NAME)`` stages the same params as ``merged(NAME)``: a key that
    params.yaml lacks (a variant the overlay defines) is printed as ``++key=value``, which DVC adds."""
    from dvc.utils.hydra import apply_overrides

    monkeypatch.chdir(ROOT)
    main([name])
    overrides = [line for line in capsys.readouterr().out.splitlines() if line != "-S"]
    staged = tmp_path / "params.yaml"
    staged.write_text((ROOT / "params.yaml").read_text())
    apply_overrides(staged, overrides)
    assert load_params(staged) == Params.model_validate(merged(name, ROOT))
