"""Pixel environments: labels agree with pixels, goal marker hidden, state split."""

from __future__ import annotations

import numpy as np
import pytest

from pipeline.collect.config import CollectConfig
from pipeline.collect.rollout import run_episode
from pipeline.envs import EnvConfig, FetchPixelEnv, split_observation


def object_centroid(env: FetchPixelEnv) -> tuple[np.ndarray, int]:
    """Centroid (col, row) and pixel count of the block in the segmentation render of the current state."""
    m = env.fetch.model
    geoms = [g for g in range(m.ngeom) if m.geom_bodyid[g] == m.body("object0").id]
    ys, xs = np.nonzero(np.isin(env.renderer.segmentation(env.fetch.data), geoms))
    return (np.array([xs.mean(), ys.mean()]) if len(xs) else np.full(2, np.nan)), len(xs)


@pytest.mark.parametrize("camera", ["workspace", "external_camera_0", "free"])
def test_projected_object_pos_lands_on_the_object(camera: str) -> None:
    env = FetchPixelEnv(EnvConfig(camera=camera, image_size=84))
    errors = []
    for seed in range(8):
        obs, _ = env.reset(seed=seed)
        env.action_space.seed(seed)
        for _ in range(5):
            obs, *_ = env.step(env.action_space.sample())
        centroid, count = object_centroid(env)
        if count < 12:  # hidden behind the arm
            continue
        # the label (dataset's object_pos) projected through the camera's intrinsics and pose
        proj = env.renderer.project(env.fetch.data, obs["achieved_goal"])[0]
        errors.append(np.linalg.norm(proj - centroid))
        # and the pixels there are the block's dark grey, not the white table
        col, row = np.round(proj).astype(int)
        window = obs["pixels"][row - 1 : row + 2, col - 1 : col + 2].mean(axis=-1)  # 3x3 around it
        assert window.min() < 100
        # a label 5 cm off would be detected
        off = env.renderer.project(env.fetch.data, obs["achieved_goal"] + [0.05, 0.05, 0])[0]
        assert np.linalg.norm(off - centroid) > 3
    env.close()
    # visible-pixel centroids of a partly hidden block drift a little: a couple of pixels at most
    assert len(errors) >= 5 and np.median(errors) < 1.0 and max(errors) < 3.0, errors


def test_workspace_camera_shows_the_block_large() -> None:
    env = FetchPixelEnv(EnvConfig(camera="workspace"))
    spans = []
    for seed in range(10):
        env.reset(seed=seed)
        m = env.fetch.model
        geoms = [g for g in range(m.ngeom) if m.geom_bodyid[g] == m.body("object0").id]
        ys, xs = np.nonzero(np.isin(env.renderer.segmentation(env.fetch.data), geoms))
        if len(xs):
            spans.append(max(np.ptp(xs), np.ptp(ys)) + 1)
    env.close()
    assert np.median(spans) >= 8


def test_object_visibility_agrees_with_a_segmentation_render() -> None:
    """The ray-cast visible share is 0 exactly when the block is (nearly) hidden behind the arm."""
    env = FetchPixelEnv(EnvConfig(camera="workspace"))
    rows = []
    for seed in range(12):
        env.reset(seed=seed)
        env.action_space.seed(seed)
        for t in range(40):
            env.step(env.action_space.sample())
            if t % 3 == 0:
                rows.append((env.object_visibility(), object_centroid(env)[1]))
    env.close()
    vis, pixels = np.array(rows).T
    full = pixels.max()
    assert ((vis >= 0) & (vis <= 1)).all()
    assert (vis == 0).sum() >= 3 and (vis == 1).sum() >= 10  # these seeds see the arm hide the block
    assert pixels[vis == 0].max() <= 0.1 * full  # hidden by the rays -> at most a sliver of pixels
    assert pixels[vis == 1].min() >= 0.4 * full  # all rays reach it -> the block is in plain view
    assert np.corrcoef(vis, pixels)[0, 1] > 0.8
    reach = FetchPixelEnv(EnvConfig(id="FetchReach-v4", image_size=16))
    reach.reset(seed=0)
    assert np.isnan(reach.object_visibility())  # no object to see
    reach.close()


