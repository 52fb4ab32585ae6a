"""Does torch.compile pay on this CPU? gankit's loop with G and D compiled vs eager, interleaved.

    python benchmarks/compile_probe.py [--arch paper|pytorchgan] [--batch 64] [--steps 100]
        [--threads 2] [--repeats 3]

Compiles G and D with ``torch.compile`` (inductor, default mode) inside the same trainer that
``speed.py`` times, and prints one JSON line per variant: compile time (the first steps), then the
median images/s over the repeats after warm-up, and the ratio compiled / eager. gankit does not
compile by default; this probe is the measurement behind that choice (benchmarks/results/speed.md).
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from speed import ARCHS, COMMON, DATA  # noqa: E402

from gankit.config import resolve_config  # noqa: E402
from gankit.data import load_dataset  # noqa: E402
from gankit.engine.loop import Engine  # noqa: E402


def trainer(arch: str, batch: int, threads: int, compiled: bool) -> tuple[Engine, float]:
    cfg = resolve_config(**COMMON, **ARCHS[arch], batch=batch, data_dir=str(DATA), steps=10**9,
                         threads=threads)
    t = Engine(cfg, load_dataset("mnist", str(DATA)))  # the one loop's iteration, no run folder
    t0 = time.perf_counter()
    if compiled:
        t.state.G.forward = torch.compile(t.state.G.forward)
        t.state.D.forward = torch.compile(t.state.D.forward)
    for _ in range(5):  # compilation happens here (D step, G step, both requires_grad states)
        t.iterate()
    return t, time.perf_counter() - t0


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--arch", choices=sorted(ARCHS), default="paper")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--threads", type=int, default=2)
    ap.add_argument("--repeats", type=int, default=3)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)
    runs = {False: trainer(args.arch, args.batch, args.threads, False),
            True: trainer(args.arch, args.batch, args.threads, True)}
    times: dict[bool, list[float]] = {False: [], True: []}
    for _ in range(args.repeats):  # interleaved
        for compiled, (t, _) in runs.items():
            for _ in range(10):
                t.iterate()
            t0 = time.perf_counter()
            for _ in range(args.steps):
                t.iterate()
            times[compiled].append(time.perf_counter() - t0)
    rate = {c: args.batch * args.steps / statistics.median(v) for c, v in times.items()}
    for compiled in (False, True):
        print(json.dumps({"arch": args.arch, "batch": args.batch, "threads": args.threads,
                          "variant": "compiled" if compiled else "eager",
                          "first_5_steps_s": round(runs[compiled][1], 2),
                          "images_per_s": round(rate[compiled], 1),
                          "repeats_s": [round(x, 3) for x in times[compiled]]}), flush=True)
    print(json.dumps({"arch": args.arch, "batch": args.batch,
                      "ratio_compiled_over_eager": round(rate[True] / rate[False], 2)}))


if __name__ == "__main__":
    main()
