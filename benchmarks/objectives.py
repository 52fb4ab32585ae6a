"""Objectives compared fairly: every objective, equal compute, a small equal tuning budget, many seeds.

    python benchmarks/objectives.py [--datasets ring8,grid25] [--updates 12000] [--seeds 0-4]
        [--objectives gan,gan-best,lsgan,hinge,wgan,wgan-gp] [--lr-factors 0.333,1,3]
        [--tune-seed 100] [--workers 2] [--out benchmarks/results/objectives.md]
    python benchmarks/objectives.py --from-json benchmarks/results/objectives.jsonl

Protocol (issue 21; after Lucic et al. 2018, "Are GANs Created Equal?"):

- **Cases.** Each objective with its customary settings: the preset modifier of its name (`lsgan`,
  `hinge` (spectral norm on D), `wgan`, `wgan-gp`; see docs/objectives.md), on the data preset's
  networks and batch, constant learning rate as their papers; `gan` is the paper's objective with
  DCGAN's optimiser (Adam 2e-4, beta1 0.5, constant); `gan-best` is the paper's objective with
  gankit's best remedies: on the toys the data preset as shipped (lr_D = 4 lr_G, decay 100x over
  the run, and for grid25 R1 + a weight average of G); on the image sets `gan` plus PacGAN's
  packing of 2 samples (the published Stacked MNIST winner).
- **Equal compute.** Every run gets the same number of network updates, ``--updates`` = (k + 1) x
  generator steps: a k = 5 critic objective trains 1/3 as many generator steps as a k = 1 one.
  CPU seconds per run are reported beside (a WGAN-GP critic step costs more: its penalty needs a
  second forward and a double backward).
- **Equal tuning.** Each case tries the same learning-rate factors (``--lr-factors``, times both of
  its rates) on one tuning seed (``--tune-seed``, never a reported seed); the factor with the best
  validation score is kept: toys: modes, then % high-quality samples, of G's samples scored
  against the known mixture (the toys have no finite data set to hold out: the validation is a
  seed of its own). Then ``--seeds`` are trained with the chosen factor and reported.
- **Scores.** Toys: ``toy_modes`` on 2,500 samples (modes, % HQ within 3 sigma, KL of the HQ
  histogram to uniform); a seed **fails** when it diverged or missed a mode. Stacked MNIST
  (``--datasets stacked_mnist`` and ``stacked_mnist_hard``, D with 1/4 of G's filters):
  ``stacked_modes26k``; fails below 900 modes. MNIST: FD, precision / recall / density / coverage
  and confident classes on gankit's classifier features against the test images, Parzen beside
  them; tuning runs are scored by FD to the *validation* images; fails when a digit class is
  missing. The image data sets use the ``dcgan-mnist`` conv nets at ``--width``. Mean ± standard
  error over the seeds.

Every run's row is appended to the JSON-lines file beside ``--out`` as it finishes (an interrupted
benchmark keeps what it has); ``--from-json`` rebuilds the table from it.
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing
import os
import platform
import sys
import time
from concurrent.futures import ProcessPoolExecutor
from pathlib import Path
from typing import Any, Mapping, Sequence

sys.path.insert(0, str(Path(__file__).resolve().parent))
from mode_collapse import fmt_ms, mean_se  # noqa: E402

N_MODES = {"ring8": 8, "grid25": 25, "stacked_mnist": 1000, "stacked_mnist_hard": 1000}
#: data set -> (preset of its networks, metric, config overrides); Stacked MNIST is the VEEGAN /
#: PacGAN setting on gankit's DCGAN-style conv nets (width --width) at 28x28, 3 channels
DATASETS: dict[str, tuple[str, str, dict[str, Any]]] = {
    "ring8": ("ring8", "toy_modes", {}),
    "grid25": ("grid25", "toy_modes", {}),
    "stacked_mnist": ("dcgan-mnist", "stacked_modes26k", {"dataset": "stacked_mnist"}),
    # the Unrolled-GAN setting (Metz et al. 2017): D with 1/4 of G's filters (--width / 4)
    "stacked_mnist_hard": ("dcgan-mnist", "stacked_modes26k", {"dataset": "stacked_mnist"}),
    # MNIST on the same conv nets: FD, precision / recall / density / coverage and classes on
    # gankit's classifier features (protocol 2), Parzen (Table 1) beside them
    "mnist": ("dcgan-mnist", "mnist_fd10k", {"dataset": "mnist"}),
}
MNIST_METRICS = ("mnist_fd10k", "mnist_pr10k", "mnist_classes10k", "parzen")
#: case -> (label, preset modifier or None, overrides on top of it)
CASES: dict[str, tuple[str, str | None, dict[str, Any]]] = {
    "gan": ("GAN (paper's objective, non-saturating G; Adam 2e-4, beta1 0.5)", None,
            dict(optimizer="adam", lr_d=2e-4, lr_g=2e-4, adam_beta1=0.5, adam_beta2=0.999,
                 lr_decay=1.0, r1_gamma=0.0, g_ema=0.0, k=1)),
    "gan-best": ("GAN + gankit's best remedies (toys: the data preset as shipped; images: PacGAN, "
                 "pack 2)", None, {}),
    "lsgan": ("LSGAN (Adam 2e-4, beta1 0.5)", "lsgan", dict(lr_decay=1.0, r1_gamma=0.0, g_ema=0.0)),
    "hinge": ("hinge + spectral norm (Adam 2e-4, beta1 0.5)", "hinge",
              dict(lr_decay=1.0, r1_gamma=0.0, g_ema=0.0)),
    "hinge-nosn": ("hinge without spectral norm (Adam 2e-4, beta1 0.5)", "hinge",
                   dict(d_spectral_norm=False, lr_decay=1.0, r1_gamma=0.0, g_ema=0.0)),
    "wgan": ("WGAN, clip 0.01 (RMSprop 5e-5, k 5)", "wgan", dict(lr_decay=1.0, r1_gamma=0.0, g_ema=0.0)),
    "wgan-gp": ("WGAN-GP, lambda 10 (Adam 1e-4, betas 0/0.9, k 5)", "wgan-gp",
                dict(lr_decay=1.0, r1_gamma=0.0, g_ema=0.0)),
}
SAMPLE_SEED = 0  # the toy_modes metric's sampling seed
READING = "<!-- reading: written by hand, kept when the tables are regenerated -->\n"


def case_config(case: str, dataset: str, updates: int, lr_factor: float,
                extra_overrides: Mapping[str, Any] = {}):
    """The resolved config of a case at an equal budget of network updates."""
    from gankit.config import resolve_config

    _, modifier, overrides = CASES[case]
    data_preset, _, data_overrides = DATASETS[dataset]
    preset = f"{data_preset}+{modifier}" if modifier else data_preset
    overrides = {**data_overrides, **overrides, **extra_overrides}
    base = resolve_config(preset, **overrides)
    steps = max(1, updates // (base.k + 1))
    extra: dict[str, Any] = {"steps": steps, "lr_d": base.lr_d * lr_factor,
                             "lr_g": base.lr_g * lr_factor, "snapshot_every": steps,
                             "log_every": max(1, steps // 50)}
    if case == "gan-best" and dataset in ("ring8", "grid25"):  # the preset's 100x decay, spread
        extra["lr_decay"] = 100 ** (1 / steps)                 # over this run's steps
    if case == "gan-best" and dataset not in ("ring8", "grid25"):  # PacGAN, Stacked MNIST's winner
        extra["pack"] = 2
    return resolve_config(preset, **{**overrides, **extra})


def run_one(job: Mapping[str, Any]) -> dict[str, Any]:
    """Train one (case, dataset, seed, lr factor) on one thread and score it."""
    import torch

    import gankit
    from gankit.engine.loop import TrainingDiverged
    from gankit.metrics import evaluate

    torch.set_num_threads(1)
    config = case_config(job["case"], job["dataset"], job["updates"], job["lr_factor"],
                         job.get("overrides", {}))
    row: dict[str, Any] = {**job, "steps": config.steps, "k": config.k, "lr_d": config.lr_d,
                           "lr_g": config.lr_g, "load_1min": os.getloadavg()[0]}
    t0, c0 = time.perf_counter(), time.process_time()
    try:
        run = gankit.train(progress=False, threads=1, seed=job["seed"],
                           runs_dir=job["runs_dir"], **{k: v for k, v in config.to_dict().items()
                                                         if k not in ("seed", "runs_dir", "threads")})
    except TrainingDiverged as e:
        row.update(diverged=True, modes=0, hq_percent=0.0, kl=None, error=str(e)[:200])
    else:
        row.update(diverged=False, run_dir=str(run.path))
        if job["dataset"] == "mnist":
            row.update(mnist_scores(run, job["phase"]))
        else:
            result = evaluate(run, [DATASETS[job["dataset"]][1]], seed=SAMPLE_SEED)[0]
            row.update(modes=result["modes"], hq_percent=result.get("hq_percent"), kl=result["kl"])
    row.update(train_seconds=round(time.perf_counter() - t0, 1),
               cpu_seconds=round(time.process_time() - c0, 1))
    return row


def mnist_scores(run, phase: str) -> dict[str, Any]:
    """MNIST: tuning runs are scored by FD to the *validation* images' features (the test images,
    the reported metrics' reference, are never used to choose); reported runs by every metric."""
    from gankit.data import load_dataset
    from gankit.metrics import evaluate
    from gankit.metrics import features as F
    from gankit.metrics.mnist_eval import feature_space

    if phase == "tune":
        space = feature_space(load_dataset("mnist", run.config.data_dir))
        fake = space.embed(run.sample(10_000, SAMPLE_SEED))[1]
        return {"val_fd": F.frechet_distance_of(space.ceiling, fake)}
    out: dict[str, Any] = {}
    for result in evaluate(run, list(MNIST_METRICS), seed=SAMPLE_SEED):
        name = result["metric"]
        for key in ("fd", "precision", "recall", "density", "coverage", "classes", "ll_mean"):
            if key in result:
                out[f"{name}.{key}"] = result[key]
    return out


