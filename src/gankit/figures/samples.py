"""Pictures of samples: an image grid for images, a histogram (1-D) or scatter plot (2-D) for vectors."""

from __future__ import annotations

import math
from pathlib import Path
from typing import Callable

import numpy as np
import torch

from gankit.utils.atomic import atomic_path
from gankit.utils.disk import writing
from gankit.utils.plotting import pyplot


def image_grid(images: torch.Tensor, ncols: int | None = None, pad: int = 1,
               min_cell: int = 28) -> np.ndarray:
    """Tile ``[N, C, H, W]`` images in [0, 1] into one uint8 array ``[H', W', C]``.

    Small images (e.g. 8x8 digits) are enlarged by an integer factor to at least ``min_cell`` pixels
    so that they can be read at a glance.
    """
    x = images.detach().float().clamp(0, 1).cpu()
    n, c, h, w = x.shape
    scale = max(1, math.ceil(min_cell / max(h, w)))
    if scale > 1:
        x = x.repeat_interleave(scale, dim=2).repeat_interleave(scale, dim=3)
        h, w = h * scale, w * scale
    ncols = ncols or math.ceil(math.sqrt(n))
    nrows = math.ceil(n / ncols)
    grid = torch.ones(c, nrows * (h + pad) + pad, ncols * (w + pad) + pad)
    for i in range(n):
        r, col = divmod(i, ncols)
        top, left = pad + r * (h + pad), pad + col * (w + pad)
        grid[:, top:top + h, left:left + w] = x[i]
    arr = (grid.permute(1, 2, 0).numpy() * 255).round().astype(np.uint8)
    return arr[:, :, 0] if c == 1 else arr


#: D's probabilities (a critic's scores) at points ``[n, d]`` (numpy), for drawing D behind the samples.
DFunction = Callable[[np.ndarray], np.ndarray]


def save_samples(x: torch.Tensor, path: str | Path, real: torch.Tensor | None = None,
                 title: str | None = None, D: DFunction | None = None, critic: bool = False) -> Path:
    """Write a picture of samples ``x`` to ``path`` (PNG), atomically.

    Images become a grid; 1-D vectors a histogram; 2-D vectors a scatter plot (real data drawn
    behind in grey when ``real`` is given). With ``D``, vectors are drawn as Figure 1 does: D(x)
    as a dashed curve over the histograms (1-D) or as a heat map behind the points (2-D); with
    ``critic``, ``D`` gives a critic's scores f(x), which have no fixed level (f + c is as good a
    critic), so they are drawn about their mean over the points shown, on a symmetric scale that
    their values at those points span. A full disk or a read-only folder is one
    :class:`~gankit.utils.disk.WriteFailed` line, and ``path`` keeps its old content.
    """
    path = Path(path)
    with writing(path), atomic_path(path) as tmp:
        if x.dim() == 4:
            from PIL import Image

            Image.fromarray(image_grid(x)).save(tmp, format="PNG")
        else:
            _plot_vectors(x, tmp, real, title, D, critic)
    return path


def _plot_vectors(x: torch.Tensor, path: Path, real: torch.Tensor | None, title: str | None,
                  D: DFunction | None = None, critic: bool = False) -> None:
    plt = pyplot()
    top = 1.0  # the colour scale's end: D's probabilities span [0, 1]
    if D is not None and critic:  # scores about their mean over the points drawn, scaled to them
        scores, pts = D, x.detach().float().cpu().numpy()
        if real is not None:
            pts = np.concatenate([pts, real[:5000].numpy()])
        at_points = scores(pts)
        centre = float(at_points.mean())
        top = max(float(np.abs(at_points - centre).max()), 1e-12)
        D = lambda points: scores(points) - centre  # noqa: E731

    x = x.detach().float().cpu().numpy()
    fig, ax = plt.subplots(figsize=(5, 5) if x.shape[1] >= 2 else (6, 3.5))
    try:
        if x.shape[1] == 1:
            if real is not None:
                ax.hist(real[:, 0].numpy(), bins=100, density=True, color="0.7", label="data")
            ax.hist(x[:, 0], bins=100, density=True, histtype="step", color="green", label="G(z)")
            if D is not None:  # Figure 1's blue dashed D, on its own [0, 1] axis
                lo, hi = ax.get_xlim()
                grid = np.linspace(lo, hi, 400)[:, None]
                ax2 = ax.twinx()
                values = D(grid)
                label = "f(x) - mean" if critic else "D(x)"
                ax2.plot(grid[:, 0], values, "--", color="blue", lw=1.2, label=label)
                if critic:
                    ax2.axhline(0.0, ls=":", color="k", lw=0.8)
                    ax2.set_ylim(-1.05 * top, 1.05 * top)
                else:
                    ax2.axhline(0.5, ls=":", color="k", lw=0.8)
                    ax2.set_ylim(0, 1.02)
                ax2.set_ylabel(label)
                ax2.legend(loc="upper left")
            ax.legend()
        else:
            if D is not None:  # D's heat map behind the points (red: D says "data")
                pts = np.concatenate([x[:, :2], real[:5000, :2].numpy()]) if real is not None else x
                lo, hi = float(pts.min()) - 0.5, float(pts.max()) + 0.5
                c = np.linspace(lo, hi, 120)
                gx, gy = np.meshgrid(c, c)
                heat = D(np.stack([gx.ravel(), gy.ravel()], axis=1)).reshape(gx.shape)
                im = ax.imshow(heat, origin="lower", extent=(lo, hi, lo, hi), cmap="RdBu_r",
                               vmin=-top if critic else 0.0, vmax=top, alpha=0.55)
                fig.colorbar(im, ax=ax, fraction=0.046, pad=0.04,
                             label="critic f(x) - mean" if critic else "D(x)")
            if real is not None:
                r = real[:5000].numpy()
                ax.scatter(r[:, 0], r[:, 1], s=2, c="0.75", label="data")
            ax.scatter(x[:, 0], x[:, 1], s=2, c="green", label="G(z)")
            ax.set_aspect("equal")
            ax.legend(loc="upper right", markerscale=4)
        if title:
            ax.set_title(title)
        fig.tight_layout()
        fig.savefig(path, format="png", dpi=100)
    finally:
        plt.close(fig)
