"""gankit.theory: Proposition 1, Theorem 1 and the change of variables, against closed forms."""

import math

import numpy as np
import pytest
import torch

from gankit import theory as T
from gankit.algorithm1 import d_step
from gankit.nets import Discriminator, sample_noise

# dx = 0.001, cell edges on multiples of dx (so uniforms' jumps fall on edges); the grid holds all
# but ~1e-20 of every density below
X = (np.arange(-20_000, 22_000) + 0.5) * 0.001


def cells(cdf):
    return T.cell_average(cdf, X)


def gauss(mean, std):
    return cells(lambda e: T.gaussian_cdf(e, mean, std))


def uniform(a, b):
    return cells(lambda e: np.clip((e - a) / (b - a), 0, 1))


# --- closed forms -------------------------------------------------------------------------------

def test_optimal_discriminator_of_two_unit_gaussians_is_logistic():
    # log N(x; 0, 1) - log N(x; 1, 1) = 1/2 - x, so D* = sigmoid(1/2 - x) exactly
    x = np.linspace(-5, 6, 111)
    D_star = T.optimal_discriminator(T.gaussian_pdf(x, 0, 1), T.gaussian_pdf(x, 1, 1))
    np.testing.assert_allclose(D_star, 1 / (1 + np.exp(x - 0.5)), rtol=1e-12)


def test_optimal_discriminator_is_one_half_where_both_densities_vanish():
    np.testing.assert_array_equal(T.optimal_discriminator([0.0, 1.0, 0.0], [0.0, 0.0, 2.0]),
                                  [0.5, 1.0, 0.0])


def test_kl_of_gaussians_matches_closed_form():
    m1, s1, m2, s2 = 0.3, 0.8, -0.5, 1.7
    exact = math.log(s2 / s1) + (s1**2 + (m1 - m2) ** 2) / (2 * s2**2) - 0.5
    assert T.kl(gauss(m1, s1), gauss(m2, s2), X) == pytest.approx(exact, abs=1e-6)


def test_jsd_closed_forms():
    # U[0,1] vs U[0,2]: m = 3/4 on [0,1], 1/4 on [1,2] -> JSD = (3/4) log(4/3)
    assert T.jsd(uniform(0, 1), uniform(0, 2), X) == pytest.approx(0.75 * math.log(4 / 3), abs=1e-9)
    # disjoint supports: JSD = log 2, so C(G) = -log 4 + 2 log 2 = 0
    p, q = uniform(0, 1), uniform(2, 3)
    assert T.jsd(p, q, X) == pytest.approx(math.log(2), abs=1e-10)
    assert T.virtual_criterion(p, q, X) == pytest.approx(0.0, abs=1e-10)


def test_value_V_at_D_one_half_is_minus_log_4():
    p, q = gauss(0, 1), gauss(3, 0.5)
    assert T.value_V(np.full_like(X, 0.5), p, q, X) == pytest.approx(-T.LOG_4, abs=1e-10)


# --- Theorem 1 --------------------------------------------------------------------------------------

PAIRS = {
    "shifted gaussians": (gauss(0, 1), gauss(1, 1)),
    "different widths": (gauss(2, 0.5), gauss(2, 2.0)),
    "mixture vs gaussian": (cells(lambda e: T.mixture_cdf(e, (-2, 2), (0.5, 0.5))), gauss(0, 1)),
    "uniform vs gaussian": (uniform(-1, 1), gauss(0.5, 0.3)),
    "far apart": (gauss(-5, 0.3), gauss(5, 0.3)),
}


@pytest.mark.parametrize("name", PAIRS)
def test_theorem1_C_of_G_is_minus_log4_plus_2_jsd(name):
    p_data, p_g = PAIRS[name]
    C_G = T.virtual_criterion(p_data, p_g, X)
    assert C_G == pytest.approx(T.theorem1_rhs(p_data, p_g, X), abs=1e-10)  # rounding of 42,000-term sums
    assert C_G > -T.LOG_4
    # D* maximises V: any other D gives less (Prop. 1)
    for D in (np.full_like(X, 0.5), np.clip(T.optimal_discriminator(p_data, p_g) + 0.05, 0, 1)):
        assert T.value_V(D, p_data, p_g, X) < C_G


@pytest.mark.parametrize("p", [gauss(0.7, 1.3), uniform(-2, 3), PAIRS["mixture vs gaussian"][0]])
def test_theorem1_global_minimum_when_p_g_equals_p_data(p):
    assert T.jsd(p, p, X) == pytest.approx(0.0, abs=1e-15)
    assert T.virtual_criterion(p, p, X) == pytest.approx(-T.LOG_4, abs=1e-10)
    np.testing.assert_allclose(T.optimal_discriminator(p, p)[p > 0], 0.5)


# --- p_g by the change of variables -------------------------------------------------------------

def test_density_of_linear_G_is_uniform():
    x = np.linspace(-1, 5, 6001)
    p_g = T.density_of_G_1d(lambda z: 2 + 0.5 * z, x)  # U(-sqrt3, sqrt3) -> U(2 ± sqrt3/2)
    exact = T.cell_average(lambda e: np.clip((e - 2 + math.sqrt(3) / 2) / math.sqrt(3), 0, 1), x)
    np.testing.assert_allclose(p_g, exact, atol=1e-6)
    assert p_g.sum() * 0.001 == pytest.approx(1.0, abs=1e-9)


