"""Stage 2: pretrain one encoder with Lightning, then probe what its latents encode."""

from __future__ import annotations

import shutil
import time
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

import numpy as np
import pytorch_lightning as pl
import torch
from pytorch_lightning.callbacks import ModelCheckpoint
from pytorch_lightning.loggers import TensorBoardLogger
from tqdm import tqdm

from pipeline.collect.dataset import DatasetError
from pipeline.encoders import load_encoder, save_encoder
from pipeline.encoders.registry import ENCODERS, build_encoder, encoder_section
from pipeline.errors import PipelineError
from pipeline.io import exclusive, partial_path, publish, remove, state_signature, write_json
from pipeline.nets import frames_to_tensor
from pipeline.pretrain.config import PretrainConfig
from pipeline.pretrain.data import FrameDataModule, subsample
from pipeline.pretrain.lit import build_lit_module, compute_label_stats
from pipeline.pretrain.metrics import EncoderMetrics, ProbeReport, summary_line
from pipeline.pretrain.pictures import draw_pictures
from pipeline.pretrain.probe import probe_report
from pipeline.pretrain.resume import TrainClock, fingerprint, resumable
from pipeline.quiet import quiet_lightning

if TYPE_CHECKING:
    from pipeline.config import PathsConfig

quiet_lightning()

PROBE_FRAMES = (
    30_000  # frames per split used to fit/evaluate the probes (subsampled evenly; the study dataset fits whole)
)


class PretrainError(PipelineError, ValueError):
    """The pretrain stage cannot run (unknown encoder, bad dataset, bad weights file)."""


@dataclass(frozen=True)
class PretrainPaths:
    """What pretraining one encoder reads and writes."""

    dataset: Path
    """the collect stage's zarr dataset (read)"""
    encoder: Path
    """this encoder's artifact folder (written atomically)"""
    checkpoints: Path
    """this encoder's resumable training state"""
    logs: Path
    """this run's TensorBoard folder"""
    results: Path
    """this encoder's small results, ``metrics.json`` and ``pictures/`` (written atomically; in git in the study)"""

    @classmethod
    def of(cls, paths: PathsConfig, name: str) -> PretrainPaths:
        """The folders of ``name`` under ``paths``, laid out as ``dvc.yaml`` names them."""
        return cls(
            paths.dataset,
            paths.encoders / name,
            paths.checkpoints / "pretrain" / name,
            paths.logs / "pretrain" / name,
            paths.pretrain_results / name,
        )


def encode_all(
    net: torch.nn.Module, frames: np.ndarray, device: torch.device, batch: int = 256, desc: str | None = None
) -> np.ndarray:
    """Latents of frames with a plain module (eval mode, no grad); ``desc`` shows a progress bar under that name."""
    net = net.to(device).eval()
    out = []
    with torch.no_grad(), tqdm(total=len(frames), unit="frame", desc=desc, disable=desc is None, leave=False) as bar:
        for i in range(0, len(frames), batch):
            x = frames_to_tensor(
                torch.from_numpy(frames[i : i + batch]).to(device)
            )  # uint8 (B, H, W, 3) -> (B, 3, H, W)
            out.append(net.encode(x).cpu().numpy())
            bar.update(len(x))
    return np.concatenate(out)


def probe(
    net: torch.nn.Module, dm: FrameDataModule, alpha: float | str, device: torch.device, label: str | None = None
) -> ProbeReport:
    """Ridge and MLP probes from latents to object/gripper positions: fit on training episodes, score held-out ones.

    :param alpha: ridge penalty, or ``"auto"`` to cross-validate it over the training episodes
    :param label: show progress under this name (None: quiet)
    """
    a = dm.data.arrays
    tr, te = subsample(dm.train_idx, PROBE_FRAMES), subsample(dm.val_idx, PROBE_FRAMES)
    desc = None if label is None else f"probe {label}: encode"
    z_tr, z_te = (
        encode_all(net, a["frames"][tr], device, desc=desc),
        encode_all(net, a["frames"][te], device, desc=desc),
    )
    if label is not None:
        print(f"probe {label}: fitting ridge and MLP probes on {len(tr)} frames, scoring {len(te)}", flush=True)
    return probe_report(
        z_tr,
        a["object_pos"][tr],
        a["gripper_pos"][tr],
        z_te,
        a["object_pos"][te],
        a["gripper_pos"][te],
        None if alpha == "auto" else float(alpha),
        train_groups=a["episode"][tr],
        test_visible=a["object_visible"][te],
        train_visible=a["object_visible"][tr],
        mlp=True,
    )


def _trainer(pre: PretrainConfig, ckpt_dir: Path, log_dir: Path, progress: bool, clock: TrainClock) -> pl.Trainer:
    logger = TensorBoardLogger(str(log_dir.parent), name="", version=log_dir.name)  # logs in exactly ``log_dir``
    # ``last.ckpt`` every few optimiser steps, so an interrupted run loses little
    ckpt = ModelCheckpoint(
        dirpath=str(ckpt_dir),
        filename="latest",
        save_last=True,
        save_top_k=1,
        every_n_train_steps=pre.checkpoint_every_steps,
    )
    return pl.Trainer(
        max_epochs=pre.max_epochs,
        max_steps=pre.max_steps or -1,
        accelerator="auto",
        devices=pre.devices,
        num_nodes=pre.num_nodes,
        strategy=pre.strategy,
        logger=logger,
        callbacks=[ckpt, clock],
        enable_progress_bar=progress,
        enable_model_summary=False,
        log_every_n_steps=10,
        deterministic=False,
        num_sanity_val_steps=0,
    )


