"""Replay seeded from the collect stage's dataset: transitions, rewards under relabelling, shares, resume."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from pipeline.collect.dataset import load_dataset
from pipeline.config import Params
from pipeline.policy.config import VariantConfig
from pipeline.policy.prior import PriorDataError, prior_observations
from pipeline.policy.train import build_model, seed_prior

from .conftest import task_rewards
from .policy_helpers import SAC_TINY, envs_for, make_encoder, policy_params, read_eval, run_policy

LATENT = {"obs": "latent", "encoder": "vae", "frame_stack": 2, "prior_data": True, "sac": SAC_TINY}


def prior_params(tmp_path: Path, dataset: Path, **variant: object) -> dict:
    p = policy_params(tmp_path, total_steps=200, eval_episodes=1)
    p["env"].update(image_size=32, max_episode_steps=20)  # as the shared tiny dataset
    p["paths"]["dataset"] = str(dataset)
    p["policy"]["variants"]["seeded"] = {**LATENT, **variant}
    return p


def seeded_model(tmp_path: Path, dataset: Path, **variant: object):
    params = Params.model_validate(prior_params(tmp_path, dataset, **variant))
    make_encoder(params)
    v = params.policy.variants["seeded"]
    env, eval_env, _ = envs_for(params, v, 0, "cpu")
    eval_env.close()
    model = build_model(v, env, 0, "cpu", tmp_path / "tb")
    info = seed_prior(params.env, v, env, model, resumed=False, dataset=params.paths.dataset)
    return params, env, model, info


def test_seeded_buffer_holds_the_dataset_with_task_rewards(tmp_path: Path, tiny_dataset: Path) -> None:
    params, env, model, info = seeded_model(tmp_path, tiny_dataset)
    data = load_dataset(tiny_dataset, ("object_pos", "goal", "action", "proprio"))
    buf = model.replay_buffer
    assert info["prior_transitions"] == 6 * 20 and buf.pos == 60 and int(buf.prior_rows[0]) == 60  # 2 envs
    assert "scripted" in info["prior_policy"]  # half the tiny dataset's episodes are the scripted pusher's
    fpe = 21
    obj = data.arrays["object_pos"].reshape(6, fpe, 3)
    act = data.arrays["action"].reshape(6, fpe, 4)
    # env slot 0 holds episodes 0, 2, 4 and slot 1 episodes 1, 3, 5, one after the other
    np.testing.assert_allclose(buf.observations["achieved_goal"][:20, 1], obj[1, :20])
    np.testing.assert_allclose(buf.next_observations["achieved_goal"][20:40, 0], obj[2, 1:])
    np.testing.assert_allclose(buf.actions[40:60, 1], act[5, :20])
    np.testing.assert_allclose(buf.frames[:20, 0, -10:], data.arrays["proprio"][:20])  # latent + proprio per frame
    batch = buf.sample(256)  # 80 % relabelled by HER
    reward = task_rewards(env, batch)
    np.testing.assert_array_equal(batch.rewards.numpy().ravel(), reward)
    assert (reward == 0).any()  # relabelled goals the block reached
    env.close()


@pytest.mark.parametrize("share", [0.0, 0.5, 1.0])
def test_prior_share_of_each_batch(tmp_path: Path, tiny_dataset: Path, share: float) -> None:
    _, env, model, _ = seeded_model(tmp_path, tiny_dataset, prior_share=share)
    model.learn(120, progress_bar=False)  # online episodes after the 60 prior rows
    buf = model.replay_buffer
    prior = {tuple(np.round(o, 5)) for o in buf.frames[:60].reshape(-1, buf.frames.shape[-1])}  # latent + proprio
    batch = buf.sample(200)
    newest = buf.layout.newest(batch.observations["observation"].numpy())  # (200, L + 10)
    from_prior = np.mean([tuple(np.round(o, 5)) in prior for o in newest])
    assert from_prior == pytest.approx(share, abs=0.02)
    env.close()


def test_seeded_run_resumes_without_seeding_twice(tmp_path: Path, tiny_dataset: Path, capsys) -> None:
    p = prior_params(tmp_path, tiny_dataset)
    params = Params.model_validate(p)
    make_encoder(params)
    metrics = run_policy(params, "seeded", seed=0, progress=False)
    assert metrics["prior_transitions"] == 120 and metrics["total_steps"] == 200  # prior data cost no env steps
    ckpt = params.paths.checkpoints / "policy" / "seeded" / "0"
    with np.load(ckpt / "replay.npz") as saved:
        before = saved["observations/achieved_goal"][:60].copy()
        rows = len(saved["actions"])
        assert rows == 60 + 99  # the checkpoint is written before the step's own transition is stored
    p["policy"]["total_steps"] = 300
    metrics = run_policy(Params.model_validate(p), "seeded", seed=0, progress=True)
    assert "resuming seeded/0 from step 200" in capsys.readouterr().out
    assert metrics["prior_transitions"] == 120 and metrics["total_steps"] == 300
    with np.load(ckpt / "replay.npz") as saved:
        np.testing.assert_array_equal(saved["observations/achieved_goal"][:60], before)
        assert len(saved["actions"]) == rows + 49  # 50 more steps, the last one again not yet stored
    assert [int(r["step"]) for r in read_eval(params.paths.runs / "seeded" / "0")] == [0, 100, 200, 300]


def test_variants_the_dataset_cannot_seed(tmp_path: Path, tiny_dataset: Path) -> None:
    with pytest.raises(ValueError, match="prior_data needs obs: latent or proprio"):
        VariantConfig(obs="state", prior_data=True)
    with pytest.raises(ValueError, match="need prior_data: true"):
        VariantConfig(obs="proprio", prior_share=0.5)
    params = Params.model_validate(prior_params(tmp_path, tiny_dataset))
    other_env = params.env.model_copy(update={"max_episode_steps": 10})
    with pytest.raises(PriorDataError, match="21 frames per episode"):
        prior_observations(tiny_dataset, VariantConfig(obs="proprio", prior_data=True), other_env, None, None)


def test_blind_variant_seeds_from_proprio(tmp_path: Path, tiny_dataset: Path) -> None:
    _, env, model, info = seeded_model(tmp_path, tiny_dataset, obs="proprio", encoder=None)
    data = load_dataset(tiny_dataset, ("proprio",))
    np.testing.assert_allclose(model.replay_buffer.observations["observation"][:20, 0], data.arrays["proprio"][:20])
    assert info["prior_transitions"] == 120
    env.close()


def test_prior_episodes_stack_what_obs_space_projects(tmp_path: Path, tiny_dataset: Path) -> None:
    """The dataset's episodes go through the env wrapper's own flow, so an ``obs_space`` projection applies to them
    as it does online (once banned together with ``prior_data``)."""
    from pipeline.encoders import load_encoder

    params = Params.model_validate(prior_params(tmp_path, tiny_dataset))  # frame_stack 2
    enc = load_encoder(make_encoder(params), device="cpu")
    variant, L = params.policy.variants["seeded"], enc.latent_dim

    class FirstHalf:  # a goal space in miniature: the first half of each latent
        dim = L // 2

        def project(self, z: np.ndarray) -> np.ndarray:
            return z[:, : self.dim]

    whole, actions, _ = prior_observations(tiny_dataset, variant, params.env, enc, 3)
    half, _, _ = prior_observations(tiny_dataset, variant, params.env, enc, 3, FirstHalf())
    w, h = whole["observation"], half["observation"]  # (3, 21, 2L + 10), (3, 21, L + 10)
    assert w.shape == (3, 21, 2 * L + 10) and h.shape == (3, 21, L + 10) and actions.shape == (3, 20, 4)
    np.testing.assert_array_equal(w[:, 0, :L], w[:, 0, L : 2 * L])  # the first latent repeated before the episode
    np.testing.assert_array_equal(w[:, 1:, :L], w[:, :-1, L : 2 * L])  # each frame's latent moves down the stack
    expected = np.concatenate([w[..., : L // 2], w[..., L : L + L // 2], w[..., 2 * L :]], axis=-1)
    np.testing.assert_array_equal(h, expected)
    np.testing.assert_array_equal(half["achieved_goal"], whole["achieved_goal"])
