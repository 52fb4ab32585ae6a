"""Training speed: gankit's loop against the loop users typically write, measured in one run.

    python benchmarks/speed.py [--arch paper|pytorchgan] [--batch B] [--steps S]
                               [--impl gankit|baseline|both|all] [--threads T] [--repeats R]

Default: every case (both archs x batch 64, 100, 512, both implementations). Prints one JSON line
per case: arch, batch, impl, steps, seconds (median of repeats), images/s (real images consumed by
the D steps per second, after warm-up), GFLOP/s from an analytic count of the forward and backward
FLOPs of one iteration, and the fraction of this machine's float32 matmul peak (measured here,
first). Then one line per (arch, batch) with the ratio gankit / baseline.

``--impl all`` adds ``gankit-bf16``: the same loop with the networks under bfloat16 autocast
(``--precision bf16``: weights, optimiser state and losses stay float32). It is a change of
arithmetic, not only of overhead, so it is reported as its own row beside the float32 one, with
its own ratio, and the bf16 matmul peak is printed too.

Same algorithm for both: k = 1, alternating, fresh noise for the G step, Adam(2e-4, 0.5, 0.999),
the same networks and batch. The baseline (baseline_loop.py) is written the way users write it
from the PyTorch DCGAN tutorial / PyTorch-GAN's gan.py.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
import baseline_loop  # noqa: E402

from gankit.config import resolve_config  # noqa: E402
from gankit.data import load_dataset  # noqa: E402
from gankit.engine.loop import Engine  # noqa: E402

DATA = Path(__file__).resolve().parents[1].parent / "shared" / "data" / "mnist"

#: The two architectures as gankit config overrides (and as baseline networks, same shapes).
ARCHS = {
    # The paper's MNIST networks (maxout D with dropout, ReLU/sigmoid G).
    "paper": dict(g_hidden=(1200, 1200), d_hidden=(240, 240), d_maxout_pieces=5,
                  d_dropout_input=0.2, d_dropout_hidden=0.5),
    # PyTorch-GAN's gan.py MLP: G 100-128-256-512-1024-784 (BatchNorm, LeakyReLU), D 784-512-256-1.
    "pytorchgan": dict(g_hidden=(128, 256, 512, 1024), g_activation="leaky_relu", g_batchnorm=True,
                       d_hidden=(512, 256), d_maxout_pieces=0, d_dropout_input=0.0,
                       d_dropout_hidden=0.0),
}
COMMON = dict(preset="paper-mnist", optimizer="adam", lr_d=2e-4, lr_g=2e-4, adam_beta1=0.5,
              lr_decay=1.0, schedule="alternating", k=1, z_dim=100, g_init_range=0.0,
              d_init_range=0.0, log_every=50)


def linear_shapes(arch: str) -> tuple[list[tuple[int, int]], list[tuple[int, int]]]:
    """(in, out) of every matmul in G and in D."""
    a = {**ARCHS[arch]}
    g = [100, *a["g_hidden"], 784]
    G = list(zip(g[:-1], g[1:]))
    pieces = max(a["d_maxout_pieces"], 1)
    d_in, D = 784, []
    for h in a["d_hidden"]:
        D.append((d_in, h * pieces))
        d_in = h
    D.append((d_in, 1))
    return G, D


def flops_per_iteration(arch: str, m: int) -> float:
    """Forward + backward FLOPs of one Algorithm 1 iteration (k = 1), counting only needed work.

    A linear layer n x (in -> out) costs 2*n*in*out for the forward, the same again for the weight
    gradient and for the input gradient. D step: G forward (m), D forward + weight grads on 2m,
    input grads on 2m except D's first layer. G step: G forward, D forward, D input grads (all
    layers, no weight grads), G weight grads and input grads except G's first layer.
    """
    G, D = linear_shapes(arch)
    f = lambda layers, n: sum(2 * n * i * o for i, o in layers)  # noqa: E731
    d_step = f(G, m) + 3 * f(D, 2 * m) - f(D[:1], 2 * m)
    g_step = 2 * f(G, m) + 2 * f(D, m) + f(G[1:], m)
    return float(d_step + g_step)


def matmul_peak(threads: int, repeats: int = 5, dtype: torch.dtype = torch.float32) -> float:
    """Practical matmul throughput (GFLOP/s): best of repeats on 1024^3 and 512x1200x1200."""
    torch.set_num_threads(threads)
    best = 0.0
    for n, k, p in ((1024, 1024, 1024), (512, 1200, 1200), (1024, 1200, 1200)):
        a, b = torch.randn(n, k, dtype=dtype), torch.randn(k, p, dtype=dtype)
        for _ in range(3):
            a @ b
        for _ in range(repeats):
            t = time.perf_counter()
            for _ in range(10):
                a @ b
            best = max(best, 10 * 2 * n * k * p / (time.perf_counter() - t) / 1e9)
    return best


def time_gankit(arch: str, batch: int, steps: int, threads: int, warmup: int,
                precision: str = "fp32") -> float:
    cfg = resolve_config(**COMMON, **ARCHS[arch], batch=batch, data_dir=str(DATA),
                         steps=10**9, threads=threads, precision=precision)
    dataset = load_dataset("mnist", str(DATA))
    torch.set_num_threads(threads)
    engine = Engine(cfg, dataset)  # the engine alone: no run folder, no callbacks
    sums: dict[str, torch.Tensor] = {}
    for i in range(warmup + steps):
        if i == warmup:
            t = time.perf_counter()
        stats = engine.iterate()  # exactly the training loop's iteration
        for key, v in stats.items():  # the loop's per-step bookkeeping, too
            sums[key] = sums[key] + v if key in sums else v.clone()
        if (i + 1) % cfg.log_every == 0:
            {k: v.item() for k, v in sums.items()}
            sums = {}
    return time.perf_counter() - t


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--arch", choices=sorted(ARCHS), action="append")
    ap.add_argument("--batch", type=int, action="append")
    ap.add_argument("--steps", type=int, default=200)
    ap.add_argument("--warmup", type=int, default=20)
    ap.add_argument("--impl", choices=["gankit", "baseline", "both", "all"], default="both",
                    help="both: baseline and gankit; all: also gankit-bf16")
    ap.add_argument("--threads", type=int, default=os.cpu_count() or 1,
                    help="torch threads for both loops (default: all cores, torch's default)")
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    archs, batches = args.arch or ["paper", "pytorchgan"], args.batch or [64, 100, 512]
    impls = {"both": ["baseline", "gankit"], "all": ["baseline", "gankit", "gankit-bf16"]}.get(
        args.impl, [args.impl])
    peak = matmul_peak(args.threads)
    peak_bf16 = matmul_peak(args.threads, dtype=torch.bfloat16) if "gankit-bf16" in impls else None
    print(json.dumps({"matmul_peak_gflops": round(peak, 1), "bf16_matmul_peak_gflops":
                      peak_bf16 and round(peak_bf16, 1), "threads": args.threads,
                      "loadavg_start": os.getloadavg()[0], "torch": torch.__version__}), flush=True)
    for arch in archs:
        for batch in batches:
            rate = {}
            runs: dict[str, list[float]] = {impl: [] for impl in impls}
            for _ in range(args.repeats):  # interleaved, so both loops see the same machine load
                for impl in impls:
                    if impl.startswith("gankit"):
                        t = time_gankit(arch, batch, args.steps, args.threads, args.warmup,
                                        "bf16" if impl.endswith("bf16") else "fp32")
                    else:
                        t = baseline_loop.time_baseline(arch, ARCHS[arch], batch, args.steps,
                                                        args.threads, args.warmup, DATA)
                    runs[impl].append(t)
            for impl in impls:
                sec = statistics.median(runs[impl])
                gflops = flops_per_iteration(arch, batch) * args.steps / sec / 1e9
                rate[impl] = batch * args.steps / sec
                print(json.dumps({"arch": arch, "batch": batch, "impl": impl, "steps": args.steps,
                                  "seconds": round(sec, 3), "images_per_s": round(rate[impl], 1),
                                  "gflops": round(gflops, 1), "pct_of_peak": round(100 * gflops / peak, 1),
                                  "repeats": [round(r, 3) for r in runs[impl]]}), flush=True)
            if "baseline" in rate:
                for impl in (i for i in impls if i != "baseline"):
                    print(json.dumps({"arch": arch, "batch": batch, "impl": impl,
                                      f"ratio_{impl}_over_baseline".replace("-", "_"):
                                      round(rate[impl] / rate["baseline"], 2)}), flush=True)
    print(json.dumps({"loadavg_end": os.getloadavg()[0]}))


if __name__ == "__main__":
    main()
