"""Does a restructure of gankit change any result? Fixed CLI runs, hashed and compared.

    python benchmarks/refactor_equivalence.py --src /work/baseline/src \\
        --out benchmarks/results/refactor_equivalence_baseline.jsonl          # the old code
    python benchmarks/refactor_equivalence.py --src src \\
        --out /tmp/refactor_equivalence_new.jsonl \\
        --compare benchmarks/results/refactor_equivalence_baseline.jsonl      # the new code
    python benchmarks/refactor_equivalence.py --src src --cases ring8,figure1 ...    # a subset

Why: moving modules around must leave every result bit-identical, because only code moved: the
same seeds must give the same samples, losses and scores. This script measures that from the
outside. It never imports gankit (the module paths are what changes); it runs
``python -m gankit ...`` in a subprocess with ``PYTHONPATH=--src`` (checked: ``import gankit``
must resolve inside it), ``OMP_NUM_THREADS=MKL_NUM_THREADS=1``, ``--threads 1`` for train and eval,
``$GANKIT_DATA`` in a fresh temporary folder (so the Parzen real-data reference is recomputed, not
read from a cache) and a temporary working directory. Each case writes one JSON line to ``--out``
as soon as it finishes and prints its figures.

=================  =======================================================================  ========
case               what runs                                                                 ~seconds
=================  =======================================================================  ========
digits             ``train --seed 0`` (default preset, 6,000 steps); ``sample --n 1000``;    120
                   last row of stats.jsonl (Loss/D, Loss/G, Prob/D(x), Prob/D(G(z)))
ring8-sS,          ``train --preset ring8|grid25 --steps 3000 --seed S`` for S in             10-20
grid25-sS          ``--toy-seeds`` (0..4); ``sample --n 1000``; ``eval --metric toy_modes``   each
figure1-gauss,     ``figure1 --data gauss|mixture`` (defaults): final/min JSD, max|D-D*|,     20-40
figure1-mixture    max|D-1/2|, C(G) identity error, C(G), V; sha256 of snapshots.npz's p_g
toy2d-ring8,       ``figure toy2d --data ring8|grid25 --steps 3000 --seed 0``: modes, HQ      20-40
toy2d-grid25       fraction. EXPECTED TO CHANGE: the refactor makes the figure train the
                   full preset; recorded to quote before/after, never counted as a failure
mnist              ``train --preset --mnist-preset --steps 3000 --seed 0`` on --mnist-data    150
                   (Table 1's recipe); ``sample --n 1000``; ``eval --metric parzen`` with
                   the paper's protocol (sigma on 1,000 validation images, test set, real-
                   data reference) on ``--parzen-samples`` (10,000, the paper's) samples
=================  =======================================================================  ========

The sample hash is sha256 of ``np.load(FILE).tobytes()`` for ``sample RUN --n 1000 --seed 0
--out FILE.npy`` (the newest checkpoint; checkpoint files themselves are not hashed: their headers
hold times). ``--cases`` takes case names or groups (``ring8`` = every ring8-sS, ``figure1``,
``toy2d``, ``toy`` = ring8 and grid25). ``--out`` keeps the lines of cases not rerun (same
``--src`` only), so a failed case can be rerun alone. ``--compare OLD.jsonl`` prints per case
IDENTICAL (hashes and figures equal), DIFFERENT (numbers side by side), FAILED or MISSING, and
the script exits 1 if a case that should not change did. Run on an otherwise quiet core if the
seconds matter; the hashes do not depend on load.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path
from typing import Any, Callable, Sequence

import numpy as np

REPO = Path(__file__).resolve().parents[1]
DEFAULT_MNIST = REPO.parent / "shared/data/mnist"
STATS_KEYS = ("Loss/D", "Loss/G", "Prob/D(x)", "Prob/D(G(z))")
FIGURE1_KEYS = ("final_jsd", "min_jsd", "max_abs_d_minus_dstar", "max_abs_d_minus_half",
                "cg_identity_error", "final_C_G", "final_V")
TOY_KEYS = ("modes", "hq_percent", "kl")
PARZEN_KEYS = ("ll_mean", "ll_se", "sigma", "val_ll_mean", "n_samples", "real_ll_mean",
               "real_ll_se", "real_sigma")
N_SAMPLE = 1000  # rows of the hashed sample array
TOY_STEPS = 3000
MNIST_STEPS = 3000


class CaseError(RuntimeError):
    """A gankit command failed or printed something unexpected."""


# --- running the CLI ------------------------------------------------------------------------------

class Cli:
    """``python -m gankit ARGS`` against one source tree, one thread, in a scratch folder."""

    def __init__(self, src: Path, timeout: float):
        self.src, self.timeout = src, timeout
        self.steps: dict[str, float] = {}  # seconds of each command of the current case

    def env(self, scratch: Path) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "GANKIT_DATA")}
        env.update(PYTHONPATH=str(self.src), OMP_NUM_THREADS="1", MKL_NUM_THREADS="1",
                   MPLBACKEND="Agg", GANKIT_DATA=str(scratch / "gankit-data"))
        return env

    def __call__(self, scratch: Path, label: str, *args: str) -> str:
        """Run one command in ``scratch``; its stdout, or CaseError with the end of its output."""
        cmd = [sys.executable, "-m", "gankit", *args]
        t0 = time.perf_counter()
        try:
            proc = subprocess.run(cmd, cwd=scratch, env=self.env(scratch), capture_output=True,
                                  text=True, timeout=self.timeout)
        except subprocess.TimeoutExpired:
            raise CaseError(f"`{' '.join(args)}` ran past {self.timeout:.0f} s") from None
        self.steps[label] = round(self.steps.get(label, 0.0) + time.perf_counter() - t0, 2)
        if proc.returncode != 0:
            tail = (proc.stdout + proc.stderr).strip().splitlines()[-15:]
            raise CaseError(f"`gankit {' '.join(args)}` exited {proc.returncode}:\n  "
                            + "\n  ".join(tail))
        return proc.stdout

    def check_src(self) -> dict[str, str]:
        """gankit and torch as the subprocesses see them; SystemExit if gankit is not --src's."""
        code = ("import gankit, torch, numpy; print(gankit.__file__); print(torch.__version__); "
                "print(numpy.__version__)")
        with tempfile.TemporaryDirectory() as tmp:
            out = subprocess.run([sys.executable, "-c", code], cwd=tmp, env=self.env(Path(tmp)),
                                 capture_output=True, text=True)
        if out.returncode != 0:
            raise SystemExit(f"cannot import gankit from {self.src}:\n{out.stderr.strip()}")
        where, torch_version, numpy_version = out.stdout.split()
        if not Path(where).resolve().is_relative_to(self.src):
            raise SystemExit(f"`import gankit` resolves to {where}, not inside --src {self.src}")
        return {"gankit_file": where, "torch": torch_version, "numpy": numpy_version}