#: Stacked MNIST: a seed fails below this many of the 1,000 modes (gankit.diagnose's threshold)
STACKED_FAIL = 900


def failed(row: Mapping[str, Any]) -> bool:
    if row["dataset"] == "mnist":  # diverged, or a digit class missing from G's samples
        return bool(row["diverged"]) or row.get("mnist_classes10k.classes", 0) < 10
    if row["dataset"].startswith("stacked_mnist"):
        return bool(row["diverged"]) or row["modes"] < STACKED_FAIL
    return bool(row["diverged"]) or row["modes"] < N_MODES[row["dataset"]]


def score(row: Mapping[str, Any]) -> tuple[float, float]:
    """A run's validation score, higher is better: modes, then % HQ (toys) or -KL (Stacked MNIST);
    MNIST: -FD to the validation images."""
    if "val_fd" in row:
        fd = row["val_fd"]
        return (-fd if isinstance(fd, (int, float)) and math.isfinite(fd) else -math.inf, 0.0)
    if row.get("diverged"):
        return (-math.inf, -math.inf)
    second = row.get("hq_percent")
    if second is None:
        kl = row.get("kl")
        second = -kl if isinstance(kl, (int, float)) and math.isfinite(kl) else -math.inf
    return (row["modes"], second)


def choose_factor(rows: Sequence[Mapping[str, Any]]) -> float:
    """The tuning run with the best validation score."""
    return max(rows, key=score)["lr_factor"]


