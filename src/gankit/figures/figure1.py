"""Drawing the paper's Figure 1 from snapshots of a real 1-D run (drawing only: nothing here trains).

A :class:`Snapshot` holds what one panel or animation frame shows: p_data (dotted black), p_g
(solid green), D (dashed blue) and D* (Proposition 1) on a view grid, the arrows x = G(z) from the z
line, and the theory's numbers. :mod:`gankit.experiments.figure1` computes the snapshots of a run
(p_g exactly, by the change of variables through G); the functions here only draw them.
"""

from __future__ import annotations

import shutil
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from gankit.constants import LOG_4, SQRT_3
from gankit.utils.plotting import pyplot, save_animation, save_figure

#: max |D - D*| is measured where p_data + p_g >= this fraction of its peak. Outside, Eq. 3 weights
#: D's error by p_data + p_g, so V hardly depends on D and no trained D is expected to match D*
#: (a Gaussian has infinite support, and D* = p_data / (p_data + p_g) is a ratio of two vanishing
#: tails there). 10% of the peak is N(2, 0.5^2)'s ±2.15 sigma, 97% of its mass.
SUPPORT_FRACTION = 0.1
#: The stricter region (1% of the peak, ±3 sigma: the tolerance region of the Proposition 1 test in
#: tests/test_theory.py); D* is drawn only there.
SUPPORT_FRACTION_STRICT = 0.01

X_LINE, Z_LINE = -0.18, -0.55  # heights of the x line and of the z line below the densities


@dataclass
class Snapshot:
    """Everything a panel or a frame shows, and the theory's numbers, at one moment."""

    step: int
    label: str
    x: np.ndarray  # the view grid
    p_data: np.ndarray
    p_g: np.ndarray
    D: np.ndarray
    D_star: np.ndarray
    z_arrows: np.ndarray
    G_arrows: np.ndarray  # x = G(z) for z_arrows
    jsd: float
    C_G: float  # max_D V by integration with D = D* (Eq. 4)
    V: float  # V(D, G) with the network's D (Eq. 3)
    cg_identity_error: float  # |C(G) - (-log 4 + 2 JSD)| (Theorem 1)
    max_abs_d_minus_dstar: float  # where p_data + p_g >= SUPPORT_FRACTION of its peak
    max_abs_d_minus_dstar_1pct: float  # where p_data + p_g >= SUPPORT_FRACTION_STRICT of its peak
    mean_abs_d_minus_dstar: float  # weighted by (p_data + p_g)/2
    max_abs_d_minus_half: float
    pg_mass: float  # mass of p_g on the integration grid (should be 1)

    def numbers(self) -> dict[str, float]:
        return {k: v for k, v in asdict(self).items() if isinstance(v, (int, float, str))}


def draw_panel(ax, snap: Snapshot, ymax: float = 1.05, show_dstar: bool = True,
               legend: bool = False) -> list:
    """One Figure 1 panel: p_data dotted black, D dashed blue, p_g solid green; z line with arrows."""
    lo, hi = snap.x[0], snap.x[-1]
    artists = []
    artists += ax.plot(snap.x, snap.p_data, ":", color="black", lw=1.8, label="p_data")
    artists += ax.plot(snap.x, snap.p_g, "-", color="green", lw=1.5, label="p_g")
    artists += ax.plot(snap.x, snap.D, "--", color="blue", lw=1.5, label="D(x)")
    if show_dstar:
        # D* only where p_data + p_g is not negligible (>= 1% of its peak): beyond, it is the ratio
        # of two vanishing tails, which swings between 0 and 1 with no effect on V (Eq. 3)
        total = snap.p_data + snap.p_g
        D_star = np.where(total >= SUPPORT_FRACTION_STRICT * total.max(), snap.D_star, np.nan)
        artists += ax.plot(snap.x, D_star, "-", color="tab:blue", lw=0.6, alpha=0.6,
                           label="D* (Prop. 1)")
    # The paper's lower half: the z line (z ~ U(-sqrt 3, sqrt 3), spread under the view) and the
    # x line above it; arrows show the mapping x = G(z).
    artists.append(ax.hlines([X_LINE, Z_LINE], lo, hi, color="black", lw=0.8))
    margin = 0.15 * (hi - lo)
    z_pos = np.interp(snap.z_arrows, [-SQRT_3, SQRT_3], [lo + margin, hi - margin])
    for zp, gx in zip(z_pos, snap.G_arrows):
        gx = float(np.clip(gx, lo, hi))
        artists.append(ax.annotate("", xy=(gx, X_LINE), xytext=(zp, Z_LINE),
                                   arrowprops=dict(arrowstyle="->", lw=0.7, color="black")))
    artists.append(ax.text(lo, Z_LINE - 0.05, "z", va="top", fontsize=8))
    artists.append(ax.text(lo, X_LINE + 0.02, "x", va="bottom", fontsize=8))
    ax.set_xlim(lo, hi)
    ax.set_ylim(Z_LINE - 0.12, ymax)
    ax.set_yticks([0, 0.5, 1.0])
    ax.spines[["top", "right"]].set_visible(False)
    ax.spines["left"].set_bounds(0, 1)
    ax.spines["bottom"].set_visible(False)
    ax.set_xticks([])
    if legend:
        ax.legend(fontsize=7, loc="upper left", ncol=2, frameon=False)
    return artists


