"""Encoder gradient routing for SB3 SAC with pixel extractors.

Three ways the image encoder (features extractor) can be trained:

* ``separate`` -- SB3 default (``share_features_extractor=False``): the actor and the critic each own
  an extractor. ``SACPolicy._build`` gives ``actor.optimizer`` all actor parameters and
  ``critic.optimizer`` all critic parameters, so the actor loss trains the actor's extractor and the
  critic loss the critic's. (The actor loss also back-propagates into the critic's extractor through
  ``critic(obs, actions_pi)``, but those gradients are never stepped: ``critic.optimizer.zero_grad()``
  clears them before the next critic step.)
* ``shared`` -- SB3 ``share_features_extractor=True``: one extractor (``actor.features_extractor``,
  also used by the critic). ``SACPolicy._build`` builds the critic optimizer from
  ``[p for name, p in critic.named_parameters() if "features_extractor" not in name]`` and
  ``ContinuousCritic.forward`` runs the extractor under ``th.set_grad_enabled(not share_features_extractor)``,
  so the critic loss neither produces gradients for nor steps the encoder: it is trained by the
  actor loss only.
* ``critic`` -- DrQ-v2: one shared extractor trained ONLY by the critic loss. The critic is built
  with ``share_features_extractor=False`` (gradients flow through the extractor) around the actor's
  extractor and its optimizer includes it; the actor runs the extractor under ``no_grad`` (detached
  features) and its optimizer excludes it.

Differences from DrQ-v2 that come from SB3's SAC structure: the target critic owns a Polyak-averaged
copy of the encoder (as in SAC-AE / DrQ), and actor and critic forwards draw independent random shifts.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Any

import torch as th
from stable_baselines3 import SAC
from stable_baselines3.common.torch_layers import BaseFeaturesExtractor
from stable_baselines3.common.type_aliases import PyTorchObs, Schedule
from stable_baselines3.sac.policies import Actor, SACPolicy

from pipeline.policy.extractors import EXTRACTORS, RandomShift


class Routing(StrEnum):
    """Which loss trains the image encoder."""

    separate = "separate"
    shared = "shared"
    critic = "critic"


class PixelSACPolicy(SACPolicy):
    """``SACPolicy`` whose target critic also augments (DrQ) while the policy is in train mode.

    SB3 keeps ``critic_target`` in eval mode forever, which would switch :class:`RandomShift` off for
    the TD target's ``next_obs``; DrQ augments ``next_obs`` too. Only ``RandomShift`` modules of the
    target follow ``mode``; everything else in the target stays in eval mode.
    """

    def set_training_mode(self, mode: bool) -> None:
        super().set_training_mode(mode)
        for module in self.critic_target.modules():
            if isinstance(module, RandomShift):
                module.train(mode)


class DetachedFeaturesActor(Actor):
    """SAC actor that sees detached encoder features (no actor-loss gradient reaches the extractor)."""

    def extract_features(self, obs: PyTorchObs, features_extractor: BaseFeaturesExtractor) -> th.Tensor:
        with th.no_grad():
            return super().extract_features(obs, features_extractor)


class CriticEncoderSACPolicy(PixelSACPolicy):
    """DrQ-v2 routing: one extractor shared by actor and critic, updated only by the critic loss.

    Accepts the ``SACPolicy`` arguments; ``share_features_extractor`` is ignored (always shared).
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        # False here so ContinuousCritic.forward keeps gradients through the (shared) extractor.
        kwargs["share_features_extractor"] = False
        super().__init__(*args, **kwargs)
        self.share_features_extractor = True

    def make_actor(self, features_extractor: BaseFeaturesExtractor | None = None) -> Actor:
        actor_kwargs = self._update_features_extractor(self.actor_kwargs, features_extractor)
        return DetachedFeaturesActor(**actor_kwargs).to(self.device)

    def _build(self, lr_schedule: Schedule) -> None:
        self.actor = self.make_actor()
        actor_parameters = [
            p for name, p in self.actor.named_parameters() if not name.startswith("features_extractor.")
        ]
        self.actor.optimizer = self.optimizer_class(actor_parameters, lr=lr_schedule(1), **self.optimizer_kwargs)  # type: ignore[call-arg]

        self.critic = self.make_critic(features_extractor=self.actor.features_extractor)
        # all critic parameters, the shared extractor included
        self.critic.optimizer = self.optimizer_class(
            self.critic.parameters(), lr=lr_schedule(1), **self.optimizer_kwargs
        )  # type: ignore[call-arg]

        self.critic_target = self.make_critic(features_extractor=None)
        self.critic_target.load_state_dict(self.critic.state_dict())
        self.critic_target.set_training_mode(False)


def pixel_policy_kwargs(
    extractor: str,
    net_arch: list[int] | dict[str, list[int]] | None = None,
    **extractor_kwargs: Any,
) -> dict[str, Any]:
    """``policy_kwargs`` for a registered extractor (``EXTRACTORS`` key), e.g. ``coordconv=True, augment=True``."""
    kwargs: dict[str, Any] = dict(
        features_extractor_class=EXTRACTORS[extractor],
        features_extractor_kwargs=dict(extractor_kwargs),
        normalize_images=False,
    )
    if net_arch is not None:
        kwargs["net_arch"] = net_arch
    return kwargs


def routed_policy(routing: Routing | str, policy_kwargs: dict[str, Any]) -> tuple[type[SACPolicy], dict[str, Any]]:
    """The SAC policy class and its ``policy_kwargs`` that train the image encoder according to ``routing``.

    ``normalize_images`` defaults to False because the pixel extractors divide by 255 themselves.
    Works with ``replay_buffer_class=HerReplayBuffer`` or ``FrameHerReplayBuffer``.

    :param routing: a :class:`Routing` or its name
    :param policy_kwargs: SACPolicy kwargs (``features_extractor_class``, ``net_arch``, ...)
    """
    routing = Routing(routing)
    kwargs = dict(policy_kwargs)
    kwargs.setdefault("normalize_images", False)
    if routing is Routing.critic:
        kwargs.pop("share_features_extractor", None)
        return CriticEncoderSACPolicy, kwargs
    kwargs["share_features_extractor"] = routing is Routing.shared
    return PixelSACPolicy, kwargs


def encoder_modules(model: SAC) -> dict[str, th.nn.Module]:
    """The online extractors: ``{"actor": ..., "critic": ...}`` (the same module unless ``separate``)."""
    return {"actor": model.actor.features_extractor, "critic": model.critic.features_extractor}
