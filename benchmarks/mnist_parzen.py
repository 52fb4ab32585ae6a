"""Quality benchmark: Parzen LL on MNIST (the paper's Table 1 protocol) against CPU time.

Goal (issue 3): the paper's configuration reaches Parzen LL >= 225 within 60 minutes of training
on 2 CPU cores. This script trains a preset through :func:`gankit.experiments.reproduce.reproduce` (Parzen LL
every ``--eval-every-steps``, the budget counted in training time, evaluations excluded) and prints
the curve and the times at which it passed 200 and 225. Results: ``benchmarks/results/mnist_parzen.md``.

    python benchmarks/mnist_parzen.py --preset paper-mnist --budget-minutes 60 --threads 1 \\
        --data-dir ../shared/data/mnist --out /tmp/bench-paper
    python benchmarks/mnist_parzen.py --preset paper-mnist --set optimizer=adam --set lr_d=2e-4 \\
        --set lr_g=2e-4 --set lr_decay=1 --budget-minutes 8 --eval-every-steps 2500   # a probe

``--extend DIR`` finishes a results folder whose run stopped before its budget was spent and was
continued with ``gankit train --resume DIR/runs/RUN --steps N --snapshot-every E
--keep-checkpoints 1000`` (an exact resume; keep every checkpoint): it scores the checkpoints beyond
the curve that lie inside the budget (the folder's, or ``--budget-minutes``), and rewrites the
curve, Figures 2 and 3, summary.json and results.md. Training time after the resume is the
checkpoints' own clock (it continues across the resume; the first part's evaluations are
subtracted); pass ``--resume-cpu-seconds`` (the resumed process's CPU time) to place its CPU
minutes, else they are scaled from the first part's ratio.

``--compare DIR [DIR ...]`` prints the curves of finished result folders side by side, with a
least-squares fit LL = a + b ln(CPU minutes) over the points from epoch 10 on and its projection to
60 and 120 CPU minutes (one and two cores for an hour): an extrapolation, labelled as such.

Use ``--threads`` deliberately and note the machine's load (printed): on a shared machine the
time per step depends on the neighbours.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from dataclasses import asdict
from pathlib import Path

import yaml

from gankit.experiments.reproduce import reproduce


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--preset", default="paper-mnist")
    p.add_argument("--budget-minutes", type=float, default=None,
                   help="training minutes, Parzen evaluations excluded (default: 60; with "
                        "--extend: the results folder's budget)")
    p.add_argument("--budget-clock", choices=("wall", "cpu"), default="wall",
                   help="cpu: this process's CPU time (use on a shared machine, with --threads 1)")
    p.add_argument("--eval-every-steps", type=int, default=2500)
    p.add_argument("--n-samples", type=int, default=10_000, help="Parzen samples (paper: 10000)")
    p.add_argument("--threads", type=int, default=1)
    p.add_argument("--seed", type=int, default=0)
    p.add_argument("--restarts", type=int, default=1,
                   help="seeds seed..seed+N-1 side by side (--threads each), the best on validation kept")
    p.add_argument("--data-dir", default=str(Path(__file__).resolve().parents[2] / "shared/data/mnist"))
    p.add_argument("--out", default=None)
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                   help="config override, repeatable (e.g. optimizer=adam)")
    p.add_argument("--compare", nargs="+", metavar="DIR", help="summarise finished result folders")
    p.add_argument("--extend", metavar="DIR", help="score a resumed run's new checkpoints (see above)")
    p.add_argument("--resume-cpu-seconds", type=float, default=None,
                   help="--extend: CPU seconds of the resumed training process")
    args = p.parse_args()
    if args.compare:
        return compare([Path(d) for d in args.compare])
    if args.extend:
        return extend(Path(args.extend), args.budget_minutes, args.data_dir, args.threads,
                      args.resume_cpu_seconds)
    overrides = {}
    for item in args.set:
        key, _, value = item.partition("=")
        overrides[key.strip()] = yaml.safe_load(value)  # numbers stay numbers
    out = args.out or f"/tmp/mnist-parzen-{args.preset}-{time.strftime('%H%M%S')}"
    print(f"load average at start: {os.getloadavg()}; threads {args.threads}; overrides {overrides}",
          flush=True)
    result = reproduce("mnist", out=out, budget_minutes=args.budget_minutes or 60.0,
                       data_dir=args.data_dir,
                       preset=args.preset, eval_every_steps=args.eval_every_steps, seed=args.seed,
                       n_samples=args.n_samples, threads=args.threads, overrides=overrides,
                       budget_clock=args.budget_clock, restarts=args.restarts,
                       progress=False, log=lambda line: print(line, flush=True))
    s = result.summary
    print(f"load average at end: {os.getloadavg()}")
    print("\n| step | epoch | train min | CPU min | wall min | Parzen LL | sigma | validation LL |\n"
          "|---|---|---|---|---|---|---|---|")
    for pt in result.points:
        print(f"| {pt.step} | {pt.epochs:.1f} | {pt.train_seconds / 60:.1f} | {pt.cpu_seconds / 60:.1f} | "
              f"{pt.wall_seconds / 60:.1f} | "
              f"{pt.ll_mean:.1f} ± {pt.ll_se:.1f} | {pt.sigma:.3f} | "
              f"{'—' if pt.val_ll_mean is None else f'{pt.val_ll_mean:.1f}'} |")
    for level, hit in s["passed"].items():
        print(f"passed {level}: " + (f"step {hit['step']}, epoch {hit['epochs']:.1f}, "
                                      f"{hit['train_minutes']} train min" if hit else "no"))
    if "restarts" in s:
        for r in s["restarts"]:
            sel = r.get("selected")
            print(f"restart seed {r['seed']}: " + ("failed" if sel is None else
                  f"selected on validation {sel['ll_mean']:.1f} (validation {sel['val_ll_mean']:.1f}, "
                  f"step {sel['step']})") + (" <- chosen" if r["seed"] == s["chosen_seed"] else ""))
    print(json.dumps({"final": s["final"], "best": s["best"], "selected": s["selected"],
                      "passed": s["passed"], "chosen_seed": s.get("chosen_seed"),
                      "reference": s["reference"], "out": str(result.out)}))
    return 0


def extend(folder: Path, budget_minutes: float | None, data_dir: str, threads: int,
           resume_cpu_seconds: float | None) -> int:
    """Add the checkpoints of a resumed run (up to the budget) to a results folder's curve."""
    import torch

    from gankit.runs.checkpoint import load_checkpoint
    from gankit.data import load_dataset
    from gankit.figures.paper_figures import figure2, figure3
    from gankit.metrics import evaluate
    from gankit.experiments.parzen_curve import CurvePoint
    from gankit.experiments.results_page import results_markdown, title
    from gankit.experiments.selection import summarise
    from gankit.figures.parzen_curve import plot_parzen_curve
    from gankit.utils.report import write_report_pages
    from gankit.runs.run import load_run

    torch.set_num_threads(threads)
    summary = json.loads((folder / "summary.json").read_text())
    if "resumed_after_step" in summary:
        print(f"{folder} was already extended (after step {summary['resumed_after_step']}); "
              f"extend a copy of the original results instead", file=sys.stderr)
        return 2
    points = [CurvePoint(**json.loads(x))
              for x in (folder / "parzen_curve.jsonl").read_text().splitlines()]
    env = json.loads((folder / "environment.json").read_text())
    run_dir = Path(summary["run_dir"])
    budget = (budget_minutes or summary["budget_minutes"]) * 60
    clock = summary.get("budget_clock", "wall")
    first = points[-1]
    # The run's clock (the checkpoints' elapsed_seconds, which a resume continues) holds every
    # evaluation before the last one: the last ran after its checkpoint was written.
    evals = sum(p.eval_seconds for p in points[:-1])
    evals_all = evals + first.eval_seconds
    later = sorted((int(c.stem.split("-")[1]), c) for c in (run_dir / "checkpoints").glob("step-*.safetensors"))
    later = [(step, path) for step, path in later if step > first.step]
    metas = {step: load_checkpoint(path)[1] for step, path in later}
    gaps = [b - a for a, b in zip([first.step] + [s for s, _ in later], [s for s, _ in later])]
    if later and max(gaps) > summary["eval_every_steps"]:
        print(f"warning: checkpoints {max(gaps)} steps apart (evaluations were every "
              f"{summary['eval_every_steps']}): resume with --keep-checkpoints 1000 so that none "
              f"is pruned", file=sys.stderr)
    train_end = max((m["elapsed_seconds"] - evals for m in metas.values()), default=first.train_seconds)
    cpu_rate = first.cpu_seconds / first.train_seconds
    if resume_cpu_seconds and train_end > first.train_seconds:
        cpu_rate = resume_cpu_seconds / (train_end - first.train_seconds)  # startup included: a bit high
    data = load_dataset("mnist", data_dir)
    wall_extra, beyond = 0.0, []
    for step, path in later:
        train_seconds = metas[step]["elapsed_seconds"] - evals
        cpu_seconds = first.cpu_seconds + cpu_rate * (train_seconds - first.train_seconds)
        if (cpu_seconds if clock == "cpu" else train_seconds) > budget:
            beyond.append(step)
            continue
        run = load_run(path)
        t0 = time.perf_counter()
        [row] = evaluate(run, ["parzen"], seed=0, data=data,
                         options={"parzen": {"n_samples": first.n_samples, "reference": False}})
        eval_seconds = time.perf_counter() - t0
        wall_extra += eval_seconds
        points.append(CurvePoint(
            step=step, epoch=int(metas[step]["epoch"]),
            epochs=step * run.config.batch / len(data.train), train_seconds=round(train_seconds, 3),
            wall_seconds=round(train_seconds + evals_all + wall_extra, 3),
            eval_seconds=round(eval_seconds, 3), cpu_seconds=round(cpu_seconds, 3),
            ll_mean=row["ll_mean"], ll_se=row["ll_se"], sigma=row["sigma"],
            n_samples=int(row["n_samples"]), val_ll_mean=row.get("val_ll_mean")))
        print(f"step {step}: train {train_seconds / 60:.1f} min, CPU {cpu_seconds / 60:.1f} min: "
              f"Parzen LL {row['ll_mean']:.1f} +- {row['ll_se']:.1f} (sigma {row['sigma']:.3f}, "
              f"validation {row['val_ll_mean']:.1f})",
              flush=True)
    if points[-1].step == first.step:
        print("no checkpoint after the curve's last point lies inside the budget", file=sys.stderr)
        return 2
    last = points[-1]
    figures_from, selected_checkpoint = _selected_generator(run_dir / "checkpoints", points)
    run = load_run(figures_from)
    figure2(run, env["seed"], folder / "figure2.png", train=data.train)
    figure3(run, env["seed"], folder / "figure3.png")
    plot_parzen_curve(points, folder / "parzen_curve.png", reference=summary["reference"]["ll_mean"],
                      title=f"{summary['preset']}: Parzen LL during training")
    (folder / "parzen_curve.jsonl").write_text("".join(json.dumps(asdict(p)) + "\n" for p in points))
    summary.update(summarise(points), steps=last.step, budget_minutes=budget / 60,
                   stopped_by_budget=bool(beyond), resumed_after_step=first.step,
                   figures_step=run.step, selected_checkpoint=selected_checkpoint,
                   eval_seconds_total=round(sum(p.eval_seconds for p in points), 1),
                   wall_seconds_total=round(last.wall_seconds, 1))
    env.update(train_seconds=last.train_seconds, eval_seconds=summary["eval_seconds_total"],
               wall_seconds=last.wall_seconds, load_average_end=list(os.getloadavg()),
               resumed_after_step=first.step, resume_cpu_seconds=resume_cpu_seconds)
    (folder / "summary.json").write_text(json.dumps(summary, indent=2) + "\n")
    (folder / "environment.json").write_text(json.dumps(env, indent=2) + "\n")
    config = json.loads((run_dir / "config.json").read_text())
    md = results_markdown(summary, points, config, env)
    left = (budget - (last.cpu_seconds if clock == "cpu" else last.train_seconds)) / 60
    ending = (f"checkpoint {beyond[0]} came after the budget ({left:.1f} {clock} minutes were left "
              f"at step {last.step})" if beyond else "the run ended inside the budget")
    cpu_note = ("its CPU minutes after the resume are the resumed process's CPU time spread over "
                "its training time" if resume_cpu_seconds else "its CPU minutes after the resume are "
                "estimated at the first part's CPU/wall ratio")
    md = md.replace("## Time to reach", f"Continued after step {first.step} by an exact resume "
                    f"(`gankit train --resume`); {ending}; {cpu_note}.\n\n## Time to reach", 1)
    write_report_pages(folder, md, title(summary))
    print(json.dumps({"final": summary["final"], "best": summary["best"],
                      "selected": summary["selected"], "passed": summary["passed"]}))
    return 0


