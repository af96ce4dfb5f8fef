"""Layer-normalised critics: where the LayerNorms sit, that updates train them, and that a run resumes."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from torch import nn

from pipeline.config import Params
from pipeline.policy.config import VariantConfig

from .policy_helpers import policy_params, read_eval, run_policy
from .test_recipe import built, state_variant


def layer_norms(module: nn.Module) -> list[nn.LayerNorm]:
    return [m for m in module.modules() if isinstance(m, nn.LayerNorm)]


@pytest.mark.parametrize("algo", ["sac", "td3"])
def test_critics_and_their_targets_have_a_layernorm_per_hidden_layer(tmp_path: Path, algo: str) -> None:
    variant = state_variant(algo=algo, sac={"critic_layernorm": True})
    _, model, train_env, eval_env = built(tmp_path, variant)
    hidden = len(variant.sac.net_arch)
    for critic in (model.critic, model.critic_target):
        assert len(critic.q_networks) == 2
        for q_net in critic.q_networks:
            assert len(layer_norms(q_net)) == hidden
            assert [m.normalized_shape[0] for m in layer_norms(q_net)] == variant.sac.net_arch
    assert not layer_norms(model.actor)
    # SB3's optimiser holds the new networks' parameters, not those of the networks they replaced
    optimised = {id(p) for g in model.critic.optimizer.param_groups for p in g["params"]}
    assert all(id(p) in optimised for q in model.critic.q_networks for p in q.parameters())
    # the target starts as a copy of the online critic
    for a, b in zip(model.critic.parameters(), model.critic_target.parameters(), strict=True):
        assert torch.equal(a, b)
    train_env.close()
    eval_env.close()


def test_updates_train_the_layernorms_and_default_has_none(tmp_path: Path) -> None:
    _, plain, env0, eval0 = built(tmp_path / "plain", state_variant())
    assert not layer_norms(plain.critic)
    env0.close()
    eval0.close()
    _, model, train_env, eval_env = built(tmp_path / "ln", state_variant(sac={"critic_layernorm": True}))
    before = [m.weight.detach().clone() for m in layer_norms(model.critic)]
    model.learn(total_timesteps=model.learning_starts + 20)
    after = [m.weight for m in layer_norms(model.critic)]
    assert all(not torch.equal(a, b) for a, b in zip(before, after, strict=True))
    train_env.close()
    eval_env.close()


def test_run_with_layernorm_critics_resumes(tmp_path: Path, capsys) -> None:
    p = policy_params(tmp_path, total_steps=200, eval_episodes=1)
    p["policy"]["variants"]["state"]["sac"] = {**p["policy"]["variants"]["state"]["sac"], "critic_layernorm": True}
    run_policy(Params.model_validate(p), "state", seed=0, progress=False)
    p["policy"]["total_steps"] = 300
    metrics = run_policy(Params.model_validate(p), "state", seed=0, progress=True)
    assert "resuming state/0 from step 200" in capsys.readouterr().out and metrics["total_steps"] == 300
    assert [int(r["step"]) for r in read_eval(Path(p["paths"]["runs"]) / "state" / "0")] == [0, 100, 200, 300]


def test_layernorm_critic_refused_where_not_built() -> None:
    for spec in ({"obs": "pixel"}, {"obs": "state", "algo": "tqc"}):
        with pytest.raises(ValueError, match="critic_layernorm is for state, latent and proprio variants"):
            VariantConfig(**spec, sac={"critic_layernorm": True})
