"""Parzen-window log-likelihood (metrics/parzen.py) against closed forms and a brute-force reference."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy.special import logsumexp
from scipy.stats import norm

from gankit.data.base import Dataset
from gankit.errors import GankitError
from gankit.metrics import parzen
from gankit.metrics.parzen import (SIGMAS, parzen_log_likelihood, parzen_log_likelihood_grid,
                                   parzen_protocol, real_data_reference, select_sigma, sigma_scores)


def gaussian_logpdf(x: np.ndarray, mu: np.ndarray, sigma: float) -> np.ndarray:
    """log N(x; mu, sigma^2 I) for each row of x, as a sum of 1-D densities (independent of our code)."""
    return norm.logpdf(x, loc=mu, scale=sigma).sum(axis=1)


def brute_force(samples: np.ndarray, x: np.ndarray, sigma: float) -> np.ndarray:
    """The protocol's formula written out directly: explicit differences, scipy's logsumexp."""
    d2 = ((x[:, None, :] - samples[None, :, :]) ** 2).sum(2)
    n, d = samples.shape
    return (logsumexp(-d2 / (2 * sigma**2), axis=1) - math.log(n)
            - d / 2 * math.log(2 * math.pi * sigma**2))


def test_sigma_grid_is_the_papers():
    assert len(SIGMAS) == 10
    assert SIGMAS[0] == pytest.approx(0.1) and SIGMAS[-1] == pytest.approx(1.0)
    np.testing.assert_allclose(SIGMAS, np.logspace(-1, 0, 10), rtol=0, atol=0)


@pytest.mark.parametrize("sigma", [0.1, 0.37, 1.0])
def test_one_centre_is_exactly_a_gaussian(sigma):
    rng = np.random.default_rng(0)
    mu, x = rng.random((1, 784)), rng.random((5, 784))
    got = parzen_log_likelihood(mu, x, sigma).numpy()
    np.testing.assert_allclose(got, gaussian_logpdf(x, mu, sigma), rtol=1e-12)


def test_two_centres_are_an_equal_mixture():
    rng = np.random.default_rng(1)
    mu, x, sigma = rng.random((2, 20)), rng.random((7, 20)), 0.3
    want = np.logaddexp(gaussian_logpdf(x, mu[0], sigma), gaussian_logpdf(x, mu[1], sigma)) - math.log(2)
    np.testing.assert_allclose(parzen_log_likelihood(mu, x, sigma).numpy(), want, rtol=1e-12)


def test_point_on_a_centre_far_from_the_other():
    # x = mu_1, mu_2 far away: log p = log(1/2) - d/2 log(2 pi sigma^2) (the far term is exp(-1e4))
    d, sigma = 4, 0.1
    mu = np.zeros((2, d))
    mu[1] = 10.0
    got = float(parzen_log_likelihood(mu, mu[:1], sigma)[0])
    assert got == pytest.approx(-math.log(2) - d / 2 * math.log(2 * math.pi * sigma**2), rel=1e-14)


def test_matches_brute_force_for_random_data_and_every_sigma():
    rng = np.random.default_rng(2)
    mu, x = rng.random((300, 64)), rng.random((40, 64))
    grid = parzen_log_likelihood_grid(mu, x, SIGMAS).numpy()
    for s, sigma in enumerate(SIGMAS):
        np.testing.assert_allclose(grid[s], brute_force(mu, x, sigma), rtol=1e-10)


def test_batching_does_not_change_the_answer():
    g = torch.Generator().manual_seed(3)
    mu, x = torch.rand(200, 49, generator=g), torch.rand(37, 49, generator=g)
    whole = parzen_log_likelihood_grid(mu, x, SIGMAS, batch=1000)
    for batch in (1, 7, 36, None):
        torch.testing.assert_close(parzen_log_likelihood_grid(mu, x, SIGMAS, batch=batch), whole,
                                   rtol=1e-13, atol=0)


def test_float64_keeps_far_points_finite_and_exact():
    # Distance 100 at sigma 0.1: exponent -5e5, so a naive exp underflows to log(0) = -inf.
    d, sigma = 784, 0.1
    mu = np.zeros((3, d))
    x = np.zeros((1, d))
    x[0, 0] = 100.0
    got = float(parzen_log_likelihood(mu, x, sigma)[0])
    want = -100.0**2 / (2 * sigma**2) - d / 2 * math.log(2 * math.pi * sigma**2)  # 3 equal terms / 3
    assert math.isfinite(got)
    assert got == pytest.approx(want, rel=1e-14)
    # Two centres at distances 100 and 100.1: closed form by logaddexp of the two exponents.
    mu2 = np.zeros((2, d))
    mu2[1, 0] = -0.1
    a, b = -(100.0**2) / (2 * sigma**2), -(100.1**2) / (2 * sigma**2)
    want2 = np.logaddexp(a, b) - math.log(2) - d / 2 * math.log(2 * math.pi * sigma**2)
    assert float(parzen_log_likelihood(mu2, x, sigma)[0]) == pytest.approx(want2, rel=1e-13)


def test_float32_and_image_shaped_inputs_give_the_same_answer():
    g = torch.Generator().manual_seed(4)
    mu, x = torch.rand(50, 1, 28, 28, generator=g), torch.rand(6, 1, 28, 28, generator=g)
    flat = parzen_log_likelihood(mu.reshape(50, -1).double(), x.reshape(6, -1).double(), 0.2)
    torch.testing.assert_close(parzen_log_likelihood(mu, x, 0.2), flat, rtol=0, atol=0)


def test_sigma_selection_recovers_the_kernel_that_made_the_data():
    # Points drawn from the Parzen density itself (a random centre plus sigma* noise): the expected
    # log-likelihood is highest at sigma* (Gibbs' inequality), so selection must pick it from the grid.
    rng = np.random.default_rng(5)
    centres = rng.random((30, 8))
    for true in (SIGMAS[2], SIGMAS[5]):
        val = centres[rng.integers(0, 30, 3000)] + true * rng.standard_normal((3000, 8))
        assert select_sigma(centres, val) == pytest.approx(true)
        scores = sigma_scores(centres, val).numpy()
        assert scores.argmax() == list(SIGMAS).index(true)


def test_sigma_selection_picks_the_first_of_tied_sigmas():
    mu, val = np.zeros((1, 2)), np.zeros((1, 2))
    # At distance 0 a smaller sigma always scores higher: the smallest wins
    assert select_sigma(mu, val, sigmas=[0.5, 0.2, 0.2, 1.0]) == 0.2


def test_protocol_mean_and_standard_error():
    rng = np.random.default_rng(6)
    mu, val, test = rng.random((100, 16)), rng.random((50, 16)), rng.random((40, 16))
    r = parzen_protocol(mu, val, test, n_val=20)
    sigma = SIGMAS[int(np.argmax([brute_force(mu, val[:20], s).mean() for s in SIGMAS]))]
    ll = brute_force(mu, test, sigma)
    assert r.sigma == sigma
    assert r.ll_mean == pytest.approx(ll.mean(), rel=1e-10)
    assert r.ll_se == pytest.approx(ll.std() / math.sqrt(40), rel=1e-8)  # numpy's ddof = 0
    assert (r.n_samples, r.n_val, r.n_test) == (100, 20, 40)
    assert len(r.val_ll) == len(SIGMAS)


def tiny_dataset(name="mnist", seed=7) -> Dataset:
    g = torch.Generator().manual_seed(seed)
    return Dataset(name, train=torch.rand(60, 1, 4, 4, generator=g),
                   val=torch.rand(30, 1, 4, 4, generator=g), test=torch.rand(20, 1, 4, 4, generator=g))


def test_real_data_reference_is_cached_and_uses_disjoint_sigma_images(tmp_path, monkeypatch):
    monkeypatch.setenv("GANKIT_DATA", str(tmp_path))
    data = tiny_dataset()
    r1 = real_data_reference(data, n_samples=25, n_val=10)
    # centres: val[:25]; sigma chosen on train[:10]; evaluated on all of test
    want = parzen_protocol(data.val[:25], data.train[:10], data.test, n_val=10)
    assert r1 == want
    assert len(list((tmp_path / "parzen-reference").glob("mnist-*.json"))) == 1
    assert real_data_reference(data, n_samples=25, n_val=10) == r1  # read back from the cache
    data.test[0] += 0.01  # other data, other cache entry
    real_data_reference(data, n_samples=25, n_val=10)
    assert len(list((tmp_path / "parzen-reference").glob("mnist-*.json"))) == 2


def test_metric_reports_references_and_refuses_data_without_held_out_images(tmp_path, monkeypatch):
    monkeypatch.setenv("GANKIT_DATA", str(tmp_path))
    data = tiny_dataset()
    g = torch.Generator().manual_seed(8)
    x = torch.rand(40, 1, 4, 4, generator=g)
    v = parzen.parzen_metric(lambda n, seed: x, data, n_val=10)
    assert {"ll_mean", "ll_se", "sigma", "n_samples", "real_ll_mean", "real_sigma",
            "paper_ll_mean", "paper_ll_se"} <= set(v)
    assert v["n_samples"] == 40 and (v["paper_ll_mean"], v["paper_ll_se"]) == (225.0, 2.0)
    # the selection score: every validation image (not only the n_val that chose sigma), same sigma
    flat = x.reshape(40, -1).double().numpy()
    assert v["val_ll_mean"] == pytest.approx(
        brute_force(flat, data.val.reshape(30, -1).double().numpy(), v["sigma"]).mean(), rel=1e-10)
    assert v["n_val_all"] == 30 and v["n_val"] == 10
    assert all(isinstance(val, float) for val in v.values())
    with pytest.raises(GankitError, match="held-out"):
        parzen.parzen_metric(lambda n, seed: x, Dataset("digits", train=data.train))
    with pytest.raises(GankitError, match="do not match"):
        parzen.parzen_metric(lambda n, seed: torch.rand(5, 3), data)
    with pytest.raises(GankitError, match="NaN"):
        parzen.parzen_metric(lambda n, seed: torch.full((5, 16), float("nan")), data)