def git_state(src: Path) -> dict[str, Any]:
    """Commit of --src's checkout and whether its files differ from it (provenance only)."""
    def git(*a: str) -> str:
        r = subprocess.run(["git", "-C", str(src), *a], capture_output=True, text=True)
        return r.stdout.strip() if r.returncode == 0 else ""
    commit = git("rev-parse", "HEAD")
    return {"commit": commit or None,
            "dirty": bool(git("status", "--porcelain", "--", ".")) if commit else None}


def last_json(stdout: str, what: str) -> dict[str, Any]:
    """The last stdout line that is a JSON object (the figure verbs' summary)."""
    for line in reversed(stdout.strip().splitlines()):
        if line.startswith("{"):
            return json.loads(line)
    raise CaseError(f"{what}: no JSON summary on stdout; it ended:\n{stdout[-1500:]}")


def metric_row(stdout: str, metric: str) -> dict[str, Any]:
    """The JSON line ``gankit eval`` printed for ``metric``."""
    for line in stdout.splitlines():
        if line.startswith("{"):
            row = json.loads(line)
            if row.get("metric") == metric:
                return row
    raise CaseError(f"eval printed no '{metric}' line; it printed:\n{stdout[-1500:]}")


def sha256_array(path: Path, key: str | None = None) -> tuple[str, list[int], str]:
    """sha256 of an array's bytes (``key``: one array of an .npz), its shape and dtype."""
    if key is None:
        a = np.load(path, allow_pickle=False)
    else:
        with np.load(path, allow_pickle=False) as z:
            a = z[key]
    return hashlib.sha256(a.tobytes()).hexdigest(), list(a.shape), str(a.dtype)


def only_run(runs_dir: Path) -> Path:
    """The one run folder ``train`` created under ``runs_dir``."""
    runs = [p for p in runs_dir.iterdir() if p.is_dir()] if runs_dir.is_dir() else []
    if len(runs) != 1:
        raise CaseError(f"expected one run folder in {runs_dir}, found {[p.name for p in runs]}")
    return runs[0]


