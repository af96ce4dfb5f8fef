"""The pixel agents' SAC update in three forms, side by side on one model: eager (what the study runs), channels-last
memory format, and ``torch.compile``-d image encoders.

Run (repo root, venv active)::

    python benchmarks/pixel_formats.py [--variants ...] [--forms eager compiled] [--updates 3] [--steps 12] [--rounds 3]

Builds each study pixel agent once per form with the real code path (as ``benchmarks/pixel_update.py``:
``build_envs`` + ``build_model``, 84 px, 4 frames, batch 256, same seed), puts it in its form before its first update,
fills its replay with ``learning_starts`` random steps (untimed; the compiled form compiles its graphs there), then
times ``--updates`` fused gradient steps and ``--steps`` env steps of ``model.learn`` (one update per vectorised
step) per form in interleaved rounds. Prints seconds per update, env steps/s, each form's speed against eager and the
load average (absolute times drift with load; the ratios are the point). The study uses a form only where this
measures it faster. (One model per form: switching one model between forms leaves its optimizer state in the other
memory format and recompiles the compiled form at each switch, which skews both.)
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from pathlib import Path
from typing import Any

import torch
from policy_throughput import make_params, timed_learn

import pipeline  # noqa: F401  (MUJOCO_GL=egl)
from pipeline.config import load_params
from pipeline.policy.train import PolicyPaths, build_envs, build_model


def extractors(model: Any) -> list[torch.nn.Module]:
    """The policy's distinct image feature extractors (actor, critic, critic target; shared ones once)."""
    found = [model.policy.actor.features_extractor, model.policy.critic.features_extractor]
    found.append(model.policy.critic_target.features_extractor)
    return list({id(m): m for m in found}.values())


def use_form(model: Any, form: str) -> None:
    """Put a fresh model's encoders in ``form`` once, before its first update (so that its optimizer state is made
    in that form too): channels-last conv weights, or ``torch.compile``-d extractors."""
    if form == "channels_last":
        model.policy.to(memory_format=torch.channels_last)  # 4-D conv weights only; 2-D tensors keep theirs
    elif form == "compiled":
        for module in extractors(model):
            module.forward = torch.compile(module.forward)


FORMS = ("eager", "channels_last", "compiled")
"""the forms ``--forms`` may name; eager is always timed (the others against it)"""


def measure(variant_name: str, args: argparse.Namespace) -> None:
    """Time the fused update and ``model.learn`` of one study pixel agent in each form: one model per form, built
    alike (same seed), timed in interleaved rounds."""
    study = load_params("params.yaml").policy.variants[variant_name]
    sac = study.sac.model_copy(update={"learning_starts": args.learning_starts, "buffer_size": 20_000})
    variant = study.model_copy(update={"sac": sac, "wall_minutes": None, "compile": False})  # eager unless asked
    names = ["eager", *[f for f in args.forms if f != "eager"]]
    with tempfile.TemporaryDirectory() as tmp:
        params = make_params(Path(tmp), args.image_size, "cpu", vec_env="dummy")
        models, envs, warm_s = {}, [], {}
        for form in names:
            train_env, eval_env, _ = build_envs(
                params.env, params.policy, variant, 0, "cpu", PolicyPaths.of(params.paths)
            )
            envs += [train_env, eval_env]
            models[form] = build_model(variant, train_env, 0, "cpu", Path(tmp) / "tb")
            use_form(models[form], form)
            t0 = time.perf_counter()  # fills the replay; the first updates and acting passes compile (untimed)
            models[form].learn(args.learning_starts + 4, progress_bar=False)
            warm_s[form] = time.perf_counter() - t0
        seconds, learn_s = dict.fromkeys(names, 0.0), dict.fromkeys(names, 0.0)
        for _ in range(args.rounds):
            for form, model in models.items():
                t0 = time.perf_counter()
                model.update(args.updates, sac.batch_size)
                seconds[form] += time.perf_counter() - t0
                learn_s[form] += timed_learn(model, args.steps) if args.steps else 0.0
        for env in envs:
            env.close()
    n, steps = args.rounds * args.updates, args.rounds * args.steps
    warm = ", ".join(f"{f} {s:.0f} s" for f, s in warm_s.items())
    print(f"{variant_name} at {args.image_size} px, batch {sac.batch_size}, {torch.get_num_threads()} torch threads, "
          f"load average {os.getloadavg()[0]:.2f} at the end; warm-up {warm}")  # fmt: skip
    for form in names:
        speed = f", {steps / learn_s[form]:.2f} env steps/s ({learn_s['eager'] / learn_s[form]:.2f}x)" if steps else ""
        print(f"  {form:>13}: {seconds[form] / n:.3f} s per update ({seconds['eager'] / seconds[form]:.2f}x){speed}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--variants", nargs="+", default=["pixel_manip_ss", "pixel_nature"])
    parser.add_argument("--forms", nargs="+", choices=FORMS, default=list(FORMS))
    parser.add_argument("--updates", type=int, default=3, help="timed gradient steps per round and form")
    parser.add_argument("--steps", type=int, default=12, help="timed env steps of model.learn per round and form")
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--image-size", type=int, default=84)
    parser.add_argument("--learning-starts", type=int, default=300)
    parser.add_argument("--threads", type=int, default=1, help="torch threads (the study's policy.cpu_threads)")
    parser.add_argument("--flush-denormal", action="store_true", help="torch.set_flush_denormal(True) first")
    args = parser.parse_args()
    torch.set_num_threads(args.threads)
    if args.flush_denormal:
        torch.set_flush_denormal(True)
    for name in args.variants:
        measure(name, args)


if __name__ == "__main__":
    main()
