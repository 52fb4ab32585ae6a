"""gankit.experiments.selection: summaries of a Parzen curve, and choosing on validation only."""

from __future__ import annotations

import dataclasses

import pytest

from gankit.errors import GankitError
from gankit.experiments.parzen_curve import CurvePoint
from gankit.experiments.selection import THRESHOLDS, choose, summarise


def curve(val=None):
    """Four evaluations: test LL 150, 205, 199, 226 at steps 1000..4000 (and validation scores)."""
    points = [CurvePoint(s, s // 500, s / 500, s / 10, s / 10 + 1, 1.0, s / 20, ll, 2.0, 0.17, 10000)
              for s, ll in [(1000, 150.0), (2000, 205.0), (3000, 199.0), (4000, 226.0)]]
    if val is not None:
        points = [dataclasses.replace(p, val_ll_mean=val[p.step]) for p in points]
    return points


def test_thresholds_are_200_and_the_papers_225():
    assert THRESHOLDS == (200.0, 225.0)


def test_summarise_reports_first_passing_times():
    s = summarise(curve())
    assert s["passed"]["200"]["step"] == 2000 and s["passed"]["225"]["step"] == 4000
    assert s["passed"]["225"]["train_minutes"] == pytest.approx(400 / 60, abs=0.01)
    assert s["passed"]["225"]["cpu_minutes"] == pytest.approx(200 / 60, abs=0.01)
    assert s["best"]["ll_mean"] == 226.0 and s["final"]["step"] == 4000
    assert summarise(curve()[:1])["passed"]["200"] is None
    assert s["selected"] is None  # no validation scores: nothing to select on


def test_selection_reads_the_validation_score_only():
    # it prefers step 2000, whose test score is lower than step 4000's
    s = summarise(curve({1000: 140.0, 2000: 212.0, 3000: 205.0, 4000: 209.0}))
    assert s["selected"]["step"] == 2000 and s["selected"]["ll_mean"] == 205.0
    assert s["best"]["step"] == 4000


def test_curves_written_before_validation_scores_still_load():
    old = {"step": 5000, "epoch": 10, "epochs": 10.0, "train_seconds": 60.0, "wall_seconds": 70.0,
           "eval_seconds": 4.0, "cpu_seconds": 110.0, "ll_mean": 150.0, "ll_se": 2.0,
           "sigma": 0.2, "n_samples": 10000}
    new = {**old, "step": 10000, "ll_mean": 170.0, "val_ll_mean": 171.0}
    points = [CurvePoint(**old), CurvePoint(**new)]
    assert points[0].val_ll_mean is None
    # a curve scored on validation only in part is not searched in part
    assert summarise(points)["selected"] is None and summarise(points)["best"]["step"] == 10000


def test_choose_reads_validation_scores_only():
    def summary(val, test):
        return {"selected": {"val_ll_mean": val, "ll_mean": test}}

    # seed 1 has the better test score, seed 0 the better validation score: seed 0 wins
    assert choose({0: summary(230.0, 220.0), 1: summary(229.0, 228.0)}) == 0
    assert choose({3: summary(1.0, 0.0), 2: summary(1.0, 0.0)}) == 2  # a tie: the lower seed
    assert choose({0: {"selected": None}, 1: summary(-5.0, 0.0)}) == 1
    with pytest.raises(GankitError, match="selected on validation"):
        choose({0: {"selected": None}})
