"""Training curves from stats.jsonl, with the equilibrium values of Theorem 1 drawn in.

The two panels (losses; D's outputs) are drawn by :func:`draw_losses` and :func:`draw_d_outputs`,
which the diagnosis picture (:mod:`gankit.figures.diagnosis`) reuses.
"""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from gankit.constants import LOG_2, LOG_4
from gankit.utils.jsonl import read_jsonl
from gankit.utils.plotting import pyplot, save_figure


def column(rows: Sequence[Mapping[str, Any]], key: str) -> np.ndarray:
    """One statistic over the logged rows; NaN where a row lacks it."""
    return np.array([float(r[key]) if isinstance(r.get(key), (int, float)) else np.nan
                     for r in rows])


def draw_losses(ax, rows: Sequence[Mapping[str, Any]], g_loss: str | None, fontsize: int = 8) -> None:
    """loss_D and loss_G with their values at D = 1/2: log 4, and log 2 (non-saturating) or
    -log 2 (minimax)."""
    steps = column(rows, "step")
    ax.plot(steps, column(rows, "Loss/D"), label="loss_D", color="tab:blue")
    ax.plot(steps, column(rows, "Loss/G"), label="loss_G", color="tab:orange")
    ax.axhline(LOG_4, ls="--", color="tab:blue", lw=0.8, label="log 4 (loss_D at D = 1/2)")
    g_eq = -LOG_2 if g_loss == "minimax" else LOG_2
    ax.axhline(g_eq, ls="--", color="tab:orange", lw=0.8,
               label=f"{'log 2' if g_eq > 0 else '-log 2'} (loss_G at D = 1/2)")
    ax.set_ylabel("loss")
    ax.legend(fontsize=fontsize, loc="upper right")


def draw_d_outputs(ax, rows: Sequence[Mapping[str, Any]], fontsize: int = 8) -> None:
    """D(x) and D(G(z)), with 1/2: at the game's equilibrium D = 1/2 everywhere (Theorem 1)."""
    steps = column(rows, "step")
    ax.plot(steps, column(rows, "Prob/D(x)"), label="D(x)", color="tab:green")
    ax.plot(steps, column(rows, "Prob/D(G(z))"), label="D(G(z))", color="tab:red")
    ax.axhline(0.5, ls="--", color="k", lw=0.8, label="1/2 (equilibrium)")
    ax.set_ylim(-0.02, 1.02)
    ax.set_ylabel("probability")
    ax.legend(fontsize=fontsize, loc="upper right")


def draw_compared(ax, runs: Sequence[tuple[str, Sequence[Mapping[str, Any]]]], key: str,
                  equilibria: Mapping[float, str], fontsize: int = 8) -> None:
    """One statistic of several runs overlaid, with its equilibrium values as dashed lines."""
    for label, rows in runs:
        ax.plot(column(rows, "step"), column(rows, key), label=label, lw=1)
    for value, text in equilibria.items():
        ax.axhline(value, ls="--", color="k", lw=0.8, label=text)
    ax.set_ylabel(key)
    ax.legend(fontsize=fontsize, loc="upper right")


def curves_figure(runs: Sequence[tuple[str, Sequence[Mapping[str, Any]], str | None]]):
    """The curves of one run (as curves.png), or of several overlaid (loss_D, loss_G, D(x),
    D(G(z)), each with its value at D = 1/2); ``runs`` are (label, stats rows, g_loss). The
    caller closes the figure."""
    plt = pyplot()
    if len(runs) == 1:
        (_, rows, g_loss), = runs
        fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(10, 6), sharex=True)
        draw_losses(ax1, rows, g_loss)
        draw_d_outputs(ax2, rows)
        ax2.set_xlabel("generator step")
    else:
        fig, axes = plt.subplots(2, 2, figsize=(12, 7), sharex=True)
        pairs = [(label, rows) for label, rows, _ in runs]
        g_eq = {(-LOG_2 if g == "minimax" else LOG_2) for _, _, g in runs}
        draw_compared(axes[0, 0], pairs, "Loss/D", {LOG_4: "log 4 (D = 1/2)"})
        draw_compared(axes[0, 1], pairs, "Loss/G",
                      {v: f"{'log 2' if v > 0 else '-log 2'} (D = 1/2)" for v in sorted(g_eq)})
        draw_compared(axes[1, 0], pairs, "Prob/D(x)", {0.5: "1/2 (equilibrium)"})
        draw_compared(axes[1, 1], pairs, "Prob/D(G(z))", {0.5: "1/2 (equilibrium)"})
        for ax in axes[1]:
            ax.set_xlabel("generator step")
    fig.tight_layout()
    return fig


def plot_curves(stats_path: str | Path, out_path: str | Path, g_loss: str = "nonsaturating") -> Path:
    """Two panels: losses and D(x), D(G(z)), with their equilibrium values."""
    plt = pyplot()
    rows = [r for r in read_jsonl(stats_path) if isinstance(r.get("step"), (int, float))
            and math.isfinite(r["step"])]
    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(8, 6), sharex=True)
    try:
        draw_losses(ax1, rows, g_loss)
        draw_d_outputs(ax2, rows)
        ax2.set_xlabel("generator step")
        fig.tight_layout()
        return save_figure(fig, Path(out_path), dpi=100)
    finally:
        plt.close(fig)
