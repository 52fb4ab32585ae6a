"""Feature-space metrics, as pure functions of arrays: Fréchet distance, improved precision/recall,
density/coverage, and the (MNIST) inception score.

No I/O and no models here: callers pass features (``[N, d]``) or class probabilities (``[N, K]``).
Everything is computed in float64. Formulas (docs/benchmarks.md section 3):

- Fréchet distance (Heusel et al. 2017): ``||mu_r - mu_g||^2 + Tr(S_r + S_g - 2 (S_r S_g)^(1/2))``.
- Improved precision/recall (Kynkäänniemi et al. 2019), k = 3: precision is the fraction of fake
  points inside at least one real k-NN ball (radius: distance to the k-th nearest other real point);
  recall swaps the roles.
- Density/coverage (Naeem et al. 2020), k = 5: density = (1/(kM)) sum_j #{real balls holding fake j};
  coverage = fraction of real balls holding at least one fake point.
- Inception score (Salimans et al. 2016): exp(E_x KL(p(y|x) || p(y))), mean and std over splits.
"""

from __future__ import annotations

import math

import numpy as np
import torch

#: Elements of one [block, N] distance matrix (float64: 8 bytes each, ~32 MB).
BLOCK_ELEMENTS = 4_000_000


def _f64(x) -> torch.Tensor:
    x = torch.as_tensor(np.asarray(x) if not isinstance(x, torch.Tensor) else x)
    return x.reshape(len(x), -1).to(torch.float64)


# --- Fréchet distance ------------------------------------------------------------------------------

def mean_cov(features) -> tuple[np.ndarray, np.ndarray]:
    """Mean ``[d]`` and covariance ``[d, d]`` (unbiased, N - 1) of features ``[N, d]``."""
    f = _f64(features).numpy()
    if len(f) < 2:
        raise ValueError(f"need at least 2 feature vectors for a covariance (got {len(f)})")
    return f.mean(0), np.cov(f, rowvar=False).reshape(f.shape[1], f.shape[1])


def _sqrt_psd(a: np.ndarray) -> np.ndarray:
    w, v = np.linalg.eigh((a + a.T) / 2)
    return (v * np.sqrt(np.clip(w, 0, None))) @ v.T


def frechet_distance(mu1, sigma1, mu2, sigma2) -> float:
    """Fréchet (2-Wasserstein) distance² between N(mu1, sigma1) and N(mu2, sigma2).

    Tr((S1 S2)^(1/2)) is computed as Tr((S1^(1/2) S2 S1^(1/2))^(1/2)), the same value for PSD
    matrices but through symmetric eigendecompositions only, so it is real and stable even when a
    covariance is singular (fewer samples than dimensions), where scipy's sqrtm goes complex.
    """
    mu1, mu2 = np.asarray(mu1, np.float64), np.asarray(mu2, np.float64)
    s1, s2 = np.atleast_2d(np.asarray(sigma1, np.float64)), np.atleast_2d(np.asarray(sigma2, np.float64))
    r1 = _sqrt_psd(s1)
    w = np.linalg.eigvalsh(r1 @ s2 @ r1)
    tr_covmean = float(np.sqrt(np.clip(w, 0, None)).sum())
    diff = mu1 - mu2
    return float(diff @ diff + np.trace(s1) + np.trace(s2) - 2.0 * tr_covmean)


def frechet_distance_of(features_a, features_b) -> float:
    """Fréchet distance between the Gaussians fitted to two feature sets."""
    return frechet_distance(*mean_cov(features_a), *mean_cov(features_b))


# --- k-NN manifolds: precision/recall, density/coverage ------------------------------------------

def _sq_dists(a: torch.Tensor, b: torch.Tensor) -> torch.Tensor:
    """||a_i - b_j||^2 ``[len(a), len(b)]``, clamped at 0 (rounding)."""
    d2 = torch.addmm((b * b).sum(1).unsqueeze(0), a, b.T, alpha=-2.0)
    return d2.add_((a * a).sum(1, keepdim=True)).clamp_(min=0.0)


