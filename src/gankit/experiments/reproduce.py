"""Reproduce the paper's MNIST result (Table 1, Figures 2 and 3) in one call: ``gankit reproduce mnist``.

Steps:

1. Train a preset (default ``paper-mnist``) with a :class:`ParzenCurve` callback: at every
   ``eval_every_steps`` snapshot it scores G on the paper's Parzen protocol (``metrics.parzen``) and
   records the LL against epochs, wall time, and training time (wall time less the evaluations).
2. Stop cleanly at the time budget: the callback raises :class:`BudgetReached` at the last snapshot
   whose successor would end past the budget. ``train`` has already written that snapshot's
   checkpoint when its callbacks run, so the run folder is complete and is reopened with
   :func:`gankit.runs.run.load_run`. (The budget counts training time only, so evaluations, which cost
   ~10-20 s each, do not shorten training; both clocks are recorded.)
3. Select, without reading the test set: every evaluation also scores all validation images
   (``val_ll_mean``); the checkpoint with the best such score is kept as
   ``checkpoints/selected.safetensors`` and its test score is quoted beside the final and best ones.
4. Write the results folder: ``results.md``/``results.html`` (the run beside the paper's Table 1, with
   sigma, N and the real-data reference), ``parzen_curve.png`` and ``parzen_curve.jsonl``,
   ``figure2.png`` and ``figure3.png`` (of the selected generator), ``summary.json`` and
   ``environment.json``.

Layout of ``OUT``::

    results.md, results.html, parzen_curve.png, parzen_curve.jsonl, figure2.png, figure3.png,
    summary.json, environment.json, runs/00001-mnist-ns-k1-sim/ (the training run: checkpoints
    (with selected.safetensors), stats, samples)
"""

from __future__ import annotations

import html
import json
import os
import platform
import shutil
import subprocess
import sys
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping

import torch

from gankit.version import __version__
from gankit.utils.atomic import atomic_path
from gankit.errors import GankitError

#: Table 1 of the paper (Parzen-window log-likelihood in nats): model -> (MNIST, TFD), each (mean, se).
PAPER_TABLE1: dict[str, tuple[tuple[float, float], tuple[float, float]]] = {
    "DBN": ((138, 2), (1909, 66)),
    "Stacked CAE": ((121, 1.6), (2110, 50)),
    "Deep GSN": ((214, 1.1), (1890, 29)),
    "Adversarial nets": ((225, 2), (2057, 26)),
}
#: LL levels whose first passing time is reported (the paper's Deep GSN and adversarial-net rows, roughly).
THRESHOLDS = (200.0, 225.0)
#: The checkpoint with the best validation score so far, beside the run's step checkpoints. Pruning
#: and the newest-checkpoint search (resume, load_run of a run folder) only see step-N files, so it
#: is never pruned and a resume of the run folder never starts from it.
SELECTED = "selected.safetensors"


class BudgetReached(Exception):
    """Raised by :class:`ParzenCurve` to end training at the time budget (caught by :func:`reproduce`).

    Not a :class:`GankitError`: it is control flow, not a user error.
    """


@dataclass
class CurvePoint:
    """One Parzen evaluation during training."""

    step: int
    epoch: int             # the data stream's epoch counter (completed passes, as train logs it)
    epochs: float          # training images seen / training-set size: step * batch / n_train
    train_seconds: float   # wall time of the training loop up to this snapshot, less the evaluations
    wall_seconds: float    # wall time of the training loop up to the end of this evaluation
    eval_seconds: float    # this evaluation's own time
    cpu_seconds: float     # CPU time of this process (all threads) spent training, evaluations
    #                        excluded: on a shared machine, the load-independent clock
    ll_mean: float
    ll_se: float
    sigma: float
    n_samples: int
    val_ll_mean: float | None = None  # mean LL of all validation images: what checkpoints are
    #                                   selected on (None in curves written before it existed)


