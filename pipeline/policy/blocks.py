"""The nested blocks of a policy variant: ``sac``, ``her`` and ``object_estimate``."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from pipeline.params import StrictModel


class SACConfig(StrictModel):
    """Hyperparameters of the off-policy algorithm (the block is named after SAC; TQC and TD3 read it too)."""

    learning_rate: float = Field(1e-3, gt=0)
    """Adam learning rate of actor, critic and entropy coefficient"""
    buffer_size: int = Field(1_000_000, ge=1000)
    """replay capacity in transitions"""
    batch_size: int = Field(256, ge=1)
    """minibatch size"""
    gamma: float = Field(0.95, gt=0, le=1)
    """discount"""
    tau: float = Field(0.05, gt=0, le=1)
    """target network Polyak coefficient"""
    learning_starts: int = Field(5000, ge=0)
    """env steps of warm-up actions (``warmup``: scripted or uniform random) before updates start"""
    train_freq: int = Field(1, ge=1)
    """vectorised env steps between updates"""
    gradient_steps: int = Field(1, ge=-1)
    """gradient steps per update (-1: as many as env steps collected)"""
    ent_coef: float | Literal["auto"] = 0.05
    """SAC / TQC entropy coefficient: a fixed float (e.g. 0.05) or ``auto`` (learned)"""
    net_arch: list[int] = Field(default_factory=lambda: [256, 256, 256])
    """hidden sizes of actor and critic MLPs"""
    critic_layernorm: bool = False
    """SAC / TD3: LayerNorm after each hidden layer of the critics (RLPD's critic; ``pipeline.policy.critic_norm``)"""
    target_clip: bool = True
    """clip the target critic's values to [-1/(1-gamma), 0] (the range of returns of rewards in {-1, 0})"""
    action_noise: float = Field(0.1, ge=0)
    """TD3: std of the Gaussian exploration noise (actions in [-1, 1])"""
    top_quantiles_to_drop: int = Field(2, ge=0)
    """TQC: top quantiles dropped per critic network"""


class HERConfig(StrictModel):
    """Hindsight experience replay."""

    n_sampled_goal: int = Field(4, ge=0)
    """relabelled goals per real transition (k)"""
    goal_selection_strategy: Literal["future", "final", "episode"] = "future"
    """where relabelled goals come from"""


class ObjectEstimateConfig(StrictModel):
    """A stand-in for an encoder of known error: the simulator's block position, corrupted, appended to a ``proprio``
    observation (a diagnostic control: how good must the block estimate be for the recipe to learn Push?)."""

    std: float = Field(0.0, ge=0)
    """std (metres) of the Gaussian noise added to each axis of the position, drawn anew every step"""
    outliers: float = Field(0.0, ge=0, le=1)
    """per-step probability of a gross error instead: a horizontal offset of ``outlier_std`` per axis (the misreads
    an encoder makes while the arm hides the block)"""
    outlier_std: float = Field(0.1, ge=0)
    """std (metres) of a gross error's x and y offsets"""
    outliers_near: float | None = Field(None, gt=0)
    """misreads only while the gripper is within this horizontal distance (metres) of the block, where the arm
    hides it from the camera (default: at any step)"""
