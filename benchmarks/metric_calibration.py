"""Calibrate gankit's metrics on reference sets whose right answer is known (issue 19).

Builds 10,000-image MNIST sets (held-out real images, uniform noise, blurred real images, a
k-means(100) mixture with pixel noise, k-means(10,000) centroids, only 0s and 1s, exact training
copies, and a briefly trained gankit generator), scores each with every MNIST metric registered in
``gankit.metrics`` (whatever ``gankit`` is on the path: run it once against main's source for the
"before" and once against this branch for the "after"), and writes the Markdown table. Also scores
``stacked_modes26k`` (held-out stacks, one digit triple, noise) and ``toy_modes`` (real samples, the
means only, uniform over the box).

    # the sets are built once and kept in --sets-dir (.npy); scoring appends to a JSON file
    PYTHONPATH=/work/main/src python benchmarks/metric_calibration.py score before.json \\
        --data-dir /work/shared/data/mnist --run runs/00001-table1-mnist
    PYTHONPATH=src python benchmarks/metric_calibration.py score after.json --data-dir ... --run ...
    python benchmarks/metric_calibration.py render before.json after.json \\
        --out benchmarks/results/metric_calibration.md

The k-means(10,000) centroids: Lloyd's algorithm on the 50,000 training images from 10,000 of them
chosen at random, a fixed number of iterations (``--kmeans-iters``, 5: one full iteration is a
50,000 x 10,000 x 784 product, ~30 s on one core), not run to convergence; each centroid is the mean
of about 5 training images, which is what makes them blurry averages that Parzen windows reward.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

N = 10_000
N_STACKED = 26_000


# --- the reference sets ----------------------------------------------------------------------------

def blur(x: torch.Tensor, sigma: float = 1.0) -> torch.Tensor:
    """Gaussian blur (sigma in pixels, 7-tap separable kernel, reflected borders) of [N, 1, 28, 28]."""
    t = torch.arange(-3, 4, dtype=torch.float32)
    k = torch.exp(-t**2 / (2 * sigma**2))
    k = k / k.sum()
    x = F.conv2d(F.pad(x, (3, 3, 0, 0), mode="reflect"), k.view(1, 1, 1, 7))
    return F.conv2d(F.pad(x, (0, 0, 3, 3), mode="reflect"), k.view(1, 1, 7, 1))


def kmeans(x: torch.Tensor, k: int, iters: int, seed: int) -> torch.Tensor:
    """Lloyd's k-means on rows of ``x`` [N, d] from k random rows; empty clusters keep their centre."""
    g = torch.Generator().manual_seed(seed)
    c = x[torch.randperm(len(x), generator=g)[:k]].clone()
    x_sq = (x * x).sum(1, keepdim=True)
    for _ in range(iters):
        assign = torch.empty(len(x), dtype=torch.long)
        for i in range(0, len(x), 5000):  # [5000, k] distance blocks
            d2 = x_sq[i:i + 5000] - 2 * x[i:i + 5000] @ c.T + (c * c).sum(1)
            assign[i:i + 5000] = d2.argmin(1)
        sums = torch.zeros_like(c).index_add_(0, assign, x)
        counts = torch.bincount(assign, minlength=k).float()
        full = counts > 0
        c[full] = sums[full] / counts[full, None]
    return c


