"""Layer-normalised critics for SAC and TD3 (RLPD, Ball et al. 2023; DroQ, Hiraoka et al. 2022).

SB3's ``ContinuousCritic`` builds each Q-network with ``create_mlp`` and no normalisation. Here each hidden
``Linear`` of every Q-network (online and target) is followed by ``LayerNorm``, before its activation; the actor,
the features extractors and everything else stay SB3's own. The policy classes below differ from SB3's
``MultiInputPolicy`` in ``make_critic`` only, so checkpoints (state dicts) restore into a model built the same way.
"""

from __future__ import annotations

from typing import Any

from stable_baselines3.common.policies import ContinuousCritic
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor, create_mlp
from stable_baselines3.sac.policies import MultiInputPolicy as SACMultiInputPolicy
from stable_baselines3.td3.policies import MultiInputPolicy as TD3MultiInputPolicy
from torch import nn


class LayerNormCritic(ContinuousCritic):
    """``ContinuousCritic`` whose Q-networks have ``LayerNorm`` after each hidden linear layer."""

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(**kwargs)
        in_dim = kwargs["features_dim"] + self.action_space.shape[0]  # features ++ action, as SB3 concatenates
        act = kwargs.get("activation_fn", nn.ReLU)
        self.q_networks: list[nn.Module] = []
        for idx in range(self.n_critics):
            q_net = nn.Sequential(*create_mlp(in_dim, 1, kwargs["net_arch"], act, post_linear_modules=[nn.LayerNorm]))
            self.add_module(f"qf{idx}", q_net)  # replaces SB3's un-normalised network of the same name
            self.q_networks.append(q_net)


class _LayerNormCriticMixin:
    """``make_critic`` that builds :class:`LayerNormCritic` (the rest of the policy is SB3's)."""

    def make_critic(self, features_extractor: BaseFeaturesExtractor | None = None) -> ContinuousCritic:
        critic_kwargs = self._update_features_extractor(self.critic_kwargs, features_extractor)
        return LayerNormCritic(**critic_kwargs).to(self.device)


class LayerNormSACPolicy(_LayerNormCriticMixin, SACMultiInputPolicy):
    """SAC's ``MultiInputPolicy`` with layer-normalised critics."""


class LayerNormTD3Policy(_LayerNormCriticMixin, TD3MultiInputPolicy):
    """TD3's ``MultiInputPolicy`` with layer-normalised critics."""


LAYERNORM_POLICIES: dict[str, type] = {"sac": LayerNormSACPolicy, "td3": LayerNormTD3Policy}
"""``algo`` -> its dict-observation policy with layer-normalised critics (TQC's quantile critic is not covered)"""
