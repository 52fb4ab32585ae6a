"""Feature-space maths (metrics/features.py) against closed forms and brute force."""

from __future__ import annotations

import math

import numpy as np
import pytest
import scipy.linalg
import torch

from gankit.metrics import features as F
from gankit.metrics.features import (frechet_distance, frechet_distance_of, inception_score,
                                     knn_radii, manifold_metrics, mean_cov)


def test_frechet_of_diagonal_gaussians_is_closed_form():
    # diagonal: FD = ||mu1 - mu2||^2 + sum_i (sqrt(a_i) - sqrt(b_i))^2
    mu1, mu2 = np.array([0.0, 1.0, 2.0]), np.array([1.0, 1.0, 0.0])
    a, b = np.array([1.0, 4.0, 9.0]), np.array([4.0, 1.0, 0.25])
    want = 1 + 0 + 4 + (1 - 2) ** 2 + (2 - 1) ** 2 + (3 - 0.5) ** 2
    assert frechet_distance(mu1, np.diag(a), mu2, np.diag(b)) == pytest.approx(want, rel=1e-12)


def test_frechet_of_one_gaussian_to_itself_is_zero():
    rng = np.random.default_rng(0)
    m = rng.normal(size=(5, 5))
    s = m @ m.T
    assert frechet_distance(np.ones(5), s, np.ones(5), s) == pytest.approx(0.0, abs=1e-9)


def test_frechet_matches_scipy_sqrtm_for_general_covariances():
    rng = np.random.default_rng(1)
    a, b = rng.normal(size=(6, 6)), rng.normal(size=(6, 6))
    s1, s2 = a @ a.T + 0.1 * np.eye(6), b @ b.T + 0.1 * np.eye(6)
    mu1, mu2 = rng.normal(size=6), rng.normal(size=6)
    covmean = scipy.linalg.sqrtm(s1 @ s2).real
    want = float((mu1 - mu2) @ (mu1 - mu2) + np.trace(s1 + s2 - 2 * covmean))
    assert frechet_distance(mu1, s1, mu2, s2) == pytest.approx(want, rel=1e-9)


def test_frechet_of_a_singular_covariance_is_real_and_finite():
    s = np.diag([1.0, 0.0, 0.0])
    assert frechet_distance(np.zeros(3), s, np.zeros(3), np.eye(3)) == pytest.approx(2.0)


def test_frechet_from_features_uses_the_unbiased_covariance():
    x = np.array([[0.0], [2.0]])
    mu, cov = mean_cov(x)
    assert mu[0] == 1.0 and cov[0, 0] == 2.0
    assert frechet_distance_of(x, x + 3.0) == pytest.approx(9.0)


def brute_manifold(real, fake, k_pr, k_dc):
    d_rr = np.linalg.norm(real[:, None] - real[None], axis=-1)
    d_ff = np.linalg.norm(fake[:, None] - fake[None], axis=-1)
    d_fr = np.linalg.norm(fake[:, None] - real[None], axis=-1)  # [M, N]
    r_pr, r_dc = np.sort(d_rr, 1)[:, k_pr], np.sort(d_rr, 1)[:, k_dc]
    f_pr = np.sort(d_ff, 1)[:, k_pr]
    return {"precision": (d_fr <= r_pr[None]).any(1).mean(),
            "recall": (d_fr <= f_pr[:, None]).any(0).mean(),
            "density": (d_fr <= r_dc[None]).sum() / (k_dc * len(fake)),
            "coverage": (d_fr.min(0) <= r_dc).mean()}


def test_manifold_metrics_on_a_toy_point_set():
    """Reals 0..9 on a line (every k=1 radius is 1); fakes 0, 0.5, 1.5 (worked by hand)."""
    real = np.arange(10.0)[:, None]
    fake = np.array([[0.0], [0.5], [1.5]])
    got = manifold_metrics(real, fake, k_pr=1, k_dc=1)
    # every fake is within 1 of a real; fake radii 0.5, 0.5, 1.0 hold reals {0}, {0, 1}, {1, 2}
    # each fake lies in exactly two real balls; reals 0, 1, 2 have a fake within 1
    assert got == {"precision": 1.0, "recall": 0.3, "density": 2.0, "coverage": 0.3}


def test_manifold_metrics_match_brute_force_whatever_the_block(monkeypatch):
    rng = np.random.default_rng(2)
    real, fake = rng.normal(size=(60, 4)), rng.normal(loc=0.5, size=(45, 4))
    want = brute_manifold(real, fake, 3, 5)
    for block in (F.BLOCK_ELEMENTS, 100, 1):
        monkeypatch.setattr(F, "BLOCK_ELEMENTS", block)
        got = manifold_metrics(real, fake, 3, 5)
        for key in want:
            assert got[key] == pytest.approx(want[key], abs=1e-12), (block, key)


def test_identical_sets_are_perfect():
    x = np.random.default_rng(3).normal(size=(50, 3))
    got = manifold_metrics(x, x, 3, 5)
    assert got["precision"] == 1.0 and got["recall"] == 1.0 and got["coverage"] == 1.0


def test_knn_radii_excludes_the_point_itself():
    x = torch.tensor([[0.0], [1.0], [3.0]])
    torch.testing.assert_close(knn_radii(x, 1), torch.tensor([1.0, 1.0, 4.0], dtype=torch.float64))
    torch.testing.assert_close(knn_radii(x, 2), torch.tensor([9.0, 4.0, 9.0], dtype=torch.float64))
    with pytest.raises(ValueError):
        knn_radii(x, 3)


def test_inception_score_closed_forms():
    onehot = torch.eye(10)[torch.arange(100) % 10]  # confident and balanced in every split
    assert inception_score(onehot) == (pytest.approx(10.0), pytest.approx(0.0, abs=1e-12))
    assert inception_score(torch.full((100, 10), 0.1))[0] == pytest.approx(1.0)
    # two equally likely classes, confident: IS = 2
    assert inception_score(torch.eye(10)[torch.arange(100) % 2])[0] == pytest.approx(2.0)
    # p(y|x) = (0.75, 0.25) for all x: p(y|x) = p(y), KL = 0
    assert inception_score(torch.tensor([[0.75, 0.25]]).repeat(20, 1))[0] == pytest.approx(1.0)


def test_inception_score_of_soft_predictions():
    # half the samples (0.9, 0.1), half (0.1, 0.9) in each split: KL = 0.9 log 1.8 + 0.1 log 0.2
    p = torch.tensor([[0.9, 0.1], [0.1, 0.9]], dtype=torch.float64).repeat(50, 1)
    want = math.exp(0.9 * math.log(1.8) + 0.1 * math.log(0.2))
    assert inception_score(p)[0] == pytest.approx(want, rel=1e-12)