def build_mnist_sets(mnist, run_dir: str | None, kmeans_iters: int) -> dict[str, torch.Tensor]:
    """The MNIST reference sets, 10,000 images each ([N, 1, 28, 28] in [0, 1]), in table order."""
    g = torch.Generator().manual_seed(19)
    train = mnist.train
    flat = train.reshape(len(train), -1)
    sets: dict[str, torch.Tensor] = {}
    sets["held-out real (validation [0:10000])"] = mnist.val[:N]
    sets["uniform noise U[0,1] per pixel"] = torch.rand(N, 1, 28, 28, generator=g)
    sets["train[0:10000] blurred (sigma = 1 px)"] = blur(train[:N])
    c100 = kmeans(flat, 100, 20, seed=1)
    which = torch.randint(100, (N,), generator=g)
    mix = c100[which] + 0.1 * torch.randn(N, 784, generator=g)
    sets["k-means(100) mixture + pixel noise (sigma 0.1)"] = mix.clamp(0, 1).reshape(N, 1, 28, 28)
    t0 = time.perf_counter()
    c10k = kmeans(flat, N, kmeans_iters, seed=2)
    print(f"k-means(10,000): {kmeans_iters} iterations in {time.perf_counter() - t0:.0f} s",
          flush=True)
    sets[f"k-means(10,000) centroids ({kmeans_iters} Lloyd iterations)"] = c10k.reshape(N, 1, 28, 28)
    labels = mnist.labels["train"]
    sets["only 0s and 1s (train)"] = train[(labels == 0) | (labels == 1)][:N]
    sets["train[0:10000] itself (exact copies)"] = train[:N]
    if run_dir:
        from gankit import load_run

        run = load_run(run_dir)
        sets[generator_label(run_dir, run)] = run.sample(N, seed=0)
    return sets


def generator_label(path: str, run) -> str:
    p = Path(path)
    folder = p.parent.parent.name if p.is_file() else p.name
    return f"gankit generator ({folder}, step {run.step}, 10,000 samples)"


def build_stacked_sets(mnist) -> dict[str, torch.Tensor]:
    """Stacked MNIST sets, 26,000 stacks each ([N, 3, 28, 28])."""
    from gankit.data.stacked_mnist import stack_digits

    g = torch.Generator().manual_seed(26)
    val, labels = mnist.val, mnist.labels["val"]
    sets = {}
    sets["random triples of held-out digits (validation)"] = stack_digits(val, labels, N_STACKED, g)[0]
    # one triple (3, 1, 4), each channel a random held-out image of its digit
    chans = []
    for d in (3, 1, 4):
        pool = val[labels == d]
        chans.append(pool[torch.randint(len(pool), (N_STACKED,), generator=g)])
    sets["one digit triple (3, 1, 4), varied images"] = torch.cat(chans, 1)
    sets["uniform noise U[0,1] per pixel"] = torch.rand(N_STACKED, 3, 28, 28, generator=g)
    return sets


def build_toy_sets(name: str) -> dict[str, torch.Tensor]:
    from gankit.data.toy import GRID25_STD, RING8_STD, grid25_means, ring8_means, sample_mixture

    means, std = {"ring8": (ring8_means(), RING8_STD), "grid25": (grid25_means(), GRID25_STD)}[name]
    g = torch.Generator().manual_seed(8)
    lo, hi = means.min(0).values - 3 * std, means.max(0).values + 3 * std
    return {"real samples (seed 8)": sample_mixture(means, std, 2500, g),
            "the means only": means.repeat(math.ceil(2500 / len(means)), 1)[:2500],
            "uniform over the box (means +- 3 sigma)":
                lo + (hi - lo) * torch.rand(2500, 2, generator=g, dtype=torch.float64)}


# --- scoring ---------------------------------------------------------------------------------------

