"""The paper's sample figures: Figure 2 (samples beside their nearest training image) and Figure 3
(images along straight lines in z space).

Each figure has a content function (tensors in, tensors out; tested) and a drawing function that
takes a run and a seed and writes a PNG. A run is anything with ``.config`` (``z_dim``,
``z_dist``, ``dataset``, ``data_dir``), ``.sample(n, seed)`` and ``.generate(z)``: a
:class:`gankit.runs.run.Run`.
"""

from __future__ import annotations

from pathlib import Path

import torch

from gankit.errors import GankitError
from gankit.nets import sample_noise
from gankit.utils.plotting import pyplot, save_figure
from gankit.utils.atomic import atomic_path


# --- Figure 2: fair random samples, then the nearest training image to the last of each row ----------

def nearest_neighbours(queries: torch.Tensor, pool: torch.Tensor,
                       batch: int = 4096) -> tuple[torch.Tensor, torch.Tensor]:
    """For each query, the index of the nearest ``pool`` item by pixel L2 and that distance.

    Returns ``(index [Q] int64, distance [Q] float64)``. Float64 distances via
    ``||q||^2 + ||p||^2 - 2 q p^T`` (float32 would cancel, see metrics.parzen); the pool is scanned
    ``batch`` items at a time so memory stays bounded for a 50,000-image pool.
    """
    q = queries.reshape(len(queries), -1).to(torch.float64)
    q_sq = (q * q).sum(1, keepdim=True)
    best_d2 = torch.full((len(q),), float("inf"), dtype=torch.float64)
    best_i = torch.zeros(len(q), dtype=torch.int64)
    for start in range(0, len(pool), batch):
        p = pool[start:start + batch].reshape(-1, q.shape[1]).to(torch.float64)
        d2 = torch.addmm((p * p).sum(1).unsqueeze(0), q, p.T, alpha=-2.0).add_(q_sq)  # [Q, B]
        d2_min, i_min = d2.min(1)
        better = d2_min < best_d2
        best_d2 = torch.where(better, d2_min, best_d2)
        best_i = torch.where(better, i_min + start, best_i)
    return best_i, best_d2.clamp(min=0.0).sqrt()


