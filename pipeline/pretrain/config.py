"""Typed ``pretrain`` section of ``params.yaml``: the shared training knobs, and one block per registered encoder.

Each ``pretrain.<name>`` block is validated with the config class of encoder ``name`` in
:mod:`pipeline.encoders.registry`, so an encoder added there has its block here with nothing else to change; a block
left out takes that config's defaults. A block reads as an attribute (``pre.vae``, ``getattr(pre, name)``) or through
:meth:`PretrainConfig.encoder_block`.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import ConfigDict, Field, ModelWrapValidatorHandler, ValidationError, field_validator, model_validator
from pydantic_core import InitErrorDetails, PydanticCustomError

from pipeline.encoders.registry import ENCODERS
from pipeline.params import StrictModel


def _details(err: ValidationError, prefix: tuple[str | int, ...] = ()) -> list[InitErrorDetails]:
    """``err``'s errors as raisable details (type, message and input kept), their keys under ``prefix``."""
    return [
        InitErrorDetails(type=PydanticCustomError(e["type"], e["msg"]), loc=(*prefix, *e["loc"]), input=e["input"])
        for e in err.errors()
    ]


def _encoder_blocks(given: dict[str, Any]) -> tuple[dict[str, StrictModel], list[InitErrorDetails]]:
    """Validate the ``pretrain.<name>`` blocks in ``given`` with their encoders' configs, in registry order; a
    registered encoder without a block gets its config's defaults. Returns the blocks and the errors found."""
    blocks: dict[str, StrictModel] = {}
    errors = [
        InitErrorDetails(
            type=PydanticCustomError(
                "unknown_block",
                "unknown key: neither a setting of this section nor a registered encoder (encoder blocks: "
                + ", ".join(ENCODERS)
                + ")",
            ),
            loc=(key,),
            input=value,
        )
        for key, value in given.items()
        if key not in ENCODERS
    ]
    for name, spec in ENCODERS.items():
        try:
            blocks[name] = spec.config.model_validate(given[name]) if name in given else spec.config()
        except ValidationError as exc:
            errors += _details(exc, (name,))
    return blocks, errors


class PretrainConfig(StrictModel):
    """Stage 2: which encoders to pretrain, shared training knobs, and one block per registered encoder."""

    model_config = ConfigDict(extra="allow", frozen=True)  # the encoder blocks; any other key is refused

    encoders: list[str] = Field(
        ["vae", "spatial_ae", "supervised"], description="Encoders to build: names of the encoder blocks below."
    )
    max_epochs: int = Field(30, ge=1, le=100_000, description="Epoch budget per trainable encoder.")
    max_steps: int | None = Field(
        None, ge=1, description="Optional step budget; training stops at whichever comes first."
    )
    batch_size: int = Field(64, ge=1, le=8192, description="Frames per optimisation step.")
    val_fraction: float = Field(
        0.1, gt=0.0, lt=0.5, description="Fraction of episodes held out for validation and the probe."
    )
    devices: int | Literal["auto"] = Field(1, description="Lightning devices per node (GPUs; >1 trains with DDP).")
    num_nodes: int = Field(1, ge=1, le=1024, description="Lightning nodes (multi-node DDP, e.g. under SLURM/torchrun).")
    strategy: str = Field("auto", description="Lightning strategy, e.g. 'auto', 'ddp', 'ddp_spawn'.")
    lr_schedule: Literal["constant", "onecycle"] = Field(
        "onecycle",
        description="'onecycle': warm up to each block's lr over 30 % of the steps, then anneal; "
        "'constant': the block's lr throughout.",
    )
    cpu_threads: int = Field(0, ge=0, le=256, description="torch intra-op threads (0: torch's default, all cores).")
    checkpoint_every_steps: int = Field(
        200, ge=1, description="Optimiser steps between resumable checkpoints (last.ckpt)."
    )
    num_workers: int = Field(0, ge=0, le=64, description="DataLoader worker processes.")
    seed: int = Field(0, ge=0, description="Seed for the episode split, init and data order.")
    probe_ridge: float | Literal["auto"] = Field(
        "auto",
        description="Ridge alpha of the linear position probe (standardised latents); "
        "'auto' cross-validates it over training episodes.",
    )

    @field_validator("probe_ridge")
    @classmethod
    def _ridge(cls, v: float | str) -> float | str:
        if v != "auto" and v < 0:
            raise ValueError(f"must be >= 0 or 'auto' (got {v})")
        return v

    @field_validator("encoders")
    @classmethod
    def _encoders(cls, v: list[str]) -> list[str]:
        if not v:
            raise ValueError(f"list at least one encoder out of {list(ENCODERS)}")
        unknown = [n for n in v if n not in ENCODERS]
        if unknown:
            raise ValueError(f"unknown encoder name(s) {unknown}; choose from {list(ENCODERS)}")
        dupes = sorted({n for n in v if v.count(n) > 1})
        if dupes:
            raise ValueError(f"encoder name(s) listed twice: {dupes}")
        return v

    @model_validator(mode="wrap")
    @classmethod
    def _blocks(cls, data: Any, handler: ModelWrapValidatorHandler[PretrainConfig]) -> PretrainConfig:
        """Validate every ``pretrain.<name>`` block through the registry, with the shared fields; report the errors
        of both together."""
        if not isinstance(data, dict):
            return handler(data)
        blocks, errors = _encoder_blocks({k: v for k, v in data.items() if k not in cls.model_fields})
        shared = {k: v for k, v in data.items() if k in cls.model_fields}
        try:
            model = handler({**shared, **blocks})
        except ValidationError as exc:
            errors = _details(exc) + errors
        if errors:
            raise ValidationError.from_exception_data(cls.__name__, errors)
        return model

    def encoder_block(self, name: str) -> StrictModel | None:
        """The validated ``pretrain.<name>`` block (None: ``name`` was not registered when this was validated)."""
        block = (self.__pydantic_extra__ or {}).get(name)
        if block is not None and not isinstance(block, StrictModel):
            bool(block)  # raises for an undeclared block in a stage's view of the params (pipeline.stages)
        return block if isinstance(block, StrictModel) else None