def train_and_sample(cli: Cli, scratch: Path, train_args: Sequence[str]) -> tuple[Path, dict, dict]:
    """``train ... --runs-dir --quiet --threads 1``, then the 1,000-row sample: (run, hashes, figures)."""
    runs_dir = scratch / "runs"
    cli(scratch, "train", "train", *train_args, "--runs-dir", str(runs_dir), "--quiet",
        "--threads", "1")
    run = only_run(runs_dir)
    npy = scratch / "sample.npy"
    cli(scratch, "sample", "sample", str(run), "--n", str(N_SAMPLE), "--seed", "0", "--out", str(npy))
    digest, shape, dtype = sha256_array(npy)
    rows = [json.loads(line) for line in (run / "stats.jsonl").read_text().splitlines() if line.strip()]
    if not rows:
        raise CaseError(f"{run}/stats.jsonl is empty")
    last = rows[-1]
    figures = {"step": last.get("step"), **{k: last.get(k) for k in STATS_KEYS},
               "sample_shape": shape, "sample_dtype": dtype}
    return run, {"sample_sha256": digest}, figures


# --- the cases --------------------------------------------------------------------------------------
# Each returns (command lines, hashes, figures); hashes prove identity, figures are the numbers.

def case_digits(cli: Cli, scratch: Path, args: argparse.Namespace):
    train = ["--seed", "0"]
    _, hashes, figures = train_and_sample(cli, scratch, train)
    return [f"train {' '.join(train)}"], hashes, figures


def case_toy(preset: str, seed: int):
    def run(cli: Cli, scratch: Path, args: argparse.Namespace):
        train = ["--preset", preset, "--steps", str(TOY_STEPS), "--seed", str(seed)]
        run_dir, hashes, figures = train_and_sample(cli, scratch, train)
        ev = ["--metric", "toy_modes", "--seed", "0", "--threads", "1"]
        row = metric_row(cli(scratch, "eval", "eval", str(run_dir), *ev), "toy_modes")
        figures.update({k: row.get(k) for k in TOY_KEYS}, n_modes=row.get("n_modes"))
        return [f"train {' '.join(train)}", f"eval RUN {' '.join(ev)}"], hashes, figures
    return run


def case_figure1(data: str):
    def run(cli: Cli, scratch: Path, args: argparse.Namespace):
        out = scratch / "figure1"
        argv = ["figure1", "--data", data, "--out", str(out)]
        summary = last_json(cli(scratch, "figure1", *argv), "figure1")
        digest, shape, dtype = sha256_array(out / "snapshots.npz", "p_g")
        figures = {"steps": summary.get("steps"), **{k: summary.get(k) for k in FIGURE1_KEYS},
                   "p_g_shape": shape, "train_seconds": summary.get("train_seconds")}
        return [" ".join(argv[:3])], {"p_g_sha256": digest}, figures
    return run


def case_toy2d(data: str):
    def run(cli: Cli, scratch: Path, args: argparse.Namespace):
        argv = ["figure", "toy2d", "--data", data, "--steps", str(TOY_STEPS), "--seed", "0",
                "--out", str(scratch / "figure")]
        summary = last_json(cli(scratch, "figure", *argv), "figure toy2d")
        figures = {k: summary.get(k) for k in ("steps", "modes", "n_modes", "hq", "seconds")}
        return [" ".join(argv[:-2])], {}, figures
    return run


def case_mnist(cli: Cli, scratch: Path, args: argparse.Namespace):
    data = str(Path(args.mnist_data).resolve())
    train = ["--preset", args.mnist_preset, "--steps", str(MNIST_STEPS), "--seed", "0",
             "--data-dir", data, "--snapshot-every", "1000", "--log-every", "100"]
    run_dir, hashes, figures = train_and_sample(cli, scratch, train)
    ev = ["--metric", "parzen", "--data-dir", data, "--seed", "0",
          "--n-samples", str(args.parzen_samples), "--threads", "1"]
    row = metric_row(cli(scratch, "eval", "eval", str(run_dir), *ev), "parzen")
    figures.update({f"parzen_{k}": row.get(k) for k in PARZEN_KEYS})
    return [f"train {' '.join(train)}", f"eval RUN {' '.join(ev)}"], hashes, figures


def all_cases(toy_seeds: Sequence[int]) -> dict[str, tuple[str, Callable]]:
    """case name -> (group, function), in running order."""
    cases: dict[str, tuple[str, Callable]] = {"digits": ("digits", case_digits)}
    for preset in ("ring8", "grid25"):
        for s in toy_seeds:
            cases[f"{preset}-s{s}"] = (preset, case_toy(preset, s))
    for data in ("gauss", "mixture"):
        cases[f"figure1-{data}"] = ("figure1", case_figure1(data))
    for data in ("ring8", "grid25"):
        cases[f"toy2d-{data}"] = ("toy2d", case_toy2d(data))
    cases["mnist"] = ("mnist", case_mnist)
    return cases


