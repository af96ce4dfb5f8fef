"""``profiles/gpu.yaml`` at tiny size on the CPU (its 4 envs, 48 env steps): its two pixel rows train with every study
setting but the sizes, without the CPU study's wall-clock budget, to ``policy.total_steps``."""

from __future__ import annotations

from pathlib import Path

import pytest

from pipeline.config import Params
from pipeline.policy.train import PolicyPaths, train_policy
from pipeline.profile import merged

ROOT = Path(__file__).resolve().parents[1]
TINY_SAC = {"learning_starts": 24, "batch_size": 8, "buffer_size": 1000, "net_arch": [16]}


@pytest.mark.parametrize("variant", ["pixel_nature", "pixel_manip_ss"])
def test_gpu_profile_pixel_rows_run_at_tiny_size(tmp_path: Path, variant: str) -> None:
    raw = merged("gpu", ROOT)
    raw["env"].update(image_size=36, max_episode_steps=5)  # NatureCNN's smallest input
    raw["paths"] = {k: str(tmp_path / Path(v).name) for k, v in raw["paths"].items()}
    raw["policy"].update(total_steps=48, eval_every=24, eval_episodes=1, final_eval_episodes=2, rollout_episodes=0)
    block = raw["policy"]["variants"][variant]
    block["sac"] = {**block.get("sac", {}), **TINY_SAC}
    params = Params.model_validate(raw)
    assert params.policy.variants[variant].wall_minutes is None  # equal env steps, not equal wall-clock
    assert params.policy.variants[variant].compile  # the study's torch.compile-d encoders, checkpointed and evaluated
    metrics = train_policy(params.env, params.policy, variant, 0, PolicyPaths.of(params.paths), progress=False)
    assert metrics["total_steps"] == 48 and not metrics["stopped_by_wall_budget"]
    assert metrics["final_eval_episodes"] == 2
