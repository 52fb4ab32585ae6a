"""Do gankit's speed-ups change what is learned? Short runs with and without them, compared.

    python benchmarks/speed_equivalence.py [--arch paper|pytorchgan] [--steps S] [--seeds N]

Issue 7 asks that training results stay identical in distribution, and bit-identical where a
change only reorders work. Each speed-up of gankit's loop can be switched back to the plain
PyTorch way here, inside the same trainer, data stream and seeds:

==============  ======================================  =============================================
speed-up        plain way                               kind of change
==============  ======================================  =============================================
max_backward    Maxout by ``amax`` (even tie split)     reordering: bit-identical (no ties)
no_d_grads      G step also computes D's weight grads   reordering: bit-identical
fused_adam      for-loop ``torch.optim.Adam``           same maths, other rounding
d_on_both       D called twice, on real then on fake    same maths; masks drawn in another order
dropout         ``nn.Dropout`` (bernoulli_ masks)       same distribution, other random numbers
bf16            float32 networks                        other arithmetic (opt-in, ``--precision``)
==============  ======================================  =============================================

Part 1 runs the reorderings alone against the plain loop and checks that the weights are
bit-identical after every step. Part 2 runs all float32 speed-ups, and then bf16, against the
plain loop on ``--seeds`` seeds, and compares the loss and D-output curves window by window: the
difference of the means must lie within what differing seeds produce (|diff| <= 3 standard errors).
Prints JSON lines and a verdict; exits 1 if a check fails.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import math
import statistics
import sys
from pathlib import Path
from unittest import mock

import torch
from torch import nn

sys.path.insert(0, str(Path(__file__).resolve().parent))
from speed import ARCHS, COMMON, DATA  # noqa: E402

from gankit import algorithm1, optim  # noqa: E402
from gankit.config import resolve_config  # noqa: E402
from gankit.data import load_dataset  # noqa: E402
from gankit.engine.loop import Engine  # noqa: E402
from gankit.nets import layers  # noqa: E402

KEYS = ("Loss/D", "Loss/G", "Prob/D(x)", "Prob/D(G(z))")
REORDERINGS = ("max_backward", "no_d_grads")
FLOAT32 = ("max_backward", "no_d_grads", "fused_adam", "d_on_both", "dropout")


def _amax_forward(self, x):
    return self.linear(x).view(x.shape[0], self.units, self.pieces).amax(dim=2)


def _d_twice(D, x_real, x_fake):
    return D(x_real), D(x_fake.to(x_real.dtype))


def _g_step_with_d_grads(G, D, opt_G, z, g_loss, G_train=None, remedies=algorithm1.NO_REMEDIES):
    fake_logits = D((G_train or G)(z))  # D's weight gradients computed too, then thrown away
    loss_G = g_loss(fake_logits.float())
    opt_G.zero_grad(set_to_none=True)
    loss_G.backward()
    opt_G.step()
    return {"Loss/G": loss_G.detach()}


def _unfused(cls, params, **kw):
    return cls(list(params), foreach=False, **kw)


@contextlib.contextmanager
def plain(undo: tuple[str, ...]):
    """Switch the named speed-ups back to the plain PyTorch way."""
    patches = {
        "max_backward": mock.patch.object(layers.Maxout, "forward", _amax_forward),
        "dropout": mock.patch.object(layers.Dropout, "forward", nn.Dropout.forward),
        "d_on_both": mock.patch.object(algorithm1, "_d_on_both", _d_twice),
        "no_d_grads": mock.patch.object(algorithm1, "g_step", _g_step_with_d_grads),
        "fused_adam": mock.patch.object(optim, "_fused", _unfused),
    }
    with contextlib.ExitStack() as stack:
        for name in undo:
            stack.enter_context(patches[name])
        yield


def run(arch: str, batch: int, steps: int, seed: int, undo: tuple[str, ...], precision: str,
        on_step=None) -> dict[str, list[float]]:
    cfg = resolve_config(**COMMON, **ARCHS[arch], batch=batch, data_dir=str(DATA), steps=10**9,
                         threads=1, seed=seed, precision=precision)
    dataset = load_dataset("mnist", str(DATA))
    curves: dict[str, list[float]] = {k: [] for k in KEYS}
    with plain(undo):
        trainer = Engine(cfg, dataset)  # the one loop's iteration, without a run folder
        for _ in range(steps):
            stats = trainer.iterate()
            for k in KEYS:
                curves[k].append(float(stats[k]))
            if on_step is not None:
                on_step(trainer)
    return curves


def weights_after_each_step(arch, batch, steps, undo) -> list[list[torch.Tensor]]:
    out: list[list[torch.Tensor]] = []
    run(arch, batch, steps, 0, undo, "fp32",
        lambda t: out.append([p.detach().clone() for p in (*t.state.G.parameters(),
                                                              *t.state.D.parameters())]))
    return out


def window_means(curve: list[float], window: int) -> list[float]:
    return [statistics.fmean(curve[i:i + window]) for i in range(0, len(curve), window)]


def compare(a: list[dict], b: list[dict], window: int) -> dict[str, float]:
    """Worst |mean_a - mean_b| / SE over windows and keys, SE from the spread across seeds."""
    worst = {}
    for k in KEYS:
        wa = [window_means(c[k], window) for c in a]
        wb = [window_means(c[k], window) for c in b]
        z = 0.0
        for i in range(len(wa[0])):
            xa, xb = [w[i] for w in wa], [w[i] for w in wb]
            se = math.sqrt(statistics.variance(xa) / len(xa) + statistics.variance(xb) / len(xb))
            z = max(z, abs(statistics.fmean(xa) - statistics.fmean(xb)) / max(se, 1e-12))
        worst[k] = round(z, 2)
    return worst


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--arch", choices=sorted(ARCHS), default="paper")
    ap.add_argument("--batch", type=int, default=64)
    ap.add_argument("--steps", type=int, default=600)
    ap.add_argument("--window", type=int, default=100)
    ap.add_argument("--seeds", type=int, default=4)
    ap.add_argument("--bitwise-steps", type=int, default=20)
    args = ap.parse_args()
    if args.seeds < 2:
        raise SystemExit("--seeds must be at least 2: the seed-to-seed spread is the yardstick")
    torch.set_num_threads(1)
    ok = True

    plain_w = weights_after_each_step(args.arch, args.batch, args.bitwise_steps, FLOAT32)
    fast_w = weights_after_each_step(args.arch, args.batch, args.bitwise_steps,
                                     tuple(n for n in FLOAT32 if n not in REORDERINGS))
    identical = all(torch.equal(p, q) for a, b in zip(plain_w, fast_w) for p, q in zip(a, b))
    ok &= identical
    print(json.dumps({"check": "reorderings bit-identical", "speedups": list(REORDERINGS),
                      "steps": args.bitwise_steps, "identical": identical}), flush=True)

    seeds = range(args.seeds)
    plain_runs = [run(args.arch, args.batch, args.steps, s, FLOAT32, "fp32") for s in seeds]
    for label, undo, precision in (("all float32 speed-ups", (), "fp32"),
                                   ("float32 speed-ups + bf16", (), "bf16")):
        fast_runs = [run(args.arch, args.batch, args.steps, s, undo, precision) for s in seeds]
        z = compare(plain_runs, fast_runs, args.window)
        within = all(v <= 3.0 for v in z.values())
        ok &= within
        final = {k: [round(statistics.fmean(c[k][-args.window:]), 4) for c in (plain_runs[0], fast_runs[0])]
                 for k in KEYS}
        print(json.dumps({"check": label, "arch": args.arch, "batch": args.batch, "steps": args.steps,
                          "seeds": args.seeds, "window": args.window, "worst_z_per_key": z,
                          "within_3_se": within, "last_window_seed0_plain_vs_fast": final}),
              flush=True)
    print(json.dumps({"verdict": "same in distribution" if ok else "DIFFERENT"}))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
