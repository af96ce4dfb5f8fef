"""RIG-style two-stage pixel pipeline for Fetch manipulation.

Importing the package makes headless MuJoCo rendering work without setup: when ``MUJOCO_GL`` is
unset we select EGL (the headless backend we rely on). Import ``pipeline`` before ``mujoco``.
"""

import os

os.environ.setdefault("MUJOCO_GL", "egl")
if os.environ["MUJOCO_GL"] == "egl":
    os.environ.setdefault("PYOPENGL_PLATFORM", "egl")

__version__ = "0.1.0"
