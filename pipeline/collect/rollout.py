"""One episode of pixel rollout: uniform random actions or a noisy scripted pusher."""

from __future__ import annotations

import numpy as np

from pipeline.collect.config import CollectConfig
from pipeline.collect.dataset import empty_episode
from pipeline.envs import EnvConfig, FetchPixelEnv
from pipeline.envs.fetch import OBJECT_VELP


def episode_seeds(master_seed: int, index: int) -> tuple[int, np.random.Generator]:
    """Env reset seed and action RNG of episode ``index``: a function of ``(master_seed, index)`` only."""
    ss = np.random.SeedSequence([master_seed, index])
    reset_seed = int(ss.generate_state(1)[0])
    return reset_seed, np.random.default_rng(ss.spawn(1)[0])


def uses_script(cfg: CollectConfig, index: int) -> bool:
    """Whether episode ``index`` is a scripted one (a deterministic interleaving at the configured rate)."""
    f = cfg.scripted_fraction
    return int((index + 1) * f) > int(index * f)


def scripted_action(obs: dict[str, np.ndarray], rng: np.random.Generator, noise: float, has_object: bool) -> np.ndarray:
    """A noisy pusher: go behind the object (seen from the goal), then push it towards the goal."""
    grip = obs["proprio"][:3]
    goal = obs["desired_goal"]
    if not has_object:
        target = goal
    else:
        obj = obs["achieved_goal"]
        direction = goal[:2] - obj[:2]
        direction /= np.linalg.norm(direction) + 1e-8
        behind = np.array([*(obj[:2] - 0.06 * direction), obj[2]])
        lined_up = np.linalg.norm(grip[:2] - behind[:2]) < 0.02 and abs(grip[2] - obj[2]) < 0.02
        if lined_up or np.dot(grip[:2] - obj[:2], direction) < -0.03 and np.linalg.norm(grip[:2] - behind[:2]) < 0.04:
            target = np.array([*goal[:2], obj[2]])
        elif abs(grip[2] - obj[2]) > 0.02 and np.linalg.norm(grip[:2] - behind[:2]) < 0.02:
            target = behind
        else:
            target = np.array([*behind[:2], obj[2] + 0.05])  # approach from above to avoid knocking it
    move = np.clip((target - grip) * 10.0, -1.0, 1.0)
    action = np.concatenate([move, [1.0]]) + rng.normal(0.0, noise, size=4)
    return np.clip(action, -1.0, 1.0).astype(np.float32)


def run_episode(env: FetchPixelEnv, cfg: CollectConfig, index: int) -> dict[str, np.ndarray]:
    """Roll out episode ``index``: ``T + 1`` frames (initial + after each action), labels per frame.

    ``action[t]`` is the action taken at frame ``t``; the last frame's action is NaN.
    """
    reset_seed, rng = episode_seeds(cfg.seed, index)
    scripted = uses_script(cfg, index)
    obs, _ = env.reset(seed=reset_seed)
    steps = env.cfg.max_episode_steps
    size = env.cfg.image_size
    out = empty_episode(steps + 1, size)  # the dataset schema's arrays for one episode
    low, high = env.action_space.low, env.action_space.high
    for t in range(steps + 1):
        out["frames"][t] = obs["pixels"]
        out["gripper_pos"][t] = obs["proprio"][:3]
        out["goal"][t] = obs["desired_goal"]
        out["proprio"][t] = obs["proprio"]
        if env.cfg.has_object:
            out["object_pos"][t] = obs["achieved_goal"]
            out["object_velp"][t] = obs["state"][OBJECT_VELP]
            out["object_visible"][t] = env.object_visibility()
        if t == steps:
            break
        if scripted:
            action = scripted_action(obs, rng, cfg.scripted_noise, env.cfg.has_object)
        else:
            action = rng.uniform(low, high).astype(np.float32)
        out["action"][t] = action
        obs, *_ = env.step(action)
    return out


# --- worker-process plumbing (one env per process, built once) -------------------------------
_ENV: FetchPixelEnv | None = None
_CFG: CollectConfig | None = None
_GROUP = None  # the temporary zarr group, opened per worker
_INIT_ERROR: Exception | None = None  # why init_worker failed, raised by the first task


def init_worker(env_cfg: EnvConfig, collect_cfg: CollectConfig, store: str) -> None:
    """Pool initializer: build this process's env and renderer, open the temporary dataset.

    A failure is kept and raised by the first task: a pool whose initializer raises restarts its workers forever.
    """
    global _ENV, _CFG, _GROUP, _INIT_ERROR
    try:
        import zarr  # noqa: PLC0415  (workers only)

        _ENV, _CFG = FetchPixelEnv(env_cfg), collect_cfg
        _GROUP = zarr.open_group(store, mode="r+")
    except Exception as exc:
        _INIT_ERROR = exc


def worker_chunk(episodes: range) -> int:
    """Pool task: roll out one chunk's episodes and write them (compressed) at their own offset.

    Chunks never share a zarr chunk, so workers write in parallel without locks; the data depend
    only on the episode indices, not on which worker ran them. Returns the frames written.
    """
    if _INIT_ERROR is not None:
        raise _INIT_ERROR
    assert _ENV is not None and _CFG is not None and _GROUP is not None, "init_worker was not called"
    from pipeline.collect.dataset import EPISODE_ARRAYS
    from pipeline.collect.writer import write_region

    fpe = _ENV.cfg.max_episode_steps + 1
    eps = [run_episode(_ENV, _CFG, i) for i in episodes]
    block = {k: np.concatenate([e[k] for e in eps]) for k in EPISODE_ARRAYS}
    block["episode"] = np.repeat(np.asarray(episodes, np.int32), fpe)
    block["step"] = np.tile(np.arange(fpe, dtype=np.int32), len(eps))
    write_region(_GROUP, episodes.start * fpe, block)
    return len(block["episode"])
