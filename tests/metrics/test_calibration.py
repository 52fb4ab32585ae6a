"""Every metric orders sets whose right answer is known (issue 19; the full-size table:
benchmarks/results/metric_calibration.md).

A tiny MNIST made of the embedded 8x8 digits (1,797 images, no download), drawn 20x20 at the centre
of a 28x28 frame like MNIST's; gankit's classifier is trained on its train split in seconds.
The sets: held-out real images, uniform noise, blurred real images, one class only, exact training
copies. Each test fails when a metric ranks them the wrong way round.
"""

from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from gankit.data.base import Dataset
from gankit.data.digits import load_digits
from gankit.data.stacked_mnist import stack_digits, stacked_from_mnist
from gankit.data.toy import GRID25_STD, RING8_STD, grid25_means, ring8_means, sample_mixture
from gankit.metrics import mnist_classifier as mc
from gankit.metrics import mnist_eval
from gankit.metrics.modes import HQ_CEILING_2D, SPREAD_CEILING_2D, toy_mode_stats
from gankit.metrics.parzen import parzen_metric


def as_mnist(images8: torch.Tensor) -> torch.Tensor:
    """8x8 digits [N, 1, 8, 8] drawn 20x20 in the middle of a 28x28 frame (MNIST's layout)."""
    x = F.interpolate(images8, size=(20, 20), mode="bilinear", align_corners=False)
    return F.pad(x, (4, 4, 4, 4)).clamp(0, 1)


def blur(x: torch.Tensor, sigma: float) -> torch.Tensor:
    t = torch.arange(-4, 5, dtype=torch.float32)
    k = torch.exp(-t**2 / (2 * sigma**2))
    k = (k / k.sum()).view(1, 1, 1, 9)
    x = F.conv2d(F.pad(x, (4, 4, 0, 0)), k)
    return F.conv2d(F.pad(x, (0, 0, 4, 4)), k.transpose(2, 3))


@pytest.fixture(scope="module")
def tiny(tmp_path_factory):
    """(dataset, classifier cache folder): digits as MNIST, 1,197 train / 300 val / 300 test."""
    digits = load_digits()
    x, y = as_mnist(digits.train), digits.labels["train"]
    perm = torch.randperm(len(x), generator=torch.Generator().manual_seed(0))
    x, y = x[perm], y[perm]
    tr, va, te = slice(0, 1197), slice(1197, 1497), slice(1497, 1797)
    data = Dataset("mnist", train=x[tr], val=x[va], test=x[te], unit_range=True,
                   labels={"train": y[tr], "val": y[va], "test": y[te]})
    return data, tmp_path_factory.mktemp("cache")


@pytest.fixture(scope="module")
def space(tiny):
    """The tiny dataset with a short recipe and a private cache; the feature space built fresh."""
    data, cache = tiny
    with pytest.MonkeyPatch.context() as mp:
        mp.setitem(mc.RECIPE, "epochs", 4)
        mp.setitem(mc.RECIPE, "batch", 20)
        mp.setenv("GANKIT_DATA", str(cache))
        mp.setattr(mnist_eval, "_SPACES", {})
        yield data


def score(data, x) -> dict[str, float]:
    """Every MNIST metric on the array ``x``, in one flat dict."""
    sample = lambda n, seed: x  # noqa: E731
    n = len(x)
    out = {}
    out.update(mnist_eval.mnist_classes_metric(sample, data, n_samples=n))
    out.update(mnist_eval.mnist_fd_metric(sample, data, n_samples=n))
    out.update(mnist_eval.mnist_pr_metric(sample, data, n_samples=n))
    out["parzen"] = parzen_metric(sample, data, n_samples=n, n_val=100, reference=False)["ll_mean"]
    return out


@pytest.fixture(scope="module")
def scored(space):
    data = space
    g = torch.Generator().manual_seed(1)
    ones = data.train[data.labels["train"] == 1]
    sets = {"heldout": data.val[:200], "noise": torch.rand(200, 1, 28, 28, generator=g),
            "blur": blur(data.train[:200], 2.0), "ones": ones[:200], "copies": data.train[:200]}
    return data, {name: score(data, x) for name, x in sets.items()}


# the direction in which each value gets better
HIGHER = ("precision", "recall", "density", "coverage", "classes", "is_mean", "parzen",
          "confident_percent")
LOWER = ("fd", "kl")


def test_noise_is_the_worst_set_on_every_metric(scored):
    _, s = scored
    for key in HIGHER:
        others = {name: v[key] for name, v in s.items() if name != "noise"}
        assert s["noise"][key] <= min(others.values()), (key, s["noise"][key], others)
    for key in LOWER:
        others = {name: v[key] for name, v in s.items() if name != "noise"}
        assert s["noise"][key] >= max(others.values()), (key, s["noise"][key], others)
    # 0.07 here (300 reference images: wide balls); full MNIST: benchmarks/results/metric_calibration.md
    assert s["noise"]["precision"] < 0.15 and s["noise"]["density"] < 0.1
    assert s["noise"]["classes"] <= 1 and s["noise"]["confident_percent"] < 20
    assert s["noise"]["memorised"] == 0


def test_held_out_real_images_are_near_the_ceiling(scored):
    _, s = scored
    h = s["heldout"]
    for key in ("precision", "recall", "density", "coverage"):
        assert h[key] == pytest.approx(h[f"real_{key}"], abs=0.1), key
    assert h["classes"] == h["real_classes"] == 10
    assert h["is_mean"] == pytest.approx(h["real_is_mean"], rel=0.1)
    assert h["fd"] < 2 * h["real_fd"]
    assert h["memorised"] == 0 and h["real_memorised"] < 0.02


