"""Quality benchmark: Parzen LL on MNIST (the paper's Table 1 protocol) against CPU time.

Goal (issue 3): the paper's configuration reaches Parzen LL >= 225 within 60 minutes of training
on 2 CPU cores. This script trains a preset through :func:`gankit.reproduce.reproduce` (Parzen LL
every ``--eval-every-steps``, the budget counted in training time, evaluations excluded) and prints
the curve and the times at which it passed 200 and 225. Results: ``benchmarks/results/mnist_parzen.md``.

    python benchmarks/mnist_parzen.py --preset paper-mnist --budget-minutes 60 --threads 1 \\
        --data-dir ../shared/data/mnist --out /tmp/bench-paper
    python benchmarks/mnist_parzen.py --preset paper-mnist --set optimizer=adam --set lr_d=2e-4 \\
        --set lr_g=2e-4 --set lr_decay=1 --budget-minutes 8 --eval-every-steps 2500   # a probe

``--compare DIR [DIR ...]`` prints the curves of finished result folders side by side, with a
least-squares fit LL = a + b ln(CPU minutes) over the points from epoch 10 on and its projection to
60 and 120 CPU minutes (one and two cores for an hour): an extrapolation, labelled as such.

Use ``--threads`` deliberately and note the machine's load (printed): on a shared machine the
time per step depends on the neighbours.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from pathlib import Path

import yaml

from gankit.reproduce import reproduce


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--preset", default="paper-mnist")
    p.add_argument("--budget-minutes", type=float, default=60.0,
                   help="training minutes (Parzen evaluations excluded)")
    p.add_argument("--budget-clock", choices=("wall", "cpu"), default="wall",
                   help="cpu: this process's CPU time (use on a shared machine, with --threads 1)")
    p.add_argument("--eval-every-steps", type=int, default=2500)
    p.add_argument("--n-samples", type=int, default=10_000, help="Parzen samples (paper: 10000)")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--data-dir", default=str(Path(__file__).resolve().parents[2] / "shared/data/mnist"))
    p.add_argument("--out", default=None)
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="config override, repeatable (e.g. optimizer=adam)")
    p.add_argument("--compare", nargs="+", metavar="DIR", help="summarise finished result folders")
    args = p.parse_args()
    if args.compare:
        return compare([Path(d) for d in args.compare])
    overrides = {}
    for item in args.set:
        key, _, value = item.partition("=")
        overrides[key.strip()] = yaml.safe_load(value)  # numbers stay numbers
    out = args.out or f"/tmp/mnist-parzen-{args.preset}-{time.strftime('%H%M%S')}"
    print(f"load average at start: {os.getloadavg()}; threads {args.threads}; overrides {overrides}",
          flush=True)
    result = reproduce("mnist", out=out, budget_minutes=args.budget_minutes, data_dir=args.data_dir,
                       preset=args.preset, eval_every_steps=args.eval_every_steps, seed=args.seed,
                       n_samples=args.n_samples, threads=args.threads, overrides=overrides,
                       budget_clock=args.budget_clock,
                       progress=False, log=lambda line: print(line, flush=True))
    s = result.summary
    print(f"load average at end: {os.getloadavg()}")
    print("\n| step | epoch | train min | CPU min | wall min | Parzen LL | sigma |\n"
          "|---|---|---|---|---|---|---|")
    for pt in result.points:
        print(f"| {pt.step} | {pt.epochs:.1f} | {pt.train_seconds / 60:.1f} | {pt.cpu_seconds / 60:.1f} | "
              f"{pt.wall_seconds / 60:.1f} | "
              f"{pt.ll_mean:.1f} ± {pt.ll_se:.1f} | {pt.sigma:.3f} |")
    for level, hit in s["passed"].items():
        print(f"passed {level}: " + (f"step {hit['step']}, epoch {hit['epochs']:.1f}, "
                                      f"{hit['train_minutes']} train min" if hit else "no"))
    print(json.dumps({"final": s["final"], "best": s["best"], "passed": s["passed"],
                      "reference": s["reference"], "out": str(result.out)}))
    return 0


def compare(folders: list[Path]) -> int:
    """Print each folder's curve, its passing times and a log-CPU-time projection."""
    import numpy as np

    for folder in folders:
        points = [json.loads(x) for x in (folder / "parzen_curve.jsonl").read_text().splitlines()]
        summary = json.loads((folder / "summary.json").read_text())
        env = json.loads((folder / "environment.json").read_text())
        print(f"\n## {summary['preset']} ({folder}); threads {env['threads']}, load "
              f"{env['load_average_start'][0]} -> {env['load_average_end'][0]}")
        print("| step | epoch | train min | CPU min | Parzen LL | σ |\n|---|---|---|---|---|---|")
        for pt in points:
            print(f"| {pt['step']} | {pt.get('epochs', pt['epoch'])} | {pt['train_seconds'] / 60:.1f} | "
                  f"{pt['cpu_seconds'] / 60:.1f} | {pt['ll_mean']:.1f} ± {pt['ll_se']:.1f} | "
                  f"{pt['sigma']:.3f} |")
        late = [pt for pt in points if pt["epoch"] >= 10]
        if len(late) >= 3:
            x = np.log([pt["cpu_seconds"] / 60 for pt in late])
            b, a = np.polyfit(x, [pt["ll_mean"] for pt in late], 1)
            proj = {m: a + b * np.log(m) for m in (60, 120)}
            need = {level: float(np.exp((level - a) / b)) if b > 0 else float("inf")
                    for level in (200, 225)}
            print(f"fit LL = {a:.1f} + {b:.1f} ln(CPU min) over {len(late)} points: projected "
                  f"{proj[60]:.0f} at 60 and {proj[120]:.0f} at 120 CPU minutes; 200 at "
                  f"~{need[200]:.0f}, 225 at ~{need[225]:.0f} CPU minutes (extrapolation)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
