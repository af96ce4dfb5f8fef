"""RIG-style two-stage pixel pipeline for Fetch manipulation.

Importing the package makes headless MuJoCo rendering work without setup: when
``MUJOCO_GL`` is unset we select EGL (the only headless backend we rely on).
"""

import os

os.environ.setdefault("MUJOCO_GL", "egl")
os.environ.setdefault("PYOPENGL_PLATFORM", os.environ["MUJOCO_GL"] if os.environ["MUJOCO_GL"] in ("egl", "osmesa") else "")
if not os.environ["PYOPENGL_PLATFORM"]:
    del os.environ["PYOPENGL_PLATFORM"]

__version__ = "0.1.0"
