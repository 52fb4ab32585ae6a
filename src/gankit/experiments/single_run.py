"""One seed of ``gankit reproduce``: train with the Parzen curve, stop at the budget, write the folder.

Steps:

1. Train the config with a :class:`~gankit.experiments.parzen_curve.ParzenCurve` callback, which
   scores G every ``eval_every_steps`` steps and keeps the checkpoint selected on validation.
2. Stop cleanly at the budget (:class:`~gankit.experiments.parzen_curve.BudgetReached`); the run
   folder is complete then and is reopened with :func:`gankit.runs.run.load_run`.
3. Write the results folder ``OUT``::

       results.md, results.html   the run beside the paper's Table 1, with sigma, N and the
                                  real-data reference
       parzen_curve.png, parzen_curve.jsonl   the curve
       figure2.png, figure3.png   Figures 2 and 3 of the generator selected on validation
       summary.json, environment.json
       runs/00001-mnist-ns-k1-sim/   the training run (checkpoints, with selected.safetensors)
"""

from __future__ import annotations

import dataclasses
import json
import os
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, Callable, Mapping

from gankit.config import Config
from gankit.constants import TABLE1_MNIST
from gankit.data import load_dataset
from gankit.errors import GankitError
from gankit.experiments.parzen_curve import BudgetReached, CurvePoint, ParzenCurve
from gankit.experiments.results_page import results_markdown, title
from gankit.experiments.selection import SELECTED, summarise
from gankit.figures.paper_figures import figure2, figure3
from gankit.figures.parzen_curve import plot_parzen_curve
from gankit.metrics.parzen import real_data_reference
from gankit.runs.run import load_run
from gankit.runs.train import train
from gankit.utils.atomic import write_text_atomic
from gankit.utils.environment import environment
from gankit.utils.jsonl import read_jsonl, to_json
from gankit.utils.report import write_report_pages


@dataclass
class ReproduceResult:
    """What ``gankit reproduce`` made: the results folder, the run, the curve and the summary."""

    out: Path
    run_dir: Path
    points: list[CurvePoint]
    summary: dict[str, Any]


