"""Figure 1's view for 2-D toy data (ring8, grid25), from a real run — GAN Lab's picture, exported.

Each panel: D(x) as a heat map (the paper's blue dashed curve, now a surface), p_data's modes and a
sample of it (grey), G's samples (green) and contours of p_g. In 2-D, G: R² -> R² is not invertible
in general, so p_g is estimated by a lightly smoothed 2-D histogram of many samples (unlike the 1-D
figure's exact change of variables). Modes and %HQ follow docs/benchmarks.md §1.
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from gankit.algorithm1 import training_iteration
from gankit.config import resolve_config
from gankit.data import MinibatchStream, load_dataset
from gankit.data.toy import GRID25_STD, RING8_STD, grid25_means, ring8_means
from gankit.objectives import OBJECTIVES
from gankit.nets import build_networks, sample_noise
from gankit.optim import build_optimizers

TOY2D = {"ring8": (ring8_means, RING8_STD, 1.6), "grid25": (grid25_means, GRID25_STD, 5.5)}
N_EVAL = 2500  # samples for modes / %HQ (benchmarks.md §1)


@dataclass
class Snapshot2D:
    step: int
    x_fake: np.ndarray  # [N_EVAL, 2]
    D: np.ndarray  # [n, n] probabilities on the view grid
    p_g: np.ndarray  # [n, n] smoothed histogram density
    modes: int
    hq: float  # fraction of high-quality samples


def mode_stats(x: np.ndarray, means: np.ndarray, std: float) -> tuple[int, float]:
    """(modes captured, fraction high-quality): HQ = within 3σ of the nearest mean (benchmarks §1)."""
    d = np.linalg.norm(x[:, None, :] - means[None], axis=2)
    nearest, dist = d.argmin(1), d.min(1)
    hq = dist <= 3 * std
    return int(len(np.unique(nearest[hq]))), float(hq.mean())


def _smoothed_hist(x: np.ndarray, edges: np.ndarray, sigma_cells: float = 1.5) -> np.ndarray:
    """2-D histogram density blurred by a separable Gaussian (numpy only), [n, n] indexed [y, x]."""
    h, _, _ = np.histogram2d(x[:, 1], x[:, 0], bins=[edges, edges], density=True)
    r = int(3 * sigma_cells)
    k = np.exp(-0.5 * (np.arange(-r, r + 1) / sigma_cells) ** 2)
    k /= k.sum()
    h = np.apply_along_axis(lambda v: np.convolve(v, k, mode="same"), 0, h)
    return np.apply_along_axis(lambda v: np.convolve(v, k, mode="same"), 1, h)


def run_2d(data: str = "ring8", steps: int = 3000, seed: int = 0, n_snapshots: int = 40,
           log: Callable[[str], None] | None = None):
    """Train the data set's preset (Algorithm 1) and record snapshots for the figure and animation."""
    means_fn, std, half = TOY2D[data]
    means = means_fn().numpy()
    config = resolve_config(data, steps=steps, seed=seed)
    dataset = load_dataset(data)
    torch.manual_seed(seed)
    G, D = build_networks(config, dataset)
    opt_G, opt_D = build_optimizers(config, G, D)
    stream = MinibatchStream(dataset.train, config.batch, torch.Generator().manual_seed(seed + 1))
    noise_gen = torch.Generator().manual_seed(seed + 2)
    fixed_z = sample_noise(N_EVAL, config.z_dim, config.z_dist, torch.Generator().manual_seed(seed + 3))
    n = 120
    edges = np.linspace(-half, half, n + 1)
    centres = (edges[:-1] + edges[1:]) / 2
    XY = torch.tensor(np.stack(np.meshgrid(centres, centres), -1).reshape(-1, 2), dtype=torch.float32)
    objective = OBJECTIVES.get(config.g_loss)

    def snap(step: int) -> Snapshot2D:
        with torch.no_grad():
            x_fake = G(fixed_z).numpy()
            D_grid = torch.sigmoid(D(XY)).reshape(n, n).numpy()
        modes, hq = mode_stats(x_fake, means, std)
        return Snapshot2D(step, x_fake, D_grid, _smoothed_hist(x_fake, edges), modes, hq)

    snaps = [snap(0)]
    every = max(1, steps // n_snapshots)
    for step in range(1, steps + 1):
        training_iteration(G, D, opt_G, opt_D, stream.next,
                           lambda: sample_noise(config.batch, config.z_dim, config.z_dist, noise_gen),
                           objective, k=config.k, schedule=config.schedule)
        if step % every == 0 or step == steps:
            snaps.append(snap(step))
            if log and step * 5 // steps > (step - every) * 5 // steps:
                log(f"step {step:>6}  modes {snaps[-1].modes}/{len(means)}  HQ {snaps[-1].hq:.1%}")
    return snaps, means, dataset.train[:3000].numpy(), (-half, half), config


def _draw(ax, s: Snapshot2D, means, real, lim, n_modes: int):
    ax.imshow(s.D, origin="lower", extent=(*lim, *lim), cmap="RdBu_r", vmin=0, vmax=1, alpha=0.55)
    ax.scatter(real[:, 0], real[:, 1], s=1, c="0.35", label="data")
    ax.scatter(s.x_fake[:, 0], s.x_fake[:, 1], s=1, c="green", alpha=0.5, label="G(z)")
    c = np.linspace(lim[0], lim[1], s.p_g.shape[0])
    if s.p_g.max() > 0:
        ax.contour(c, c, s.p_g, levels=np.quantile(s.p_g[s.p_g > 0], [0.5, 0.9, 0.99]),
                   colors="darkgreen", linewidths=0.6)
    ax.plot(means[:, 0], means[:, 1], "k+", ms=5)
    ax.set_xlim(*lim)
    ax.set_ylim(*lim)
    ax.set_aspect("equal")
    ax.set_xticks([])
    ax.set_yticks([])
    ax.set_title(f"step {s.step}: modes {s.modes}/{n_modes}, HQ {s.hq:.0%}", fontsize=8)


def figure_toy2d(data: str = "ring8", steps: int = 3000, out: str | Path = "runs/figure-toy2d",
                 seed: int = 0, log: Callable[[str], None] | None = None) -> dict:
    """Four panels (start, 1/3, 2/3, end) and a GIF of the run; return a summary."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt
    from matplotlib.animation import FuncAnimation, PillowWriter

    t0 = time.perf_counter()
    out = Path(out)
    out.mkdir(parents=True, exist_ok=True)
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # small nets: threads cost more than they save (cf. train.choose_threads)
    try:
        snaps, means, real, lim, config = run_2d(data, steps, seed, log=log)
    finally:
        torch.set_num_threads(threads)
    pick = [snaps[0], snaps[len(snaps) // 3], snaps[2 * len(snaps) // 3], snaps[-1]]
    fig, axes = plt.subplots(1, 4, figsize=(13, 3.6))
    try:
        for ax, s in zip(axes, pick):
            _draw(ax, s, means, real, lim, len(means))
        axes[0].legend(fontsize=7, loc="lower left", markerscale=5)
        fig.suptitle(f"{data}: D(x) heat map (red = 'data'), p_data (grey), G(z) (green, p_g "
                     f"contours)", fontsize=9)
        fig.tight_layout()
        png = out / f"{data}.png"
        tmp = png.with_name(f".{png.stem}.tmp-{os.getpid()}.png")
        fig.savefig(tmp, dpi=90)
        os.replace(tmp, png)
    finally:
        plt.close(fig)
    fig, ax = plt.subplots(figsize=(4, 4))
    try:
        anim = FuncAnimation(fig, lambda i: (ax.clear(), _draw(ax, snaps[i], means, real, lim,
                                                               len(means))),
                             frames=len(snaps))
        gif = out / f"{data}_run.gif"
        tmp = gif.with_name(f".{gif.stem}.tmp-{os.getpid()}.gif")
        anim.save(tmp, writer=PillowWriter(fps=8), dpi=60)
        os.replace(tmp, gif)
    finally:
        plt.close(fig)
    final = snaps[-1]
    return {"figure": "toy2d", "data": data, "steps": steps, "seed": seed,
            "schedule": config.schedule, "k": config.k, "g_loss": config.g_loss,
            "modes": final.modes, "n_modes": len(means), "hq": final.hq,
            "seconds": round(time.perf_counter() - t0, 2), "files": [str(png), str(gif)]}
