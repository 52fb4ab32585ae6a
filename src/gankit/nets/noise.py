"""The noise prior p_z (Section 3: G(z) maps noise z ~ p_z to data space)."""

from __future__ import annotations

import math

import torch


def sample_noise(n: int, z_dim: int, dist: str, generator: torch.Generator | None = None,
                 device: torch.device | str = "cpu") -> torch.Tensor:
    """z ~ p_z. ``uniform`` is U(-sqrt 3, sqrt 3) (zero mean, unit variance, the paper's MNIST prior)."""
    if dist == "uniform":
        u = torch.rand(n, z_dim, generator=generator, device=device)
        return u.mul_(2 * math.sqrt(3)).sub_(math.sqrt(3))
    return torch.randn(n, z_dim, generator=generator, device=device)
