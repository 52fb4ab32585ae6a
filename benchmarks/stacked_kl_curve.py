"""Stacked MNIST's KL along training: how far the KL target is, in steps and network width.

    python benchmarks/stacked_kl_curve.py --data-dir ../shared/data/mnist --case lsgan
        --updates 32000 --width 16 [--lr-factor 3] [--seed 100] [--runs-dir DIR]
        [--scored RUN_DIR] [--out benchmarks/results/stacked_kl_curve.jsonl]

One run of an objectives.py case (its config, at ``--updates`` network updates and conv width
``--width``), checkpointed at every eighth of the run; each checkpoint is scored with
``stacked_modes26k``: modes, KL, and the two parts of the KL's story (``kl_channels``: favoured
digits within a channel; ``unsure_percent``: stacks with a digit the classifier reads below 0.9
confidence, beside real stacks'). ``--scored RUN_DIR`` scores a folder this script trained
earlier instead of training. Appends one JSON line per checkpoint to ``--out``. The tuning seed
(100) is the default: the curve guides a budget and is never a reported result.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from objectives import case_config  # noqa: E402


def train(args) -> Path:
    import gankit

    config = case_config(args.case, "stacked_mnist", args.updates, args.lr_factor,
                         {"data_dir": args.data_dir, "conv_width": args.width})
    fields = {k: v for k, v in config.to_dict().items() if k not in ("seed", "runs_dir", "threads")}
    fields.update(snapshot_every=max(1, config.steps // 8), keep_checkpoints=100)
    c0 = time.process_time()
    run = gankit.train(progress=False, threads=1, seed=args.seed, runs_dir=args.runs_dir, **fields)
    print(json.dumps({"trained": str(run.path), "cpu_seconds": round(time.process_time() - c0, 1)}),
          flush=True)
    return run.path


def score(run_dir: Path, out: Path, case: str) -> None:
    from gankit.metrics import evaluate
    from gankit.runs.run import load_run

    for checkpoint in sorted((run_dir / "checkpoints").glob("step-*.safetensors"))[1:]:
        run = load_run(checkpoint)
        c = run.config
        result = evaluate(run, ["stacked_modes26k"], seed=0)[0]
        row = {"case": case, "run": str(run_dir), "seed": c.seed, "width": c.conv_width,
               "d_width": c.d_conv_width, "objective": c.objective, "lr_d": c.lr_d,
               "step": run.step, "updates": run.step * (c.k + 1),
               **{k: result[k] for k in ("modes", "kl", "kl_channels", "unsure_percent",
                                         "real_kl", "real_unsure_percent")}}
        print(json.dumps(row), flush=True)
        with open(out, "a") as f:
            f.write(json.dumps(row) + "\n")


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", required=True)
    ap.add_argument("--case", default="lsgan")
    ap.add_argument("--updates", type=int, default=32_000)
    ap.add_argument("--width", type=int, default=16)
    ap.add_argument("--lr-factor", type=float, default=3.0)
    ap.add_argument("--seed", type=int, default=100)
    ap.add_argument("--runs-dir", default="/tmp/gankit-stacked-kl")
    ap.add_argument("--scored", default=None, help="score this run folder instead of training")
    ap.add_argument("--out", default="benchmarks/results/stacked_kl_curve.jsonl")
    args = ap.parse_args()
    torch.set_num_threads(1)
    run_dir = Path(args.scored) if args.scored else train(args)
    score(run_dir, Path(args.out), args.case)


if __name__ == "__main__":
    main()
