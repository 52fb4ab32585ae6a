"""Many GANs at once: steps per second per member and in total, lone runs against stacked groups.

    python benchmarks/many.py [--nets ring8,paper,dcgan32] [--members 1,8,64] [--steps S]
                              [--repeats R] [--threads T] [--device cpu|cuda] [--save]

For each network set and each M it times the training loop (the engine's iteration, without run
folders; after a warm-up) of:

- ``lone``: one run, today's loop (``Engine``), M = 1 only: the baseline;
- ``stacked``: M members as one group (``Group``: batched matmuls, grouped convolutions, each
  member's own optimiser steps);
- ``graphed`` (``--device cuda`` only): the same group with ``--cuda-graph``, the iteration
  replayed from one CUDA graph (timed after its eager warm-up and capture);

interleaved (lone, stacked M=8, stacked M=64, lone, ...) and repeated, and prints one JSON line per
(nets, impl, M) with the median steps/s of the group, the steps/s per member, and the ratio of
per-member throughput to the lone run's measured in the same run. ``--kernel`` adds the D forward
and backward alone, stacked layers against ``torch.func.vmap`` over a functional D (the other way
to batch members the issue names).

Networks: ``small`` (G 64, D 64, batch 64, 8x8 images: a net that kernel launches and Python bound),
``digits`` (the default preset: G 512x512, maxout D with dropout, batch 100, 8x8 digits), ``ring8``
(the ring8 preset's MLPs: G and D 256x256, batch 100), ``paper`` (the paper's MNIST networks:
G 1200-1200, maxout D with dropout, batch 100, momentum SGD), ``dcgan32`` (the conv nets at 32x32
RGB, width 64, batch 64, Adam). Data are uniform random tensors of the right shape (speed does not
depend on pixel values). Rows are appended to benchmarks/results/many.jsonl with ``--save``.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import statistics
import time
from pathlib import Path

import torch

from gankit.config import resolve_config
from gankit.data import Dataset
from gankit.engine.callbacks import Callback
from gankit.engine.loop import Engine
from gankit.engine.members import Group, build_member_states

OUT = Path(__file__).resolve().parent / "results" / "many.jsonl"

NETS = {
    "small": (dict(preset="digits", g_hidden=(64,), d_hidden=(64,), batch=64), (1, 8, 8), True),
    "digits": (dict(preset="digits"), (1, 8, 8), True),
    "ring8": (dict(preset="ring8"), (2,), False),
    "paper": (dict(preset="paper-mnist", batch=100), (1, 28, 28), True),
    "dcgan32": (dict(arch="conv", dataset="cifar10", conv_width=64, batch=64, optimizer="adam",
                     lr_g=2e-4, lr_d=2e-4), (3, 32, 32), True),
}


class Clock(Callback):
    """Wall time from the end of step ``warmup`` to the end of the run."""

    def __init__(self, warmup: int):
        self.warmup, self.t0, self.t1 = warmup, None, None

    def on_step(self, engine, stats) -> None:
        if engine.state.step == self.warmup:
            self.t0 = time.perf_counter()
        self.t1 = time.perf_counter()


def config_for(nets: str, steps: int, device: str):
    overrides, shape, unit = NETS[nets]
    config = resolve_config(**{**overrides, "steps": steps, "log_every": 10**9,
                               "snapshot_every": 10**9, "grid_size": 4, "device": device})
    n = 2048 if len(shape) == 1 else 1024
    data = torch.rand(n, *shape) if unit else torch.randn(n, *shape)
    return config, Dataset(config.dataset, data, unit_range=unit)


def time_lone(config, data, warmup, device) -> float:
    clock = Clock(warmup)
    Engine(config, data, [clock], device=torch.device(device)).run()
    return (config.steps - warmup) / (clock.t1 - clock.t0)


def time_stacked(config, data, M, warmup, device, graph=False) -> float:
    configs = [dataclasses.replace(config, seed=s, cuda_graph=graph) for s in range(M)]
    states, streams = build_member_states(configs, data, torch.device(device))
    clock = Clock(warmup)
    engines = [Engine(c, data, [clock] if i == 0 else [], state=s, device=torch.device(device))
               for i, (c, s) in enumerate(zip(configs, states))]
    Group(engines, streams).run()
    return (config.steps - warmup) / (clock.t1 - clock.t0)


def kernel(config, data, M, repeats=5) -> dict:
    """D forward + backward on [M, 2 batch] examples: stacked layers vs vmap(functional_call).

    D in eval mode (no dropout) for both: gankit's dropout draws its mask in place on an unbatched
    tensor, which vmap refuses for per-member randomness (and a member's masks must come from its
    own stream anyway, which vmap's batched randomness cannot give)."""
    from torch.func import functional_call, stack_module_state, vmap

    from gankit.nets.stacked import MemberRandom, Stacked

    configs = [dataclasses.replace(config, seed=s) for s in range(M)]
    states, streams = build_member_states(configs, data)
    x = torch.rand(M, 2 * config.batch, *data.sample_shape)
    Ds = [st.D.eval() for st in states]
    params, buffers = stack_module_state(Ds)
    base = Ds[0]

    def one(p, b, xi):
        return functional_call(base, (p, b), (xi,))

    batched = vmap(one, randomness="different")
    stacked = Stacked(Ds, MemberRandom([s.torch_gen for s in streams]))

    def t(fn):
        times = []
        for _ in range(repeats):
            t0 = time.perf_counter()
            fn().sum().backward()
            times.append(time.perf_counter() - t0)
        return statistics.median(times)

    return {"stacked_ms": 1000 * t(lambda: stacked(x)),
            "vmap_ms": 1000 * t(lambda: batched(params, buffers, x))}


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--nets", default="small,digits,ring8,paper,dcgan32")
    ap.add_argument("--members", default="1,8,64")
    ap.add_argument("--steps", type=int, default=0, help="timed steps (0: by network size)")
    ap.add_argument("--repeats", type=int, default=3)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--device", default="cpu")
    ap.add_argument("--kernel", action="store_true")
    ap.add_argument("--save", action="store_true")
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    Ms = [int(m) for m in args.members.split(",")]
    for nets in args.nets.split(","):
        timed = args.steps or {"small": 400, "digits": 100, "ring8": 200, "paper": 20, "dcgan32": 10}[nets]
        warmup = 3
        results: dict[tuple[str, int], list[float]] = {}
        for _ in range(args.repeats):  # interleaved: lone, then each M, then lone again ...
            for M in Ms:
                steps = warmup + max(2, timed // (1 if M == 1 else max(1, M // 8)))
                config, data = config_for(nets, steps, args.device)
                if M == 1:
                    results.setdefault(("lone", 1), []).append(
                        time_lone(config, data, warmup, args.device))
                results.setdefault(("stacked", M), []).append(
                    time_stacked(config, data, M, warmup, args.device))
                if args.device == "cuda":  # the same group, replayed from one CUDA graph
                    results.setdefault(("graphed", M), []).append(
                        time_stacked(config, data, M, warmup + 3, args.device, graph=True))
        lone = statistics.median(results[("lone", 1)])
        load = os.getloadavg()[0]
        for (impl, M), rates in results.items():
            rate = statistics.median(rates)
            row = {"nets": nets, "impl": impl, "members": M, "device": args.device,
                   "threads": args.threads, "steps_per_s": round(rate, 3),
                   "member_steps_per_s": round(rate * M, 3),
                   "per_member_vs_lone": round(rate * M / lone, 3),
                   "repeats": [round(r, 3) for r in rates], "load": round(load, 2),
                   "date": time.strftime("%Y-%m-%d %H:%M")}
            if args.kernel and impl == "stacked" and M > 1:
                config, data = config_for(nets, 10, "cpu")
                row["kernel_D"] = {k: round(v, 2) for k, v in kernel(config, data, M).items()}
            print(json.dumps(row), flush=True)
            if args.save:
                with OUT.open("a") as f:
                    f.write(json.dumps(row) + "\n")


if __name__ == "__main__":
    main()
