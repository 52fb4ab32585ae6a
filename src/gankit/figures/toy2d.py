"""Drawing Figure 1's view for 2-D toy data (ring8, grid25) from snapshots of a real run: GAN Lab's
picture, exported (drawing only: :mod:`gankit.experiments.toy2d` trains and records the snapshots).

Each panel: D(x) as a heat map (the paper's blue dashed curve, now a surface), p_data's modes and a
sample of it (grey), G's samples (green) and contours of p_g.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from gankit.utils.plotting import pyplot, save_animation, save_figure


@dataclass
class Snapshot2D:
    """What one panel or frame shows at one step."""

    step: int
    x_fake: np.ndarray  # [N, 2] samples of G (the weight average if the run has one)
    D: np.ndarray  # [n, n] D's probabilities on the view grid, indexed [y, x]
    p_g: np.ndarray  # [n, n] smoothed histogram density of x_fake, indexed [y, x]
    modes: int  # modes captured (docs/benchmarks.md section 1)
    hq: float  # fraction of high-quality samples


@dataclass
class Scene2D:
    """What every panel shares: p_data's modes and a sample of it, and the square view."""

    means: np.ndarray  # [K, 2]
    real: np.ndarray  # [M, 2]
    lim: tuple[float, float]  # the view is lim x lim


def draw_panel(ax, s: Snapshot2D, scene: Scene2D) -> None:
    """One panel: D's heat map (red = 'data'), the data (grey), G(z) (green) and p_g's contours."""
    lim = scene.lim
    ax.imshow(s.D, origin="lower", extent=(*lim, *lim), cmap="RdBu_r", vmin=0, vmax=1, alpha=0.55)
    ax.scatter(scene.real[:, 0], scene.real[:, 1], s=1, c="0.35", label="data")
    ax.scatter(s.x_fake[:, 0], s.x_fake[:, 1], s=1, c="green", alpha=0.5, label="G(z)")
    c = np.linspace(lim[0], lim[1], s.p_g.shape[0])
    if s.p_g.max() > 0:
        levels = np.unique(np.quantile(s.p_g[s.p_g > 0], [0.5, 0.9, 0.99]))
        ax.contour(c, c, s.p_g, levels=levels, colors="darkgreen", linewidths=0.6)
    ax.plot(scene.means[:, 0], scene.means[:, 1], "k+", ms=5)
    ax.set_xlim(*lim)
    ax.set_ylim(*lim)
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(f"step {s.step}: modes {s.modes}/{len(scene.means)}, HQ {s.hq:.0%}", fontsize=8)


def draw_toy2d(snapshots: list[Snapshot2D], scene: Scene2D, path: str | Path,
               title: str = "") -> Path:
    """Four panels: the first snapshot, those at 1/3 and 2/3 of the list, and the last."""
    plt = pyplot()
    n = len(snapshots)
    pick = [snapshots[0], snapshots[n // 3], snapshots[2 * n // 3], snapshots[-1]]
    fig, axes = plt.subplots(1, 4, figsize=(13, 3.6))
    try:
        for ax, s in zip(axes, pick):
            draw_panel(ax, s, scene)
        axes[0].legend(fontsize=7, loc="lower left", markerscale=5)
        fig.suptitle(f"{title}: D(x) heat map (red = 'data'), p_data (grey), G(z) (green, p_g "
                     f"contours)", fontsize=9)
        fig.tight_layout()
        return save_figure(fig, path, dpi=90)
    finally:
        plt.close(fig)


def animate_toy2d(snapshots: list[Snapshot2D], scene: Scene2D, path: str | Path,
                  fps: int = 8) -> Path:
    """The whole run as a GIF (Pillow)."""
    plt = pyplot()
    from matplotlib.animation import FuncAnimation, PillowWriter

    fig, ax = plt.subplots(figsize=(4, 4))
    try:
        anim = FuncAnimation(fig, lambda i: (ax.clear(), draw_panel(ax, snapshots[i], scene)),
                             frames=len(snapshots))
        return save_animation(anim, path, writer=PillowWriter(fps=fps), dpi=60)
    finally:
        plt.close(fig)
