"""Curves draw what equilibrium looks like for each objective: D = 1/2, or a critic's gap of 0."""

from __future__ import annotations

import math

from gankit.constants import LOG_4
from gankit.figures.curves import curves_figure, equilibrium_lines
from gankit.objectives import OBJECTIVES, objective_for
from gankit.utils.plotting import pyplot


def _labels(fig) -> set[str]:
    return {text.get_text() for ax in fig.axes if ax.get_legend() for text in ax.get_legend().get_texts()}


def _rows(critic: bool) -> list[dict]:
    keys = ("Critic/f(x)", "Critic/f(G(z))") if critic else ("Prob/D(x)", "Prob/D(G(z))")
    return [{"step": i, "Loss/D": 1.0, "Loss/G": 0.5, keys[0]: 0.6, keys[1]: 0.4} for i in range(5)]


def test_a_critic_is_drawn_with_its_gap_and_no_half():
    fig = curves_figure([("", _rows(True), OBJECTIVES["wgan-gp"])])
    try:
        labels = _labels(fig)
        assert "gap 0 (equilibrium)" in labels and "gap f(x) - f(G(z))" in labels
        assert not any("1/2" in label for label in labels)
    finally:
        pyplot().close(fig)


def test_the_papers_objective_keeps_its_half_and_log_4():
    fig = curves_figure([("", _rows(False), objective_for("gan", "minimax"))])
    try:
        labels = _labels(fig)
        assert {"1/2 (equilibrium)", "log 4 (loss_D at D = 1/2)", "-log 2 (loss_G at D = 1/2)"} <= labels
    finally:
        pyplot().close(fig)


def test_equilibrium_values_per_objective():
    assert equilibrium_lines(OBJECTIVES["gan"], "Loss/D") == {LOG_4: "log 4 (loss_D at D = 1/2)"}
    assert equilibrium_lines(OBJECTIVES["lsgan"], "Loss/G") == {0.125: "0.125 (loss_G at D = 1/2)"}
    assert equilibrium_lines(OBJECTIVES["hinge"], "Loss/D") == {2.0: "2 (loss_D at gap 0)"}
    assert equilibrium_lines(OBJECTIVES["wgan"], "Loss/G") == {}  # f + c is as good: no level


def test_runs_of_different_objectives_compare_on_one_gap_axis():
    fig = curves_figure([("gan", _rows(False), OBJECTIVES["gan"]),
                         ("wgan-gp", _rows(True), OBJECTIVES["wgan-gp"])])
    try:
        gap_axis = fig.axes[2]
        assert len(gap_axis.lines) == 3  # two runs and the 0 line
        assert all(math.isclose(y, 0.2) for line in gap_axis.lines[:2] for y in line.get_ydata())
    finally:
        pyplot().close(fig)