def figure2_content(run, seed: int = 0, train: torch.Tensor | None = None, rows: int = 4,
                    per_row: int = 5) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Images of Figure 2: ``rows`` rows of ``per_row`` samples then the nearest training image.

    The samples are fair: ``run.sample(rows * per_row, seed)``, not picked. Returns ``(images
    [rows * (per_row + 1), C, H, W], distances [rows], train_index [rows])``, where distance r is the
    pixel L2 distance between row r's last sample and its nearest training image. ``train``
    defaults to the run's training split (MNIST: train[0:50000]).
    """
    if train is None:
        train = _load_split(run, "train")
    x = run.sample(rows * per_row, seed)
    _check_images(x)
    if tuple(train.shape[1:]) != tuple(x.shape[1:]):
        raise GankitError(f"training images {tuple(train.shape[1:])} and samples "
                          f"{tuple(x.shape[1:])} differ in shape")
    x = x.view(rows, per_row, *x.shape[1:])
    index, dist = nearest_neighbours(x[:, -1], train)
    images = torch.cat([x, train[index].unsqueeze(1).to(x.dtype)], dim=1)  # [rows, per_row + 1, ...]
    return images.flatten(0, 1), dist, index


def figure2(run, seed: int, out: str | Path, train: torch.Tensor | None = None, rows: int = 4,
            per_row: int = 5) -> Path:
    """Write Figure 2 to ``out`` (PNG): a 4x6 grid, the rightmost column (framed in yellow, as in the
    paper) the nearest training image to its left neighbour, with the L2 distance printed under it.

    Shows that the model has not memorised the training set: a memorised sample sits at distance 0.
    """
    images, dist, index = figure2_content(run, seed, train, rows, per_row)
    plt = pyplot()
    cols = per_row + 1
    fig, axes = plt.subplots(rows, cols, figsize=(1.3 * cols, 1.45 * rows + 0.5), squeeze=False)
    try:
        for i, ax in enumerate(axes.flat):
            r, c = divmod(i, cols)
            ax.imshow(_hwc(images[i]), cmap="gray", vmin=0.0, vmax=1.0, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
            if c == cols - 1:
                for spine in ax.spines.values():
                    spine.set_edgecolor("gold")
                    spine.set_linewidth(3)
                ax.set_xlabel(f"L2 {float(dist[r]):.2f}\n(train #{int(index[r])})", fontsize=7)
        fig.suptitle(f"Figure 2: {rows * per_row} random samples (seed {seed}); framed: nearest "
                     f"training image to the sample beside it", fontsize=8)
        fig.tight_layout()
        return _save(fig, out)
    finally:
        plt.close(fig)


# --- Figure 3: straight lines in z space -----------------------------------------------------------

def interpolate_z(z0: torch.Tensor, z1: torch.Tensor, steps: int) -> torch.Tensor:
    """``steps`` points on the straight line from ``z0`` to ``z1`` (both ends included): ``[R, steps, Z]``.

    The paper interpolates linearly. With the uniform prior the line stays inside the cube, so every
    point is a likely z; with a Gaussian prior the middle has a smaller norm than typical z.
    """
    if steps < 2:
        raise GankitError(f"an interpolation needs at least 2 steps (got {steps})")
    t = torch.linspace(0.0, 1.0, steps, dtype=z0.dtype).view(1, steps, 1)
    return z0.unsqueeze(1) * (1 - t) + z1.unsqueeze(1) * t


@torch.no_grad()
def figure3_content(run, seed: int = 0, rows: int = 8, steps: int = 10) -> torch.Tensor:
    """Images of Figure 3: G along ``rows`` straight lines between random z's: ``[rows * steps, C, H, W]``."""
    gen = torch.Generator().manual_seed(seed)
    z = sample_noise(2 * rows, run.config.z_dim, run.config.z_dist, gen)
    zs = interpolate_z(z[:rows], z[rows:], steps).flatten(0, 1)  # [rows * steps, Z]
    x = run.generate(zs)  # eval mode, as the paper shows samples: no dropout
    _check_images(x)
    return x


def figure3(run, seed: int, out: str | Path, rows: int = 8, steps: int = 10) -> Path:
    """Write Figure 3 to ``out`` (PNG): each row is G along a straight line between two random z."""
    from PIL import Image

    from gankit.figures.samples import image_grid

    x = figure3_content(run, seed, rows, steps)
    out = _check_out(out)
    with atomic_path(out) as tmp:
        Image.fromarray(image_grid(x, ncols=steps, min_cell=56)).save(tmp, format="PNG")
    return out


# --- helpers -----------------------------------------------------------------------------------------

def _check_images(x: torch.Tensor) -> None:
    if x.dim() != 4:
        raise GankitError(f"Figures 2 and 3 show images, but this run's samples have shape "
                          f"{tuple(x.shape[1:])}; train on an image dataset (digits, mnist)")


def _load_split(run, split: str) -> torch.Tensor:
    from gankit.data import load_dataset

    return getattr(load_dataset(run.config.dataset, run.config.data_dir, run.config), split)


def _hwc(img: torch.Tensor):
    a = img.detach().float().clamp(0, 1).cpu().permute(1, 2, 0).numpy()
    return a[:, :, 0] if a.shape[2] == 1 else a


def _check_out(out: str | Path) -> Path:
    out = Path(out)
    if not out.parent.is_dir():
        raise GankitError(f"folder {out.parent} does not exist; create it or choose another path")
    return out


def _save(fig, out: str | Path) -> Path:
    return save_figure(fig, _check_out(out), format="png", dpi=120)
