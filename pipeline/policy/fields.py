"""Every setting of a policy variant, without the rules that tie them (:mod:`pipeline.policy.rules` holds those):
the type of ``policy.defaults`` and the base of :class:`~pipeline.policy.config.VariantConfig`."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from pipeline.params import StrictModel
from pipeline.policy.blocks import HERConfig, ObjectEstimateConfig, SACConfig

ObsKind = Literal["state", "latent", "pixel", "proprio"]
InputKey = Literal["observation", "achieved_goal", "desired_goal"]
GoalMode = Literal["vector", "latent"]
GoalSpaceName = Literal["latent", "keypoints", "distance_head"]  # pipeline.goalspace.GOAL_SPACES (a test checks)
Algo = Literal["sac", "tqc", "td3"]
Warmup = Literal["random", "scripted"]


class VariantFields(StrictModel):
    """The keys of a variant, each validated on its own (the type of ``policy.defaults``)."""

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
    wall_minutes: float | None = Field(None, gt=0)
    """wall-clock budget of a run in minutes (resumes included): training stops at the first evaluation past it and
    the run records the env steps it reached (equal-wall-clock comparisons; None: ``policy.total_steps`` only)"""
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
    many frames (1: the current frame only). Measured on Push (docs/notebook/05-rig-reward-agreement.md): windows
    of 3 and 5 lag the block and agree less with the true reward than 1 frame, so 1 is the default"""
    goal_reward: Literal["latent", "simulator"] = "latent"
    """latent goal mode: ``latent`` (RIG: thresholded goal-space distance) or ``simulator``, a diagnostic that uses
    simulator labels: the networks still see goal-space points only, but rewards (HER's too) are the block's true
    distance, so it separates what the goal input costs from what the latent reward costs"""
    latent_threshold: float | Literal["auto"] = "auto"
    """latent goal mode: success radius in latent space (``auto``: latent distance of a 5 cm object move)"""
    goal_min_visible: float = Field(0.9, ge=0, le=1)
    """latent goal mode: each goal image's arm pose is redrawn (up to ``GOAL_POSE_TRIES`` poses, all independent of
    the episode) until at least this share of the block is in view (0: the first pose, block hidden or not).
    Measured (docs/notebook/09-goal-images-and-occlusion-exploit.md): with one pose 45 % of goal images hid over a
    tenth of the block"""
    occluded_goal: Literal["read", "hold"] = "read"
    """latent goal mode with ``goal_space: keypoints``: the achieved goal of a frame whose block keypoint is out of
    sight (its presence below the threshold fitted without labels): ``read`` (the keypoint's coordinate, wherever
    the softmax puts it) or ``hold`` (the last reading in sight this episode; object permanence). Measured
    (docs/notebook/09-goal-images-and-occlusion-exploit.md): with ``read`` the agents hide the block under the
    gripper, where the reading says "at goal"; the observation is the same in both"""
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
    compile: bool = False
    """pixel variants: ``torch.compile`` the image encoders (on a CPU it needs a C++ compiler). Measured on this
    2-core CPU, 1 thread (``benchmarks/pixel_formats.py``, docs/stages.md): 1.67x (manip_ss) and 1.74x (nature) the
    env steps/s; channels-last memory gave 1.26x and 0.97x, so it is not offered"""
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
