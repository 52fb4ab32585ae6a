"""The paper's theory (Section 4) as pure functions of densities on a 1-D grid.

Everything here is numpy on float64 and imports nothing from training: given p_data and p_g
evaluated on a uniform grid ``x`` (or, better, as cell averages, see :func:`cell_average`), it gives

- ``optimal_discriminator``  Proposition 1:  D*(x) = p_data(x) / (p_data(x) + p_g(x));
- ``value_V``                Eq. 3: V(G, D) = ∫ p_data log D + p_g log(1 - D) dx, for any D;
- ``virtual_criterion``      C(G) = max_D V(G, D) = V(G, D*)  (by numerical integration);
- ``jsd``, ``kl``            so that Theorem 1, C(G) = -log 4 + 2·JSD(p_data ‖ p_g), can be checked;
- ``density_of_G_1d``        p_g for a 1-D -> 1-D generator, by the change of variables.

Integrals are Riemann sums over cells of width dx. When the densities are cell averages (mass of the
cell / dx) those sums are exact for the discretised distributions, so Theorem 1's identity holds to
rounding error whenever the grid holds all the mass; the leftover is log 4 × (mass outside the grid).
"""

from __future__ import annotations

import math
from typing import Callable

import numpy as np

from gankit.constants import LOG_4, SQRT_3  # noqa: F401  (re-exported: C(G)'s minimum, p_z's range)


# --- grids and known densities ------------------------------------------------------------------

def grid_spacing(x: np.ndarray) -> float:
    """dx of a uniform grid (raises if the grid is not uniform: the sums below assume it is)."""
    x = np.asarray(x, dtype=np.float64)
    dx = np.diff(x)
    if len(dx) == 0 or not np.allclose(dx, dx[0], rtol=1e-6, atol=0):
        raise ValueError("x must be a uniform grid of at least two points")
    return float(dx[0])


def cell_edges(x: np.ndarray) -> np.ndarray:
    """Edges of the cells centred on the points of a uniform grid (len(x) + 1 values)."""
    dx = grid_spacing(x)
    return np.concatenate([x - dx / 2, [x[-1] + dx / 2]])


def cell_average(cdf: Callable[[np.ndarray], np.ndarray], x: np.ndarray) -> np.ndarray:
    """A density as its average over each grid cell: (CDF(right) - CDF(left)) / dx.

    The cell-averaged form sums to exactly the mass on the grid, however narrow the density.
    """
    e = cell_edges(x)
    return np.diff(cdf(e)) / (e[1] - e[0])


def gaussian_pdf(x: np.ndarray, mean: float, std: float) -> np.ndarray:
    """N(mean, std^2) density."""
    x = np.asarray(x, dtype=np.float64)
    return np.exp(-0.5 * ((x - mean) / std) ** 2) / (std * math.sqrt(2 * math.pi))


def gaussian_cdf(x: np.ndarray, mean: float, std: float) -> np.ndarray:
    """N(mean, std^2) cumulative distribution function."""
    from scipy.special import ndtr  # scipy comes with scikit-learn, a gankit dependency

    return ndtr((np.asarray(x, dtype=np.float64) - mean) / std)


def mixture_pdf(x: np.ndarray, means, stds, weights=None) -> np.ndarray:
    """Density of a 1-D Gaussian mixture (equal weights unless given)."""
    weights = np.full(len(means), 1 / len(means)) if weights is None else np.asarray(weights)
    return sum(w * gaussian_pdf(x, m, s) for w, m, s in zip(weights, means, stds))


def mixture_cdf(x: np.ndarray, means, stds, weights=None) -> np.ndarray:
    """CDF of a 1-D Gaussian mixture (equal weights unless given)."""
    weights = np.full(len(means), 1 / len(means)) if weights is None else np.asarray(weights)
    return sum(w * gaussian_cdf(x, m, s) for w, m, s in zip(weights, means, stds))


# --- Proposition 1 and Theorem 1 ------------------------------------------------------------------

