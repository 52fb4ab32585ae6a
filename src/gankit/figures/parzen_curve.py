"""The Parzen curve of ``gankit reproduce``: test-set Parzen LL during training, beside Table 1.

Drawing only: it takes the curve's points (objects with ``epochs``, ``train_seconds``,
``wall_seconds``, ``cpu_seconds``, ``ll_mean`` and ``ll_se``, such as
:class:`gankit.experiments.parzen_curve.CurvePoint`) and writes a PNG atomically.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, Sequence

from gankit.constants import PAPER_TABLE1
from gankit.utils.plotting import pyplot, save_figure

#: Table 1 rows drawn as horizontal lines: (row, colour, line width, line style).
_PAPER_LINES = (("Adversarial nets", "tab:red", 1.0, "-"), ("Deep GSN", "tab:purple", 0.8, ":"),
                ("DBN", "tab:gray", 0.8, ":"))


def plot_parzen_curve(points: Sequence[Any], out: str | Path, reference: float | None = None,
                      title: str = "Parzen LL during training") -> Path:
    """Two panels: LL against epochs, and against minutes (training, wall with evaluations, and
    CPU); the paper's Table 1 rows and the real-data reference as horizontal lines."""
    plt = pyplot()
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
            for row, colour, width, style in _PAPER_LINES:
                (mean, se_paper), _tfd = PAPER_TABLE1[row]
                ax.axhline(mean, color=colour, lw=width, ls=style,
                           label=f"paper: {row} {mean:g} ± {se_paper:g}")
            (mean, se_paper), _tfd = PAPER_TABLE1["Adversarial nets"]
            ax.axhspan(mean - se_paper, mean + se_paper, color="tab:red", alpha=0.15)
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
        return save_figure(fig, out, dpi=110)
    finally:
        plt.close(fig)


__all__ = ["plot_parzen_curve"]
