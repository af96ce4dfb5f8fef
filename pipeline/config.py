"""The whole ``params.yaml``: one typed section per stage, composed here, and :func:`load_params`, which every stage
calls before doing any work."""

from __future__ import annotations

from pathlib import Path

from pydantic import Field, ValidationError

from pipeline.collect.config import CollectConfig
from pipeline.envs.config import EnvConfig
from pipeline.goalspace.config import GoalSpaceConfig
from pipeline.launch.config import LaunchConfig
from pipeline.params import DEFAULT_PARAMS, ParamsError, StrictModel, format_validation_error, read_yaml
from pipeline.policy.config import PolicyConfig
from pipeline.pretrain.config import PretrainConfig


class PathsConfig(StrictModel):
    """Where every stage reads and writes (relative to the project root); ``dvc.yaml`` reads these too."""

    dataset: Path = Path("data/dataset.zarr")
    """zarr dataset written by ``collect``"""
    encoders: Path = Path("data/encoders")
    """one folder per pretrained encoder"""
    pretrain_results: Path = Path("data/pretrain")
    """``<encoder>/``: each encoder's small results (``metrics.json``, ``pictures/``), all the report reads of it"""
    runs: Path = Path("data/runs")
    """policy runs: ``runs/<variant>/<seed>/``"""
    report: Path = Path("data/report")
    """aggregated report"""
    checkpoints: Path = Path("data/checkpoints")
    """resumable training state: ``pretrain/<encoder>/``, ``policy/<variant>/<seed>/``"""
    logs: Path = Path("data/logs")
    """TensorBoard logs"""
    inputs: Path = Path("data/inputs")
    """``<variant>.json``: hashes of the encoder and dataset each policy variant reads (its DVC dependency)"""
    goal_spaces: Path = Path("data/goal_spaces")
    """``<encoder>/``: the goal spaces fitted on each encoder's latents (``python -m pipeline.goalspace``)"""


class Params(StrictModel):
    """Every section of ``params.yaml``."""

    env: EnvConfig = Field(default_factory=EnvConfig)
    collect: CollectConfig = Field(default_factory=CollectConfig)
    paths: PathsConfig = Field(default_factory=PathsConfig)
    pretrain: PretrainConfig = Field(default_factory=PretrainConfig)
    goal_space: GoalSpaceConfig = Field(default_factory=GoalSpaceConfig)
    policy: PolicyConfig = Field(default_factory=PolicyConfig)
    launch: LaunchConfig = Field(default_factory=LaunchConfig)


def load_params(path: Path | str = DEFAULT_PARAMS) -> Params:
    """Load and validate the whole params file (:class:`ParamsError`, one line per offending key, when invalid)."""
    raw = read_yaml(path)
    try:
        return Params.model_validate(raw)
    except ValidationError as err:
        raise ParamsError(format_validation_error(err, str(path))) from None
