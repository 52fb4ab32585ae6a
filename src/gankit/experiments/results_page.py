"""The results page of ``gankit reproduce`` in Markdown: one run beside the paper's Table 1, or the
restarts and the one chosen on validation. :func:`gankit.utils.report.write_report_pages` writes it
as ``results.md`` and ``results.html``."""

from __future__ import annotations

import json
from typing import Any, Mapping, Sequence

from gankit.constants import PAPER_TABLE1, TABLE1_MNIST

_PROTOCOL = ("Parzen-window log-likelihood of the 10,000 MNIST test images (nats, higher is better), "
             "on the paper's protocol: N samples from G (dropout off), σ from logspace(-1, 0, 10) "
             "chosen on the first 1,000 validation images (train[50000:51000]), mean ± standard "
             "error. ")
_MISLEADS = ("**This number misleads** (Theis et al. 2016): it mostly measures how near the nearest "
             "sample lies to each test image; k-means centroids outscore real data. Read it beside "
             "the real-data reference and look at the samples.")


def title(summary: Mapping[str, Any]) -> str:
    """The page title (the HTML's ``<title>``)."""
    return f"gankit reproduce: {summary['preset']}"


def results_markdown(summary: Mapping[str, Any], points: Sequence[Any], config: Mapping[str, Any],
                     env: Mapping[str, Any]) -> str:
    """The results page of one run: the run beside the paper's Table 1, the curve, the figures,
    the setup. ``points`` are :class:`~gankit.experiments.parzen_curve.CurvePoint`."""
    fin, best, ref = summary["final"], summary["best"], summary["reference"]
    lines = [
        f"# gankit reproduce mnist: `{summary['preset']}`",
        "",
        _PROTOCOL + _MISLEADS,
        "",
        "| model | MNIST | σ | N | TFD | source |",
        "|---|---|---|---|---|---|",
    ]
    for name, ((m, s), (tm, ts)) in PAPER_TABLE1.items():
        lines.append(f"| {name} | {m:g} ± {s:g} | | 10000 | {tm:g} ± {ts:g} | paper, Table 1 |")
    lines += [
        f"| **gankit `{summary['preset']}`, final** (step {fin['step']}, epoch {fin['epochs']:.1f}, "
        f"{fin['train_seconds'] / 60:.1f} min) | **{_pm(fin['ll_mean'], fin['ll_se'])}** | "
        f"{fin['sigma']:.3f} | {fin['n_samples']} | — | this run |",
        f"| gankit `{summary['preset']}`, best test score (step {best['step']}, epoch "
        f"{best['epochs']:.1f}) | {_pm(best['ll_mean'], best['ll_se'])} | {best['sigma']:.3f} | "
        f"{best['n_samples']} | — | this run |",
        *_selected_row(summary),
        f"| held-out real data (validation images as samples) | "
        f"{_pm(ref['ll_mean'], ref['ll_se'])} | {ref['sigma']:.3f} | {ref['n_samples']} | — | "
        f"same protocol, this machine |",
        "",
        "## Time to reach the paper's levels",
        "",
        "| Parzen LL ≥ | first at step | epochs | training minutes | CPU minutes "
        "| wall minutes (with evals) |",
        "|---|---|---|---|---|---|",
    ]
    for level, p in summary["passed"].items():
        cells = (" | ".join(str(p[k]) for k in ("step", "epochs", "train_minutes", "cpu_minutes",
                                                "wall_minutes"))
                 if p else "not reached | | | | ")
        lines.append(f"| {level} | {cells} |")
    lines += [
        "",
        f"Run: {summary['steps']} generator steps, {_how_it_ended(summary)}; "
        f"schedule `{summary['schedule']}`, optimizer `{summary['optimizer']}`, batch "
        f"{summary['batch']}{_precision(env)}; {env['threads']} torch thread(s) on "
        f"{env['cpu_count']} CPU(s) ({env['processor']}), load average "
        f"{env['load_average_start'][0]} at the start and {env['load_average_end'][0]} at the end; "
        f"evaluations took {summary['eval_seconds_total']:.0f} s in all (excluded from training "
        f"minutes). Run folder: `{summary['run_dir']}`.",
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
        val = "—" if p.val_ll_mean is None else f"{p.val_ll_mean:.1f}"
        lines.append(f"| {p.step} | {p.epochs:.1f} | {p.train_seconds / 60:.1f} | "
                     f"{p.cpu_seconds / 60:.1f} | {p.wall_seconds / 60:.1f} | "
                     f"{_pm(p.ll_mean, p.ll_se)} | {p.sigma:.3f} | {val} |")
    lines += [
        "",
        "## Figure 2: random samples and the nearest training image",
        "",
        _figures_generator(summary),
        "",
        f"Rows of 5 fair samples (seed {env['seed']}); the framed sixth image is the training image "
        "nearest (pixel L2) to the fifth.",
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
        "Environment: see `environment.json` (versions, git commit, threads, precision, wall time).",
        "",
    ]
    return "\n".join(lines)


def restarts_markdown(summary: Mapping[str, Any]) -> str:
    """The top results page of several restarts: each one's scores, the winner, and where each
    restart's own page is."""
    chosen, ref, restarts = summary["chosen_seed"], summary["reference"], summary["restarts"]
    paper_mean, paper_se = TABLE1_MNIST
    level = f"{paper_mean:g}"  # the key of summarise's "passed" for the paper's level
    lines = [
        f"# gankit reproduce mnist: `{summary['preset']}`, {len(restarts)} restarts",
        "",
        f"{len(restarts)} independent runs (seeds {restarts[0]['seed']}..{restarts[-1]['seed']}) "
        f"trained side by side, {summary['threads_per_restart']} thread(s) each, within the same "
        "budget. Each kept its checkpoint with the best validation score; the restart whose kept "
        "checkpoint scores best on validation wins, and its test score is the result. The test set "
        "chose nothing. Parzen-window log-likelihood of the 10,000 test images on the paper's "
        "protocol (nats); **this number misleads** (Theis et al. 2016): read it beside the "
        "real-data reference.",
        "",
        "| seed | selected on validation: test LL | validation LL | at step | best test LL "
        f"| final test LL | passed {level} at (training min) | results |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in restarts:
        if r.get("selected") is None:
            lines.append(f"| {r['seed']} | failed (exit status {r['exit_status']}) | | | | | | "
                         f"`restarts/seed-{r['seed']}/` |")
            continue
        sel, hit = r["selected"], r["passed"].get(level)
        mark = "**" if r["seed"] == chosen else ""
        lines.append(
            f"| {mark}{r['seed']}{' (chosen)' if r['seed'] == chosen else ''}{mark} | "
            f"{mark}{_pm(sel['ll_mean'], sel['ll_se'])}{mark} | {sel['val_ll_mean']:.1f} | "
            f"{sel['step']} | {r['best']['ll_mean']:.1f} | {r['final']['ll_mean']:.1f} | "
            + (f"step {hit['step']} ({hit['train_minutes']})" if hit else "no")
            + f" | `restarts/seed-{r['seed']}/results.md` |")
    sel = summary["selected"]
    lines += [
        f"| paper, Table 1 (adversarial nets) | {paper_mean:g} ± {paper_se:g} | | | | | | |",
        f"| held-out real data | {_pm(ref['ll_mean'], ref['ll_se'])} | | | | | | σ "
        f"{ref['sigma']:.3f}, N {ref['n_samples']} |",
        "",
        f"**Result: {_pm(sel['ll_mean'], sel['ll_se'])}** (seed {chosen}, step {sel['step']}, "
        f"σ {sel['sigma']:.3f}, N {sel['n_samples']}).",
        "",
        "![Parzen LL of the chosen restart](parzen_curve.png)",
        "",
        "Figure 2 (samples and the nearest training image) and Figure 3 (lines in z space) of the "
        "chosen generator:",
        "",
        "![Figure 2](figure2.png)",
        "",
        "![Figure 3](figure3.png)",
        "",
        "Environment: `environment.json`; each restart's own results page has its curve, "
        "configuration and timings.",
        "",
    ]
    return "\n".join(lines)


def _pm(mean: float, se: float) -> str:
    return f"{mean:.1f} ± {se:.1f}"


def _selected_row(summary: Mapping[str, Any]) -> list[str]:
    sel = summary.get("selected")
    if not sel:
        return []
    return [f"| gankit `{summary['preset']}`, **selected on validation** (step {sel['step']}, epoch "
            f"{sel['epochs']:.1f}, {sel['train_seconds'] / 60:.1f} min; validation LL "
            f"{sel['val_ll_mean']:.1f}) | **{_pm(sel['ll_mean'], sel['ll_se'])}** | "
            f"{sel['sigma']:.3f} | {sel['n_samples']} | — | this run |"]


def _figures_generator(summary: Mapping[str, Any]) -> str:
    step = summary.get("figures_step", summary["steps"])
    selected = summary.get("selected") or {}
    which = "the one selected on validation" if selected.get("step") == step else "the final one"
    return f"Generator: {which}, at step {step}."


def _how_it_ended(summary: Mapping[str, Any]) -> str:
    if summary["stopped_by_budget"]:
        return (f"stopped at the budget of {summary['budget_minutes']:g} training minutes "
                f"({summary['budget_clock']} clock)")
    return "stopped by Ctrl-C" if summary.get("interrupted") else "ran to its configured steps"


def _precision(env: Mapping[str, Any]) -> str:
    """", precision bf16 (why)" when the environment records it (older results folders do not)."""
    if not env.get("precision"):
        return ""
    why = env.get("precision_reason")
    return f", precision {env['precision']}" + (f" ({why})" if why else "")


__all__ = ["restarts_markdown", "results_markdown", "title"]
