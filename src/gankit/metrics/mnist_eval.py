"""Registry entries of the classifier-based MNIST metrics (offline, no Inception weights needed).

Each draws samples, runs gankit's MNIST classifier (:mod:`.mnist_classifier`) and hands arrays to
the maths in :mod:`.features` and :mod:`.modes`. Every result carries the real-data ceiling:
the same metric computed on held-out real images (``real_*``), cached beside the classifier.

- ``mnist_classes10k``: class coverage, KL(class histogram || uniform) with its noise floor, MNIST IS.
- ``mnist_fd10k``: Fréchet distance on the classifier's 128-d features against 10,000 training images.
- ``mnist_pr10k``: precision/recall (k = 3), density/coverage (k = 5) in the same space.
- ``stacked_modes26k``: Stacked MNIST modes (distinct digit triples) and KL over 1,000 modes.

Reference set: the first 10,000 training images (the data G learned from). Ceiling: the 10,000
test images scored against that same reference (for Stacked MNIST: 26,000 stacked test images).
"""

from __future__ import annotations

import json
import math
from typing import Callable

import torch

from gankit.errors import GankitError
from gankit.metrics import features as F
from gankit.metrics import modes
from gankit.metrics.mnist_classifier import N_CLASSES, cache_folder, classifier_for, predict
from gankit.utils.atomic import atomic_path

N_MNIST = 10_000
N_STACKED = 26_000
IS_SPLITS = 10


# --- inputs ----------------------------------------------------------------------------------------

def _mnist_of(dataset):
    """The MNIST dataset behind ``dataset`` (itself, or Stacked MNIST's source)."""
    if dataset.name == "mnist":
        return dataset
    source = getattr(dataset, "mnist", None)
    if source is not None:
        return source
    raise GankitError(f"the classifier-based MNIST metrics need MNIST data, not dataset "
                      f"'{dataset.name}'; evaluate an mnist run or a sample file of MNIST digits")


def _draw(sample: Callable[[int, int], torch.Tensor], n: int, seed: int, channels: int
          ) -> torch.Tensor:
    """n samples as ``[N, channels, 28, 28]`` in [0, 1], or a GankitError naming the problem."""
    x = torch.as_tensor(sample(n, seed)).detach().float().cpu()
    if x.dim() < 2 or math.prod(x.shape[1:]) != channels * 784:
        raise GankitError(f"samples of shape {tuple(x.shape)} are not {channels}x28x28 MNIST images")
    if not bool(torch.isfinite(x).all()):
        raise GankitError("the samples contain NaN or infinite values; the generator has diverged")
    return x.reshape(len(x), channels, 28, 28).clamp(0.0, 1.0)


def _cached(key: str, name: str, compute: Callable[[], dict[str, float]]) -> dict[str, float]:
    """A real-data reference: read from the classifier cache, else computed and stored."""
    path = cache_folder() / f"reference-{key}-{name}.json"
    if path.is_file():
        try:
            return {k: float(v) for k, v in json.loads(path.read_text(encoding="utf-8")).items()}
        except (OSError, ValueError, TypeError, AttributeError):
            pass  # damaged: recompute
    values = compute()
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        with atomic_path(path) as tmp:
            tmp.write_text(json.dumps(values) + "\n", encoding="utf-8")
    except OSError:
        pass
    return values


# --- the maths on classifier outputs ---------------------------------------------------------------

def class_stats(probs: torch.Tensor, splits: int = IS_SPLITS) -> dict[str, float]:
    """Class coverage, KL to uniform (and its noise floor) and the inception score from p(y|x)."""
    counts = modes.label_histogram(probs.argmax(1).numpy(), N_CLASSES)
    is_mean, is_std = F.inception_score(probs, splits)
    return {"classes": float((counts > 0).sum()),
            "min_class_percent": 100.0 * float(counts.min()) / len(probs),
            "kl": modes.kl_to_uniform(counts), "kl_noise_floor": modes.kl_noise_floor(N_CLASSES, len(probs)),
            "is_mean": is_mean, "is_std": is_std, "n": float(len(probs))}


def _reference_features(model, mnist) -> torch.Tensor:
    return predict(model, mnist.train[:N_MNIST])[1]


# --- registry entries ------------------------------------------------------------------------------

def mnist_classes_metric(sample, dataset, *, seed: int = 0, n_samples: int = N_MNIST,
                         reference: bool = True) -> dict[str, float]:
    """Registry entry ``mnist_classes10k``: class coverage, KL to uniform, MNIST IS."""
    mnist = _mnist_of(dataset)
    model, key, info = classifier_for(mnist)
    values = class_stats(predict(model, _draw(sample, n_samples, seed, 1))[0])
    if reference:
        ref = _cached(key, f"classes-{N_MNIST}",
                      lambda: class_stats(predict(model, mnist.test[:N_MNIST])[0]))
        values.update({f"real_{k}": v for k, v in ref.items() if k in ("classes", "kl", "is_mean",
                                                                           "is_std", "min_class_percent")})
    values["classifier_test_accuracy"] = float(info.get("test_accuracy", float("nan")))
    return values