def _xlogy(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """a·log b with 0·log 0 = 0 (the convention that makes the integrals finite)."""
    a, b = np.broadcast_arrays(np.asarray(a, np.float64), np.asarray(b, np.float64))
    out = np.zeros_like(a)
    nz = a != 0
    with np.errstate(divide="ignore"):
        out[nz] = a[nz] * np.log(b[nz])
    return out


def optimal_discriminator(p_data: np.ndarray, p_g: np.ndarray) -> np.ndarray:
    """Proposition 1: D*_G(x) = p_data(x) / (p_data(x) + p_g(x)).

    Where both densities vanish any D is optimal (V does not depend on D there); we return 1/2.
    """
    p_data, p_g = np.asarray(p_data, np.float64), np.asarray(p_g, np.float64)
    total = p_data + p_g
    D_star = np.full_like(total, 0.5)
    np.divide(p_data, total, out=D_star, where=total > 0)
    return D_star


def value_V(D: np.ndarray, p_data: np.ndarray, p_g: np.ndarray, x: np.ndarray,
            log_D: np.ndarray | None = None, log_1m_D: np.ndarray | None = None) -> float:
    """Eq. 3: V(G, D) = ∫ p_data(x) log D(x) + p_g(x) log(1 - D(x)) dx, as a Riemann sum.

    For a network D, pass its logits' exact logs (``log_D = -softplus(-l)``,
    ``log_1m_D = -softplus(l)``) so that saturated D do not round to log 0.
    """
    D = np.asarray(D, np.float64)
    a = (np.asarray(p_data, np.float64) * log_D if log_D is not None else _xlogy(p_data, D))
    b = (np.asarray(p_g, np.float64) * log_1m_D if log_1m_D is not None else _xlogy(p_g, 1 - D))
    return float(np.sum(a + b) * grid_spacing(x))


def virtual_criterion(p_data: np.ndarray, p_g: np.ndarray, x: np.ndarray) -> float:
    """C(G) = max_D V(G, D) = V(G, D*_G) (Eq. 4), by numerical integration on the grid."""
    p_data, p_g = np.asarray(p_data, np.float64), np.asarray(p_g, np.float64)
    total = p_data + p_g
    # log D* and log(1 - D*) = log(p_g / (p_data + p_g)) from the densities: 1 - D* itself rounds
    # to 0 where p_g << p_data, and p_g · log 0 would be -inf
    with np.errstate(divide="ignore"):
        log_total = np.log(total)
        log_D = np.where(p_data > 0, np.log(np.where(p_data > 0, p_data, 1)) - log_total, 0.0)
        log_1m_D = np.where(p_g > 0, np.log(np.where(p_g > 0, p_g, 1)) - log_total, 0.0)
    return value_V(optimal_discriminator(p_data, p_g), p_data, p_g, x, log_D, log_1m_D)


def kl(p: np.ndarray, q: np.ndarray, x: np.ndarray) -> float:
    """KL(p ‖ q) = ∫ p log(p / q) dx in nats (inf where p > 0 = q)."""
    p, q = np.asarray(p, np.float64), np.asarray(q, np.float64)
    if np.any((p > 0) & (q <= 0)):
        return math.inf
    return float(np.sum(_xlogy(p, p) - _xlogy(p, q)) * grid_spacing(x))


def jsd(p: np.ndarray, q: np.ndarray, x: np.ndarray) -> float:
    """Jensen–Shannon divergence in nats: ½ KL(p ‖ m) + ½ KL(q ‖ m), m = (p + q)/2; in [0, log 2]."""
    m = 0.5 * (np.asarray(p, np.float64) + np.asarray(q, np.float64))
    return 0.5 * kl(p, m, x) + 0.5 * kl(q, m, x)


def theorem1_rhs(p_data: np.ndarray, p_g: np.ndarray, x: np.ndarray) -> float:
    """Theorem 1's right-hand side: -log 4 + 2·JSD(p_data ‖ p_g)."""
    return -LOG_4 + 2 * jsd(p_data, p_g, x)


# --- p_g of a 1-D generator -------------------------------------------------------------------------

def density_of_G_1d(G: Callable[[np.ndarray], np.ndarray], x: np.ndarray,
                    z_low: float = -SQRT_3, z_high: float = SQRT_3, n_z: int = 20_001,
                    z_cdf: Callable[[np.ndarray], np.ndarray] | None = None) -> np.ndarray:
    """p_g on the grid ``x`` (cell averages) for x = G(z), z 1-D, by the change of variables.

    p_g(x) = Σ_{z : G(z) = x} p_z(z) / |G'(z)|. Why not a histogram or KDE of samples: G is 1-D -> 1-D
    and its p_z is known, so p_g is computable exactly; a histogram of n samples has noise of order
    1/sqrt(n·dx) and a KDE blurs sharp features (a collapsing G's spike), and that estimator error
    would flow straight into D*, the JSD and the Theorem 1 check. Here the only approximation is G's
    piecewise-linear interpolant on ``n_z`` points: a ReLU MLP with a linear output *is* piecewise
    linear in z, so its error is confined to the few z cells holding one of its kinks; for a smooth
    G it is largest where G is steep — for Figure 1's G (a logit layer before the MLP) the two ends
    of z, which hold little mass (a logistic p_g is recovered to 5e-5, tests/test_theory.py).

    Non-monotone G: we sum over preimages, which falls out of the construction: each z cell
    [z_i, z_i+1] (mass p_z of the cell) is spread uniformly over [G(z_i), G(z_i+1)] whatever the
    direction, and contributions of all cells — every monotone branch — add up. A flat cell
    (G' = 0, e.g. mode collapse) becomes a point mass in one x cell instead of an infinite density.
    Mass of G landing outside the grid is lost, so make the grid cover G's range (see ``G_range``).

    ``z_cdf``: p_z's CDF if it is not uniform on [z_low, z_high] (then [z_low, z_high] should hold
    nearly all of its mass).
    """
    z = np.linspace(z_low, z_high, n_z)
    Gz = np.asarray(G(z), dtype=np.float64).reshape(-1)
    if z_cdf is None:
        mass = np.full(n_z - 1, 1.0 / (n_z - 1))  # uniform p_z: equal mass per z cell
    else:
        mass = np.diff(z_cdf(z))
    lo, hi = np.minimum(Gz[:-1], Gz[1:]), np.maximum(Gz[:-1], Gz[1:])
    finite = np.isfinite(lo) & np.isfinite(hi)  # a cell sent to ±inf (or NaN) is mass lost
    lo, hi, mass = lo[finite], hi[finite], mass[finite]
    edges = cell_edges(x)
    cum = _pushed_cdf(lo, hi, mass, edges, flat_width=1e-9 * (edges[-1] - edges[0]))
    # cum is non-decreasing in exact arithmetic; clip the rounding noise of the ramp sums
    return np.maximum(np.diff(cum), 0.0) / (edges[1] - edges[0])


def _pushed_cdf(lo: np.ndarray, hi: np.ndarray, mass: np.ndarray, e: np.ndarray,
                flat_width: float) -> np.ndarray:
    """Σ_i mass_i · P(U_i <= e), U_i uniform on [lo_i, hi_i], at each point of sorted ``e``.

    Each uniform's CDF is (relu(e - lo) - relu(e - hi)) / (hi - lo): sums of ramps, evaluated in
    O((n + len(e)) log n) by sorting the kinks. Segments narrower than ``flat_width`` are steps.
    """
    origin = e[0]  # measure from the grid's left edge: smaller numbers, less cancellation below
    lo, hi, e = lo - origin, hi - origin, e - origin
    width = hi - lo
    flat = width < flat_width
    out = np.zeros_like(e)
    if flat.any():  # point masses: a step at lo
        order = np.argsort(lo[flat])
        a, s = lo[flat][order], np.cumsum(mass[flat][order])
        k = np.searchsorted(a, e, side="right")
        out += np.where(k > 0, s[np.maximum(k - 1, 0)], 0.0)
    slope = mass[~flat] / width[~flat]
    for kinks, sign in ((lo[~flat], 1.0), (hi[~flat], -1.0)):  # sign·slope·relu(e - kink)
        order = np.argsort(kinks)
        a, s = kinks[order], slope[order]
        S, T = np.concatenate([[0.0], np.cumsum(s)]), np.concatenate([[0.0], np.cumsum(s * a)])
        k = np.searchsorted(a, e, side="right")  # kinks strictly left of (or at) e
        out += sign * (e * S[k] - T[k])
    return out


def G_range(G: Callable[[np.ndarray], np.ndarray], z_low: float = -SQRT_3, z_high: float = SQRT_3,
            n_z: int = 20_001) -> tuple[float, float]:
    """min and max of G over the z grid used by :func:`density_of_G_1d` (to size the x grid)."""
    Gz = np.asarray(G(np.linspace(z_low, z_high, n_z)), dtype=np.float64)
    return float(Gz.min()), float(Gz.max())
