"""Which parts of the observation reach the networks: honest latent inputs, and the blind controls."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from pipeline.config import Params
from pipeline.policy.config import PolicyConfig, VariantConfig
from pipeline.policy.inputs import variant_inputs
from pipeline.policy.train import build_model

from .policy_helpers import SAC_TINY, envs_for, make_encoder, policy_params, read_eval, run_policy

L = 8  # latent size of the test encoder
CASES = {  # variant -> features the networks read (actor's extractor)
    "state": ({"obs": "state"}, 25 + 3 + 3),
    "latent": ({"obs": "latent", "encoder": "vae", "frame_stack": 2}, 2 * L + 10 + 3),
    "latent_seed_inputs": (
        {
            "obs": "latent",
            "encoder": "vae",
            "frame_stack": 2,
            "inputs": ["observation", "achieved_goal", "desired_goal"],
        },
        2 * L + 10 + 3 + 3,
    ),
    "blind": ({"obs": "proprio"}, 10 + 3),
    "goals_only": ({"obs": "proprio", "inputs": ["observation", "achieved_goal", "desired_goal"]}, 10 + 3 + 3),
    "pixel": ({"obs": "pixel", "extractor": "manip_ss", "frame_stack": 1}, 2 * 32 + 10 + 3),
    "pixel_seed_inputs": (
        {
            "obs": "pixel",
            "extractor": "manip_ss",
            "frame_stack": 1,
            "inputs": ["observation", "achieved_goal", "desired_goal"],
        },
        2 * 32 + 10 + 3 + 3,
    ),
}


def build(tmp_path: Path, spec: dict):
    params = Params.model_validate(policy_params(tmp_path))
    make_encoder(params)
    variant = VariantConfig(**spec, sac=SAC_TINY)
    train_env, eval_env, _ = envs_for(params, variant, 0, "cpu")
    eval_env.close()
    return variant, train_env, build_model(variant, train_env, 0, "cpu", tmp_path / "tb")


@pytest.mark.parametrize("case", list(CASES))
def test_network_input_size_per_choice(tmp_path: Path, case: str) -> None:
    spec, features = CASES[case]
    _, env, model = build(tmp_path, spec)
    assert model.actor.features_extractor.features_dim == features
    assert model.critic.features_extractor.features_dim == features
    env.close()


@pytest.mark.parametrize("case", ["latent", "blind", "pixel"])
def test_achieved_goal_does_not_reach_the_networks_by_default(tmp_path: Path, case: str) -> None:
    """The simulator's object position (``achieved_goal``) stays in the buffer: changing it changes no output."""
    spec, _ = CASES[case]
    _, env, model = build(tmp_path, spec)
    model.learn(120, progress_bar=False)  # some updates, so the networks are not at their init
    batch = model.replay_buffer.sample(32)
    moved = {**batch.observations, "achieved_goal": batch.observations["achieved_goal"] + 0.3}
    actions = torch.rand(32, 4) * 2 - 1
    model.policy.set_training_mode(False)  # pixel extractors' random shift off
    with torch.no_grad():
        assert torch.equal(model.actor(batch.observations, deterministic=True), model.actor(moved, deterministic=True))
        qa, qb = model.critic(batch.observations, actions), model.critic(moved, actions)
        assert all(torch.equal(x, y) for x, y in zip(qa, qb))
    # the seed's inputs do read it
    seed_inputs = {**spec, "inputs": ["observation", "achieved_goal", "desired_goal"]}
    _, env2, seeded = build(tmp_path / "seed", seed_inputs)
    seeded.policy.set_training_mode(False)
    with torch.no_grad():
        qa, qb = seeded.critic(batch.observations, actions), seeded.critic(moved, actions)
    assert not torch.equal(qa[0], qb[0])
    env.close()
    env2.close()


def test_blind_controls_train_and_see_no_object(tmp_path: Path) -> None:
    p = policy_params(tmp_path, total_steps=200)
    p["policy"]["variants"]["blind"] = {"obs": "proprio", "sac": SAC_TINY}
    params = Params.model_validate(p)
    metrics = run_policy(params, "blind", seed=0, progress=False)
    assert [int(r["step"]) for r in read_eval(params.paths.runs / "blind" / "0")] == [0, 100, 200]
    assert metrics["replay_bytes_per_transition"] < 200  # no frames, no 25-D state
    env, eval_env, _ = envs_for(params, params.policy.variants["blind"], 0, "cpu")
    obs = env.reset()
    np.testing.assert_array_equal(obs["observation"], env.raw_observations()["proprio"].astype(np.float32))
    env.close()
    eval_env.close()


def test_inputs_must_be_distinct_and_not_empty() -> None:
    with pytest.raises(ValueError, match="at most once"):
        VariantConfig(obs="state", inputs=[])
    with pytest.raises(ValueError, match="at most once"):
        VariantConfig(obs="state", inputs=["observation", "observation"])


@pytest.mark.parametrize("key", ["goal", "obs"])
def test_variants_reading_fitted_goal_spaces_hash_them(tmp_path: Path, key: str) -> None:
    (tmp_path / "enc" / "supervised").mkdir(parents=True)
    (tmp_path / "enc" / "supervised" / "encoder.json").write_text("{}")
    (tmp_path / "gs" / "supervised").mkdir(parents=True)
    (tmp_path / "gs" / "supervised" / "keypoints.json").write_text("{}")
    extra = {"goal_mode": "latent", "goal_space": "keypoints"} if key == "goal" else {"obs_space": "keypoints"}
    variants = {
        "v": VariantConfig(obs="latent", encoder="supervised", **extra),
        "plain": VariantConfig(obs="latent", encoder="supervised"),
    }
    policy = PolicyConfig(variants=variants, run=["v"])
    read = lambda name: variant_inputs(policy, name, tmp_path / "enc", tmp_path / "data", tmp_path / "gs")  # noqa: E731
    assert read("v")["goal_spaces_sha256"] is not None and read("plain")["goal_spaces_sha256"] is None