def _selected_generator(checkpoints: Path, points: list) -> tuple[Path, str | None]:
    """(checkpoint to draw the figures from, selected.safetensors or None), as summarise selects:
    the best validation score when every point has one, else the last point."""
    from gankit.runs.checkpoint import load_checkpoint
    from gankit.experiments.selection import SELECTED, keep_as_selected, summarise

    step_file = lambda step: checkpoints / f"step-{step:06d}.safetensors"  # noqa: E731
    selected = summarise(points)["selected"]
    if selected is None:
        return step_file(points[-1].step), None
    if step_file(selected["step"]).is_file():
        keep_as_selected(checkpoints, selected["step"])
    kept = checkpoints / SELECTED
    if kept.is_file() and load_checkpoint(kept)[1]["step"] == selected["step"]:
        return kept, str(kept)
    print(f"warning: the selected checkpoint (step {selected['step']}) was pruned; Figures 2 and 3 "
          f"show the last one", file=sys.stderr)
    return step_file(points[-1].step), None


def compare(folders: list[Path]) -> int:
    """Print each folder's curve, its passing times and a log-CPU-time projection."""
    import numpy as np

    for folder in folders:
        points = [json.loads(x) for x in (folder / "parzen_curve.jsonl").read_text().splitlines()]
        summary = json.loads((folder / "summary.json").read_text())
        env = json.loads((folder / "environment.json").read_text())
        print(f"\n## {summary['preset']} ({folder}); threads {env['threads']}, load "
              f"{env['load_average_start'][0]} -> {env['load_average_end'][0]}")
        print("| step | epoch | train min | CPU min | Parzen LL | σ |\n|---|---|---|---|---|---|")
        for pt in points:
            print(f"| {pt['step']} | {pt.get('epochs', pt['epoch'])} | {pt['train_seconds'] / 60:.1f} | "
                  f"{pt['cpu_seconds'] / 60:.1f} | {pt['ll_mean']:.1f} ± {pt['ll_se']:.1f} | "
                  f"{pt['sigma']:.3f} |")
        late = [pt for pt in points if pt["epoch"] >= 10]
        if len(late) >= 3:
            x = np.log([pt["cpu_seconds"] / 60 for pt in late])
            b, a = np.polyfit(x, [pt["ll_mean"] for pt in late], 1)
            proj = {m: a + b * np.log(m) for m in (60, 120)}
            need = {level: float(np.exp((level - a) / b)) if b > 0 else float("inf")
                    for level in (200, 225)}
            print(f"fit LL = {a:.1f} + {b:.1f} ln(CPU min) over {len(late)} points: projected "
                  f"{proj[60]:.0f} at 60 and {proj[120]:.0f} at 120 CPU minutes; 200 at "
                  f"~{need[200]:.0f}, 225 at ~{need[225]:.0f} CPU minutes (extrapolation)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
