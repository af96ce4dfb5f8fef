"""The agent of any variant: its networks, its replay buffer and the harness's options, in one constructor call."""

from __future__ import annotations

from pathlib import Path
from typing import Any

from stable_baselines3 import HerReplayBuffer
from stable_baselines3.common.off_policy_algorithm import OffPolicyAlgorithm
from stable_baselines3.common.vec_env import VecEnv

from pipeline.policy.agent import ALGOS, algo_kwargs, uses_worker_processes
from pipeline.policy.config import VariantConfig
from pipeline.policy.critic_norm import LAYERNORM_POLICIES
from pipeline.policy.frame_buffer import FrameHerReplayBuffer
from pipeline.policy.normalize import VectorInputs
from pipeline.policy.prior import PriorHerReplayBuffer
from pipeline.policy.warmup import scripted_warmup


def build_model(
    variant: VariantConfig,
    env: VecEnv,
    seed: int,
    device: str,
    tb_dir: Path,
    overlap: bool = False,
    has_object: bool = True,
) -> OffPolicyAlgorithm:
    """The agent of any variant (state, latent or pixel): SB3 / sb3-contrib ``variant.algo`` with HER, the
    harness's options (:mod:`pipeline.policy.agent`) and the variant's networks.

    State and latent variants normalise their vector inputs inside the networks (:class:`VectorInputs`); pixel
    variants get a CNN extractor and encoder routing (:func:`pipeline.policy.pixel.pixel_networks`). Pixel and
    latent variants store each frame (or latent) once in the replay
    (:class:`~pipeline.policy.frame_buffer.FrameHerReplayBuffer`).

    :param overlap: when ``env`` steps in worker processes, run each update while they step (ignored for
        in-process envs and pixel variants)
    :param has_object: the task has an object to push (else the scripted warm-up reaches for the goal)
    """
    sac = variant.sac
    replay_kwargs: dict[str, Any] = {
        "n_sampled_goal": variant.her.n_sampled_goal,
        "goal_selection_strategy": variant.her.goal_selection_strategy,
    }
    if variant.obs == "pixel":
        from pipeline.policy.pixel import pixel_networks

        policy, policy_kwargs = pixel_networks(variant)
        replay, replay_kwargs["frame_stack"] = FrameHerReplayBuffer, variant.frame_stack
        source = None  # pixel observations carry proprio and the simulator goals
        overlap = False
    else:
        policy = LAYERNORM_POLICIES[variant.algo] if sac.critic_layernorm else "MultiInputPolicy"
        policy_kwargs = {
            "net_arch": list(sac.net_arch),
            "features_extractor_class": VectorInputs,
            "features_extractor_kwargs": {
                "keys": variant.input_keys(),
                "normalize": variant.normalize,
                "goal_width": getattr(env, "goal_width", None),
            },
        }
        replay = PriorHerReplayBuffer if variant.prior_data else HerReplayBuffer
        if variant.obs == "latent":  # each frame's latent stored once, stacks rebuilt at sample time
            replay = FrameHerReplayBuffer
            replay_kwargs.update(frame_stack=variant.frame_stack, latent_dim=env.stack_width)
        if variant.prior_data:
            replay_kwargs["prior_share"] = variant.prior_share
        source = getattr(env, "raw_observations", None)
        overlap = overlap and uses_worker_processes(env)
    warmup = scripted_warmup(source, variant.warmup_noise, has_object, seed) if variant.warmup == "scripted" else None
    model = ALGOS[variant.algo](
        policy,
        env,
        learning_rate=sac.learning_rate,
        buffer_size=sac.buffer_size,
        batch_size=sac.batch_size,
        gamma=sac.gamma,
        tau=sac.tau,
        learning_starts=sac.learning_starts,
        train_freq=sac.train_freq,
        gradient_steps=sac.gradient_steps,
        replay_buffer_class=replay,
        replay_buffer_kwargs=replay_kwargs,
        policy_kwargs=policy_kwargs,
        tensorboard_log=str(tb_dir),
        seed=seed,
        device=device,
        verbose=0,
        warmup=warmup,
        overlap=overlap,
        target_clip=sac.target_clip,
        **algo_kwargs(variant.algo, sac, env.action_space.shape[0]),
    )
    if variant.compile:  # pixel variants only (pipeline.policy.rules)
        from pipeline.policy.pixel import compile_encoders

        compile_encoders(model)
    return model
