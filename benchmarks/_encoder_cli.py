"""Shared command line of the benchmarks that score saved encoders on a dataset."""

from __future__ import annotations

import argparse
from pathlib import Path
from typing import Any

import torch

from pipeline.config import Params
from pipeline.params import read_yaml
from pipeline.pretrain.config import PretrainConfig


def parse_encoder_args(
    doc: str | None, extra: tuple[tuple[str, dict[str, Any]], ...] = ()
) -> tuple[argparse.Namespace, PretrainConfig]:
    """``ENCODER_DIR... --dataset D [--params P] [--threads N]`` (+ ``extra`` options: ``(flag, add_argument
    kwargs)``) -> the arguments and ``pretrain`` from the params file."""
    parser = argparse.ArgumentParser(description=doc, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument(
        "encoders", nargs="+", type=Path, help="encoder directories (encoder.safetensors + encoder.json)"
    )
    parser.add_argument("--dataset", type=Path, required=True)
    parser.add_argument(
        "--params", type=Path, default=Path("params.yaml"), help="the held-out split and probe settings come from here"
    )
    parser.add_argument("--threads", type=int, default=0, help="torch CPU threads (0: all cores)")
    for flag, kwargs in extra:
        parser.add_argument(flag, **kwargs)
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    return args, Params.model_validate(read_yaml(args.params)).pretrain