def test_a_collapsed_set_has_low_recall_coverage_and_class_count(scored):
    _, s = scored
    ones, real = s["ones"], s["heldout"]
    assert ones["classes"] == 1
    assert ones["recall"] < 0.3 * real["recall"]
    assert ones["coverage"] < 0.3 * real["coverage"]
    assert ones["kl"] > 1.5 and ones["fd"] > 5 * real["fd"]


def test_blur_has_low_recall(scored):
    _, s = scored
    assert s["blur"]["recall"] < 0.5 * s["heldout"]["recall"]
    assert s["blur"]["fd"] > 3 * s["heldout"]["fd"]
    assert s["blur"]["memorised"] < 0.05  # blurred training images are not copies


def test_copies_are_flagged_as_copies(scored):
    _, s = scored
    assert s["copies"]["memorised"] == 1.0
    for name in ("heldout", "noise", "blur"):
        assert s[name]["memorised"] < 0.05, name
    # the reference is held out, so copies are no better than real data
    assert s["copies"]["precision"] <= s["heldout"]["real_precision"] + 0.1
    assert s["copies"]["fd"] > 0.5 * s["heldout"]["real_fd"]


def test_memorisation_threshold_is_the_closest_held_out_image(space):
    sp = mnist_eval.feature_space(space)
    from gankit.metrics.features import nearest_sq_dists

    d = nearest_sq_dists(sp.ceiling, sp.train)
    assert sp.copy_radius2 == pytest.approx(float(d.min()), rel=1e-4)  # searched in float32
    assert sp.memorised(sp.ceiling) == 0.0  # by construction
    assert sp.memorised(sp.train[:50]) == 1.0


def test_class_counting_needs_confidence_and_share():
    # 10 classes as argmax, but only two confident classes holding >= 1% of the samples
    probs = torch.full((1000, 10), 0.1)
    probs[:500] = torch.nn.functional.one_hot(torch.zeros(500, dtype=torch.long), 10).float()
    probs[500:600] = torch.nn.functional.one_hot(torch.ones(100, dtype=torch.long), 10).float()
    probs[600:605] = torch.nn.functional.one_hot(torch.full((5,), 2), 10).float()  # 0.5%: too few
    probs[605:] = torch.softmax(torch.randn(395, 10, generator=torch.Generator().manual_seed(0)), 1)
    s = mnist_eval.class_stats(probs)
    assert s["classes"] == 2 and s["classes_argmax"] >= 8
    assert s["confident_percent"] == pytest.approx(60.5)


# --- Stacked MNIST: one triple, random triples, noise ------------------------------------------------

def test_stacked_modes_order(space, monkeypatch):
    data = space
    monkeypatch.setattr(mnist_eval, "N_STACKED", 300)
    stacked = stacked_from_mnist(data, {"train": 1, "val": 1, "test": 300})
    g = torch.Generator().manual_seed(3)
    random_triples = stack_digits(data.val, data.labels["val"], 300, g)[0]
    chans = [data.val[data.labels["val"] == d] for d in (3, 1, 4)]
    one = torch.cat([c[torch.randint(len(c), (300,), generator=g)] for c in chans], 1)
    noise = torch.rand(300, 3, 28, 28, generator=g)
    m = {name: mnist_eval.stacked_modes_metric(lambda n, s, x=x: x, stacked, n_samples=300)
         for name, x in (("random", random_triples), ("one", one), ("noise", noise))}
    assert m["random"]["modes"] > 200 and m["random"]["modes"] >= 0.8 * m["random"]["real_modes"]
    # misread digits add a few triples (the protocol counts a mode from one sample); KL sees it
    assert m["one"]["modes"] < 0.05 * m["random"]["modes"] and m["one"]["kl"] > 5.0
    assert m["noise"]["modes"] < 0.2 * m["random"]["modes"]
    assert m["random"]["kl"] < m["noise"]["kl"] and m["random"]["kl"] < m["one"]["kl"]


# --- toy_modes: the means only, uniform over the box --------------------------------------------------

@pytest.mark.parametrize("means, std", [(ring8_means(), RING8_STD), (grid25_means(), GRID25_STD)])
def test_toy_modes_order(means, std):
    g = torch.Generator().manual_seed(5)
    real = toy_mode_stats(sample_mixture(means, std, 2500, g), means, std)
    on_means = toy_mode_stats(means.repeat(100, 1), means, std)
    lo, hi = means.min(0).values - 3 * std, means.max(0).values + 3 * std
    box = toy_mode_stats(lo + (hi - lo) * torch.rand(2500, 2, generator=g, dtype=torch.float64),
                         means, std)
    assert real["modes"] == len(means) and real["hq_percent"] == pytest.approx(
        100 * HQ_CEILING_2D, abs=1.0)
    assert real["spread"] == pytest.approx(SPREAD_CEILING_2D, abs=0.05)
    # on the means: the protocol's three numbers call it perfect; only the spread sees the collapse
    assert on_means["modes"] == len(means) and on_means["hq_percent"] == 100.0
    assert on_means["kl"] == pytest.approx(0.0) and on_means["spread"] == 0.0
    # uniform over the box: most points are far from every mean (low %HQ), the rest too spread out
    assert box["hq_percent"] < 30 and box["spread"] > 1.3
    assert math.isclose(SPREAD_CEILING_2D, 0.9744, abs_tol=1e-4)
