"""The ``launch`` params section: what each task of ``python -m pipeline.launch`` asks of a cluster. No stage reads
it, so changing it reruns nothing."""

from __future__ import annotations

from pydantic import Field

from pipeline.params import StrictModel


class LaunchConfig(StrictModel):
    """Resources per task and retries, for the local and the Ray backends."""

    policy_cpus: float = Field(1.0, gt=0, le=256)
    """CPUs of one policy run (Ray's ``num_cpus``; locally, ``--jobs`` runs at once)"""
    policy_gpus: float = Field(0.0, ge=0, le=16)
    """GPUs of one policy run (Ray's ``num_gpus``: 0.5 packs two runs on a GPU)"""
    pretrain_cpus: float = Field(1.0, gt=0, le=256)
    """CPUs of one pretraining (and of collect, goal spaces, policy inputs)"""
    pretrain_gpus: float = Field(0.0, ge=0, le=16)
    """GPUs of one pretraining"""
    retries: int = Field(2, ge=0, le=20)
    """times a failed or killed task is run again (a policy run resumes from its checkpoint)"""
