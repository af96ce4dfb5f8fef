"""SAC's update for the end-to-end pixel agents, with each batch of observations encoded once per encoder.

SB3's ``SAC.train`` runs an encoder over the observations up to three times per gradient step: for the actor's
actions, for the critic loss, and again for the actor loss's Q values, whose gradients then flow back through the
critic's encoder only to be discarded (its optimizer steps on the critic loss alone). Here each encoder sees the
observations once, and the actor loss's Q values read the critic's features detached, as DrQ-v2's update does:

- ``routing: critic`` (DrQ-v2): one encoder, run with gradients for the critic loss; the actor reads its features
  detached (features from before the critic's step, the critic's heads after it);
- ``routing: separate``: the actor's encoder with gradients for the actor, the critic's for the critic loss;
- ``routing: shared`` (the actor loss trains the one encoder): run with gradients for the actor, detached for the
  critic; SB3 never steps it on the critic loss, so this update is SB3's to the last digit without augmentation.

The next observations go through the online actor's encoder (the next actions) and the target critic's own encoder
copy (the TD target), as in SB3. Same losses, entropy tuning, target clipping and Polyak averaging as ``SAC.train``;
an extractor's random shift is drawn once per batch instead of once per pass. State and latent agents keep SB3's
update.
"""

from __future__ import annotations

import numpy as np
import torch as th
import torch.nn.functional as F
from stable_baselines3 import SAC
from stable_baselines3.common.utils import polyak_update
from stable_baselines3.sac.policies import LOG_STD_MAX, LOG_STD_MIN

from pipeline.policy.routing import CriticEncoderSACPolicy


def actor_from_features(model: SAC, features: th.Tensor) -> tuple[th.Tensor, th.Tensor]:
    """The actor's squashed actions and their log-probabilities ``(B, A)``, ``(B,)`` from encoder features."""
    actor = model.actor
    latent = actor.latent_pi(features)
    log_std = th.clamp(actor.log_std(latent), LOG_STD_MIN, LOG_STD_MAX)
    return actor.action_dist.log_prob_from_params(actor.mu(latent), log_std)


def q_from_features(model: SAC, features: th.Tensor, actions: th.Tensor) -> tuple[th.Tensor, ...]:
    """Each online Q head's values ``(B, 1)`` for encoder features and actions."""
    q_input = th.cat([features, actions], dim=1)  # (B, F + A)
    return tuple(q(q_input) for q in model.critic.q_networks)


def observation_features(model: SAC, obs: dict[str, th.Tensor]) -> tuple[th.Tensor, th.Tensor]:
    """The actor's and the critic's features of ``obs``, ``(B, F)`` each, each encoder run once (see above)."""
    actor, critic = model.actor, model.critic
    if isinstance(model.policy, CriticEncoderSACPolicy):
        critic_features = critic.extract_features(obs, critic.features_extractor)
        return critic_features.detach(), critic_features
    if model.policy.share_features_extractor:
        actor_features = actor.extract_features(obs, actor.features_extractor)
        return actor_features, actor_features.detach()
    return actor.extract_features(obs, actor.features_extractor), critic.extract_features(
        obs, critic.features_extractor
    )


def fused_update(model: SAC, gradient_steps: int, batch_size: int) -> None:
    """``gradient_steps`` SAC updates of a pixel agent (:class:`~pipeline.policy.routing.PixelSACPolicy`, no gSDE),
    each encoder run once over the observations."""
    assert not model.use_sde, "the fused pixel update does not support gSDE"
    model.policy.set_training_mode(True)
    optimizers = [model.actor.optimizer, model.critic.optimizer]
    model._update_learning_rate(optimizers + ([model.ent_coef_optimizer] if model.ent_coef_optimizer else []))
    ent_coefs, ent_coef_losses, actor_losses, critic_losses = [], [], [], []
    for step in range(gradient_steps):
        data = model.replay_buffer.sample(batch_size, env=model._vec_normalize_env)
        discounts = data.discounts if data.discounts is not None else model.gamma
        actor_features, features = observation_features(model, data.observations)  # (B, F) each
        actions_pi, log_prob = actor_from_features(model, actor_features)
        log_prob = log_prob.reshape(-1, 1)  # (B,) -> (B, 1)
        if model.ent_coef_optimizer is not None:
            ent_coef = th.exp(model.log_ent_coef.detach())
            ent_coef_loss = -(model.log_ent_coef * (log_prob + model.target_entropy).detach()).mean()
            ent_coef_losses.append(ent_coef_loss.item())
            model.ent_coef_optimizer.zero_grad()
            ent_coef_loss.backward()
            model.ent_coef_optimizer.step()
        else:
            ent_coef = model.ent_coef_tensor
        ent_coefs.append(ent_coef.item())
        with th.no_grad():
            next_actions, next_log_prob = model.actor.action_log_prob(data.next_observations)
            next_q = th.cat(model.critic_target(data.next_observations, next_actions), dim=1)  # (B, n_critics)
            next_q = th.min(next_q, dim=1, keepdim=True)[0] - ent_coef * next_log_prob.reshape(-1, 1)
            target_q = data.rewards + (1 - data.dones) * discounts * next_q  # (B, 1)
        critic_loss = 0.5 * sum(F.mse_loss(q, target_q) for q in q_from_features(model, features, data.actions))
        critic_losses.append(critic_loss.item())
        model.critic.optimizer.zero_grad()
        critic_loss.backward()
        model.critic.optimizer.step()
        q_pi = th.cat(q_from_features(model, features.detach(), actions_pi), dim=1)  # (B, n_critics)
        actor_loss = (ent_coef * log_prob - th.min(q_pi, dim=1, keepdim=True)[0]).mean()
        actor_losses.append(actor_loss.item())
        model.actor.optimizer.zero_grad()
        actor_loss.backward()
        model.actor.optimizer.step()
        if step % model.target_update_interval == 0:
            polyak_update(model.critic.parameters(), model.critic_target.parameters(), model.tau)
            polyak_update(model.batch_norm_stats, model.batch_norm_stats_target, 1.0)
    model._n_updates += gradient_steps
    model.logger.record("train/n_updates", model._n_updates, exclude="tensorboard")
    model.logger.record("train/ent_coef", np.mean(ent_coefs))
    model.logger.record("train/actor_loss", np.mean(actor_losses))
    model.logger.record("train/critic_loss", np.mean(critic_losses))
    if ent_coef_losses:
        model.logger.record("train/ent_coef_loss", np.mean(ent_coef_losses))