def run_jobs(jobs: Sequence[dict], workers: int, log: Path) -> list[dict]:
    rows = []
    ctx = multiprocessing.get_context("spawn")  # fresh interpreters: no forked torch threads
    with ProcessPoolExecutor(max_workers=workers, mp_context=ctx) as pool:
        for row in pool.map(run_one, jobs):
            rows.append(row)
            with open(log, "a") as f:
                f.write(json.dumps(row) + "\n")
            print(json.dumps({k: v for k, v in row.items() if k not in ("runs_dir", "overrides",
                                                                         "run_dir", "error")}),
                  flush=True)
    return rows


def summarize(rows: Sequence[Mapping[str, Any]], dataset: str) -> list[list[str]]:
    table = []
    for case in CASES:
        tune = [r for r in rows if r["dataset"] == dataset and r["case"] == case and r["phase"] == "tune"]
        rep = [r for r in rows if r["dataset"] == dataset and r["case"] == case and r["phase"] == "report"]
        if not rep:
            continue
        factors = ", ".join(f"{r['lr_factor']:g}: {r['modes']:g}" + (
            f"/{r['hq_percent']:.0f}%" if r.get("hq_percent") is not None else "")
            for r in sorted(tune, key=lambda r: r["lr_factor"]))
        kls = [r["kl"] for r in rep if r["kl"] is not None and not r["diverged"]]
        table.append([CASES[case][0], f"{rep[0]['lr_factor']:g} ({factors})",
                      fmt_ms([r["modes"] for r in rep], 2),
                      fmt_ms([r["hq_percent"] for r in rep if r.get("hq_percent") is not None], 1),
                      fmt_ms(kls, 3, len(rep)), f"{sum(failed(r) for r in rep)}/{len(rep)}",
                      f"{rep[0]['steps']:,} x (k {rep[0]['k']} + 1)",
                      f"{mean_se([r['cpu_seconds'] for r in rep])[0]:.0f}"])
    return table