def run_single(config: Config, out: Path, *, eval_every_steps: int, budget_minutes: float | None,
               budget_clock: str, n_samples: int, progress: bool, log: Callable[[str], None],
               facts: Mapping[str, Any] | None = None, resume: bool = False) -> ReproduceResult:
    """Train ``config`` (its seed, threads and precision as given) into ``out/runs`` with Parzen
    evaluations, stop at the budget, and write the results folder ``out``.

    ``budget_minutes`` is training time on ``budget_clock`` (evaluations excluded), ``None``: the
    config's ``steps``. ``facts`` are added to ``environment.json`` (e.g. why this precision).
    ``resume``: ``out`` was interrupted: if it is finished (``summary.json``) it is returned as it
    is, else its run is resumed from its newest checkpoint with the curve recorded so far.
    """
    if resume and (out / "summary.json").is_file():
        log(f"gankit reproduce: {out} is finished; kept as it is")
        return finished_result(out)
    try:
        out.mkdir(parents=True, exist_ok=True)
    except OSError as e:
        raise GankitError(f"cannot create the results folder {out} ({e.strerror or e})") from None
    config = dataclasses.replace(config, runs_dir=str(out / "runs")).validate()  # the run goes in OUT
    t_start, load_start = time.time(), os.getloadavg()
    data = load_dataset(config.dataset, config.data_dir)
    ref = real_data_reference(data, n_samples=n_samples)  # cached after its first computation
    curve = ParzenCurve(eval_every_steps, None if budget_minutes is None else budget_minutes * 60,
                        n_samples=n_samples, seed=config.seed, log=log, budget_clock=budget_clock,
                        record=out / PARTIAL_CURVE)
    previous = _runs_in(out / "runs") if resume else []
    try:
        if previous:  # the interrupted run: continue it, and its curve
            log(f"gankit reproduce: resuming {previous[-1]}")
            curve.resume_from(read_jsonl(out / PARTIAL_CURVE))
            run = train(resume=previous[-1], progress=progress, callbacks=[curve],
                        steps=config.steps)
        else:
            run = train(config, progress=progress, callbacks=[curve])
    except BudgetReached as stop:
        log(f"gankit reproduce: stopped at the budget ({stop})")
        run = load_run(_newest_run(out / "runs"))
    wall_total = time.time() - t_start
    if not curve.points:
        raise GankitError("training ended before the first evaluation; pass a smaller "
                          "--eval-every-steps or a larger --budget-minutes")
    # Figures 2 and 3 (dropout off, a fixed seed) from the generator selected on validation, which
    # is the one whose score the results quote; the final one when nothing had a validation score.
    selected = Path(run.path) / "checkpoints" / SELECTED
    figures_from = load_run(selected) if selected.is_file() else run
    figure2(figures_from, config.seed, out / "figure2.png", train=data.train)
    figure3(figures_from, config.seed, out / "figure3.png")
    plot_parzen_curve(curve.points, out / "parzen_curve.png", reference=ref.ll_mean,
                      title=f"{config.preset}: Parzen LL during training")
    write_text_atomic(out / "parzen_curve.jsonl",
                      "".join(to_json(asdict(p)) + "\n" for p in curve.points))
    summary = summarise(curve.points)
    summary.update(
        preset=config.preset, run_dir=str(run.path), steps=run.step,
        stopped_by_budget=curve.stopped_by_budget,
        interrupted=bool(getattr(run, "interrupted", False)),
        budget_minutes=budget_minutes, budget_clock=budget_clock, eval_every_steps=eval_every_steps,
        eval_seconds_total=round(curve.eval_total, 1), wall_seconds_total=round(wall_total, 1),
        reference={"ll_mean": ref.ll_mean, "ll_se": ref.ll_se, "sigma": ref.sigma,
                   "n_samples": ref.n_samples},
        schedule=config.schedule, optimizer=config.optimizer, batch=config.batch,
        precision=config.precision, figures_step=figures_from.step,
        selected_checkpoint=str(selected) if selected.is_file() else None)
    env = environment(curve.device or "cpu", seed=config.seed, precision=config.precision,
                      **dict(facts or {}), wall_seconds=round(wall_total, 1),
                      train_seconds=summary["final"]["train_seconds"],
                      eval_seconds=round(curve.eval_total, 1),
                      load_average_start=[round(v, 2) for v in load_start],
                      load_average_end=[round(v, 2) for v in os.getloadavg()],
                      started=time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(t_start)),
                      finished=time.strftime("%Y-%m-%dT%H:%M:%S%z"))
    write_text_atomic(out / "environment.json", to_json(env, indent=2) + "\n")
    write_text_atomic(out / "summary.json", to_json(summary, indent=2) + "\n")
    write_report_pages(out, results_markdown(summary, curve.points, config.to_dict(), env),
                       title(summary))
    (out / PARTIAL_CURVE).unlink(missing_ok=True)  # parzen_curve.jsonl holds the whole curve now
    sel = summary["selected"]
    paper_mean, paper_se = TABLE1_MNIST
    log(f"gankit reproduce: final Parzen LL {summary['final']['ll_mean']:.1f} +- "
        f"{summary['final']['ll_se']:.1f} (best {summary['best']['ll_mean']:.1f}"
        + ("" if sel is None else f"; selected on validation: {sel['ll_mean']:.1f} at step "
           f"{sel['step']}")
        + f"); paper {paper_mean:g} +- {paper_se:g}; real data {ref.ll_mean:.1f}; results in {out}")
    return ReproduceResult(out, Path(run.path), curve.points, summary)


def _runs_in(runs_dir: Path) -> list[Path]:
    return sorted(p for p in runs_dir.iterdir() if p.is_dir()) if runs_dir.is_dir() else []


def _newest_run(runs_dir: Path) -> Path:
    runs = _runs_in(runs_dir)
    if not runs:
        raise GankitError(f"no run folder in {runs_dir}")
    return runs[-1]


def finished_result(out: Path) -> ReproduceResult:
    """The :class:`ReproduceResult` of a finished results folder, read back from its files."""
    try:
        summary = json.loads((out / "summary.json").read_text(encoding="utf-8"))
        points = [CurvePoint(**json.loads(line)) for line in
                  (out / "parzen_curve.jsonl").read_text(encoding="utf-8").splitlines() if line]
        return ReproduceResult(out, Path(summary["run_dir"]), points, summary)
    except (OSError, ValueError, TypeError, KeyError) as e:
        raise GankitError(f"{out} has an unreadable summary.json or parzen_curve.jsonl ({e}); "
                          f"remove summary.json to redo its results") from None


#: The curve so far, one line per evaluation, while training runs (what a resume continues).
PARTIAL_CURVE = "parzen_curve.partial.jsonl"

__all__ = ["PARTIAL_CURVE", "ReproduceResult", "finished_result", "run_single"]
