"""gankit.experiments.results_page: the results Markdown of one run and of restarts."""

from __future__ import annotations

import dataclasses

from gankit.experiments.parzen_curve import CurvePoint
from gankit.experiments.results_page import restarts_markdown, results_markdown
from gankit.experiments.selection import summarise

ENV = {"threads": 1, "cpu_count": 2, "processor": "x", "load_average_start": [0.0],
       "load_average_end": [0.0], "seed": 0, "precision": "bf16",
       "precision_reason": "the CPU has AVX512-BF16"}


def summary_of(points, **extra):
    s = summarise(points)
    return {**s, "preset": "p", "reference": s["final"], "steps": points[-1].step,
            "stopped_by_budget": False, "schedule": "simultaneous", "optimizer": "sgd",
            "batch": 100, "eval_seconds_total": 4.0, "run_dir": "r", **extra}


def points():
    val = {1000: 140.0, 2000: 212.0, 3000: 205.0, 4000: 209.0}
    return [CurvePoint(s, s // 500, s / 500, s / 10, s / 10 + 1, 1.0, s / 20, ll, 2.0, 0.17, 10000,
                       val[s])
            for s, ll in [(1000, 150.0), (2000, 205.0), (3000, 199.0), (4000, 226.0)]]


def test_one_run_beside_the_papers_table_1():
    pts = points()
    md = results_markdown(summary_of(pts), pts, {"preset": "p"}, ENV)
    for text in ("225 ± 2", "214 ± 1.1", "138 ± 2", "2057 ± 26", "held-out real data", "Theis",
                 "figure2.png", "figure3.png", "parzen_curve.png", "σ", "```json"):
        assert text in md, text
    assert "selected on validation** (step 2000" in md and "| 209.0 |" in md  # validation column
    assert "precision bf16 (the CPU has AVX512-BF16)" in md
    # results folders written before precision was recorded still render
    old_env = {k: v for k, v in ENV.items() if not k.startswith("precision")}
    assert "precision" not in results_markdown(summary_of(pts), pts, {}, old_env).split("## Parzen")[0]


def test_restarts_page_names_the_winner_and_the_paper():
    pts = points()
    rows = []
    for seed, shift in ((0, 0.0), (1, 3.0)):
        moved = [dataclasses.replace(p, ll_mean=p.ll_mean + shift, val_ll_mean=p.val_ll_mean + shift)
                 for p in pts]
        rows.append({"seed": seed, "out": f"o/{seed}", "exit_status": 0, **summarise(moved),
                     "steps": 4000})
    rows.append({"seed": 2, "out": "o/2", "exit_status": 2})
    summary = summary_of(pts, chosen_seed=1, threads_per_restart=1, restarts=rows)
    summary["selected"] = rows[1]["selected"]
    md = restarts_markdown(summary)
    assert "**1 (chosen)**" in md and "225 ± 2" in md and "passed 225 at" in md
    assert "failed (exit status 2)" in md and "`restarts/seed-0/results.md`" in md
    assert "**Result: 208.0 ± 2.0** (seed 1, step 2000" in md
