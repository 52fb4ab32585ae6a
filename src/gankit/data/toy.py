"""Toy distributions with known densities: 1-D Gaussian and two-Gaussian mixture (Figure 1), ring-8
and grid-25 mixtures.

Protocols: docs/benchmarks.md section 1. Ring means are (cos 2*pi*i/8, sin 2*pi*i/8) for i = 0..7 —
not linspace(0, 2*pi, 8), which would repeat a mode.
"""

from __future__ import annotations

import math

import torch

from gankit.data.base import Dataset

TOY_TRAIN_SIZE = 100_000
TOY_DATA_SEED = 1234  # the data are fixed; the run's seed varies only the model

GAUSS1D_MEAN, GAUSS1D_STD = 2.0, 0.5
MIXTURE1D_MEANS, MIXTURE1D_STD = (1.25, 2.75), 0.35  # Figure 1's second p_data


def ring8_means() -> torch.Tensor:
    angles = 2 * math.pi * torch.arange(8, dtype=torch.float64) / 8
    return torch.stack([angles.cos(), angles.sin()], dim=1)


def grid25_means() -> torch.Tensor:
    axis = torch.tensor([-4.0, -2.0, 0.0, 2.0, 4.0], dtype=torch.float64)
    return torch.cartesian_prod(axis, axis)


RING8_STD, GRID25_STD = 0.01, 0.05


def sample_mixture(means: torch.Tensor, std: float, n: int, generator: torch.Generator) -> torch.Tensor:
    """n samples from an equal-weight isotropic Gaussian mixture."""
    which = torch.randint(len(means), (n,), generator=generator)
    noise = torch.randn(n, means.shape[1], generator=generator, dtype=torch.float64)
    return (means[which] + std * noise).float()


def _gen() -> torch.Generator:
    return torch.Generator().manual_seed(TOY_DATA_SEED)


def load_gauss1d(data_dir: str | None = None) -> Dataset:
    x = GAUSS1D_MEAN + GAUSS1D_STD * torch.randn(TOY_TRAIN_SIZE, 1, generator=_gen())
    return Dataset("gauss1d", train=x, unit_range=False)


def load_mixture1d(data_dir: str | None = None) -> Dataset:
    means = torch.tensor(MIXTURE1D_MEANS, dtype=torch.float64)[:, None]  # [2, 1]
    return Dataset("mixture1d", sample_mixture(means, MIXTURE1D_STD, TOY_TRAIN_SIZE, _gen()),
                   unit_range=False)


def load_ring8(data_dir: str | None = None) -> Dataset:
    return Dataset("ring8", sample_mixture(ring8_means(), RING8_STD, TOY_TRAIN_SIZE, _gen()),
                   unit_range=False)


def load_grid25(data_dir: str | None = None) -> Dataset:
    return Dataset("grid25", sample_mixture(grid25_means(), GRID25_STD, TOY_TRAIN_SIZE, _gen()),
                   unit_range=False)