def score(args) -> None:
    import gankit
    from gankit.data import load_dataset
    from gankit.metrics import METRICS, evaluate

    torch.set_num_threads(args.threads)
    out = Path(args.json)
    results = json.loads(out.read_text()) if out.is_file() else {}
    results["gankit"] = str(Path(gankit.__file__).parent)
    mnist = load_dataset("mnist", args.data_dir)
    mnist_names = [n for n in METRICS if n not in ("toy_modes", "stacked_modes26k", *args.skip)]
    sets_dir = Path(args.sets_dir)
    sets_dir.mkdir(parents=True, exist_ok=True)

    def cached_sets(tag, build):
        index = sets_dir / f"{tag}.json"
        if index.is_file():
            names = json.loads(index.read_text())
            return {n: torch.from_numpy(np.load(sets_dir / f"{tag}-{i}.npy"))
                    for i, n in enumerate(names)}
        sets = build()
        for i, (n, x) in enumerate(sets.items()):
            np.save(sets_dir / f"{tag}-{i}.npy", x.float().numpy())
        index.write_text(json.dumps(list(sets)))
        return sets

    def record(table, set_name, rows):
        results.setdefault(table, {})[set_name] = {r["metric"]: {k: v for k, v in r.items()
                                                                 if k not in ("time", "source")}
                                                   for r in rows}
        out.write_text(json.dumps(results, indent=1))

    if "mnist" in args.tables:
        sets = cached_sets("mnist", lambda: build_mnist_sets(mnist, args.run, args.kmeans_iters))
        if args.run and not any(n.startswith("gankit generator") for n in sets):
            from gankit import load_run

            run = load_run(args.run)
            sets[generator_label(args.run, run)] = run.sample(N, seed=0)
        for set_name, x in sets.items():
            if set_name in results.get("mnist", {}) and not args.force:
                continue
            t0 = time.perf_counter()
            record("mnist", set_name, evaluate(x, mnist_names, data=mnist))
            print(f"{set_name}: {time.perf_counter() - t0:.0f} s", flush=True)
    if "stacked" in args.tables:
        from gankit.data.stacked_mnist import stacked_from_mnist

        stacked = stacked_from_mnist(mnist, sizes={"train": 1, "val": 1, "test": 1})
        for set_name, x in cached_sets("stacked", lambda: build_stacked_sets(mnist)).items():
            if set_name in results.get("stacked", {}) and not args.force:
                continue
            record("stacked", set_name, evaluate(x, ["stacked_modes26k"], data=stacked))
            print(set_name, flush=True)
    if "toy" in args.tables:
        for toy in ("ring8", "grid25"):
            data = load_dataset(toy)
            for set_name, x in build_toy_sets(toy).items():
                record(f"toy_modes {toy}", set_name,
                       evaluate(x, ["toy_modes"], data=data, dataset=toy))


# --- the table -------------------------------------------------------------------------------------

def _f(v, fmt):
    return "–" if v is None or (isinstance(v, float) and math.isnan(v)) else format(v, fmt)


def mnist_cells(m: dict) -> dict[str, str]:
    """One row's cells from one scoring's metrics (either protocol; absent values are '–')."""
    def g(metric, key):
        for name, row in m.items():
            if name.startswith(metric) and key in row:
                return row[key]
        return None

    mem = g("mnist_pr", "memorised")
    return {
        "precision / recall": f"{_f(g('mnist_pr', 'precision'), '.3f')} / {_f(g('mnist_pr', 'recall'), '.3f')}",
        "density / coverage": f"{_f(g('mnist_pr', 'density'), '.2f')} / {_f(g('mnist_pr', 'coverage'), '.3f')}",
        "FD": _f(g("mnist_fd", "fd"), ".1f"),
        "classes / KL / IS": f"{_f(g('mnist_classes', 'classes'), '.0f')} / "
                             f"{_f(g('mnist_classes', 'kl'), '.3f')} / {_f(g('mnist_classes', 'is_mean'), '.2f')}",
        "confident %": _f(g("mnist_classes", "confident_percent"), ".1f"),
        "memorised %": _f(None if mem is None else 100 * mem, ".1f"),
        "Parzen LL": _f(g("parzen", "ll_mean"), ".0f"),
    }


