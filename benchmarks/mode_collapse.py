"""Mode-collapse benchmark: the plain GAN against each remedy on ring8 and grid25, same budget.

    python benchmarks/mode_collapse.py [--steps 2500] [--seeds 5] [--datasets ring8,grid25]
        [--remedies plain,pack2,pack4,r1,noise,lrs,mbd,ema] [--arch toy|pacgan]
        [--out benchmarks/results/mode_collapse.md]
    python benchmarks/mode_collapse.py --from-json benchmarks/results/mode_collapse.json

Protocol (docs/benchmarks.md section 1): every case trains ``--steps`` generator steps at batch 100
on one CPU thread, then the ``toy_modes`` metric scores 2,500 samples of G: modes captured, % high-
quality samples (within 3 sigma of the nearest mean) and KL(mode histogram of HQ samples || uniform).
Means and standard errors are over the seeds; the table shows the published rows beside them.

Architectures: ``--arch pacgan`` uses the presets ``ring8-pacgan``/``grid25-pacgan`` (PacGAN's
networks: G 4x400 ReLU, D 3x200 maxout x5, Adam 1e-4, beta1 0.8); ``--arch toy`` the presets
``ring8``/``grid25`` (their networks and schedules are printed in the report's header; see
``gankit presets``), several times faster.

Remedies are named cases; ``NAME=VALUE`` sets a case's parameter (e.g. ``r1=0.1``, ``noise=0.5``,
``pack=3``, ``lrs=2``, ``mbd=16``), otherwise the per-dataset default below is used; ``A+B``
combines cases (e.g. ``lrs+r1``). The JSON file
(beside ``--out``) holds every run's numbers and is rewritten after each run, so an interrupted
benchmark keeps what it finished; seeds are the outer loop, so every case has the same seeds done.
"""

from __future__ import annotations

import argparse
import json
import math
import os
import platform
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Mapping, Sequence

N_MODES = {"ring8": 8, "grid25": 25}
GOAL_HQ = 95.0  # issue 5's goal: all modes and >= 95% HQ on every seed

#: case name -> (parameter name, per-dataset default value, label template)
REMEDIES: dict[str, tuple[str | None, Mapping[str, float], str]] = {
    "plain": (None, {}, "GAN (plain)"),
    "pack2": ("pack", {"ring8": 2, "grid25": 2}, "PacGAN, pack={v:g}"),
    "pack4": ("pack", {"ring8": 4, "grid25": 4}, "PacGAN, pack={v:g}"),
    "pack": ("pack", {"ring8": 2, "grid25": 2}, "PacGAN, pack={v:g}"),
    "r1": ("r1_gamma", {"ring8": 1.0, "grid25": 1.0}, "R1, gamma={v:g}"),
    "noise": ("instance_noise", {"ring8": 0.1, "grid25": 0.5}, "instance noise, sigma={v:g} -> 0"),
    "lrs": ("lr_ratio", {"ring8": 4, "grid25": 4}, "separate lrs, lr_D = {v:g} x lr_G"),
    "mbd": ("minibatch_features", {"ring8": 8, "grid25": 8}, "minibatch discrimination, {v:g} feats"),
    "ema": ("g_ema", {"ring8": 0.999, "grid25": 0.999}, "G weight average, decay={v:g}"),
}
DEFAULT_REMEDIES = "plain,pack2,pack4,r1,noise,lrs,mbd"

#: docs/benchmarks.md section 1: (method, source, ring8 (modes, %HQ, KL), grid25 (modes, %HQ, KL)).
PUBLISHED: list[tuple[str, str, tuple, tuple]] = [
    ("GAN", "VEEGAN T1", (1, 99.3, None), (3.3, 0.5, None)),
    ("Unrolled GAN (5 steps)", "VEEGAN T1", (7.6, 35.6, None), (23.6, 16.0, None)),
    ("VEEGAN", "VEEGAN T1", (8, 52.9, None), (24.6, 40.0, None)),
    ("WGAN-GP", "GDPP T1", (6.8, 59.6, None), (24.2, 28.7, None)),
    ("GDPP", "GDPP T1", (8.0, 71.7, None), (24.8, 68.5, None)),
    ("GAN (PacGAN's networks)", "PacGAN T1", (6.3, 98.2, 0.45), (17.3, 94.8, 0.70)),
    ("PacGAN2", "PacGAN T1", (7.9, 95.6, None), (23.8, 91.3, None)),
    ("PacGAN4", "PacGAN T1", (7.8, 95.9, 0.07), (24.8, 93.6, 0.04)),
]