@dataclass
class ParzenCurve:
    """A ``train`` callback: Parzen LL every ``eval_every_steps`` steps, and the time budget.

    ``evaluate_fn(trainer) -> dict`` scores the trainer's G (default: the registry's ``parzen`` metric
    on ``n_samples`` samples, appended to the run's ``metrics.jsonl``). ``budget_seconds`` (training
    time, evaluations excluded) ends the run with :class:`BudgetReached` at the last snapshot before
    the budget would be passed, predicted from the previous snapshot interval; ``None``: no budget.
    ``log`` receives one line per evaluation. ``keep_selected``: copy the checkpoint of the
    evaluation with the best validation score to ``checkpoints/selected.safetensors``. ``budget_clock``: ``"wall"`` (training wall time) or
    ``"cpu"`` (this process's CPU time, which neighbours on a shared machine do not inflate; with one
    torch thread it is the time an idle core would take).
    """

    eval_every_steps: int
    budget_seconds: float | None = None
    n_samples: int = 10_000
    seed: int = 0
    log: Callable[[str], None] | None = None
    evaluate_fn: Callable[[Any], Mapping[str, float]] | None = None
    budget_clock: str = "wall"
    keep_selected: bool = True  # copy the checkpoint with the best validation score to SELECTED
    points: list[CurvePoint] = field(default_factory=list)
    eval_total: float = 0.0    # wall seconds spent evaluating so far
    eval_cpu_total: float = 0.0  # CPU seconds spent evaluating so far
    cpu_start: float = field(default_factory=time.process_time)  # reset by start()
    stopped_by_budget: bool = False
    _last: tuple[int, float] = (0, 0.0)  # (step, budget clock) at the previous snapshot

    def __post_init__(self) -> None:
        if self.budget_clock not in ("wall", "cpu"):
            raise GankitError(f"budget clock must be wall or cpu (got '{self.budget_clock}')")

    def start(self) -> None:
        """Start the CPU clock (call just before training)."""
        self.cpu_start = time.process_time()

    def __call__(self, trainer) -> None:
        st = trainer.state
        train_seconds = st.elapsed - self.eval_total  # st.elapsed includes earlier evaluations
        cpu_seconds = time.process_time() - self.cpu_start - self.eval_cpu_total
        clock = cpu_seconds if self.budget_clock == "cpu" else train_seconds
        last_step, last_clock = self._last
        interval = clock - last_clock  # training time of the snapshot interval just ended
        self._last = (st.step, clock)
        # The loop's own last snapshot is always evaluated: all steps done, or Ctrl-C (the only
        # snapshot off the snapshot_every grid).
        final = st.step >= trainer.config.steps or st.step % trainer.config.snapshot_every != 0
        over = (self.budget_seconds is not None and st.step > last_step
                and clock + interval * trainer.config.snapshot_every / (st.step - last_step)
                > self.budget_seconds)
        if st.step % self.eval_every_steps == 0 or final or over:
            self._evaluate(trainer, train_seconds, cpu_seconds)
        if over and not final:
            self.stopped_by_budget = True
            raise BudgetReached(f"training {self.budget_clock} time {clock / 60:.1f} min: the next "
                                f"snapshot would pass the {self.budget_seconds / 60:.1f} min budget")

    def _evaluate(self, trainer, train_seconds: float, cpu_seconds: float = 0.0) -> None:
        st = trainer.state
        t0, c0 = time.perf_counter(), time.process_time()
        values = (self.evaluate_fn or self._parzen)(trainer)
        seconds = time.perf_counter() - t0
        self.eval_total += seconds
        self.eval_cpu_total += time.process_time() - c0
        n_train = len(getattr(getattr(trainer, "dataset", None), "train", ())) or None
        epochs = st.step * trainer.config.batch / n_train if n_train else float(st.stream.epoch)
        point = CurvePoint(st.step, st.stream.epoch, round(epochs, 3), round(train_seconds, 3),
                           round(st.elapsed + seconds, 3), round(seconds, 3), round(cpu_seconds, 3),
                           float(values["ll_mean"]), float(values["ll_se"]), float(values["sigma"]),
                           int(values["n_samples"]), _optional_float(values.get("val_ll_mean")))
        if self.keep_selected and point.val_ll_mean is not None and all(
                p.val_ll_mean is None or point.val_ll_mean > p.val_ll_mean for p in self.points):
            keep_as_selected(Path(trainer.run_dir) / "checkpoints", st.step)
        self.points.append(point)
        if self.log is not None:
            self.log(f"step {point.step} epoch {point.epochs:.1f} train {train_seconds / 60:.1f} min "
                     f"(CPU {cpu_seconds / 60:.1f} min): "
                     f"Parzen LL {point.ll_mean:.1f} +- {point.ll_se:.1f} (sigma {point.sigma:.3f}"
                     + ("" if point.val_ll_mean is None else f", validation {point.val_ll_mean:.1f}")
                     + f", eval {seconds:.1f} s)")

    def _parzen(self, trainer) -> Mapping[str, float]:
        from gankit.metrics import evaluate
        from gankit.runs.run import Run

        run = Run(trainer.run_dir, trainer.config, trainer.state.G_sample, trainer.state.step)
        [row] = evaluate(run, ["parzen"], seed=self.seed, data=trainer.dataset,
                         options={"parzen": {"n_samples": self.n_samples, "reference": False}})
        return row