def mnist_fd_metric(sample, dataset, *, seed: int = 0, n_samples: int = N_MNIST,
                    reference: bool = True) -> dict[str, float]:
    """Registry entry ``mnist_fd10k``: Fréchet distance of classifier features to 10k train images."""
    mnist = _mnist_of(dataset)
    model, key, _ = classifier_for(mnist)
    real = _reference_features(model, mnist)
    fake = predict(model, _draw(sample, n_samples, seed, 1))[1]
    values = {"fd": F.frechet_distance_of(real, fake), "n": float(len(fake))}
    if reference:
        values["real_fd"] = _cached(key, f"fd-{N_MNIST}", lambda: {"fd": F.frechet_distance_of(
            real, predict(model, mnist.test[:N_MNIST])[1])})["fd"]
    return values


def mnist_pr_metric(sample, dataset, *, seed: int = 0, n_samples: int = N_MNIST,
                    reference: bool = True) -> dict[str, float]:
    """Registry entry ``mnist_pr10k``: precision/recall (k=3), density/coverage (k=5)."""
    mnist = _mnist_of(dataset)
    model, key, _ = classifier_for(mnist)
    real = _reference_features(model, mnist)
    fake = predict(model, _draw(sample, n_samples, seed, 1))[1]
    values = F.manifold_metrics(real, fake, k_pr=3, k_dc=5)
    if reference:
        ref = _cached(key, f"pr-{N_MNIST}", lambda: F.manifold_metrics(
            real, predict(model, mnist.test[:N_MNIST])[1], k_pr=3, k_dc=5))
        values.update({f"real_{k}": v for k, v in ref.items()})
    values["n"] = float(len(fake))
    return values


def stacked_mode_stats(model, x: torch.Tensor) -> dict[str, float]:
    """Distinct digit triples and KL(triple histogram || uniform over 1000) of ``[N, 3, 28, 28]``."""
    digits = torch.stack([predict(model, x[:, c:c + 1])[0].argmax(1) for c in range(3)], 1)
    counts = modes.label_histogram((digits[:, 0] * 100 + digits[:, 1] * 10 + digits[:, 2]).numpy(),
                                   1000)
    return {"modes": float((counts > 0).sum()), "kl": modes.kl_to_uniform(counts),
            "kl_noise_floor": modes.kl_noise_floor(1000, len(x)), "n": float(len(x))}


def stacked_modes_metric(sample, dataset, *, seed: int = 0, n_samples: int = N_STACKED,
                         reference: bool = True) -> dict[str, float]:
    """Registry entry ``stacked_modes26k``: Stacked MNIST modes and KL (docs/benchmarks.md sec. 2)."""
    mnist = _mnist_of(dataset)
    model, key, _ = classifier_for(mnist)
    values = stacked_mode_stats(model, _draw(sample, n_samples, seed, 3))
    if reference:
        def real_stats() -> dict[str, float]:
            from gankit.data.stacked_mnist import stacked_from_mnist

            real = stacked_from_mnist(mnist, sizes={"train": 0, "val": 0, "test": N_STACKED}).test
            return stacked_mode_stats(model, real)

        ref = _cached(key, f"stacked-{N_STACKED}", real_stats)
        values.update(real_modes=ref["modes"], real_kl=ref["kl"])
    return values


_COMMON = {"classifier": "gankit MNIST CNN (metrics/mnist_classifier.py), trained on MNIST train "
                         "(50,000), cached by data hash", "generator_mode": "eval (dropout off)"}
CLASSES_PROTOCOL = {**_COMMON, "n_samples": N_MNIST, "is_splits": IS_SPLITS,
                    "real_reference": "MNIST test images [0:10000]",
                    "kl_noise_floor": "(K-1)/(2N): expected KL of N exactly uniform labels"}
FD_PROTOCOL = {**_COMMON, "n_samples": N_MNIST, "features": "128-d penultimate layer",
               "against": "MNIST train images [0:10000]",
               "real_reference": "MNIST test images [0:10000] against the same train images"}
PR_PROTOCOL = {**FD_PROTOCOL, "k_precision_recall": 3, "k_density_coverage": 5}
STACKED_PROTOCOL = {**_COMMON, "n_samples": N_STACKED, "modes": 1000,
                    "kl": "KL(triple histogram || uniform over 1000), nats",
                    "real_reference": "26,000 stacked MNIST test images (seed 4321)",
                    "kl_noise_floor": "(K-1)/(2N) = 0.0192 at N = 26,000"}