#: Cases whose figures are expected to change in the restructure (never a failed comparison), by
#: group or by case name.
EXPECTED_TO_CHANGE = {
    "toy2d": "the refactored `figure toy2d` trains the full preset",
    "figure1-gauss": "figure1 now trains on the gauss1d dataset's sample (the one `gankit train "
                     "--preset gauss1d` uses), not a sample of its own; with the old sample the new "
                     "code reproduces the old numbers bit for bit",
}


def select(spec: str, cases: dict[str, tuple[str, Callable]]) -> list[str]:
    if spec == "all":
        return list(cases)
    groups = {"toy": {"ring8", "grid25"}}
    wanted = [w.strip() for w in spec.split(",") if w.strip()]
    chosen = set()
    for w in wanted:
        hit = {n for n, (g, _) in cases.items() if w in (n, g) or g in groups.get(w, ())}
        if not hit:
            names = sorted(set(cases) | {g for g, _ in cases.values()} | set(groups))
            raise SystemExit(f"unknown case '{w}'; choose from all, {', '.join(names)}")
        chosen |= hit
    return [n for n in cases if n in chosen]


# --- printing and comparing -------------------------------------------------------------------------

def fmt(v: Any) -> str:
    if isinstance(v, float):
        return f"{v:.6g}"
    if isinstance(v, str) and len(v) == 64:
        return v[:12]  # a sha256
    return json.dumps(v) if isinstance(v, (list, dict)) else str(v)


def one_line(rec: dict[str, Any]) -> str:
    if "error" in rec:
        return f"{rec['case']:<16} FAILED: {rec['error'].splitlines()[-1].strip()}"
    parts = [f"{k} {fmt(v)}" for k, v in {**rec["hashes"], **rec["figures"]}.items()
             if not k.endswith(("_shape", "_dtype", "seconds"))]
    return (f"{rec['case']:<16} " + "  ".join(parts)
            + f"  | wall {rec['wall_s']:.1f} s, cpu {rec['cpu_s']:.1f} s")


#: Figures that are timings: shown, never compared.
TIMING_KEYS = ("seconds", "train_seconds")


def compare(new: list[dict], old_path: Path) -> bool:
    """One line per case against a previous results file; True if nothing changed unexpectedly."""
    old = {r["case"]: r for r in read_jsonl(old_path)}
    print(f"\ncompared with {old_path} (--src {next(iter(old.values()), {}).get('src')}):")
    ok = True
    for rec in new:
        name, prev = rec["case"], old.get(rec["case"])
        expected = EXPECTED_TO_CHANGE.get(name) or EXPECTED_TO_CHANGE.get(rec["group"])
        if prev is None or "error" in prev:
            print(f"{name:<16} MISSING in {old_path.name}" if prev is None
                  else f"{name:<16} NO BASELINE (it failed there)")
            ok = False
            continue
        if "error" in rec:
            print(f"{name:<16} FAILED: {rec['error'].splitlines()[-1].strip()}")
            ok = False
            continue
        hashes_equal = rec["hashes"] == prev["hashes"]
        keys = [k for k in {**prev["figures"], **rec["figures"]} if k not in TIMING_KEYS]
        changed = [k for k in keys if prev["figures"].get(k) != rec["figures"].get(k)]
        timing = f"  (wall {prev['wall_s']:.0f} -> {rec['wall_s']:.0f} s)"
        if hashes_equal and not changed:
            verdict = "IDENTICAL" if rec["hashes"] else "SAME FIGURES (no hash)"
            print(f"{name:<16} {verdict}" + "".join(f"  {k} {fmt(v)}" for k, v in rec["hashes"].items())
                  + timing)
            continue
        side = [f"{k} {fmt(prev['hashes'].get(k))} -> {fmt(rec['hashes'].get(k))}"
                for k in {**prev["hashes"], **rec["hashes"]}
                if prev["hashes"].get(k) != rec["hashes"].get(k)]
        side += [f"{k} {fmt(prev['figures'].get(k))} -> {fmt(rec['figures'].get(k))}"
                 for k in changed]
        label = ("DIFFERENT (samples identical, figures not)" if hashes_equal and rec["hashes"]
                 else "DIFFERENT")
        if expected:
            label += f" [expected: {expected}]"
        else:
            ok = False
        print(f"{name:<16} {label}: " + "; ".join(side) + timing)
    return ok