def knn_radii(x, k: int) -> torch.Tensor:
    """Squared distance from each point to its k-th nearest *other* point: float64 ``[N]``."""
    x = _f64(x)
    if not 1 <= k < len(x):
        raise ValueError(f"k must be in [1, {len(x) - 1}] for {len(x)} points (got {k})")
    out = torch.empty(len(x), dtype=torch.float64)
    step = max(1, BLOCK_ELEMENTS // len(x))
    for i in range(0, len(x), step):
        d2 = _sq_dists(x[i:i + step], x)
        # the point itself is at distance 0: the k-th other neighbour is the (k+1)-th smallest
        out[i:i + step] = d2.topk(k + 1, dim=1, largest=False).values[:, k]
    return out


def nearest_sq_dists(x, y, dtype: torch.dtype = torch.float64) -> torch.Tensor:
    """Squared distance from each row of ``x`` to its nearest row of ``y``: float64 ``[len(x)]``,
    computed in ``dtype`` (float32 is 2-4x faster, its rounding ~1e-6 of ||x||^2)."""
    x, y = _f64(x).to(dtype), _f64(y).to(dtype)
    if x.shape[1] != y.shape[1]:
        raise ValueError(f"x has {x.shape[1]} dims, y {y.shape[1]}")
    out = torch.empty(len(x), dtype=torch.float64)
    step = max(1, BLOCK_ELEMENTS // max(len(y), 1))
    for i in range(0, len(x), step):
        out[i:i + step] = _sq_dists(x[i:i + step], y).amin(1).double()
    return out


def manifold_metrics(real, fake, k_pr: int = 3, k_dc: int = 5) -> dict[str, float]:
    """Precision/recall (k = ``k_pr``) and density/coverage (k = ``k_dc``) of ``fake`` against ``real``.

    One blocked pass over the fake x real distances; memory stays bounded by ``BLOCK_ELEMENTS``.
    A point on a ball's boundary counts as inside (<=), as in both papers' reference code.
    """
    real, fake = _f64(real), _f64(fake)
    if real.shape[1] != fake.shape[1]:
        raise ValueError(f"real features have {real.shape[1]} dims, fake {fake.shape[1]}")
    r_pr, r_dc = knn_radii(real, k_pr), knn_radii(real, k_dc)  # [N] squared radii
    f_pr = knn_radii(fake, k_pr)                                # [M]
    in_real = torch.zeros(len(fake), dtype=torch.bool)          # precision: fake j in a real ball
    in_fake = torch.zeros(len(real), dtype=torch.bool)          # recall: real i in a fake ball
    density_count = 0.0
    nearest_fake = torch.full((len(real),), math.inf, dtype=torch.float64)
    step = max(1, BLOCK_ELEMENTS // len(real))
    for j in range(0, len(fake), step):
        d2 = _sq_dists(fake[j:j + step], real)                   # [B, N]
        in_real[j:j + step] = (d2 <= r_pr.unsqueeze(0)).any(1)
        in_fake |= (d2 <= f_pr[j:j + step].unsqueeze(1)).any(0)
        density_count += float((d2 <= r_dc.unsqueeze(0)).sum())
        nearest_fake = torch.minimum(nearest_fake, d2.amin(0))
    return {"precision": float(in_real.double().mean()), "recall": float(in_fake.double().mean()),
            "density": density_count / (k_dc * len(fake)),
            "coverage": float((nearest_fake <= r_dc).double().mean())}


# --- inception score -------------------------------------------------------------------------------

def inception_score(probs, splits: int = 10) -> tuple[float, float]:
    """(mean, std) over ``splits`` equal parts of exp(E_x KL(p(y|x) || p(y))), p(y) per part.

    The standard protocol (Salimans et al.'s code): parts in the order given, std with ddof 0.
    """
    p = _f64(probs)
    if len(p) < splits:
        raise ValueError(f"need at least {splits} samples for {splits} splits (got {len(p)})")
    scores = []
    for part in torch.tensor_split(p, splits):
        py = part.mean(0, keepdim=True)
        # 0 * log 0 = 0: xlogy handles p(y|x) = 0 exactly
        kl = (torch.special.xlogy(part, part) - torch.special.xlogy(part, py)).sum(1)
        scores.append(math.exp(float(kl.mean())))
    s = np.asarray(scores)
    return float(s.mean()), float(s.std())