def test_density_of_inverse_cdf_G_is_gaussian():
    from scipy.special import ndtri

    x = np.linspace(-3, 7, 2001)
    G = lambda z: 2 + 0.5 * ndtri((z + T.SQRT_3) / (2 * T.SQRT_3))  # noqa: E731
    p_g = T.density_of_G_1d(G, x, n_z=100_001)
    exact = T.cell_average(lambda e: T.gaussian_cdf(e, 2, 0.5), x)
    np.testing.assert_allclose(p_g, exact, atol=2e-3)  # only the two infinite end cells are lost
    assert T.jsd(p_g, exact, x) < 1e-5


def test_density_of_G_with_unbounded_slope_at_the_ends_is_logistic():
    # x = logit(u), u = (z + sqrt3) / (2 sqrt3) uniform: p_g is the logistic density, CDF sigmoid(x).
    # G' -> inf at both ends of z (the shape of figure1's LogitInput G); the clamp keeps G finite.
    x = (np.arange(-2_200, 2_200) + 0.5) * 0.01
    u = lambda z: np.clip((z + T.SQRT_3) / (2 * T.SQRT_3), 1e-9, 1 - 1e-9)  # noqa: E731
    p_g = T.density_of_G_1d(lambda z: np.log(u(z)) - np.log1p(-u(z)), x)
    exact = T.cell_average(lambda e: 1 / (1 + np.exp(-e)), x)
    # the error is G's linear interpolation between z points where G is steep, near the ends
    # (measured: max 4.5e-5, JSD 3.4e-5 with 20,001 z points; 4.4e-6 and 2.9e-6 with 200,001)
    np.testing.assert_allclose(p_g, exact, atol=1e-4)
    assert p_g.sum() * 0.01 == pytest.approx(1.0, abs=1e-9)
    assert T.jsd(p_g, exact, x) < 1e-4


def test_density_of_non_monotone_G_sums_over_preimages():
    # x = z^2, z ~ U(-1, 1): two preimages ±sqrt(x), p_g(x) = 1 / (2 sqrt x), CDF sqrt(x)
    x = np.linspace(0.0005, 0.9995, 1000)
    p_g = T.density_of_G_1d(lambda z: z**2, x, z_low=-1, z_high=1)
    exact = T.cell_average(lambda e: np.sqrt(np.clip(e, 0, 1)), x)
    np.testing.assert_allclose(p_g, exact, rtol=1e-3, atol=1e-3)
    assert p_g.sum() * 0.001 == pytest.approx(1.0, abs=1e-9)


def test_density_of_constant_G_is_a_point_mass():
    x = np.linspace(-1, 1, 201)
    p_g = T.density_of_G_1d(lambda z: np.full_like(z, 0.3), x)
    assert p_g.sum() * 0.01 == pytest.approx(1.0)
    assert x[p_g.argmax()] == pytest.approx(0.3) and np.count_nonzero(p_g) == 1


# --- Proposition 1, by training -----------------------------------------------------------------

class FixedG(torch.nn.Module):
    """A G whose p_g is known: z ~ U(-sqrt3, sqrt3) -> N(mean, std^2) by the inverse CDF."""

    def __init__(self, mean: float, std: float):
        super().__init__()
        self.mean, self.std = mean, std

    def forward(self, z):
        u = (z + math.sqrt(3)) / (2 * math.sqrt(3))
        return self.mean + self.std * torch.special.ndtri(u.clamp(1e-6, 1 - 1e-6))


@pytest.mark.parametrize("g_mean,g_std", [(1.0, 1.0), (0.0, 2.0)])
def test_proposition1_trained_D_approaches_D_star(g_mean, g_std):
    """Algorithm 1's inner loop alone (G fixed, p_g known) drives D to D* = p_data/(p_data + p_g).

    Tolerance 0.03 where p_data + p_g >= 1% of its peak: D sees ~800k examples of each kind, so the
    remaining error is minibatch noise, measured at about 0.006; beyond that region the objective
    hardly depends on D (Eq. 3 weights D's error by p_data + p_g), so D is not expected to match.
    """
    G = FixedG(g_mean, g_std)
    D = Discriminator((1,), (32, 32))
    opt = torch.optim.Adam(D.parameters(), lr=3e-3)
    sched = torch.optim.lr_scheduler.CosineAnnealingLR(opt, 800)  # anneal away the noise
    gen = torch.Generator().manual_seed(1)
    for _ in range(800):
        x_real = torch.randn(512, 1, generator=gen)  # p_data = N(0, 1)
        d_step(G, D, opt, x_real, sample_noise(512, 1, "uniform", gen))
        sched.step()
    x = np.linspace(-6, 6, 1201)
    with torch.no_grad():
        D_x = torch.sigmoid(D(torch.tensor(x, dtype=torch.float32)[:, None])).double().numpy()
    p_data, p_g = T.gaussian_pdf(x, 0, 1), T.gaussian_pdf(x, g_mean, g_std)
    near = p_data + p_g >= 0.01 * (p_data + p_g).max()
    assert np.abs(D_x - T.optimal_discriminator(p_data, p_g))[near].max() < 0.03
