"""Stacked MNIST (1,000 modes): a small conv GAN, plain against remedies, same budget.

    python benchmarks/stacked_mnist.py --data-dir ../shared/data/mnist [--steps 3000]
        [--width 16] [--cases plain,pack2] [--seeds 0] [--threads 1] [--out FILE.md]

Protocol (docs/benchmarks.md section 2): each example stacks three random MNIST digits as the
channels of one 3x28x28 image, so there are 10^3 = 1,000 modes. After training, 26,000 samples of
G (eval mode) are classified channel by channel with gankit's MNIST classifier: modes = distinct
digit triples seen, KL = KL(triple histogram || uniform over 1,000). The same numbers for 26,000
stacked *test* images are the ceiling. Published (DCGAN-sized nets, long training): DCGAN 99
modes / KL 3.4; PacGAN 1,000 / 0.06 (Lin et al. 2018, Table 3, D with 1/4 the filters).

The networks are the ``dcgan-mnist`` preset's (transposed-conv G from 7x7, strided-conv D, Adam
2e-4, beta1 0.5, batch 64) at ``--width`` filters, small enough for a CPU; cases are ``--set``-like
overrides: ``plain``, ``pack2``/``pack4`` (PacGAN), ``lrs`` (lr_D = 4 lr_G), ``ema`` (G weight
average 0.999). Prints one JSON line per run and writes a markdown table to ``--out``.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import tempfile
import time
from pathlib import Path

import torch

import gankit
from gankit.metrics import evaluate

CASES = {
    "plain": ("DCGAN-style, plain", {}),
    "pack2": ("PacGAN, pack=2", {"pack": 2}),
    "pack4": ("PacGAN, pack=4", {"pack": 4}),
    "lrs": ("separate lrs, lr_D = 4 x lr_G", {"lr_d": 8e-4}),
    "ema": ("G weight average 0.999", {"g_ema": 0.999}),
}
PUBLISHED = [("DCGAN", "99", "3.40", "published, PacGAN T3"),
             ("PacGAN2 (DCGAN D, 1/4 filters)", "1000", "0.06", "published, PacGAN T3")]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--data-dir", required=True)
    ap.add_argument("--steps", type=int, default=3000)
    ap.add_argument("--width", type=int, default=16)
    ap.add_argument("--cases", default="plain,pack2")
    ap.add_argument("--seeds", default="0")
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--runs-dir", default=None)
    ap.add_argument("--out", default=None)
    args = ap.parse_args()
    cases = [c for c in args.cases.split(",") if c]
    for c in cases:
        if c not in CASES:
            raise SystemExit(f"unknown case '{c}'; choose from {', '.join(CASES)}")
    seeds = [int(s) for s in args.seeds.split(",") if s]
    runs_dir = args.runs_dir or tempfile.mkdtemp(prefix="gankit-stacked-")
    torch.set_num_threads(args.threads)
    load = os.getloadavg()
    rows, real = [], None
    for seed in seeds:
        for case in cases:
            label, overrides = CASES[case]
            t0, c0 = time.perf_counter(), time.process_time()
            run = gankit.train(progress=False, preset="dcgan-mnist", dataset="stacked_mnist",
                               data_dir=args.data_dir, conv_width=args.width, steps=args.steps,
                               seed=seed, threads=args.threads, runs_dir=runs_dir,
                               snapshot_every=args.steps, **overrides)
            train_s, cpu_s = time.perf_counter() - t0, time.process_time() - c0
            result = evaluate(run, ["stacked_modes26k"], seed=0)[0]
            real = (result.get("real_modes"), result.get("real_kl"))
            row = {"case": case, "label": label, "seed": seed, "steps": args.steps,
                   "width": args.width, "modes": result["modes"], "kl": result["kl"],
                   "train_seconds": round(train_s, 1), "train_cpu_seconds": round(cpu_s, 1),
                   "run": str(run.path)}
            rows.append(row)
            print(json.dumps(row), flush=True)
    if args.out:
        write_table(Path(args.out), rows, real, args, load)


def write_table(out: Path, rows: list[dict], real, args, load) -> None:
    lines = [
        "# Stacked MNIST (1,000 modes): a small conv GAN on a CPU", "",
        f"`python benchmarks/stacked_mnist.py --steps {args.steps} --width {args.width} --cases "
        f"{args.cases} --seeds {args.seeds} --threads {args.threads}` on "
        f"{time.strftime('%Y-%m-%d %H:%M UTC', time.gmtime())}; load average at the start "
        f"{load[0]:.1f}. Networks: the `dcgan-mnist` preset at width {args.width}, batch 64, "
        f"{args.steps} generator steps per run; metric `stacked_modes26k` (26,000 samples).", "",
        "| method | modes (of 1000) | KL | seeds | train CPU s | source |", "|---|---|---|---|---|---|"]
    for case in dict.fromkeys(r["case"] for r in rows):
        rs = [r for r in rows if r["case"] == case]
        m = [r["modes"] for r in rs]
        k = [r["kl"] for r in rs]
        se = (lambda v: f" ± {statistics.stdev(v) / len(v) ** 0.5:.2f}" if len(v) > 1 else "")
        lines.append(f"| {rs[0]['label']} | {statistics.fmean(m):.0f}{se(m)} | "
                     f"{statistics.fmean(k):.2f}{se(k)} | {len(rs)} | "
                     f"{statistics.fmean(r['train_cpu_seconds'] for r in rs):.0f} | gankit |")
    if real and real[0] is not None:
        lines.append(f"| stacked test images (26,000) | {real[0]:.0f} | {real[1]:.3f} | | | the ceiling |")
    for name, modes, kl, src in PUBLISHED:
        lines.append(f"| {name} | {modes} | {kl} | | | {src} |")
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("\n".join(lines) + "\n")
    out.with_suffix(".jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))


if __name__ == "__main__":
    main()
