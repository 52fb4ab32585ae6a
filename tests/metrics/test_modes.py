"""Mode coverage maths (metrics/modes.py) and the toy_modes registry entry."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from gankit.data import load_dataset
from gankit.data.toy import GRID25_STD, RING8_STD, grid25_means, ring8_means
from gankit.errors import GankitError
from gankit.metrics import METRICS
from gankit.metrics.modes import (HQ_CEILING_2D, kl_noise_floor, kl_to_uniform, label_histogram,
                                  toy_mode_stats, toy_modes_metric)


def test_kl_of_known_histograms():
    assert kl_to_uniform([5, 5, 5, 5]) == 0.0
    assert kl_to_uniform([0, 7, 0, 0]) == pytest.approx(math.log(4))
    assert kl_to_uniform([3, 1]) == pytest.approx(0.75 * math.log(1.5) + 0.25 * math.log(0.5))
    assert math.isnan(kl_to_uniform([0, 0]))


def test_kl_noise_floor_is_the_expected_kl_of_uniform_samples():
    assert kl_noise_floor(1000, 26_000) == pytest.approx(0.0192, abs=1e-4)  # benchmarks.md
    rng = np.random.default_rng(0)
    k, n = 10, 2000
    kls = [kl_to_uniform(rng.multinomial(n, np.full(k, 1 / k))) for _ in range(2000)]
    assert np.mean(kls) == pytest.approx(kl_noise_floor(k, n), rel=0.1)


def test_label_histogram():
    assert label_histogram([0, 2, 2, 4], 5).tolist() == [1, 0, 2, 0, 1]


def test_ring_has_eight_distinct_means():
    m = ring8_means()
    d = torch.cdist(m, m) + torch.eye(8) * 9
    assert float(d.min()) == pytest.approx(2 * math.sin(math.pi / 8))  # neighbours, none repeated


def test_samples_on_every_mean():
    x = grid25_means().repeat(4, 1)
    s = toy_mode_stats(x, grid25_means(), GRID25_STD)
    assert s == {"modes": 25.0, "hq_percent": 100.0, "kl": 0.0, "spread": 0.0, "n_modes": 25.0,
                 "n": 100.0}


def test_collapsed_onto_two_modes():
    means = ring8_means()
    x = torch.cat([means[:1].repeat(30, 1), means[3:4].repeat(30, 1) + torch.tensor([0.029, 0.0], dtype=torch.float64)])  # 2.9 sigma off
    s = toy_mode_stats(x, means, RING8_STD)
    assert s["modes"] == 2 and s["hq_percent"] == 100.0 and s["kl"] == pytest.approx(math.log(4))


def test_low_quality_samples_count_for_nothing():
    means = ring8_means()
    x = torch.cat([means[:2] + torch.tensor([0.031, 0.0], dtype=torch.float64), torch.zeros(2, 2, dtype=torch.float64)])  # 3.1 sigma off, and the centre
    s = toy_mode_stats(x, means, RING8_STD)
    assert s["modes"] == 0 and s["hq_percent"] == 0.0 and math.isnan(s["kl"])
    s = toy_mode_stats(torch.cat([x, means[5:6]]), means, RING8_STD)
    assert s["modes"] == 1 and s["hq_percent"] == pytest.approx(20.0) and s["kl"] == pytest.approx(math.log(8))


@pytest.mark.parametrize("name", ["ring8", "grid25"])
def test_toy_modes_metric_real_data_is_the_ceiling(name):
    data = load_dataset(name)
    real = data.train[:2500]
    v = toy_modes_metric(lambda n, seed: real[:n], data)
    assert v["modes"] == v["n_modes"] == v["real_modes"]
    assert v["hq_percent"] == pytest.approx(100 * HQ_CEILING_2D, abs=1.0)
    assert v["real_hq_percent"] == pytest.approx(100 * HQ_CEILING_2D, abs=1.0)
    assert v["kl"] < 0.02 and v["n"] == 2500.0
    assert "toy_modes" in METRICS


def test_toy_modes_metric_refuses_other_data():
    with pytest.raises(GankitError, match="ring8 and grid25"):
        toy_modes_metric(lambda n, s: torch.zeros(n, 2), load_dataset("gauss1d"))
    with pytest.raises(GankitError, match=r"\[N, 2\]"):
        toy_modes_metric(lambda n, s: torch.zeros(n, 3), load_dataset("ring8"))
