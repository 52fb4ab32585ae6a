"""Mode coverage: the 2-D mixtures' protocol (ring-8, grid-25) and histogram KLs, as pure maths,
plus the registry entry ``toy_modes`` (docs/benchmarks.md section 1).

Protocol: a sample is high-quality (HQ) if it lies within 3 sigma of its nearest mean; a mode is
captured if at least one HQ sample is nearest to it; KL is KL(mode histogram of the HQ samples ||
uniform) in nats; 2,500 samples. Note that even the data fall short of 100% HQ: in 2-D the
chance that a Gaussian sample lies within 3 sigma is 1 - exp(-9/2) = 98.89%.
"""

from __future__ import annotations

import math
from typing import Callable

import numpy as np
import torch

from gankit.errors import GankitError

N_TOY = 2_500
HQ_SIGMAS = 3.0
#: P(||n|| <= 3) for a 2-D standard normal: the expected %HQ of perfect samples.
HQ_CEILING_2D = 1.0 - math.exp(-HQ_SIGMAS**2 / 2)
#: The expected ``spread`` of perfect samples: sqrt(E[r^2 | r <= 3 sigma] / (2 sigma^2)) for a 2-D
#: Gaussian, r^2 / sigma^2 being chi-square with 2 dof truncated at 9: sqrt(1 - 4.5 e^-4.5 / (1 - e^-4.5)).
SPREAD_CEILING_2D = math.sqrt(1.0 - 4.5 * math.exp(-4.5) / HQ_CEILING_2D)


# --- histograms ------------------------------------------------------------------------------------

def kl_to_uniform(counts) -> float:
    """KL(p || uniform over K bins) in nats, p = counts / sum(counts); 0 log 0 = 0.

    Equals log K - H(p): 0 for a flat histogram, log K when everything is in one bin. NaN for an
    empty histogram (no samples to judge).
    """
    c = np.asarray(counts, dtype=np.float64)
    total = c.sum()
    if total <= 0:
        return float("nan")
    p = c[c > 0] / total
    return float(np.sum(p * np.log(p * len(c))))


def kl_noise_floor(k: int, n: int) -> float:
    """Expected KL(histogram || uniform) of n samples drawn exactly from the uniform over k bins:
    about (k - 1) / (2n) (the chi-square approximation; docs/benchmarks.md: 0.019 for k = 1000,
    n = 26,000). A KL near this value is as good as the sample size can show."""
    return (k - 1) / (2.0 * n)


def label_histogram(labels, k: int) -> np.ndarray:
    """Counts of the integer labels 0..k-1."""
    return np.bincount(np.asarray(labels, dtype=np.int64).ravel(), minlength=k)[:k]


# --- the 2-D mixtures ------------------------------------------------------------------------------

def toy_mode_stats(x, means, std: float, hq_sigmas: float = HQ_SIGMAS) -> dict[str, float]:
    """Modes captured, %HQ and KL for samples ``x`` ``[N, 2]`` of a mixture with ``means`` ``[K, 2]``.

    Returns ``modes`` (count of captured modes), ``hq_percent``, ``kl`` (NaN when no sample is
    HQ), ``spread``, ``n_modes`` and ``n``. ``spread`` is the RMS distance of the HQ samples to
    their mean over that of the true Gaussian, sqrt(mean r^2 / (2 sigma^2)): 0.97 for real samples
    (:data:`SPREAD_CEILING_2D`), 0 for samples collapsed onto the means (which the protocol's three
    numbers rate perfect), 1.5 for samples spread uniformly over the 3-sigma discs; NaN when no
    sample is HQ.
    """
    x = np.asarray(torch.as_tensor(x).detach().double().cpu().reshape(len(x), -1))
    mu = np.asarray(torch.as_tensor(means).double())
    if x.shape[1] != mu.shape[1]:
        raise ValueError(f"samples have {x.shape[1]} dims, the means {mu.shape[1]}")
    d2 = ((x[:, None, :] - mu[None, :, :]) ** 2).sum(-1)     # [N, K]
    nearest = d2.argmin(1)
    hq = np.sqrt(d2[np.arange(len(x)), nearest]) <= hq_sigmas * std
    counts = label_histogram(nearest[hq], len(mu))
    r2 = d2[np.arange(len(x)), nearest][hq]
    spread = math.sqrt(float(r2.mean()) / (2 * std**2)) if len(r2) else float("nan")
    return {"modes": float((counts > 0).sum()), "hq_percent": 100.0 * float(hq.mean()),
            "kl": kl_to_uniform(counts), "spread": spread, "n_modes": float(len(mu)),
            "n": float(len(x))}


def toy_mixture(name: str) -> tuple[torch.Tensor, float]:
    """(means, sigma) of a registered 2-D mixture: ring8 or grid25."""
    from gankit.data.toy import GRID25_STD, RING8_STD, grid25_means, ring8_means

    mixtures = {"ring8": (ring8_means, RING8_STD), "grid25": (grid25_means, GRID25_STD)}
    if name not in mixtures:
        raise GankitError(f"the toy_modes metric is defined for ring8 and grid25 runs, not "
                          f"'{name}'")
    means, std = mixtures[name]
    return means(), std


#: Fixed protocol details, recorded with every result.
TOY_PROTOCOL = {
    "source": "docs/benchmarks.md section 1 (VEEGAN / PacGAN protocol)",
    "n_samples": N_TOY, "hq": "within 3 sigma of the nearest mean",
    "mode_captured": "at least one HQ sample nearest to it",
    "kl": "KL(mode histogram of HQ samples || uniform), nats; NaN when no sample is HQ",
    "real_reference": "2,500 samples of the true mixture (seed 0)",
    "hq_ceiling": "1 - exp(-4.5) = 98.89% (2-D Gaussian within 3 sigma)",
    "spread": "RMS distance of HQ samples to their mean / (sqrt(2) sigma): real 0.974, collapsed "
              "onto the means 0 (an addition to the published protocol; its three numbers unchanged)",
}


def toy_modes_metric(sample: Callable[[int, int], torch.Tensor], dataset, *, seed: int = 0,
                     n_samples: int = N_TOY, reference: bool = True) -> dict[str, float]:
    """Registry entry ``toy_modes``: the 2-D mixture protocol on ``n_samples`` of G.

    Also returns the same numbers for real samples of the mixture (``real_*``) and the expected
    %HQ of perfect samples (``hq_percent_ceiling``).
    """
    from gankit.data.toy import sample_mixture

    means, std = toy_mixture(dataset.name)
    x = torch.as_tensor(sample(n_samples, seed))
    if x.dim() != 2 or x.shape[1] != 2:
        raise GankitError(f"toy_modes needs 2-D samples [N, 2], got shape {tuple(x.shape)}")
    if not bool(torch.isfinite(x).all()):
        raise GankitError("the samples contain NaN or infinite values; the generator has diverged")
    values = toy_mode_stats(x, means, std)
    if reference:
        real = sample_mixture(means, std, len(x), torch.Generator().manual_seed(0))
        ref = toy_mode_stats(real, means, std)
        values.update({f"real_{k}": ref[k] for k in ("modes", "hq_percent", "kl", "spread")})
    values["hq_percent_ceiling"] = 100.0 * HQ_CEILING_2D
    values["spread_ceiling"] = SPREAD_CEILING_2D
    return values
