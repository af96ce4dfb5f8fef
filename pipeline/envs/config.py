"""The ``env`` params section: which Fetch task, image size and camera."""

from __future__ import annotations

from pydantic import Field, ValidationInfo, field_validator

from pipeline.params import StrictModel

FETCH_ENV_IDS = ("FetchReach-v4", "FetchPush-v4", "FetchPickAndPlace-v4", "FetchSlide-v4")
"""Gymnasium-robotics Fetch v4 tasks we support (MuJoCo bindings)."""

MODEL_CAMERAS = ("external_camera_0", "head_camera_rgb", "gripper_camera_rgb")
"""Cameras defined in the Fetch MJCF models, selectable by name."""


class FreeCamera(StrictModel):
    """A MuJoCo free camera orbiting ``lookat`` (degrees, metres)."""

    lookat: tuple[float, float, float] = (1.34, 0.75, 0.42)
    """point the camera looks at (world frame, metres); default: centre of the object/goal sampling region"""
    distance: float = Field(0.8, gt=0.0)
    """distance from the camera to ``lookat`` (metres)"""
    azimuth: float = 270.0
    """azimuth angle (degrees)"""
    elevation: float = Field(-55.0, ge=-90.0, le=90.0)
    """elevation angle (degrees, negative looks down)"""


CAMERA_PRESETS: dict[str, FreeCamera] = {
    # Frames the +-15 cm region where Push objects and goals are sampled: at 84 px the 5 cm
    # block spans ~9 px (median) and the arm hides it in ~2 % of random resets.
    "workspace": FreeCamera(),
    # gymnasium-robotics' DEFAULT_CAMERA_CONFIG, i.e. what env.render() shows (the seed's view).
    "seed": FreeCamera(lookat=(1.3, 0.75, 0.55), distance=2.5, azimuth=132.0, elevation=-14.0),
}
"""Named free-camera presets; ``free`` uses ``env.free_camera`` instead."""

CAMERA_CHOICES = (*CAMERA_PRESETS, "free", *MODEL_CAMERAS)


class EnvConfig(StrictModel):
    """Which Fetch task to build and how its frames are rendered."""

    id: str = "FetchPush-v4"
    """gymnasium-robotics task id"""
    image_size: int = Field(84, ge=16, le=512)
    """rendered frames are square ``image_size`` x ``image_size`` RGB"""
    camera: str = "workspace"
    """``workspace`` | ``seed`` | ``free`` (uses ``free_camera``) | a model camera name"""
    free_camera: FreeCamera = FreeCamera()
    """free-camera pose used when ``camera: free``"""
    show_goal: bool = False
    """draw the goal marker (site ``target0``); off so HER-relabelled goals never contradict the image"""
    antialias: bool = False
    """4x multisample anti-aliasing (smoother edges, ~1.5x render cost on CPU)"""
    max_episode_steps: int = Field(50, ge=1, le=1000)
    """episode length (the Fetch default is 50)"""

    @field_validator("id", "camera")
    @classmethod
    def _known(cls, v: str, info: ValidationInfo) -> str:
        what, allowed = ("env id", FETCH_ENV_IDS) if info.field_name == "id" else ("camera", CAMERA_CHOICES)
        if v not in allowed:
            raise ValueError(f"unknown {what} {v!r}; allowed: {', '.join(allowed)}")
        return v

    @property
    def has_object(self) -> bool:
        """Whether the task has a manipulated object (all but Reach)."""
        return self.id != "FetchReach-v4"

    def camera_dict(self) -> dict:
        """JSON-able description of the camera, stored with datasets and encoders."""
        if self.camera in MODEL_CAMERAS:
            return {"name": self.camera}
        free = self.free_camera if self.camera == "free" else CAMERA_PRESETS[self.camera]
        return {"name": self.camera, **free.model_dump(mode="json")}