def keep_as_selected(checkpoints: Path, step: int) -> None:
    """Make ``checkpoints/selected.safetensors`` the step-``step`` checkpoint (atomically)."""
    source = checkpoints / f"step-{step:06d}.safetensors"
    if not source.is_file():  # pruned, or never written (a checkpoint-less trainer)
        return
    try:
        with atomic_path(checkpoints / SELECTED) as tmp:
            try:  # step files are replaced, never rewritten in place: a hard link is a safe copy
                os.link(source, tmp)
            except OSError:
                shutil.copyfile(source, tmp)
                with open(tmp, "rb+") as f:
                    os.fsync(f.fileno())
    except OSError as e:
        raise GankitError(f"cannot keep the selected checkpoint {checkpoints / SELECTED} "
                          f"({e.strerror or e}); free disk space or fix permissions") from None


@dataclass
class ReproduceResult:
    """What :func:`reproduce` made: the results folder, the run, the curve and the summary."""

    out: Path
    run_dir: Path
    points: list[CurvePoint]
    summary: dict[str, Any]


def reproduce(dataset: str = "mnist", *, out: str | Path | None = None,
              budget_minutes: float | None = 60.0, data_dir: str | None = None,
              preset: str = "paper-mnist", eval_every_steps: int = 2500, seed: int = 0,
              n_samples: int = 10_000, threads: int | None = None, budget_clock: str = "wall",
              overrides: Mapping[str, Any] | None = None, progress: bool = True,
              log: Callable[[str], None] | None = None, restarts: int = 1) -> ReproduceResult:
    """Train ``preset`` on MNIST with Parzen evaluations, stop at the budget, write the results folder.

    ``budget_minutes`` is training time (evaluations excluded) on ``budget_clock`` (``"wall"``, or
    ``"cpu"``: this process's CPU time, fair on a shared machine), and the run goes on until it is
    spent unless ``overrides`` sets ``steps``; ``None`` trains the preset's ``steps``. ``overrides`` are further config fields (e.g. tiny networks for tests). ``out``
    defaults to ``results/NNNNN-reproduce-PRESET``. ``restarts`` > 1 trains seeds ``seed ..
    seed+restarts-1`` side by side and keeps the one best on validation (:mod:`gankit.experiments.restarts`;
    ``threads`` is then per restart). Returns a :class:`ReproduceResult`.
    """
    from gankit.config import STEPS_UNBOUNDED, resolve_config
    from gankit.data import load_dataset
    from gankit.figures.paper_figures import figure2, figure3
    from gankit.metrics.parzen import real_data_reference
    from gankit.runs.run import create_run_dir, load_run
    from gankit.runs.train import train

    if dataset != "mnist":
        raise GankitError(f"gankit reproduce knows the paper's MNIST experiment only (got "
                          f"'{dataset}'); TFD and CIFAR-10 have no Parzen reproduction here")
    if eval_every_steps < 1:
        raise GankitError(f"--eval-every-steps must be at least 1 (got {eval_every_steps})")
    if budget_minutes is not None and not budget_minutes > 0:
        raise GankitError(f"--budget-minutes must be positive (got {budget_minutes})")
    if n_samples < 1:
        raise GankitError(f"n_samples must be at least 1 (got {n_samples})")
    if restarts < 1:
        raise GankitError(f"--restarts must be at least 1 (got {restarts})")
    log = log or (lambda line: print(line, file=sys.stderr, flush=True))
    # Snapshots (checkpoint, grid, callback) at least at every evaluation; an override may make them
    # finer, which also lets the budget stop closer to its end.
    fields = {"snapshot_every": eval_every_steps, **(overrides or {})}
    if budget_minutes is not None and "steps" not in fields:
        # The budget ends the run, not the preset's `steps` (paper-mnist's 100,000 steps take only
        # ~35 minutes on two fast threads); an explicit steps override still caps it.
        if float(fields.get("instance_noise") or 0) > 0:
            raise GankitError("instance noise fades to zero over the run's steps, which a time "
                              "budget leaves open: add --set steps=N")
        fields["steps"] = STEPS_UNBOUNDED
    if restarts > 1:
        from gankit.experiments.restarts import threads_per_restart

        threads = threads_per_restart(restarts, threads)
    if threads is not None:
        fields["threads"] = threads
    config = resolve_config(preset, data_dir=data_dir, seed=seed, **fields)
    if config.dataset != "mnist":
        raise GankitError(f"preset '{preset}' trains on {config.dataset}; gankit reproduce mnist "
                          f"needs an MNIST preset such as paper-mnist")
    # The results folder; the run goes inside it.
    if out is None:
        out = create_run_dir("results", f"reproduce-{preset}")
    out = Path(out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise GankitError(f"cannot create the results folder {out} ({e.strerror or e})") from None
    config = resolve_config(**{**config.to_dict(), "runs_dir": str(out / "runs")})
    t_start = time.time()
    load_start = os.getloadavg()
    data = load_dataset(config.dataset, config.data_dir)
    log(f"gankit reproduce: {preset} -> {out}; real-data reference (cached after its first run)")
    ref = real_data_reference(data, n_samples=n_samples)  # cached now for the restarts too
    if restarts > 1:
        from gankit.experiments.restarts import reproduce_restarts

        spec = dict(budget_minutes=budget_minutes, data_dir=data_dir, preset=preset,
                    eval_every_steps=eval_every_steps, n_samples=n_samples,
                    budget_clock=budget_clock, overrides=dict(overrides or {}))
        return reproduce_restarts(restarts, out=out, seed=seed, threads=threads, log=log, spec=spec)
    curve = ParzenCurve(eval_every_steps, None if budget_minutes is None else budget_minutes * 60,
                        n_samples=n_samples, seed=seed, log=log, budget_clock=budget_clock)
    curve.start()
    try:
        run = train(config, progress=progress, callbacks=[curve])
    except BudgetReached as stop:
        log(f"gankit reproduce: stopped at the budget ({stop})")
        run = load_run(_newest_run(out / "runs"))
    threads_used = torch.get_num_threads()
    wall_total = time.time() - t_start
    if not curve.points:
        raise GankitError("training ended before the first evaluation; pass a smaller "
                          "--eval-every-steps or a larger --budget-minutes")
    # Figures 2 and 3 (dropout off, a fixed seed) from the generator selected on validation, which
    # is the one whose score the results quote; the final one when nothing had a validation score.
    selected = Path(run.path) / "checkpoints" / SELECTED
    figures_from = load_run(selected) if selected.is_file() else run
    figure2(figures_from, seed, out / "figure2.png", train=data.train)
    figure3(figures_from, seed, out / "figure3.png")
    plot_parzen_curve(curve.points, out / "parzen_curve.png", reference=ref.ll_mean,
                      title=f"{preset}: Parzen LL during training")
    _write(out / "parzen_curve.jsonl", "".join(json.dumps(asdict(p)) + "\n" for p in curve.points))
    summary = summarise(curve.points)
    summary.update(
        preset=preset, run_dir=str(run.path), steps=run.step, stopped_by_budget=curve.stopped_by_budget,
        interrupted=bool(getattr(run, "interrupted", False)),
        budget_minutes=budget_minutes, budget_clock=budget_clock, eval_every_steps=eval_every_steps,
        eval_seconds_total=round(curve.eval_total, 1), wall_seconds_total=round(wall_total, 1),
        reference={"ll_mean": ref.ll_mean, "ll_se": ref.ll_se, "sigma": ref.sigma,
                   "n_samples": ref.n_samples},
        schedule=config.schedule, optimizer=config.optimizer, batch=config.batch,
        figures_step=figures_from.step,
        selected_checkpoint=str(selected) if selected.is_file() else None)
    env = environment(config, threads_used, seed, wall_total, load_start)
    env.update(train_seconds=summary["final"]["train_seconds"],
               eval_seconds=round(curve.eval_total, 1))
    _write(out / "environment.json", json.dumps(env, indent=2) + "\n")
    _write(out / "summary.json", json.dumps(summary, indent=2) + "\n")
    md = results_markdown(summary, curve.points, config.to_dict(), env)
    _write(out / "results.md", md)
    _write(out / "results.html", markdown_table_html(md, title=f"gankit reproduce: {preset}"))
    log(f"gankit reproduce: final Parzen LL {summary['final']['ll_mean']:.1f} +- "
        f"{summary['final']['ll_se']:.1f} (best {summary['best']['ll_mean']:.1f}"
        + ("" if summary["selected"] is None else f"; selected on validation: "
           f"{summary['selected']['ll_mean']:.1f} at step {summary['selected']['step']}")
        + "); paper 225 +- 2; "
        f"real data {ref.ll_mean:.1f}; results in {out}")
    return ReproduceResult(out, Path(run.path), curve.points, summary)


def _newest_run(runs_dir: Path) -> Path:
    runs = sorted(p for p in runs_dir.iterdir() if p.is_dir())
    if not runs:
        raise GankitError(f"no run folder in {runs_dir}")
    return runs[-1]


# --- summaries -----------------------------------------------------------------------------------------

def summarise(points: list[CurvePoint], thresholds=THRESHOLDS) -> dict[str, Any]:
    """Final and best points, the point selected on validation, and when the curve first reached
    each threshold (or ``None``).

    ``best`` is the highest *test* score: picking it reads the test set, so it flatters the run.
    ``selected`` is the point with the highest validation score (``val_ll_mean``), its test score
    the honest one to quote for early stopping; ``None`` unless every point has a validation score
    (a curve begun before they existed would be searched only in part).
    """
    best = max(points, key=lambda p: p.ll_mean)
    scored = all(p.val_ll_mean is not None for p in points)
    selected = max(points, key=lambda p: p.val_ll_mean) if scored else None
    passed = {}
    for level in thresholds:
        first = next((p for p in points if p.ll_mean >= level), None)
        passed[f"{level:g}"] = None if first is None else {
            "step": first.step, "epochs": first.epochs, "train_minutes": round(first.train_seconds / 60, 2),
            "wall_minutes": round(first.wall_seconds / 60, 2),
            "cpu_minutes": round(first.cpu_seconds / 60, 2), "ll_mean": first.ll_mean}
    return {"final": asdict(points[-1]), "best": asdict(best),
            "selected": None if selected is None else asdict(selected), "passed": passed}


def _optional_float(value: Any) -> float | None:
    return None if value is None else float(value)


def environment(config, threads: int, seed: int, wall_seconds: float,
                load_start: tuple[float, float, float]) -> dict[str, Any]:
    """Versions, machine and run facts for ``environment.json``."""
    import numpy

    return {
        "gankit": __version__, "torch": torch.__version__, "numpy": numpy.__version__,
        "python": platform.python_version(), "platform": platform.platform(),
        "processor": _cpu_name(), "cpu_count": os.cpu_count(), "device": config.device,
        "threads": threads, "seed": seed, "git_commit": _git_commit(),
        "wall_seconds": round(wall_seconds, 1),
        "load_average_start": [round(v, 2) for v in load_start],
        "load_average_end": [round(v, 2) for v in os.getloadavg()],
        "finished": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
    }


def _cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def _git_commit() -> str | None:
    """The commit of the gankit checkout (with ``-dirty`` if files changed), or None outside git."""
    here = Path(__file__).resolve().parent
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True,
                                text=True, timeout=10)
        if commit.returncode != 0:
            return None
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=here,
                               capture_output=True, text=True, timeout=10)
        return commit.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return None


