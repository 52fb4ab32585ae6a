"""Training curves from stats.jsonl, with the equilibrium values of Theorem 1 drawn in.

The two panels (losses; D's outputs) are drawn by :func:`draw_losses` and :func:`draw_d_outputs`,
which the diagnosis picture (:mod:`gankit.figures.diagnosis`) reuses. What "equilibrium" looks
like depends on the objective: D = 1/2 for the paper's (and LSGAN's, whose D estimates D*), a gap
E f(x) - E f(G(z)) of 0 for a critic (hinge, WGAN), whose own scores have no fixed value.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from gankit.constants import LOG_2, LOG_4
from gankit.objectives import OBJECTIVES, Objective
from gankit.utils.jsonl import read_jsonl
from gankit.utils.plotting import pyplot, save_figure

GAN = OBJECTIVES.get("gan")
D_X, D_GZ, F_X, F_GZ = "Prob/D(x)", "Prob/D(G(z))", "Critic/f(x)", "Critic/f(G(z))"


def column(rows: Sequence[Mapping[str, Any]], key: str) -> np.ndarray:
    """One statistic over the logged rows; NaN where a row lacks it."""
    return np.array([float(r[key]) if isinstance(r.get(key), (int, float)) else np.nan
                     for r in rows])


def d_gap(rows: Sequence[Mapping[str, Any]], objective: Objective = GAN) -> np.ndarray:
    """How far apart D puts real and fake: D(x) - D(G(z)), or a critic's f(x) - f(G(z)); 0 at
    the equilibrium either way."""
    real, fake = (F_X, F_GZ) if objective.is_critic else (D_X, D_GZ)
    return column(rows, real) - column(rows, fake)


def _value_text(value: float) -> str:
    named = {LOG_4: "log 4", LOG_2: "log 2", -LOG_2: "-log 2"}
    return next((text for v, text in named.items() if math.isclose(value, v)), f"{value:g}")


def equilibrium_lines(objective: Objective, key: str) -> dict[float, str]:
    """The value of ``Loss/D`` or ``Loss/G`` at the objective's equilibrium, with its label (none
    where it has no fixed value, e.g. a critic's G loss)."""
    value = objective.d_loss_at_equilibrium if key == "Loss/D" else objective.g_loss_at_equilibrium
    if value is None:
        return {}
    where = "gap 0" if objective.is_critic else "D = 1/2"
    return {value: f"{_value_text(value)} ({'loss_D' if key == 'Loss/D' else 'loss_G'} at {where})"}


def draw_losses(ax, rows: Sequence[Mapping[str, Any]], objective: Objective = GAN,
                fontsize: int = 8) -> None:
    """loss_D and loss_G with their values at the equilibrium: for the paper's objective log 4,
    and log 2 (non-saturating) or -log 2 (minimax)."""
    steps = column(rows, "step")
    for key, label, colour in (("Loss/D", "loss_D", "tab:blue"), ("Loss/G", "loss_G", "tab:orange")):
        ax.plot(steps, column(rows, key), label=label, color=colour)
        for value, text in equilibrium_lines(objective, key).items():
            ax.axhline(value, ls="--", color=colour, lw=0.8, label=text)
    ax.set_ylabel("loss")
    ax.legend(fontsize=fontsize, loc="upper right")


def draw_d_outputs(ax, rows: Sequence[Mapping[str, Any]], objective: Objective = GAN,
                   fontsize: int = 8) -> None:
    """D(x) and D(G(z)), with 1/2: at the game's equilibrium D = 1/2 everywhere (Theorem 1). A
    critic's mean scores f(x), f(G(z)) instead, with their gap and its equilibrium value 0."""
    steps = column(rows, "step")
    if objective.is_critic:
        ax.plot(steps, column(rows, F_X), label="f(x)", color="tab:green")
        ax.plot(steps, column(rows, F_GZ), label="f(G(z))", color="tab:red")
        ax.plot(steps, d_gap(rows, objective), label="gap f(x) - f(G(z))", color="tab:purple")
        ax.axhline(0.0, ls="--", color="k", lw=0.8, label="gap 0 (equilibrium)")
        ax.set_ylabel("critic score")
    else:
        ax.plot(steps, column(rows, D_X), label="D(x)", color="tab:green")
        ax.plot(steps, column(rows, D_GZ), label="D(G(z))", color="tab:red")
        ax.axhline(0.5, ls="--", color="k", lw=0.8, label="1/2 (equilibrium)")
        ax.set_ylim(-0.02, 1.02)
        ax.set_ylabel("probability")
    ax.legend(fontsize=fontsize, loc="upper right")


def draw_compared(ax, runs: Sequence[tuple[str, np.ndarray, np.ndarray]], ylabel: str,
                  equilibria: Mapping[float, str], fontsize: int = 8) -> None:
    """One statistic of several runs overlaid ((label, steps, values) each), with its equilibrium
    values as dashed lines."""
    for label, steps, values in runs:
        ax.plot(steps, values, label=label, lw=1)
    for value, text in equilibria.items():
        ax.axhline(value, ls="--", color="k", lw=0.8, label=text)
    ax.set_ylabel(ylabel)
    ax.legend(fontsize=fontsize, loc="upper right")


def curves_figure(runs: Sequence[tuple[str, Sequence[Mapping[str, Any]], Objective]]):
    """The curves of one run (as curves.png), or of several overlaid (loss_D, loss_G, D's gap,
    D(G(z)), each with its equilibrium value); ``runs`` are (label, stats rows, objective). The
    caller closes the figure."""
    plt = pyplot()
    if len(runs) == 1:
        (_, rows, objective), = runs
        fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(10, 6), sharex=True)
        draw_losses(ax1, rows, objective)
        draw_d_outputs(ax2, rows, objective)
        ax2.set_xlabel("generator step")
    else:
        fig, axes = plt.subplots(2, 2, figsize=(12, 7), sharex=True)
        for ax, key in ((axes[0, 0], "Loss/D"), (axes[0, 1], "Loss/G")):
            lines = {v: t for _, _, o in runs for v, t in equilibrium_lines(o, key).items()}
            draw_compared(ax, [(label, column(rows, "step"), column(rows, key))
                               for label, rows, _ in runs], key, lines)
        draw_compared(axes[1, 0], [(label, column(rows, "step"), d_gap(rows, o))
                                   for label, rows, o in runs],
                      "D(x) - D(G(z)) or f(x) - f(G(z))", {0.0: "0 (equilibrium)"})
        with_probability = [(label, column(rows, "step"), column(rows, D_GZ))
                            for label, rows, o in runs if not o.is_critic]
        draw_compared(axes[1, 1], with_probability, D_GZ,
                      {0.5: "1/2 (equilibrium)"} if with_probability else {})
        for ax in axes[1]:
            ax.set_xlabel("generator step")
    fig.tight_layout()
    return fig


def plot_curves(stats_path: str | Path, out_path: str | Path, objective: Objective = GAN) -> Path:
    """Two panels: losses and D's outputs, with their equilibrium values."""
    rows = [r for r in read_jsonl(stats_path) if isinstance(r.get("step"), (int, float))
            and math.isfinite(r["step"])]
    fig = curves_figure([("", rows, objective)])
    try:
        return save_figure(fig, Path(out_path), dpi=100)
    finally:
        pyplot().close(fig)