def pretrain_encoder(pre: PretrainConfig, name: str, paths: PretrainPaths, progress: bool = True) -> EncoderMetrics:
    """Train (or build, when not trainable: ``frozen``) encoder ``name`` with its block ``pre.<name>`` and the
    shared settings of ``pre``; probe it; write ``paths.encoder`` atomically. One writer per encoder: a second one
    fails at once, naming the first one's pid (the lock covers its checkpoints too)."""
    if name not in ENCODERS:
        raise PretrainError(f"unknown encoder {name!r}; allowed: {', '.join(ENCODERS)}")
    with exclusive(paths.encoder):
        return _pretrain(pre, name, paths, progress)


def _pretrain(pre: PretrainConfig, name: str, paths: PretrainPaths, progress: bool) -> EncoderMetrics:
    """:func:`pretrain_encoder` with the encoder's output locked."""
    spec = ENCODERS[name]
    block = encoder_section(name, getattr(pre, name, None))  # its block of ``pre`` (None: the encoder's defaults)
    gap = getattr(block, "pair_gap", 1)  # temporal encoders pair frames further apart than slowness's 1 step
    try:
        dm = FrameDataModule(paths.dataset, pre.batch_size, pre.val_fraction, pre.seed, pre.num_workers, gap)
    except DatasetError as exc:
        raise PretrainError(str(exc)) from None
    attrs, size = dm.data.attrs, dm.image_size
    device = torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if pre.cpu_threads:
        torch.set_num_threads(pre.cpu_threads)
    pl.seed_everything(pre.seed, workers=True, verbose=False)
    ckpt_dir = paths.checkpoints
    t0 = time.perf_counter()
    stats: dict[str, Any] = {}
    if spec.trainable:
        label_stats = compute_label_stats(
            dm.data.arrays["object_pos"][dm.train_idx], dm.data.arrays["gripper_pos"][dm.train_idx]
        )
        lit = build_lit_module(name, block, size, dm.median, label_stats, pre.lr_schedule)  # fg_weight 0: plain MSE
        fp = {**fingerprint(pre, name, paths.dataset), "architecture": state_signature(lit.state_dict())}
        resume = resumable(ckpt_dir, fp, name)  # checked readable; None: from scratch (a damaged one set aside)
        clock = TrainClock()  # counts the seconds of earlier runs of a resumed one too
        trainer = _trainer(pre, ckpt_dir, paths.logs, progress, clock)
        trainer.fit(lit, datamodule=dm, ckpt_path=str(resume) if resume else None, weights_only=True)
        net, train_s = lit.net, clock.seconds()
        stats = {  # EncoderMetrics fields of a trained encoder
            "val_loss": float(trainer.callback_metrics.get("val_loss", float("nan"))),
            "epochs": trainer.current_epoch,
            "steps": trainer.global_step,
            "train_frames_per_s": trainer.global_step * pre.batch_size / max(train_s, 1e-9),
        }
    else:
        ckpt_dir.mkdir(parents=True, exist_ok=True)  # nothing to resume, but dvc.yaml declares it an out of every stage
        try:
            net = build_encoder(name, block, size)
        except (ValueError, FileNotFoundError) as exc:
            raise PretrainError(f"pretrain.{name}: {exc}") from None
        train_s = time.perf_counter() - t0
    out = paths.encoder
    tmp = partial_path(out)
    remove(tmp)
    save_encoder(net, name, block.model_dump(mode="json"), size, attrs["camera"], attrs["env_id"], tmp)
    loaded = load_encoder(tmp, device=device)  # what every later stage will see
    report = probe(loaded.net, dm, pre.probe_ridge, device, label=name if progress else None)
    torch.manual_seed(pre.seed + 1)
    random_net = build_encoder(name, {**block.model_dump(), **spec.random_init}, size)
    rand = probe(random_net, dm, pre.probe_ridge, device, label=f"{name} (random init)" if progress else None)
    metrics = EncoderMetrics(
        encoder=name,
        latent_dim=loaded.latent_dim,
        train_seconds=train_s,
        **stats,
        probe=report,
        random_object_mm=rand.probe_object_mm,
        random_gripper_mm=rand.probe_gripper_mm,
        random_object_mlp_mm=rand.probe_object_mlp_mm,
        collect_seconds=attrs.get("collect_seconds"),
    )
    sample = dm.data.arrays["frames"][subsample(dm.val_idx, 6)]
    net_cpu = loaded.net.to("cpu")
    draw_pictures(name, net_cpu, sample, tmp)
    write_json(tmp / "metrics.json", metrics.to_metrics())
    publish(tmp, out)
    publish_results(out, paths.results)
    if progress:
        print(summary_line(metrics, out))
    return metrics


def publish_results(encoder: Path, results: Path) -> None:
    """Copy an encoder's ``metrics.json`` and pictures to ``results`` (replacing it whole): what the report reads,
    small enough for git, so a clone without the DVC cache still has every encoder's probes and costs."""
    tmp = partial_path(results)
    remove(tmp)
    (tmp / "pictures").mkdir(parents=True)
    shutil.copy2(encoder / "metrics.json", tmp / "metrics.json")
    for pic in sorted(encoder.glob("*.png")):
        shutil.copy2(pic, tmp / "pictures" / pic.name)
    publish(tmp, results)