# --- cases -------------------------------------------------------------------------------------

def parse_case(spec: str, dataset: str) -> dict[str, Any]:
    """``"r1"`` or ``"r1=0.3"`` -> {"case", "label", "overrides", "param", "value"} for a dataset;
    ``"lrs+r1=0.3"`` combines cases (their overrides merged, labels joined with " + ")."""
    if "+" in spec:
        parts = [parse_case(p, dataset) for p in spec.split("+")]
        overrides = {k: v for p in parts for k, v in p["overrides"].items()}
        return {"case": spec, "label": " + ".join(p["label"] for p in parts),
                "overrides": overrides, "param": None, "value": None}
    name, _, value = spec.partition("=")
    if name not in REMEDIES:
        raise SystemExit(f"unknown remedy '{name}'; choose from {', '.join(REMEDIES)}")
    param, defaults, label = REMEDIES[name]
    if param is None:
        if value:
            raise SystemExit("'plain' takes no value")
        return {"case": name, "label": label, "overrides": {}, "param": None, "value": None}
    v = float(value) if value else float(defaults[dataset])
    return {"case": spec, "label": label.format(v=v), "overrides": {param: v}, "param": param,
            "value": v}


def train_overrides(case: Mapping[str, Any], base_lr: float) -> dict[str, Any]:
    """Config overrides of a case (``lr_ratio`` becomes lr_D = ratio x the preset's lr, lr_G kept)."""
    out: dict[str, Any] = {}
    for k, v in case["overrides"].items():
        if k == "lr_ratio":
            out["lr_d"] = v * base_lr
        elif k in ("pack", "minibatch_features"):
            out[k] = int(v)
        else:
            out[k] = v
    return out


# --- statistics and the table ------------------------------------------------------------------

def mean_se(values: Sequence[float]) -> tuple[float, float, int]:
    """(mean, standard error, n) of the finite values; se is NaN for n < 2, mean NaN for n = 0."""
    v = [float(x) for x in values if x is not None and math.isfinite(float(x))]
    n = len(v)
    if n == 0:
        return float("nan"), float("nan"), 0
    m = sum(v) / n
    if n < 2:
        return m, float("nan"), n
    var = sum((x - m) ** 2 for x in v) / (n - 1)
    return m, math.sqrt(var / n), n


def fmt_ms(values: Sequence[float], digits: int, n_total: int | None = None) -> str:
    m, se, n = mean_se(values)
    if n == 0:
        return "n/a"
    s = f"{m:.{digits}f}" + (f" ± {se:.{digits}f}" if math.isfinite(se) else "")
    if n_total is not None and n < n_total:
        s += f" ({n}/{n_total} seeds)"  # e.g. KL undefined on a seed with no HQ sample
    return s


def _pub(v: float | None, digits: int) -> str:
    return "—" if v is None else f"{v:.{digits}f}"


def summarize(rows: Sequence[Mapping[str, Any]], dataset: str) -> list[dict[str, Any]]:
    """One summary per case (in first-seen order) of the runs of a dataset."""
    k = N_MODES[dataset]
    cases: dict[str, list[Mapping[str, Any]]] = {}
    for r in rows:
        if r["dataset"] == dataset:
            cases.setdefault(r["case"], []).append(r)
    out = []
    for case, runs in cases.items():
        at_goal = sum(1 for r in runs if r["modes"] >= k and r["hq_percent"] >= GOAL_HQ)
        out.append({
            "case": case, "label": runs[0]["label"], "n": len(runs),
            "modes": fmt_ms([r["modes"] for r in runs], 1),
            "hq": fmt_ms([r["hq_percent"] for r in runs], 1),
            "kl": fmt_ms([r["kl"] for r in runs], 3, len(runs)),
            "min_modes": min(r["modes"] for r in runs),
            "goal": f"{at_goal}/{len(runs)}",
            "steps_per_s": mean_se([r["steps_per_s"] for r in runs])[0],
        })
    return out


