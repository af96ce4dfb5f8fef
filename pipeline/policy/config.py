"""The ``policy`` params section: shared training settings and named variants."""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator

from pipeline.params import ParamsError, StrictModel

ObsKind = Literal["state", "latent", "pixel", "proprio"]
InputKey = Literal["observation", "achieved_goal", "desired_goal"]
GoalMode = Literal["vector", "latent"]
GoalSpaceName = Literal["latent", "keypoints", "distance_head"]  # pipeline.goalspace.GOAL_SPACES (a test checks)
Algo = Literal["sac", "tqc", "td3"]
Warmup = Literal["random", "scripted"]


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


class VariantConfig(StrictModel):
    """One agent of the comparison."""

    obs: ObsKind = "latent"
    """``state`` (full 25-D vector), ``latent`` (frozen encoder), ``pixel`` (end-to-end CNN) or ``proprio`` (the
    10-D proprioception only: no image and no object state, for the blind controls)"""
    inputs: list[InputKey] | None = None
    """which parts of the observation reach the actor and critic (``observation``: the state vector, latents
    (+ proprio), pixels (+ proprio) or proprio). Default: ``state`` all three; the others leave out
    ``achieved_goal`` (the simulator's object position), which stays in the replay buffer for HER and rewards
    only. ``[observation, achieved_goal, desired_goal]`` is the seed's behaviour, kept as an ablation"""
    encoder: str | None = None
    """encoder name under ``paths.encoders`` (latent variants)"""
    goal_mode: GoalMode = "vector"
    """``vector``: simulator object positions as goals; ``latent``: RIG goals in the encoder's latent space"""
    proprio: bool = True
    """append the 10-D proprioception to the observation"""
    frame_stack: int = Field(1, ge=1, le=8)
    """latent variants: stack of current + past latents; pixel variants: frames per observation"""
    goal_space: GoalSpaceName = "latent"
    """latent goal mode: where goals are compared (``pipeline.goalspace``): ``latent`` (RIG: the whole latent, arm
    included), ``keypoints`` (the keypoints chosen without labels as the block's) or ``distance_head`` (an MLP
    trained with the block's positions at pretraining); fitted by the goal_space stage"""
    obs_space: GoalSpaceName = "latent"
    """latent variants: what of each frame's latent the networks see: ``latent`` (all of it) or its projection to
    one of the encoder's fitted goal spaces (``keypoints``: the block keypoints chosen without labels;
    ``distance_head``: the embedding trained with block positions), an object-centric observation"""
    achieved_window: int = Field(1, ge=1, le=16)
    """latent goal mode: the achieved goal is the per-coordinate median of the goal-space points of the last this
    many frames (1: the current frame only). Measured on Push (README "Fifth round"): windows of 3 and 5 lag the
    block and agree less with the true reward than 1 frame, so 1 is the default"""
    goal_reward: Literal["latent", "simulator"] = "latent"
    """latent goal mode: ``latent`` (RIG: thresholded goal-space distance) or ``simulator``, a diagnostic that uses
    simulator labels: the networks still see goal-space points only, but rewards (HER's too) are the block's true
    distance, so it separates what the goal input costs from what the latent reward costs"""
    latent_threshold: float | Literal["auto"] = "auto"
    """latent goal mode: success radius in latent space (``auto``: latent distance of a 5 cm object move)"""
    goal_min_visible: float = Field(0.9, ge=0, le=1)
    """latent goal mode: each goal image's arm pose is redrawn (up to ``GOAL_POSE_TRIES`` poses, all independent of
    the episode) until at least this share of the block is in view (0: the first pose, block hidden or not).
    Measured (README "Ninth round"): with one pose 45 % of goal images hid over a tenth of the block"""
    occluded_goal: Literal["read", "hold"] = "read"
    """latent goal mode with ``goal_space: keypoints``: the achieved goal of a frame whose block keypoint is out of
    sight (its presence below the threshold fitted without labels): ``read`` (the keypoint's coordinate, wherever
    the softmax puts it) or ``hold`` (the last reading in sight this episode; object permanence). Measured
    (README "Ninth round"): with ``read`` the agents hide the block under the gripper, where the reading says
    "at goal"; the observation is the same in both"""
    prior_goal_fraction: float = Field(0.0, ge=0, le=1)
    """latent goal mode with a VAE: fraction of training episodes whose goal is sampled from the prior"""
    extractor: Literal["nature", "manip", "manip_ss"] = "manip_ss"
    """pixel variants: CNN feature extractor"""
    coordconv: bool = False
    """pixel variants: CoordConv first layer"""
    routing: Literal["separate", "shared", "critic"] = "critic"
    """pixel variants: which losses train the encoder"""
    augment: bool = True
    """pixel variants: DrQ random shift (pad 4) on sampled batches"""
    algo: Algo = "sac"
    """off-policy algorithm with HER: ``sac``, ``tqc`` (sb3-contrib) or ``td3``; pixel variants: ``sac`` only"""
    warmup: Warmup = "scripted"
    """the first ``sac.learning_starts`` actions: ``scripted`` (the collect stage's noisy pusher, which reads the
    simulator state to choose actions only; a reacher on tasks without an object) or ``random`` (uniform, SB3's)"""
    warmup_noise: float = Field(0.3, ge=0)
    """std of the Gaussian noise on the scripted warm-up's actions"""
    normalize: bool = True
    """state/latent variants: running mean/std normalisation of the networks' inputs, clipped to +-5"""
    prior_data: bool = False
    """seed the replay buffer with the collect stage's dataset (``paths.dataset``) before training: its episodes,
    encoded once, relabelled by HER like online ones, costing no env steps (latent and proprio variants)"""
    prior_episodes: int | None = Field(None, ge=1)
    """at most this many dataset episodes (default: all)"""
    prior_share: float | None = Field(None, ge=0, le=1)
    """fixed share of every batch drawn from the prior episodes (RLPD: 0.5); default: uniform over all data"""
    object_estimate: ObjectEstimateConfig | None = None
    """``proprio`` variants: append the block position with this error model to the observation (diagnostic:
    an encoder stand-in whose error is set by hand; default none)"""
    sac: SACConfig = Field(default_factory=SACConfig)
    """hyperparameters of the algorithm"""
    her: HERConfig = Field(default_factory=HERConfig)
    """HER settings"""

    @model_validator(mode="after")
    def _consistent(self) -> VariantConfig:
        if self.inputs is not None and (not self.inputs or len(set(self.inputs)) != len(self.inputs)):
            raise ValueError("`inputs` lists each of observation, achieved_goal, desired_goal at most once, not none")
        if self.obs == "latent" and not self.encoder:
            raise ValueError("obs: latent needs `encoder` (a name listed in pretrain.encoders)")
        if self.obs == "pixel" and self.goal_mode != "vector":
            raise ValueError("obs: pixel supports goal_mode: vector only")
        if self.goal_mode == "latent" and self.obs != "latent":
            raise ValueError("goal_mode: latent needs obs: latent")
        if self.goal_space != "latent" and self.goal_mode != "latent":
            raise ValueError(f"goal_space: {self.goal_space} needs goal_mode: latent")
        if self.occluded_goal != "read" and (self.goal_mode != "latent" or self.goal_space != "keypoints"):
            raise ValueError(f"occluded_goal: {self.occluded_goal} needs goal_mode: latent and goal_space: keypoints")
        if self.goal_reward != "latent" and self.goal_mode != "latent":
            raise ValueError(f"goal_reward: {self.goal_reward} needs goal_mode: latent")
        if self.achieved_window > 1 and self.goal_mode != "latent":
            raise ValueError(f"achieved_window: {self.achieved_window} needs goal_mode: latent")
        if self.obs_space != "latent" and self.obs != "latent":
            raise ValueError(f"obs_space: {self.obs_space} needs obs: latent")
        if self.obs_space != "latent" and self.prior_data:
            raise ValueError(f"obs_space: {self.obs_space} does not support prior_data (set obs_space: latent)")
        if self.sac.critic_layernorm and (self.obs == "pixel" or self.algo == "tqc"):
            raise ValueError("sac.critic_layernorm is for state, latent and proprio variants with algo: sac or td3")
        if self.obs == "pixel" and self.algo != "sac":
            raise ValueError(f"algo: {self.algo} is for state and latent variants; pixel variants use algo: sac")
        if self.obs == "pixel" and self.warmup == "scripted" and not self.proprio:
            raise ValueError("warmup: scripted needs the gripper position: set proprio: true or warmup: random")
        if self.prior_data and (self.obs not in ("latent", "proprio") or self.goal_mode != "vector"):
            raise ValueError(
                "prior_data needs obs: latent or proprio with goal_mode: vector (the dataset holds "
                "frames, proprio and positions, not the full state or goal images)"
            )
        if (self.prior_share is not None or self.prior_episodes is not None) and not self.prior_data:
            raise ValueError("prior_share and prior_episodes need prior_data: true")
        if self.object_estimate is not None and (self.obs != "proprio" or self.prior_data):
            raise ValueError("object_estimate needs obs: proprio and no prior_data (it corrupts the env's positions)")
        if self.prior_goal_fraction > 0 and self.goal_mode != "latent":
            raise ValueError("prior_goal_fraction > 0 needs goal_mode: latent (and a vae encoder)")
        return self

    def fitted_spaces(self) -> set[str]:
        """The encoder's fitted goal spaces this variant reads (for its goals or its observation)."""
        used = {self.goal_space if self.goal_mode == "latent" else "latent", self.obs_space}
        return used - {"latent"}

    def input_keys(self) -> list[str]:
        """The observation keys the networks read (``inputs``, or the default for ``obs``)."""
        if self.inputs is not None:
            return list(self.inputs)
        return (
            ["observation", "achieved_goal", "desired_goal"] if self.obs == "state" else ["observation", "desired_goal"]
        )