def _fmt_pm(mean: float, se: float) -> str:
    return f"{mean:.1f} ± {se:.1f}"


def results_markdown(summary: Mapping[str, Any], points: list[CurvePoint], config: Mapping[str, Any],
                     env: Mapping[str, Any]) -> str:
    """The results page: our run beside the paper's Table 1, the curve, the figures, the setup."""
    fin, best, ref = summary["final"], summary["best"], summary["reference"]
    lines = [
        f"# gankit reproduce mnist: `{summary['preset']}`",
        "",
        "Parzen-window log-likelihood of the 10,000 MNIST test images (nats, higher is better), on the "
        "paper's protocol: N samples from G (dropout off), σ from logspace(-1, 0, 10) chosen on the "
        "first 1,000 validation images (train[50000:51000]), mean ± standard error. "
        "**This number misleads** (Theis et al. 2016): it mostly measures how near the nearest sample "
        "lies to each test image; k-means centroids outscore real data. Read it beside the real-data "
        "reference and look at the samples.",
        "",
        "| model | MNIST | σ | N | TFD | source |",
        "|---|---|---|---|---|---|",
    ]
    for name, ((m, s), (tm, ts)) in PAPER_TABLE1.items():
        lines.append(f"| {name} | {m:g} ± {s:g} | | 10000 | {tm:g} ± {ts:g} | paper, Table 1 |")
    lines += [
        f"| **gankit `{summary['preset']}`, final** (step {fin['step']}, epoch {fin['epochs']:.1f}, "
        f"{fin['train_seconds'] / 60:.1f} min) | **{_fmt_pm(fin['ll_mean'], fin['ll_se'])}** | "
        f"{fin['sigma']:.3f} | {fin['n_samples']} | — | this run |",
        f"| gankit `{summary['preset']}`, best test score (step {best['step']}, epoch "
        f"{best['epochs']:.1f}) | {_fmt_pm(best['ll_mean'], best['ll_se'])} | {best['sigma']:.3f} | "
        f"{best['n_samples']} | — | this run |",
        *_selected_row(summary),
        f"| held-out real data (validation images as samples) | "
        f"{_fmt_pm(ref['ll_mean'], ref['ll_se'])} | {ref['sigma']:.3f} | {ref['n_samples']} | — | "
        f"same protocol, this machine |",
        "",
        "## Time to reach the paper's levels",
        "",
        "| Parzen LL ≥ | first at step | epochs | training minutes | CPU minutes "
        "| wall minutes (with evals) |",
        "|---|---|---|---|---|---|",
    ]
    for level, p in summary["passed"].items():
        lines.append(f"| {level} | " + (" | ".join(str(p[k]) for k in
                                                  ("step", "epochs", "train_minutes", "cpu_minutes",
                                                   "wall_minutes"))
                                        if p else "not reached | | | | ") + " |")
    lines += [
        "",
        f"Run: {summary['steps']} generator steps, "
        f"{_how_it_ended(summary)}; "
        f"schedule `{summary['schedule']}`, optimizer `{summary['optimizer']}`, batch {summary['batch']}; "
        f"{env['threads']} torch thread(s) on {env['cpu_count']} CPU(s) ({env['processor']}), "
        f"load average {env['load_average_start'][0]} at the start and {env['load_average_end'][0]} "
        f"at the end; evaluations took {summary['eval_seconds_total']:.0f} s in all (excluded from "
        f"training minutes). Run folder: `{summary['run_dir']}`.",
        "",
        "## Parzen LL during training",
        "",
        "![Parzen LL against epochs and time](parzen_curve.png)",
        "",
        "Training minutes: wall time of the training loop less the Parzen evaluations (snapshots "
        "and checkpoints included); CPU minutes: this process's CPU time for the same (all threads), "
        "which other processes on a shared machine do not inflate.",
        "",
        "| step | epochs | training min | CPU min | wall min | Parzen LL | σ | validation LL |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for p in points:
        lines.append(f"| {p.step} | {p.epochs:.1f} | {p.train_seconds / 60:.1f} | {p.cpu_seconds / 60:.1f} | "
                     f"{p.wall_seconds / 60:.1f} | "
                     f"{_fmt_pm(p.ll_mean, p.ll_se)} | {p.sigma:.3f} | "
                     f"{'—' if p.val_ll_mean is None else f'{p.val_ll_mean:.1f}'} |")
    lines += [
        "",
        "## Figure 2: random samples and the nearest training image",
        "",
        _figures_generator(summary),
        "",
        "Rows of 5 fair samples (seed "
        f"{env['seed']}); the framed sixth image is the training image nearest (pixel L2) to the fifth.",
        "",
        "![Figure 2](figure2.png)",
        "",
        "## Figure 3: straight lines in z space",
        "",
        "![Figure 3](figure3.png)",
        "",
        "## Configuration",
        "",
        "```json",
        json.dumps(dict(config), indent=1),
        "```",
        "",
        "Environment: see `environment.json` (versions, git commit, threads, wall time).",
        "",
    ]
    return "\n".join(lines)


def _figures_generator(summary: Mapping[str, Any]) -> str:
    step = summary.get("figures_step", summary["steps"])
    selected = summary.get("selected") or {}
    which = "the one selected on validation" if selected.get("step") == step else "the final one"
    return f"Generator: {which}, at step {step}."


def _selected_row(summary: Mapping[str, Any]) -> list[str]:
    sel = summary.get("selected")
    if not sel:
        return []
    return [f"| gankit `{summary['preset']}`, **selected on validation** (step {sel['step']}, epoch "
            f"{sel['epochs']:.1f}, {sel['train_seconds'] / 60:.1f} min; validation LL "
            f"{sel['val_ll_mean']:.1f}) | **{_fmt_pm(sel['ll_mean'], sel['ll_se'])}** | "
            f"{sel['sigma']:.3f} | {sel['n_samples']} | — | this run |"]


def _how_it_ended(summary: Mapping[str, Any]) -> str:
    if summary["stopped_by_budget"]:
        return (f"stopped at the budget of {summary['budget_minutes']:g} training minutes "
                f"({summary['budget_clock']} clock)")
    return "stopped by Ctrl-C" if summary.get("interrupted") else "ran to its configured steps"


def markdown_table_html(md: str, title: str) -> str:
    """A plain HTML rendering of :func:`results_markdown`'s subset of markdown (no dependency)."""
    out = [f"<!doctype html><meta charset='utf-8'><title>{html.escape(title)}</title>",
           "<style>body{font-family:sans-serif;max-width:60em;margin:auto}table{border-collapse:"
           "collapse}td,th{border:1px solid #ccc;padding:2px 6px}</style>"]
    in_table = in_code = False
    for line in md.splitlines():
        if line.startswith("```"):
            out.append("</pre>" if in_code else "<pre>")
            in_code = not in_code
            continue
        if in_code:
            out.append(html.escape(line))
            continue
        if line.startswith("|"):
            cells = [c.strip() for c in line.strip("|").split("|")]
            if all(set(c) <= set("-") and c for c in cells):
                continue
            tag = "th" if not in_table else "td"
            if not in_table:
                out.append("<table>")
                in_table = True
            out.append("<tr>" + "".join(f"<{tag}>{_inline(c)}</{tag}>" for c in cells) + "</tr>")
            continue
        if in_table:
            out.append("</table>")
            in_table = False
        if line.startswith("!["):
            alt, src = line[2:].split("](", 1)
            out.append(f"<p><img src='{html.escape(src.rstrip(')'))}' alt='{html.escape(alt)}' "
                       f"style='max-width:100%'></p>")
        elif line.startswith("#"):
            level = len(line) - len(line.lstrip("#"))
            out.append(f"<h{level}>{_inline(line.lstrip('#').strip())}</h{level}>")
        elif line.strip():
            out.append(f"<p>{_inline(line)}</p>")
    if in_table:
        out.append("</table>")
    return "\n".join(out) + "\n"


def _inline(text: str) -> str:
    import re

    text = html.escape(text)
    text = re.sub(r"\*\*(.+?)\*\*", r"<b>\1</b>", text)
    return re.sub(r"`(.+?)`", r"<code>\1</code>", text)


def plot_parzen_curve(points: list[CurvePoint], out: str | Path, reference: float | None = None,
                      title: str = "Parzen LL during training") -> Path:
    """Two panels: LL against epochs, and against minutes (training only, and wall with evaluations);
    the paper's Table 1 rows and the real-data reference as horizontal lines."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out = Path(out)
    ll = [p.ll_mean for p in points]
    se = [p.ll_se for p in points]
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(11, 4.2), sharey=True)
    try:
        ax1.errorbar([p.epochs for p in points], ll, yerr=se, marker="o", ms=3, label="gankit")
        ax2.errorbar([p.train_seconds / 60 for p in points], ll, yerr=se, marker="o", ms=3,
                     label="training time")
        ax2.plot([p.wall_seconds / 60 for p in points], ll, ls="--", marker=".", ms=3, alpha=0.6,
                 label="wall time (with evaluations)")
        ax2.plot([p.cpu_seconds / 60 for p in points], ll, ls=":", marker=".", ms=3, alpha=0.8,
                 label="process CPU time (training)")
        for ax in (ax1, ax2):
            ax.axhline(225, color="tab:red", lw=1, label="paper: adversarial nets 225 ± 2")
            ax.axhspan(223, 227, color="tab:red", alpha=0.15)
            ax.axhline(214, color="tab:purple", lw=0.8, ls=":", label="paper: Deep GSN 214")
            ax.axhline(138, color="tab:gray", lw=0.8, ls=":", label="paper: DBN 138")
            if reference is not None:
                ax.axhline(reference, color="k", lw=1, ls="--",
                           label=f"held-out real data {reference:.1f}")
            ax.grid(alpha=0.3)
        ax1.set_xlabel("epoch (50,000 training images)")
        ax2.set_xlabel("minutes")
        ax1.set_ylabel("Parzen log-likelihood of the test set (nats)")
        lo = min(min(ll) - 10, 120)
        ax1.set_ylim(max(lo, -500), (reference or 240) + 15)
        ax1.legend(fontsize=7, loc="lower right")
        ax2.legend(fontsize=7, loc="lower right")
        fig.suptitle(title, fontsize=10)
        fig.tight_layout()
        tmp = out.with_name(f".{out.stem}.tmp-{os.getpid()}.png")
        fig.savefig(tmp, dpi=110)
        os.replace(tmp, out)
    finally:
        plt.close(fig)
    return out


def _write(path: Path, text: str) -> None:
    tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        tmp.write_text(text, encoding="utf-8")
        os.replace(tmp, path)
    except OSError as e:
        raise GankitError(f"cannot write {path} ({e.strerror or e})") from None
    finally:
        tmp.unlink(missing_ok=True)


__all__ = ["BudgetReached", "CurvePoint", "PAPER_TABLE1", "ParzenCurve", "ReproduceResult",
           "plot_parzen_curve", "reproduce", "summarise"]