def format_table(rows: Sequence[Mapping[str, Any]], dataset: str,
                 real: Mapping[str, float] | None = None) -> str:
    """A markdown table for one dataset: gankit's cases, then the real-data reference and the
    published rows (docs/benchmarks.md)."""
    k = N_MODES[dataset]
    col = 0 if dataset == "ring8" else 1
    lines = [f"| method | modes (of {k}) | % HQ | KL | min modes | seeds with {k}/{k} & ≥{GOAL_HQ:g}% HQ "
             f"| steps/s | source |",
             "|---|---|---|---|---|---|---|---|"]
    for s in summarize(rows, dataset):
        lines.append(f"| {s['label']} | {s['modes']} | {s['hq']} | {s['kl']} | {s['min_modes']:g} "
                     f"| {s['goal']} | {s['steps_per_s']:.0f} | gankit, {s['n']} seeds |")
    if real:
        lines.append(f"| real data (2,500 samples) | {real['modes']:g} | {real['hq_percent']:.1f} "
                     f"| {real['kl']:.3f} | | | | the ceiling |")
    for method, source, *vals in PUBLISHED:
        m, hq, kl = vals[col]
        lines.append(f"| {method} | {_pub(m, 1)} | {_pub(hq, 1)} | {_pub(kl, 2)} | | | | "
                     f"published, {source} |")
    return "\n".join(lines)


def render_markdown(data: Mapping[str, Any]) -> str:
    meta = data["meta"]
    command = meta["command"].split(" --note ")[0]  # the note is printed below, not twice
    out = ["# Mode-collapse benchmark (ring8, grid25)", "",
           f"Generated by `{command}` on {meta['date']}.", "",
           "## Budget and machine", "",
           f"- Architecture: {meta['arch_description']}.",
           f"- Every case: {meta['steps']} generator steps (k = 1), batch {meta['batch']}, one torch "
           f"thread, common overrides {meta.get('common_overrides') or 'none'}; "
           f"seeds {meta['seeds']}; metric `toy_modes` on 2,500 samples of G (eval mode, "
           f"sampling seed {meta['sample_seed']}).",
           f"- Machine: {meta['machine']}; load average {meta['load_start']} at the start, "
           f"{meta.get('load_end', 'n/a')} at the end (the CPU was shared with other jobs, so the "
           f"steps/s below are contended numbers).",
           f"- Wall time: {meta.get('wall_minutes', 'n/a')} minutes for {len(data['runs'])} runs.",
           ""]
    if meta.get("note"):
        out += [meta["note"], ""]
    out += ["KL = KL(mode histogram of HQ samples ‖ uniform), nats. ± = standard error over seeds. "
            "Published rows use other architectures and much longer training (see "
            "docs/benchmarks.md): compare them for orientation only.", ""]
    for ds in meta["datasets"]:
        out += [f"## {ds}", "", format_table(data["runs"], ds, data.get("real", {}).get(ds)), ""]
    out += ["## Per run", "", "| dataset | case | seed | modes | % HQ | KL | steps/s | verdicts |",
            "|---|---|---|---|---|---|---|---|"]
    for r in data["runs"]:
        kl = f"{r['kl']:.3f}" if r["kl"] is not None and math.isfinite(r["kl"]) else "n/a"
        out.append(f"| {r['dataset']} | {r['case']} | {r['seed']} | {r['modes']:g} | "
                   f"{r['hq_percent']:.1f} | {kl} | {r['steps_per_s']:.0f} | "
                   f"{', '.join(r.get('verdicts', []))} |")
    return "\n".join(out) + "\n"


# --- running -----------------------------------------------------------------------------------

def _load() -> str:
    return "/".join(f"{x:.1f}" for x in os.getloadavg())


def _write(data: Mapping[str, Any], md: Path, js: Path) -> None:
    md.parent.mkdir(parents=True, exist_ok=True)
    tmp = js.with_suffix(".json.tmp")
    tmp.write_text(json.dumps(data, indent=1, allow_nan=True) + "\n", encoding="utf-8")
    tmp.replace(js)
    md.write_text(render_markdown(data), encoding="utf-8")


def run_case(dataset: str, arch: str, case: Mapping[str, Any], seed: int, steps: int,
             runs_dir: str, sample_seed: int, common: Mapping[str, str] = {}) -> dict[str, Any]:
    """One seed of a case, as a lone run."""
    return run_case_seeds(dataset, arch, case, [seed], steps, runs_dir, sample_seed, common,
                          group=False)[0]