def _default_variants() -> dict[str, VariantConfig]:
    return {
        "state": VariantConfig(obs="state"),
        "latent_vae": VariantConfig(obs="latent", encoder="vae"),
    }


class PolicyConfig(StrictModel):
    """Settings shared by every policy run, and the variants."""

    total_steps: int = Field(200_000, ge=1)
    """env steps per run (all vectorised envs together)"""
    n_envs: int = Field(2, ge=1, le=64)
    """vectorised training envs (one batched encoder call per step)"""
    eval_every: int = Field(10_000, ge=1)
    """env steps between evaluations (and checkpoints)"""
    eval_episodes: int = Field(20, ge=1)
    """deterministic evaluation episodes, on fixed seeds disjoint from training seeds"""
    device: Literal["auto", "cpu", "cuda"] = "auto"
    """torch device for SAC and the encoder (``auto``: cuda when present)"""
    vec_env: Literal["auto", "dummy", "subproc"] = "auto"
    """where envs step: ``dummy`` in this process, ``subproc`` one worker process each (renders in parallel);
    ``auto``: subproc for rendering variants on machines with two or more cores, else dummy"""
    overlap_updates: bool = True
    """with envs in worker processes (state/latent variants): run each SAC update while the workers step and
    render the next frames, the policy acting one update behind (off: SB3's strict alternation)"""
    rollout_episodes: int = Field(2, ge=0, le=20)
    """deterministic eval episodes drawn at the end of a run as ``runs/<variant>/<seed>/rollout.gif`` (the agent's
    camera beside its goal; 0: none; pixel variants: none)"""
    cpu_threads: int = Field(1, ge=0, le=256)
    """torch intra-op threads (0: torch's default). 1 suits small MLPs and never oversubscribes shared cores"""
    seeds: list[int] = Field(default_factory=lambda: [0, 1])
    """seeds of the study (the DVC matrix)"""
    variants: dict[str, VariantConfig] = Field(default_factory=_default_variants)
    """named agents of the comparison"""
    run: list[str] = Field(default_factory=lambda: ["state", "latent_vae"])
    """variants the DVC matrix runs (names from ``variants``); swap with ``dvc exp run -S 'policy.run=[...]'``"""

    @model_validator(mode="after")
    def _known_run(self) -> PolicyConfig:
        unknown = sorted(set(self.run) - set(self.variants))
        if unknown:
            raise ValueError(
                f"`run` lists unknown variants {unknown}; defined in policy.variants: {sorted(self.variants)}"
            )
        return self


def variant_named(policy: PolicyConfig, name: str) -> VariantConfig:
    """``policy.variants[name]``; a clear error naming the defined variants otherwise (a function, not a method, so
    the stage-contract test sees exactly which params key it reads)."""
    if name not in policy.variants:
        raise ParamsError(f"unknown variant {name!r}; defined in policy.variants: {sorted(policy.variants)}")
    return policy.variants[name]