def render(args) -> None:
    before, after = (json.loads(Path(p).read_text()) for p in (args.before, args.after))
    for set_name, metrics in after.get("mnist", {}).items():  # a metric skipped in one scoring
        for name, row in before.get("mnist", {}).get(set_name, {}).items():
            if name == "parzen" and name not in metrics:
                metrics[name] = row  # unchanged protocol: the same number
    lines = ["# Metric calibration: every MNIST metric on sets whose answer is known (issue 19)", "",
             "Produced by `benchmarks/metric_calibration.py` (`score` once against main's source for "
             "*before*, once against this branch for *after*, then `render`). 10,000 images per set; "
             "one CPU thread. The obvious answers: noise is the worst set on every metric; blur, "
             "k-means averages and centroids are not real digits (low recall); two classes is a "
             "collapse (low recall, coverage, class count); exact training copies are flagged as "
             "copies; held-out real images are at the ceiling.", ""]
    cols = list(mnist_cells({}).keys())
    for title, res in (("Before (main: reference = train[0:10000], raw 128-d features, a class "
                        "counted if any sample lands in it)", before),
                       ("After (protocol 2: reference = the 10,000 test images, standardised "
                        "features, confident class counts, memorisation beside every feature "
                        "metric)", after)):
        lines += [f"## {title}", "", "| set | " + " | ".join(cols) + " |",
                  "|---|" + "---|" * len(cols)]
        ceiling = None
        for set_name, metrics in res.get("mnist", {}).items():
            cells = mnist_cells(metrics)
            lines.append(f"| {set_name} | " + " | ".join(cells[c] for c in cols) + " |")
            ceiling = ceiling or metrics
        if ceiling:
            pr = next((r for n, r in ceiling.items() if n.startswith("mnist_pr")), {})
            fd = next((r for n, r in ceiling.items() if n.startswith("mnist_fd")), {})
            cl = next((r for n, r in ceiling.items() if n.startswith("mnist_classes")), {})
            lines += ["", f"Ceiling reported by the metrics (`real_*`): precision / recall "
                          f"{_f(pr.get('real_precision'), '.3f')} / {_f(pr.get('real_recall'), '.3f')}, "
                          f"density / coverage {_f(pr.get('real_density'), '.2f')} / "
                          f"{_f(pr.get('real_coverage'), '.3f')}, FD {_f(fd.get('real_fd'), '.2f')}, "
                          f"classes {_f(cl.get('real_classes'), '.0f')}, IS "
                          f"{_f(cl.get('real_is_mean'), '.2f')}."]
        lines.append("")
    for table, label in (("stacked", "stacked_modes26k (26,000 stacks)"),
                         ("toy_modes ring8", "toy_modes ring8 (2,500 points)"),
                         ("toy_modes grid25", "toy_modes grid25 (2,500 points)")):
        rows, source = after.get(table), "after"
        if not rows and table == "stacked":  # its protocol is unchanged: main's numbers are the same
            rows, source = before.get(table), "scored with main's code; protocol unchanged"
        if not rows:
            continue
        lines += [f"## {label} ({source})", ""]
        if table == "stacked":
            lines += ["| set | modes | KL | real modes / KL |", "|---|---|---|---|"]
            for n, m in rows.items():
                r = m["stacked_modes26k"]
                lines.append(f"| {n} | {r['modes']:.0f} | {r['kl']:.3f} | "
                             f"{r.get('real_modes', float('nan')):.0f} / {r.get('real_kl', float('nan')):.3f} |")
        else:
            lines += ["| set | modes | % HQ | KL | spread (new) |", "|---|---|---|---|---|"]
            for n, m in rows.items():
                r = m["toy_modes"]
                lines.append(f"| {n} | {r['modes']:.0f} / {r['n_modes']:.0f} | "
                             f"{r['hq_percent']:.1f} | {_f(r['kl'], '.3f')} | "
                             f"{_f(r.get('spread'), '.3f')} |")
        lines.append("")
    Path(args.out).write_text("\n".join(lines) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")


def main(argv=None) -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    sub = p.add_subparsers(dest="cmd", required=True)
    s = sub.add_parser("score")
    s.add_argument("json")
    s.add_argument("--data-dir", default=None)
    s.add_argument("--run", default=None, help="a gankit MNIST run folder (the generator row)")
    s.add_argument("--sets-dir", default="/tmp/gankit-metric-calibration")
    s.add_argument("--tables", nargs="+", default=["mnist", "stacked", "toy"])
    s.add_argument("--kmeans-iters", type=int, default=5)
    s.add_argument("--threads", type=int, default=1)
    s.add_argument("--force", action="store_true", help="re-score sets already in the JSON file")
    s.add_argument("--skip", nargs="*", default=[], metavar="METRIC",
                   help="metrics not to score (e.g. parzen, unchanged: render takes it from the "
                        "other file)")
    r = sub.add_parser("render")
    r.add_argument("before")
    r.add_argument("after")
    r.add_argument("--out", default="benchmarks/results/metric_calibration.md")
    args = p.parse_args(argv)
    score(args) if args.cmd == "score" else render(args)
    return 0


if __name__ == "__main__":
    sys.exit(main())
