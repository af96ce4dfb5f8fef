"""The state recipe's levers: scripted warm-up, input normalisation, target clipping, the algorithm choice."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from pipeline.config import Params
from pipeline.io import state_signature
from pipeline.policy.agent import ALGOS, clip_critic_targets
from pipeline.policy.checkpoint import load_checkpoint, save_checkpoint
from pipeline.policy.config import VariantConfig
from pipeline.policy.evaluate import evaluate
from pipeline.policy.normalize import NormalizerUpdate, RunningNorm, VectorInputs, normalizers
from pipeline.policy.train import build_model
from pipeline.policy.warmup import scripted_warmup

from .conftest import task_rewards
from .policy_helpers import SAC_TINY, envs_for, policy_params, read_eval, run_policy


def state_variant(**kw: object) -> VariantConfig:
    sac = {**SAC_TINY, **kw.pop("sac", {})}  # type: ignore[dict-item]
    return VariantConfig(obs="state", sac=sac, **kw)


def built(tmp_path: Path, variant: VariantConfig, seed: int = 0):
    params = Params.model_validate(policy_params(tmp_path))
    train_env, eval_env, _ = envs_for(params, variant, seed, "cpu")
    model = build_model(variant, train_env, seed, "cpu", tmp_path / "tb", has_object=params.env.has_object)
    return params, model, train_env, eval_env


def test_scripted_warmup_drives_exactly_learning_starts_steps(tmp_path: Path) -> None:
    _, model, train_env, eval_env = built(tmp_path, state_variant(sac={"learning_starts": 40}))
    script, calls = model.warmup_actions, []

    def recorded(last_obs: object) -> np.ndarray:
        calls.append(model.num_timesteps)
        actions = script(last_obs)
        recorded.last = actions
        return actions

    model.warmup_actions = recorded
    predicted, predict = [], model.predict
    model.predict = lambda *a, **k: (predicted.append(model.num_timesteps), predict(*a, **k))[1]
    model.learn(100, callback=NormalizerUpdate(), progress_bar=False)
    assert calls == list(range(0, 40, 2))  # 2 envs: one call per vectorised step below learning_starts
    assert predicted == list(range(40, 100, 2))  # then the policy acts, every step
    assert model.warmup_steps_taken == 40 and model._n_updates > 0
    np.testing.assert_allclose(model.replay_buffer.actions[19], recorded.last, atol=1e-6)  # the script's, stored
    train_env.close()
    eval_env.close()


def test_scripted_actions_follow_the_raw_simulator_state() -> None:
    raw = {
        "proprio": np.zeros((2, 10)),
        "achieved_goal": np.array([[0.2, 0, 0.4], [0.2, 0, 0.4]]),
        "desired_goal": np.array([[0.4, 0, 0.4], [0.4, 0, 0.4]]),
    }
    act = scripted_warmup(lambda: raw, noise=0.0, has_object=True, seed=0)
    first = act(None)
    raw["achieved_goal"] = raw["achieved_goal"] * -1  # the block moved: the pusher goes elsewhere
    assert first.shape == (2, 4) and not np.allclose(first, act(None))
    own = scripted_warmup(None, noise=0.0, has_object=True, seed=0)(raw)  # no source: the agent's observation
    np.testing.assert_allclose(own, act(None))
    reach = scripted_warmup(lambda: raw, noise=0.0, has_object=False, seed=0)(None)
    assert np.all(reach[:, 0] > 0)  # Reach: straight at the goal (+x)


@pytest.mark.parametrize("obs", ["state", "latent"])
def test_warmup_source_changes_no_network_input(tmp_path: Path, obs: str) -> None:
    from .policy_helpers import make_encoder

    shapes = {}
    for warmup in ("random", "scripted"):
        v = VariantConfig(obs=obs, encoder="vae" if obs == "latent" else None, warmup=warmup, sac=SAC_TINY)
        params = Params.model_validate(policy_params(tmp_path))
        make_encoder(params)
        train_env, eval_env, _ = envs_for(params, v, 0, "cpu")
        model = build_model(v, train_env, 0, "cpu", tmp_path / "tb")
        shapes[warmup] = (train_env.observation_space, state_signature(model.policy.state_dict()))
        assert (model.warmup_actions is not None) == (warmup == "scripted")
        train_env.close()
        eval_env.close()
    assert shapes["random"] == shapes["scripted"]


def test_running_norm_matches_numpy_over_batches() -> None:
    rng = np.random.default_rng(0)
    batches = [rng.normal(3.0, 2.0, (n, 4)) for n in (1, 7, 50)]
    norm = RunningNorm(4)
    for b in batches:
        norm.update(torch.from_numpy(b))
    every = np.concatenate(batches)
    np.testing.assert_allclose(norm.running_mean.numpy(), every.mean(0), rtol=1e-9)
    np.testing.assert_allclose(norm.running_var.numpy(), every.var(0), rtol=1e-9)
    out = norm(torch.tensor([[1e6, 3.0, 3.0, -1e6]]))
    assert out[0, 0] == 5.0 and out[0, 3] == -5.0 and abs(float(out[0, 1])) < 0.1


def test_normalisation_is_applied_after_her_on_raw_goals_and_frozen_in_eval(tmp_path: Path) -> None:
    _, model, train_env, eval_env = built(tmp_path, state_variant())
    model.learn(200, callback=NormalizerUpdate(), progress_bar=False)
    norms = normalizers(model.policy)
    # actor, critic, target critic; 2 envs x (first obs + 100 steps) x both goal keys
    assert len(norms) == 3 and all(float(m.norms["goal"].running_count) == 2 * 101 * 2 for m in norms)
    batch = model.replay_buffer.sample(256)
    raw_reward = task_rewards(train_env, batch)
    np.testing.assert_array_equal(batch.rewards.numpy().ravel(), raw_reward)  # stored and relabelled raw
    assert (raw_reward == 0).any() and (raw_reward == -1).any()
    feats = model.actor.features_extractor(batch.observations)
    assert feats.abs().max() <= 5.0 and feats.mean().abs() < 1.0  # normalised at the network input
    raw_scale = batch.observations["observation"].abs().max()
    assert raw_scale > 1.0 or not torch.allclose(feats[:, :25], batch.observations["observation"])
    before = [m.state_dict() for m in norms]
    evaluate(model, eval_env, 2)
    for m, b in zip(norms, before):
        assert all(torch.equal(m.state_dict()[k], b[k]) for k in b)
    train_env.close()
    eval_env.close()


def test_normalisation_statistics_survive_a_checkpoint(tmp_path: Path) -> None:
    _, model, train_env, eval_env = built(tmp_path, state_variant())
    model.learn(150, callback=NormalizerUpdate(), progress_bar=False)
    save_checkpoint(model, tmp_path / "ckpt")
    _, fresh, env2, eval2 = built(tmp_path, state_variant())
    assert float(normalizers(fresh.policy)[0].norms["observation"].running_count) == 0
    load_checkpoint(fresh, tmp_path / "ckpt")
    for a, b in zip(normalizers(model.policy), normalizers(fresh.policy)):
        for k, v in a.state_dict().items():
            assert torch.equal(v, b.state_dict()[k]), k
    for env in (train_env, eval_env, env2, eval2):
        env.close()


def test_no_normalisation_passes_inputs_through(tmp_path: Path) -> None:
    _, model, train_env, eval_env = built(tmp_path, state_variant(normalize=False))
    obs = {k: torch.as_tensor(v) for k, v in train_env.reset().items()}
    feats = model.actor.features_extractor(obs)
    assert torch.equal(feats, torch.cat([obs["observation"], obs["achieved_goal"], obs["desired_goal"]], 1))
    assert not normalizers(model.policy)
    train_env.close()
    eval_env.close()


@pytest.mark.parametrize("algo", list(ALGOS))
def test_target_clipping_bounds_the_target_critic(tmp_path: Path, algo: str) -> None:
    gamma = 0.9
    _, model, train_env, eval_env = built(tmp_path, state_variant(algo=algo, sac={"gamma": gamma}))
    obs = {k: torch.as_tensor(np.repeat(v, 64, 0)) for k, v in train_env.reset().items()}
    actions = torch.rand(128, 4) * 2 - 1
    obs = {k: v * torch.linspace(-50, 50, 128).reshape(-1, 1) for k, v in obs.items()}  # (2 envs x 64, d)
    with torch.no_grad():
        for p in model.critic_target.parameters():
            p.mul_(40.0)  # a diverged target network: values far outside the range of returns
        out = model.critic_target(obs, actions)
    values = torch.cat(out, 1) if isinstance(out, tuple) else out
    assert values.min() >= -1 / (1 - gamma) - 1e-6 and values.max() <= 0.0
    assert (values == 0).any() or (values == -1 / (1 - gamma)).any()  # the clamp was active
    if algo == "td3":  # no entropy term: the whole TD target r + gamma * Q' is in range
        rewards = torch.tensor([-1.0, 0.0]).repeat(64).reshape(-1, 1)
        targets = rewards + gamma * torch.cat(out, 1).min(1, keepdim=True).values
        assert targets.min() >= -1 / (1 - gamma) - 1e-5 and targets.max() <= 0.0
    train_env.close()
    eval_env.close()


def test_target_clipping_can_be_turned_off(tmp_path: Path) -> None:
    _, model, train_env, eval_env = built(tmp_path, state_variant(sac={"target_clip": False}))
    assert not model.critic_target._forward_hooks
    clip_critic_targets(model, 0.95)
    assert len(model.critic_target._forward_hooks) == 1
    train_env.close()
    eval_env.close()


@pytest.mark.parametrize("algo", list(ALGOS))
def test_every_algo_trains_evaluates_and_resumes(tmp_path: Path, algo: str, capsys) -> None:
    p = policy_params(tmp_path, total_steps=200, eval_episodes=1)
    p["policy"]["variants"]["state"]["algo"] = algo
    metrics = run_policy(Params.model_validate(p), "state", seed=0, progress=False)
    assert metrics["algo"] == algo and metrics["warmup"] == "scripted" and metrics["warmup_steps"] == 100
    p["policy"]["total_steps"] = 300
    metrics = run_policy(Params.model_validate(p), "state", seed=0, progress=True)
    assert "resuming state/0 from step 200" in capsys.readouterr().out and metrics["total_steps"] == 300
    run = Path(p["paths"]["runs"]) / "state" / "0"
    assert [int(r["step"]) for r in read_eval(run)] == [0, 100, 200, 300]
    assert json.loads((run / "metrics.json").read_text())["algo"] == algo


def test_pixel_variants_refuse_other_algos() -> None:
    with pytest.raises(ValueError, match="pixel variants use algo: sac"):
        VariantConfig(obs="pixel", algo="tqc")
    with pytest.raises(ValueError, match="warmup: scripted needs the gripper position"):
        VariantConfig(obs="pixel", proprio=False)
    assert VariantConfig(obs="pixel", proprio=False, warmup="random").warmup == "random"


def test_vector_inputs_choose_keys() -> None:
    from gymnasium import spaces

    box = lambda n: spaces.Box(-np.inf, np.inf, (n,), np.float32)  # noqa: E731
    space = spaces.Dict({"observation": box(7), "achieved_goal": box(3), "desired_goal": box(3)})
    ext = VectorInputs(space, keys=("observation", "desired_goal"))
    assert ext.features_dim == 10
    with pytest.raises(ValueError, match="not in the observation"):
        VectorInputs(space, keys=("pixels",))