def draw_figure1(panels: list[Snapshot], path: str | Path) -> Path:
    """Figure 1: four panels side by side, as in the paper, from a real run."""
    plt = pyplot()
    fig, axes = plt.subplots(1, len(panels), figsize=(4 * len(panels), 3.4), sharey=True)
    try:
        for i, (ax, snap) in enumerate(zip(np.atleast_1d(axes), panels)):
            draw_panel(ax, snap, legend=(i == 0))
            ax.set_title(f"{snap.label}\nJSD {snap.jsd:.3f}, max|D−D*| {snap.max_abs_d_minus_dstar:.2f}",
                         fontsize=8)
        fig.tight_layout()
        return save_figure(fig, path, dpi=100)
    finally:
        plt.close(fig)


def draw_theory_curves(snapshots: list[Snapshot], path: str | Path) -> Path:
    """V(D, G), C(G) = max_D V and -log 4 + 2·JSD over training, with the floor -log 4 (Theorem 1)."""
    plt = pyplot()
    steps = [s.step for s in snapshots]
    fig, (ax1, ax2) = plt.subplots(2, 1, figsize=(7, 5.5), sharex=True)
    try:
        ax1.plot(steps, [s.V for s in snapshots], color="tab:blue", lw=1.2, label="V(D, G), network D")
        ax1.plot(steps, [s.C_G for s in snapshots], color="black", lw=2.5, alpha=0.5,
                 label="C(G) = max_D V = V(D*, G)")
        ax1.plot(steps, [-LOG_4 + 2 * s.jsd for s in snapshots], "--", color="tab:red",
                 lw=1.2, label="−log 4 + 2·JSD(p_data ‖ p_g)")
        ax1.axhline(-LOG_4, color="gray", ls=":", lw=1, label="−log 4 (global minimum)")
        ax1.set_ylabel("nats")
        ax1.legend(fontsize=8)
        ax2.plot(steps, [s.jsd for s in snapshots], color="tab:red", label="JSD(p_data ‖ p_g)")
        ax2.plot(steps, [s.max_abs_d_minus_half for s in snapshots], color="tab:blue",
                 label=f"max |D − 1/2| (where p_data + p_g ≥ {SUPPORT_FRACTION:.0%} of its peak)")
        ax2.plot(steps, [s.max_abs_d_minus_dstar for s in snapshots], color="tab:green", lw=1,
                 label="max |D − D*| (same region)")
        ax2.set_xlabel("generator step")
        ax2.set_ylim(bottom=0)
        ax2.legend(fontsize=8)
        fig.tight_layout()
        return save_figure(fig, path, dpi=100)
    finally:
        plt.close(fig)


def animate(snapshots: list[Snapshot], path: str | Path, fps: int = 8) -> list[Path]:
    """The whole run as a GIF (Pillow), and as an MP4 too when ffmpeg is installed; ``path``'s
    suffix is replaced."""
    plt = pyplot()
    from matplotlib.animation import FFMpegWriter, FuncAnimation, PillowWriter

    fig, ax = plt.subplots(figsize=(5.5, 3.3))

    def frame(i: int):
        ax.clear()
        s = snapshots[i]
        draw_panel(ax, s, legend=True)
        ax.set_title(f"step {s.step}   JSD {s.jsd:.3f}   C(G) {s.C_G:+.3f}", fontsize=9)
        return []

    anim = FuncAnimation(fig, frame, frames=len(snapshots), blit=False)
    path = Path(path)
    try:
        written = [save_animation(anim, path.with_suffix(".gif"), writer=PillowWriter(fps=fps), dpi=72)]
        if shutil.which("ffmpeg"):
            written.append(save_animation(anim, path.with_suffix(".mp4"),
                                          writer=FFMpegWriter(fps=fps), dpi=100))
    finally:
        plt.close(fig)
    return written