def read_jsonl(path: Path) -> list[dict]:
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def write_jsonl(path: Path, records: list[dict]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    tmp.write_text("".join(json.dumps(r) + "\n" for r in records))
    os.replace(tmp, path)


# --- main -------------------------------------------------------------------------------------------

def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--src", required=True, help="folder holding the gankit package to measure")
    p.add_argument("--out", default=None, metavar="FILE.jsonl",
                   help="results, one JSON line per case (lines of cases not rerun are kept)")
    p.add_argument("--cases", default="all",
                   help="comma list of cases or groups: digits, ring8, grid25, toy, figure1, "
                        "toy2d, mnist, or one case such as ring8-s3 (default: all)")
    p.add_argument("--compare", default=None, metavar="FILE.jsonl",
                   help="a previous results file: print IDENTICAL / DIFFERENT per case after running")
    p.add_argument("--mnist-data", default=str(DEFAULT_MNIST),
                   help=f"MNIST IDX folder (default: {DEFAULT_MNIST})")
    p.add_argument("--mnist-preset", default="paper-mnist-ema-g4-ls",
                   help="the Table 1 preset's name in the code measured (default: %(default)s)")
    p.add_argument("--parzen-samples", type=int, default=10_000,
                   help="Parzen samples drawn from G (default: the paper's 10,000)")
    p.add_argument("--toy-seeds", default="0,1,2,3,4", help="ring8/grid25 seeds (default: 0..4)")
    p.add_argument("--timeout", type=float, default=3600, help="seconds per gankit command")
    p.add_argument("--keep", action="store_true", help="keep the scratch folders (printed)")
    args = p.parse_args()

    src = Path(args.src).resolve()
    if not (src / "gankit").is_dir():
        raise SystemExit(f"--src {src} holds no gankit package")
    cases = all_cases([int(s) for s in args.toy_seeds.split(",")])
    names = select(args.cases, cases)
    out = Path(args.out).resolve() if args.out else None
    kept: list[dict] = []
    if out is not None and out.exists():
        previous = read_jsonl(out)
        other = {r.get("src") for r in previous} - {str(src)}
        if other:
            raise SystemExit(f"{out} holds results of another --src ({', '.join(map(str, other))}); "
                             f"choose another --out")
        kept = [r for r in previous if r["case"] not in names]
    cli = Cli(src, args.timeout)
    provenance = {"src": str(src), **git_state(src), **cli.check_src(),
                  "python": platform.python_version(), "machine": platform.node()}
    print(f"measuring {src} (commit {provenance['commit']}, dirty {provenance['dirty']}; "
          f"torch {provenance['torch']}); cases: {', '.join(names)}", flush=True)

    new: list[dict] = []
    for name in names:
        group, fn = cases[name]
        scratch = Path(tempfile.mkdtemp(prefix=f"gankit-refactor-{name}-"))
        cli.steps = {}
        rec: dict[str, Any] = {"case": name, "group": group, **provenance,
                               "started": time.strftime("%Y-%m-%dT%H:%M:%S"),
                               "loadavg_at_start": [round(x, 2) for x in os.getloadavg()]}
        t0, r0 = time.perf_counter(), resource.getrusage(resource.RUSAGE_CHILDREN)
        try:
            commands, hashes, figures = fn(cli, scratch, args)
            rec.update(commands=commands, hashes=hashes, figures=figures)
        except CaseError as e:
            rec["error"] = str(e)
        r1 = resource.getrusage(resource.RUSAGE_CHILDREN)
        rec.update(wall_s=round(time.perf_counter() - t0, 2),
                   cpu_s=round(r1.ru_utime + r1.ru_stime - r0.ru_utime - r0.ru_stime, 2),
                   command_wall_s=cli.steps)
        reason = EXPECTED_TO_CHANGE.get(name) or EXPECTED_TO_CHANGE.get(group)
        if reason:
            rec["expected_to_change"] = reason
        new.append(rec)
        print(one_line(rec), flush=True)
        if "error" in rec:
            print(rec["error"], file=sys.stderr, flush=True)
        if out is not None:
            order = list(cases)
            write_jsonl(out, sorted(kept + new, key=lambda r: order.index(r["case"])
                                    if r["case"] in order else len(order)))
        if args.keep:
            print(f"  scratch kept: {scratch}")
        else:
            shutil.rmtree(scratch, ignore_errors=True)

    failed = [r["case"] for r in new if "error" in r]
    total = sum(r["wall_s"] for r in new)
    print(f"{len(new)} cases in {total / 60:.1f} min" + (f"; FAILED: {', '.join(failed)}" if failed
                                                          else "") + (f"; results in {out}" if out else ""))
    ok = not failed
    if args.compare:
        ok &= compare(new, Path(args.compare))
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
