"""The policy run's evaluation loop: every ``policy.eval_every`` env steps evaluate, append to ``eval.csv``, log and
checkpoint; a run with a wall-clock budget (``wall_minutes``) also evaluates every ``1 / WALL_EVALS`` of it, and stops
at the first evaluation past it."""

from __future__ import annotations

import csv
import time
from pathlib import Path
from typing import Any

from stable_baselines3.common.callbacks import BaseCallback
from stable_baselines3.common.vec_env import VecEnv

from pipeline.policy.checkpoint import save_checkpoint
from pipeline.policy.evaluate import evaluate, success_interval

WALL_EVALS = 6
"""a wall-budgeted run also evaluates and checkpoints every 1/6 of its budget (12 min of 72): a pixel agent, at 0.2-2
env steps/s on a CPU, may not reach ``policy.eval_every`` env steps within its budget, and a killed run loses at most
that much"""

EVAL_COLUMNS = ("step", "success", "final_object_distance", "train_seconds", "reward_success", "wall_seconds")
"""``eval.csv``: env steps, eval success rate, mean final object-goal distance (m), training wall seconds so far
(evaluations excluded), the share of episodes the agent's own reward counts as reached, wall seconds so far (all)"""


def final_evaluation(model: Any, env: VecEnv, episodes: int) -> dict[str, Any]:
    """The final policy on ``episodes`` fixed eval episodes (the first ``policy.eval_episodes`` of them are the
    run's own evaluations'), with a 95 % Wilson interval, as ``metrics.json`` keys; ``{}`` when ``episodes`` is 0."""
    if not episodes:
        return {}
    result = evaluate(model, env, episodes)
    low, high = success_interval(result["success"], episodes)
    return {"final_eval_success": result["success"], "final_eval_ci95": [low, high], "final_eval_episodes": episodes}


def write_eval_csv(path: Path, rows: list[dict[str, float]]) -> None:
    """(Re)write ``eval.csv`` with the evaluation history (DVC deletes outputs before a stage reruns)."""
    with path.open("w", newline="") as f:
        writer = csv.DictWriter(f, fieldnames=EVAL_COLUMNS, restval="", extrasaction="ignore")  # stored rows
        writer.writeheader()
        writer.writerows(rows)


class EvalCheckpointCallback(BaseCallback):
    """Every ``every`` env steps: evaluate, append to ``eval.csv``, log to TensorBoard, checkpoint; end training at
    the first evaluation past ``wall_budget_s``."""

    def __init__(
        self,
        eval_env: VecEnv,
        run_dir: Path,
        ckpt_dir: Path,
        every: int,
        episodes: int,
        extra: dict[str, Any],
        wall_budget_s: float | None = None,
    ) -> None:
        super().__init__()
        self.wall_budget_s = wall_budget_s
        """stop at the first evaluation whose wall seconds (resumes included) reach this (None: no budget)"""
        self.eval_env, self.run_dir, self.ckpt_dir, self.every, self.episodes, self.extra = (
            eval_env,
            run_dir,
            ckpt_dir,
            every,
            episodes,
            extra,
        )
        self.eval_seconds = 0.0
        self.last: dict[str, float] = {}
        self.last_step = -1
        self.rows: list[dict[str, float]] = []  # evaluation history, also kept in checkpoints
        self.t0 = time.perf_counter()
        self.prior_wall = self.prior_train = 0.0  # seconds spent before a resume
        self.last_wall = 0.0  # wall seconds at the last evaluation (unrounded, unlike eval.csv's)
        self.start_step = 0

    def timing(self) -> dict[str, float]:
        """Cumulative wall and training seconds (evaluation excluded) across resumes."""
        wall = time.perf_counter() - self.t0
        return {"wall_seconds": self.prior_wall + wall, "train_seconds": self.prior_train + wall - self.eval_seconds}

    def next_eval(self) -> int:
        return (self.last_step // self.every + 1) * self.every if self.last_step >= 0 else 0

    def run_eval(self, checkpoint: bool = True) -> None:
        """Evaluate now; append the row, log it, and checkpoint."""
        t0 = time.perf_counter()
        result = evaluate(self.model, self.eval_env, self.episodes)
        self.eval_seconds += time.perf_counter() - t0
        timing = self.timing()
        self.last_wall = timing["wall_seconds"]
        row = {
            "step": self.num_timesteps,
            **result,
            "train_seconds": round(timing["train_seconds"], 1),
            "wall_seconds": round(timing["wall_seconds"], 1),
        }
        self.rows.append(row)
        with (self.run_dir / "eval.csv").open("a", newline="") as f:
            csv.DictWriter(f, fieldnames=EVAL_COLUMNS, restval="").writerow(row)
        self.logger.record("eval/success_rate", result["success"])
        self.logger.record("eval/final_object_distance", result["final_object_distance"])
        self.logger.record("eval/reward_success", result["reward_success"])
        self.last, self.last_step = result, self.num_timesteps
        if checkpoint:
            save_checkpoint(
                self.model, self.ckpt_dir, {**self.extra, "last_eval": result, "eval_rows": self.rows, **self.timing()}
            )

    def _on_training_start(self) -> None:
        if self.last_step < 0:
            self.run_eval(checkpoint=False)

    def wall_eval_due(self) -> bool:
        """A budgeted run's next evaluation by the clock: the first multiple of ``budget / WALL_EVALS`` wall seconds
        past the last evaluation's (never, without a budget)."""
        if self.wall_budget_s is None:
            return False
        every = self.wall_budget_s / WALL_EVALS
        last = max(self.last_wall, self.prior_wall)  # a resumed run last evaluated where its checkpoint was written
        return self.timing()["wall_seconds"] >= (last // every + 1) * every

    def out_of_time(self) -> bool:
        """The wall-clock budget is spent (checked at evaluations, so a run stops cleanly at one)."""
        return self.wall_budget_s is not None and self.timing()["wall_seconds"] >= self.wall_budget_s

    def _on_step(self) -> bool:
        if self.num_timesteps >= self.next_eval() or self.wall_eval_due():
            self.run_eval()
            return not self.out_of_time()
        return True
