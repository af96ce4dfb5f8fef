"""Shared pieces of the policy tests: tiny SAC settings and variants, params for a run, the stage's own entry."""

from __future__ import annotations

import csv
from pathlib import Path
from typing import Any

import torch

from pipeline.config import Params
from pipeline.encoders import save_encoder
from pipeline.encoders.registry import build_encoder
from pipeline.policy.config import VariantConfig
from pipeline.policy.train import PolicyPaths, build_envs, train_policy
from pipeline.stages import stage_view

from .conftest import tiny_params_dict

SAC_TINY = {"learning_starts": 100, "batch_size": 32, "buffer_size": 5000, "net_arch": [32, 32]}
VARIANTS = {
    "state": {"obs": "state"},
    "latent_vec": {"obs": "latent", "encoder": "vae", "proprio": True, "frame_stack": 2},
    "latent_rig": {"obs": "latent", "encoder": "vae", "goal_mode": "latent", "proprio": False},
    "latent_rig_prior": {"obs": "latent", "encoder": "vae", "goal_mode": "latent", "prior_goal_fraction": 0.5},
}
PIXEL_VARIANTS = {
    "pix_nature": {"obs": "pixel", "extractor": "nature", "routing": "separate", "augment": False, "frame_stack": 1},
    "pix_manip": {"obs": "pixel", "extractor": "manip", "routing": "shared", "coordconv": True, "frame_stack": 2},
    "pix_manip_ss": {
        "obs": "pixel",
        "extractor": "manip_ss",
        "routing": "critic",
        "frame_stack": 2,
        "proprio": False,
        "warmup": "random",
    },
}


def policy_params(tmp_path: Path, **policy: object) -> dict:
    p = tiny_params_dict(tmp_path)
    p["policy"] = {
        "total_steps": 300,
        "n_envs": 2,
        "eval_every": 100,
        "eval_episodes": 2,
        "run": ["state"],
        "variants": {k: {**v, "sac": SAC_TINY} for k, v in {**VARIANTS, **PIXEL_VARIANTS}.items()},
        **policy,
    }
    return p


def run_policy(params: Params, variant: str, seed: int = 0, progress: bool = False) -> dict[str, Any]:
    """The stage as its entry point runs it: its view of the params (a key ``pipeline/stages.py`` does not declare
    stops it), the ``env`` and ``policy`` sections, the variant, the seed, the paths."""
    params = stage_view("policy", params, variant)
    return train_policy(params.env, params.policy, variant, seed, PolicyPaths.of(params.paths), progress)


def envs_for(params: Params, variant: VariantConfig, seed: int = 0, device: str = "cpu") -> tuple[Any, Any, dict]:
    """Training and evaluation envs of ``variant`` as a run of ``params`` builds them."""
    return build_envs(params.env, params.policy, variant, seed, device, PolicyPaths.of(params.paths))


def make_encoder(params: Params, name: str = "vae", image_size: int | None = None) -> Path:
    """An untrained (seeded) encoder artifact, as the pretrain stage would write it."""
    torch.manual_seed(0)
    cfg = {"latent_dim": 8, "channels": [8, 16]}
    net = build_encoder(name, cfg, image_size or params.env.image_size)
    out = params.paths.encoders / name
    save_encoder(net, name, cfg, image_size or params.env.image_size, params.env.camera_dict(), params.env.id, out)
    return out


def spatial_encoder(params: Params) -> Path:
    """A small untrained (seeded) spatial AE artifact: 4 keypoints."""
    torch.manual_seed(0)
    cfg = {"num_keypoints": 4, "channels": [8], "recon_size": 16}
    net = build_encoder("spatial_ae", cfg, params.env.image_size)
    out = params.paths.encoders / "spatial_ae"
    save_encoder(net, "spatial_ae", cfg, params.env.image_size, params.env.camera_dict(), params.env.id, out)
    return out


def read_eval(run_dir: Path) -> list[dict]:
    with (run_dir / "eval.csv").open() as f:
        return list(csv.DictReader(f))