#: MNIST's table: (column, key of a reported row, digits)
MNIST_COLUMNS = (("FD (test)", "mnist_fd10k.fd", 1), ("precision", "mnist_pr10k.precision", 3),
                 ("recall", "mnist_pr10k.recall", 3), ("density", "mnist_pr10k.density", 3),
                 ("coverage", "mnist_pr10k.coverage", 3), ("classes", "mnist_classes10k.classes", 1),
                 ("Parzen LL", "parzen.ll_mean", 1))


def summarize_mnist(rows: Sequence[Mapping[str, Any]]) -> list[list[str]]:
    table = []
    for case in CASES:
        tune = [r for r in rows if r["dataset"] == "mnist" and r["case"] == case and r["phase"] == "tune"]
        rep = [r for r in rows if r["dataset"] == "mnist" and r["case"] == case and r["phase"] == "report"]
        if not rep:
            continue
        factors = ", ".join(f"{r['lr_factor']:g}: {r.get('val_fd', float('nan')):.1f}"
                            for r in sorted(tune, key=lambda r: r["lr_factor"]))
        cells = [fmt_ms([r[key] for r in rep if key in r], digits, len(rep))
                 for _, key, digits in MNIST_COLUMNS]
        table.append([CASES[case][0], f"{rep[0]['lr_factor']:g} ({factors})", *cells,
                      f"{sum(failed(r) for r in rep)}/{len(rep)}",
                      f"{rep[0]['steps']:,} x (k {rep[0]['k']} + 1)",
                      f"{mean_se([r['cpu_seconds'] for r in rep])[0]:.0f}"])
    return table


def render(rows: Sequence[Mapping[str, Any]], meta: Mapping[str, Any]) -> str:
    out = ["# Objectives compared (issue 21)", "",
           f"Generated by `{meta['command']}` on {meta['date']}; {meta['machine']}.", "",
           "Protocol: `benchmarks/objectives.py`'s docstring (equal updates per run, the same "
           "learning-rate factors tried on a tuning seed for every case, the chosen factor then "
           "trained on the reported seeds). ± is the standard error over seeds; a seed fails when "
           "it diverged or missed a mode.", ""]
    for dataset in dict.fromkeys(r["dataset"] for r in rows):
        if dataset == "mnist":
            out += ["## MNIST (a seed fails when it diverged or a digit class is missing)", "",
                    "| case | lr factor chosen (tuning seed: FD to the validation images) | "
                    + " | ".join(c for c, _, _ in MNIST_COLUMNS)
                    + " | failed seeds | generator steps x (critic steps + 1) | CPU s per run |",
                    "|---" * (len(MNIST_COLUMNS) + 5) + "|"]
            out += ["| " + " | ".join(r) + " |" for r in summarize_mnist(rows)]
            out.append("")
            continue
        k = N_MODES[dataset]
        fail = (f"fewer than {STACKED_FAIL} modes" if dataset.startswith("stacked_mnist")
                else "a missed mode")
        out += [f"## {dataset} ({k} modes; a seed fails with {fail} or divergence)", "",
                "| case | lr factor chosen (tuning seed: modes/%HQ per factor) | modes | % HQ | KL | "
                "failed seeds | generator steps x (critic steps + 1) | CPU s per run |",
                "|---|---|---|---|---|---|---|---|"]
        out += ["| " + " | ".join(r) + " |" for r in summarize(rows, dataset)]
        out.append("")
    return "\n".join(out)