@pytest.mark.parametrize("show_goal", [False, True])
def test_goal_marker_visibility(show_goal: bool) -> None:
    env = FetchPixelEnv(EnvConfig(show_goal=show_goal))
    env.reset(seed=0)
    env.fetch._render_callback()  # place the marker at the goal, as env.render() would
    m = env.fetch.model
    site = m.site("target0").id
    frame = env.renderer.render(env.fetch.data)
    col, row = np.round(env.renderer.project(env.fetch.data, env.fetch.goal)[0]).astype(int)
    red = frame[row, col].astype(int)
    assert (red[0] > red[1] + 80) == show_goal  # the marker is red
    assert (m.site_rgba[site, 3] > 0) == show_goal
    env.close()


def test_split_observation() -> None:
    env = FetchPixelEnv(EnvConfig(image_size=16), render=False)
    obs, _ = env.reset(seed=0)
    proprio, obj = split_observation(obs["state"])
    assert proprio.shape == (10,) and obj.shape == (15,)
    np.testing.assert_array_equal(proprio[:3], obs["state"][:3])  # grip_pos first
    np.testing.assert_array_equal(obj[:3], obs["achieved_goal"])  # object_pos first
    reach = FetchPixelEnv(EnvConfig(id="FetchReach-v4", image_size=16))
    robs, _ = reach.reset(seed=0)
    assert robs["proprio"].shape == (10,) and robs["object"].shape == (0,) and robs["pixels"].shape == (16, 16, 3)
    ep = run_episode(reach, CollectConfig(scripted_fraction=1.0), 0)
    assert ep["frames"].shape == (51, 16, 16, 3) and not ep["object_pos"].any()


@pytest.mark.parametrize("env_id", ["FetchPickAndPlace-v4", "FetchSlide-v4"])
def test_other_tasks_render(env_id: str) -> None:
    env = FetchPixelEnv(EnvConfig(id=env_id, image_size=16, camera="external_camera_0"))
    obs, _ = env.reset(seed=0)
    assert obs["pixels"].shape == (16, 16, 3) and obs["pixels"].std() > 0
    env.close()


def test_render_with_object_at_restores_state() -> None:
    env = FetchPixelEnv(EnvConfig(image_size=32))
    obs, _ = env.reset(seed=0)
    before = env.renderer.render(env.fetch.data)
    goal_frame = env.render_with_object_at(obs["desired_goal"])
    assert not np.array_equal(goal_frame, before)
    np.testing.assert_array_equal(env.renderer.render(env.fetch.data), before)
    env.close()


@pytest.mark.parametrize("camera", ["workspace", "seed"])
def test_disabled_shadow_and_reflection_passes_change_no_pixel(camera: str) -> None:
    """The renderer skips two passes for speed; that must not change what the encoders see."""
    import mujoco

    from pipeline.envs.render import RENDER_PASSES_OFF

    env = FetchPixelEnv(EnvConfig(camera=camera, image_size=84))
    env.reset(seed=3)
    env.action_space.seed(3)
    flags = env.renderer._renderer.scene.flags
    for _ in range(3):
        for _ in range(6):
            env.step(env.action_space.sample())
        fast = env.renderer.render(env.fetch.data)
        assert all(flags[f] == 0 for f in RENDER_PASSES_OFF)  # still off after update_scene
        for f in RENDER_PASSES_OFF:
            flags[f] = 1
        env.renderer.cull = False  # off-view geoms could cast shadows into view
        full = env.renderer.render(env.fetch.data)
        env.renderer.cull = True
        for f in RENDER_PASSES_OFF:
            flags[f] = 0
        assert np.array_equal(fast, full)
    assert mujoco.mjtRndFlag.mjRND_SHADOW in RENDER_PASSES_OFF
    env.close()


@pytest.mark.parametrize(
    ("camera", "always_culls"), [("workspace", True), ("gripper_camera_rgb", True), ("seed", False)]
)
def test_culling_geoms_outside_the_view_changes_no_pixel(camera: str, always_culls: bool) -> None:
    """Frustum culling skips real work (some geoms dropped) and every frame stays identical."""
    import mujoco

    env = FetchPixelEnv(EnvConfig(camera=camera, image_size=48))
    rng = np.random.default_rng(0)
    dropped = []
    for episode in range(2):
        env.reset(seed=episode)
        for _ in range(25):
            env.step(rng.uniform(-1, 1, 4))
            culled = env.renderer.render(env.fetch.data)
            scene = env.renderer._renderer.scene
            dropped.append(sum(scene.geoms[i].type == mujoco.mjtGeom.mjGEOM_NONE for i in range(scene.ngeom)))
            env.renderer.cull = False
            full = env.renderer.render(env.fetch.data)
            env.renderer.cull = True
            assert np.array_equal(culled, full)
    if always_culls:
        assert min(dropped) > 0  # the torso and head are never in view from these cameras
    env.close()
