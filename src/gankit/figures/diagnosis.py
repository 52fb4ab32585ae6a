"""The diagnosis as a picture (``diagnosis.png``): losses, D's outputs, the gap D(x) - D(G(z)) (a
critic's f(x) - f(G(z))) and
gradient norms, with the window the verdicts judged shaded, the warm-up (not judged) hatched and the
first NaN/Inf marked."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Any, Mapping, Sequence

import numpy as np

from gankit.diagnose import GRAD_KEYS, is_non_finite, is_number, warmup_rows
from gankit.figures.curves import GAN, column, d_gap, draw_d_outputs, draw_losses
from gankit.objectives import Objective
from gankit.utils.plotting import pyplot, save_figure


def plot_diagnosis(stats_rows: Sequence[Mapping[str, Any]], titles: Sequence[str],
                   out_path: str | Path, window: float, objective: Objective = GAN) -> Path:
    """The evidence as a picture: losses, D outputs, the gap D(x) - D(G(z)), gradient norms."""
    plt = pyplot()

    rows = [r for r in stats_rows if is_number(r.get("step"))]
    steps = column(rows, "step")

    def col(key: str) -> np.ndarray:
        return column(rows, key)

    has_grad = any(any(is_number(r.get(k)) for r in rows) for k in GRAD_KEYS)
    n_panels = 4 if has_grad else 3
    fig, axes = plt.subplots(n_panels, 1, figsize=(8, 2.4 * n_panels), sharex=True)
    out_path = Path(out_path)
    try:
        draw_losses(axes[0], rows, objective, fontsize=7)
        draw_d_outputs(axes[1], rows, objective, fontsize=7)
        ax = axes[2]
        ax.plot(steps, d_gap(rows, objective), color="tab:purple",
                label="f(x) - f(G(z))" if objective.is_critic else "D(x) - D(G(z))")
        ax.axhline(0.0, ls="--", lw=0.8, color="k")
        ax.set_ylabel("gap")
        ax.legend(fontsize=7, loc="upper right")
        if has_grad:
            ax = axes[3]
            for key in GRAD_KEYS:
                y = col(key)
                if np.isfinite(y).any():
                    ax.plot(steps, y, label=key)
            ax.set_yscale("log")
            ax.set_ylabel("gradient norm")
            if ax.get_legend_handles_labels()[0]:  # all NaN: nothing to label
                ax.legend(fontsize=7, loc="upper right")
        if len(steps):
            start = steps[-max(2, int(math.ceil(len(steps) * window)))] if len(steps) > 1 else steps[0]
            for a in axes:
                a.axvspan(start, steps[-1], color="0.9", zorder=0)  # the window judged
            warm = warmup_rows(rows)
            if warm:  # D had not started: not judged (gankit.diagnose.warmup_rows)
                end = steps[min(warm, len(steps) - 1)]
                for a in axes:
                    a.axvspan(steps[0], end, facecolor="none", hatch="//", edgecolor="0.75",
                              lw=0, zorder=0)
            bad = [float(r["step"]) for r in rows
                   if any(is_non_finite(v) for v in r.values())]
            if bad:
                for a in axes:
                    a.axvline(bad[0], color="red", lw=1.2)
        axes[-1].set_xlabel("generator step")
        fig.suptitle("; ".join(titles) or "no verdict", fontsize=10)
        fig.tight_layout()
        save_figure(fig, out_path, dpi=90)
    finally:
        plt.close(fig)
    return out_path