def parse_seeds(text: str) -> list[int]:
    if "-" in text:
        a, b = text.split("-")
        return list(range(int(a), int(b) + 1))
    return [int(s) for s in text.split(",") if s]


def main(argv: Sequence[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--datasets", default="ring8,grid25")
    ap.add_argument("--objectives", default="gan,gan-best,lsgan,hinge,wgan,wgan-gp")
    ap.add_argument("--updates", type=int, default=12_000)
    ap.add_argument("--seeds", default="0-4")
    ap.add_argument("--lr-factors", default="0.333,1,3")
    ap.add_argument("--tune-seed", type=int, default=100)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--runs-dir", default="/tmp/gankit-objectives")
    ap.add_argument("--out", default="benchmarks/results/objectives.md")
    ap.add_argument("--from-json", default=None)
    ap.add_argument("--data-dir", default=None, help="MNIST's IDX files (mnist, stacked_mnist)")
    ap.add_argument("--width", type=int, default=16, help="conv nets' width (mnist, stacked_mnist)")
    args = ap.parse_args(argv)
    out = Path(args.out)
    log = Path(args.from_json) if args.from_json else out.with_suffix(".jsonl")
    meta = {"command": " ".join(["python", "benchmarks/objectives.py", *(argv or sys.argv[1:])]),
            "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()),
            "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python "
                       f"{platform.python_version()}, load average at start "
                       f"{'/'.join(f'{x:.1f}' for x in os.getloadavg())}"}
    if not args.from_json:
        cases = [c for c in args.objectives.split(",") if c]
        for c in cases:
            if c not in CASES:
                raise SystemExit(f"unknown case '{c}'; choose from {', '.join(CASES)}")
        datasets = [d for d in args.datasets.split(",") if d]
        factors = [float(f) for f in args.lr_factors.split(",")]
        common = dict(updates=args.updates, runs_dir=args.runs_dir)
        conv = {"data_dir": args.data_dir, "conv_width": args.width}
        extra = {"stacked_mnist": conv, "mnist": conv,
                 "stacked_mnist_hard": {**conv, "d_conv_width": max(1, args.width // 4)}}
        tune_jobs = [dict(common, phase="tune", case=c, dataset=d, seed=args.tune_seed, lr_factor=f,
                          overrides=extra.get(d, {}))
                     for d in datasets for c in cases for f in factors]
        tuned = run_jobs(tune_jobs, args.workers, log)
        chosen = {(d, c): choose_factor([r for r in tuned if (r["dataset"], r["case"]) == (d, c)])
                  for d in datasets for c in cases}
        report_jobs = [dict(common, phase="report", case=c, dataset=d, seed=s,
                            lr_factor=chosen[d, c], overrides=extra.get(d, {}))
                       for s in parse_seeds(args.seeds) for d in datasets for c in cases]
        run_jobs(report_jobs, args.workers, log)
    rows = [json.loads(line) for line in log.read_text().splitlines() if line.strip()]
    # the hand-written reading below the marker survives a regeneration of the tables
    kept = out.read_text().partition(READING)[2] if out.is_file() else ""
    out.write_text(render(rows, meta) + "\n" + READING + kept)
    print(f"wrote {out}")


if __name__ == "__main__":
    main()