def run_case_seeds(dataset: str, arch: str, case: Mapping[str, Any], seeds: Sequence[int],
                   steps: int, runs_dir: str, sample_seed: int, common: Mapping[str, str] = {},
                   group: bool = True) -> list[dict[str, Any]]:
    """Every seed of a case: one group trained at once (``gankit train --seeds``), or lone runs."""
    import gankit
    from gankit.config import resolve_config
    from gankit.metrics import evaluate
    from gankit.runs.diagnosis import diagnose_run
    from gankit.runs.group import members, train_many

    preset = dataset if arch == "toy" else f"{dataset}-pacgan"
    base_lr = resolve_config(preset).lr_g
    overrides = {**common, **train_overrides(case, base_lr)}
    load0 = os.getloadavg()[0]
    t0 = time.perf_counter()
    settings = dict(preset=preset, steps=steps, runs_dir=runs_dir, threads=1,
                    log_every=max(1, steps // 50), snapshot_every=steps, **overrides)
    if group:
        runs = train_many(members(resolve_config(**settings), seeds), progress=False)
    else:
        runs = [gankit.train(progress=False, seed=seed, **settings) for seed in seeds]
    seconds = (time.perf_counter() - t0) / len(seeds)  # per run (a group shares its time)
    rows = []
    for seed, run in zip(seeds, runs):
        row = evaluate(run, ["toy_modes"], seed=sample_seed)[0]
        try:
            verdicts = [v.kind for v in diagnose_run(run.path, compute_toy_metrics=False)]
        except Exception as e:  # a diagnosis problem must not lose the benchmark's numbers
            verdicts = [f"no diagnosis ({type(e).__name__})"]
        rows.append({"dataset": dataset, "case": case["case"], "label": case["label"],
                     "seed": seed, "preset": preset, "overrides": overrides, "steps": steps,
                     "modes": row["modes"], "hq_percent": row["hq_percent"], "kl": row["kl"],
                     "train_seconds": round(seconds, 2), "steps_per_s": steps / seconds,
                     "load_1min": load0, "verdicts": verdicts, "run_dir": str(run.path),
                     "group": group,
                     "real": {k: row[f"real_{k}"] for k in ("modes", "hq_percent", "kl")}})
    return rows


def preset_summary(name: str, overrides: Mapping[str, Any] | None = None) -> str:
    """What a toy preset trains with the common ``--set`` overrides, read from the resolved config
    (so the report cannot go stale or omit an override)."""
    from gankit.config import resolve_config

    c = resolve_config(preset=name, **(overrides or {}))
    x = lambda widths: "x".join(str(w) for w in widths)  # noqa: E731
    extra = f", R1 {c.r1_gamma:g}" if c.r1_gamma else ""
    extra += f", G weight average {c.g_ema:g}" if c.g_ema else ""
    return (f"{name}: G {x(c.g_hidden)} {c.g_activation}, D {x(c.d_hidden)} LeakyReLU(0.2), "
            f"Adam lr_D {c.lr_d:g} / lr_G {c.lr_g:g} (beta1 {c.adam_beta1:g}) divided by "
            f"{c.lr_decay:.6g} per step{extra}")


def main(argv: Sequence[str] | None = None) -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--steps", type=int, default=2500, help="generator steps per run")
    ap.add_argument("--seeds", default="5", help="a count N (seeds 0..N-1) or a list like 0,3,7")
    ap.add_argument("--datasets", default="ring8,grid25")
    ap.add_argument("--remedies", default=DEFAULT_REMEDIES,
                    help=f"comma-separated cases, NAME or NAME=VALUE; names: {', '.join(REMEDIES)}")
    ap.add_argument("--arch", choices=("toy", "pacgan"), default="toy",
                    help="toy: presets ring8/grid25; pacgan: ring8-pacgan/grid25-pacgan")
    ap.add_argument("--out", default="benchmarks/results/mode_collapse.md",
                    help="markdown results; the raw numbers go to the same name with .json")
    ap.add_argument("--runs-dir", default=None, help="where the run folders go (default: a temp dir)")
    ap.add_argument("--sample-seed", type=int, default=0, help="seed of the 2,500 evaluation samples")
    ap.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                    help="a config override for every case, e.g. lr_decay=1.001 (repeatable)")
    ap.add_argument("--note", default="", help="a paragraph to put in the results file")
    ap.add_argument("--group", action="store_true", help="train each case's seeds at once as one "
                    "group (gankit train --seeds): member i is the lone run with seed i")
    ap.add_argument("--from-json", default=None, help="only re-render the markdown from this JSON")
    args = ap.parse_args(argv)

    md = Path(args.out)
    js = md.with_suffix(".json")
    if args.from_json:
        data = json.loads(Path(args.from_json).read_text(encoding="utf-8"))
        if args.note:
            data["meta"]["note"] = args.note
        md.write_text(render_markdown(data), encoding="utf-8")
        print(render_markdown(data))
        return

    import torch

    torch.set_num_threads(1)
    datasets = [d for d in args.datasets.split(",") if d]
    for d in datasets:
        if d not in N_MODES:
            raise SystemExit(f"unknown dataset '{d}'; choose from {', '.join(N_MODES)}")
    seeds = (list(range(int(args.seeds))) if "," not in args.seeds and args.seeds.isdigit()
             else [int(s) for s in args.seeds.split(",") if s])
    specs = [s for s in args.remedies.split(",") if s]
    common = dict(kv.split("=", 1) for kv in args.set)  # strings: gankit coerces them
    cases = {d: [parse_case(s, d) for s in specs] for d in datasets}
    runs_dir = args.runs_dir or tempfile.mkdtemp(prefix="gankit-mode-collapse-")
    arch_desc = ("PacGAN's networks (presets ring8-pacgan/grid25-pacgan: G 4x400 ReLU, z ~ N(0, I) "
                 "in R^2; D 3x200 maxout x5, no dropout; Adam 1e-4, beta1 0.8)" if args.arch == "pacgan"
                 else "gankit's toy presets (" + "; ".join(preset_summary(d, common) for d in datasets)
                 + "; z ~ N(0, I) in R^2, no dropout), not PacGAN's networks")
    meta = {"command": "python benchmarks/mode_collapse.py " + " ".join(
                a if " " not in a else repr(a) for a in (argv if argv is not None else sys.argv[1:])),
            "date": time.strftime("%Y-%m-%d %H:%M UTC", time.gmtime()), "steps": args.steps,
            "batch": 100, "seeds": seeds, "datasets": datasets, "remedies": specs,
            "arch": args.arch, "arch_description": arch_desc, "common_overrides": common, "sample_seed": args.sample_seed,
            "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python "
                       f"{platform.python_version()}, torch {torch.__version__}",
            "load_start": _load(), "runs_dir": runs_dir, "note": args.note,
            "cases": {d: [{k: c[k] for k in ("case", "label", "overrides")} for c in cases[d]]
                      for d in datasets}}
    data: dict[str, Any] = {"meta": meta, "runs": [], "real": {}}
    total = len(seeds) * sum(len(c) for c in cases.values())
    t_start = time.perf_counter()
    print(f"mode_collapse: {total} runs of {args.steps} steps ({args.arch} nets); runs in {runs_dir}; "
          f"load {meta['load_start']}", flush=True)
    def batches():
        if args.group:  # a case's seeds train together
            for d in datasets:
                for case in cases[d]:
                    yield run_case_seeds(d, args.arch, case, seeds, args.steps, runs_dir,
                                         args.sample_seed, common)
        else:  # outer loop: an interrupted benchmark has every case at the same seeds
            for seed in seeds:
                for d in datasets:
                    for case in cases[d]:
                        yield [run_case(d, args.arch, case, seed, args.steps, runs_dir,
                                        args.sample_seed, common)]

    for rows in batches():
        for r in rows:
            d, seed, name = r["dataset"], r["seed"], r["case"]
            data["real"][d] = r.pop("real")
            data["runs"].append(r)
            done = len(data["runs"])
            elapsed = time.perf_counter() - t_start
            meta["load_end"] = _load()
            meta["wall_minutes"] = round(elapsed / 60, 1)
            _write(data, md, js)
            kl = f"{r['kl']:.3f}" if math.isfinite(r["kl"]) else "nan"
            print(f"[{done}/{total}] {d} {name} seed {seed}: modes {r['modes']:g} "
                  f"HQ {r['hq_percent']:.1f}% KL {kl} | {r['steps_per_s']:.0f} steps/s, "
                  f"load {meta['load_end']}, eta {elapsed / done * (total - done) / 60:.1f} min "
                  f"| {','.join(r['verdicts'])}", flush=True)
    _write(data, md, js)
    for d in datasets:
        print(f"\n{d}\n" + format_table(data["runs"], d, data["real"].get(d)))
    print(f"\nwrote {md} and {js}")


if __name__ == "__main__":
    main()
