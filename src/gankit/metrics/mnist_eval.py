"""Registry entries of the classifier-based MNIST metrics (offline, no Inception weights needed).

Each draws samples, runs gankit's MNIST classifier (:mod:`.mnist_classifier`) and hands arrays to
the maths in :mod:`.features` and :mod:`.modes`. Protocol 2 (``PROTOCOL_VERSION``; every result
line carries it in ``protocol.version``; numbers of protocol 1 are not comparable):

- ``mnist_classes10k``: classes counted only where at least ``MIN_CLASS_SHARE`` (1 %) of the samples
  are classified with confidence >= ``CONFIDENCE`` (0.9), the share of confident samples,
  KL(argmax histogram || uniform) with its noise floor, MNIST IS.
- ``mnist_fd10k``: Fréchet distance in the standardised feature space (below).
- ``mnist_pr10k``: precision/recall (k = 3), density/coverage (k = 5) in the same space.
- ``stacked_modes26k``: Stacked MNIST modes (distinct digit triples) and KL over 1,000 modes
  (unchanged: protocol 1, the literature's).

The feature space (640-d): the classifier's second conv block (512, pooled, after ReLU) beside its
penultimate layer (128), each unit standardised by its mean and standard deviation over the
classifier's own training images. Protocol 1 used the penultimate layer raw: its units with the
largest spread dominate every distance, and uniform noise, which the classifier barely activates,
lands near the origin inside the k-NN ball of one faint real digit (precision called noise 97.5 %
precise; docs/metrics.md). The penultimate layer standardised still put noise in two faint test
digits' balls (0.29): a classifier's last layer maps "no digit" and "a faint digit" alike. The
conv block keeps what the strokes look like, and standardised noise is far from every real ball.

Reference and ceiling: samples are compared with the 10,000 MNIST *test* images, which neither G
nor the classifier saw; the ceiling (``real_*``) is the 10,000 validation images (train[50000:60000],
held out from G) scored the same way. Memorisation, beside every feature metric: ``memorised`` is
the share of samples whose nearest training image (G's 50,000, in the feature space) is closer
than the nearest training image of every held-out validation image; ``real_memorised`` is the
same share for the test images (about 0).
"""

from __future__ import annotations

import json
import math
import hashlib
from dataclasses import dataclass, field
from typing import Callable

import torch

from gankit.errors import GankitError
from gankit.metrics import features as F
from gankit.metrics import modes
from gankit.metrics.mnist_classifier import N_CLASSES, cache_folder, classifier_for, predict
from gankit.utils.atomic import atomic_path

PROTOCOL_VERSION = 2
N_MNIST = 10_000
N_STACKED = 26_000
IS_SPLITS = 10
#: A sample counts towards its class only when the classifier gives that class at least this.
CONFIDENCE = 0.9
#: A class is covered when at least this share of the samples is confidently in it (a tenth of a
#: uniform generator's share): a few confident misreads or scribbles do not make a class covered.
MIN_CLASS_SHARE = 0.01


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


# --- the feature space -----------------------------------------------------------------------------

@dataclass(frozen=True)
class FeatureSpace:
    """The classifier and everything the feature metrics compare against (one per classifier).

    ``mean``/``std`` [128] standardise the features; ``train`` [N_train, 128] are G's training
    images in that space; ``reference`` the test images, ``ceiling`` the validation images;
    ``copy_radius2`` the squared distance under which a sample counts as memorised.
    """

    model: torch.nn.Module
    key: str
    info: dict
    mean: torch.Tensor
    std: torch.Tensor
    train: torch.Tensor
    reference: torch.Tensor
    ceiling: torch.Tensor
    copy_radius2: float
    memo: dict = field(default_factory=dict, compare=False, repr=False)

    def embed(self, x: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        """(class probabilities [N, 10], standardised features [N, 640] float64) of images."""
        probs, feats = raw_features(self.model, x)
        return probs, self.standardise(feats)

    def standardise(self, feats: torch.Tensor) -> torch.Tensor:
        return (feats.double() - self.mean) / self.std

    def memorised(self, feats: torch.Tensor) -> float:
        """Share of ``feats`` closer to a training image than any held-out image ever is.

        The nearest-neighbour search (float32: the threshold is ~1e4 times its rounding) is the
        costliest step; the three metrics of one evaluation share it through a one-entry memo.
        """
        digest = hashlib.sha1(feats.detach().double().contiguous().numpy().tobytes()).hexdigest()
        if digest not in self.memo:
            self.memo.clear()
            d2 = F.nearest_sq_dists(feats, self.train, dtype=torch.float32)
            self.memo[digest] = float((d2 < self.copy_radius2).double().mean())
        return self.memo[digest]


@torch.no_grad()
def raw_features(model, x: torch.Tensor, batch: int = 2000) -> tuple[torch.Tensor, torch.Tensor]:
    """(class probabilities [N, 10], features [N, 640]): the second conv block's pooled output
    (512) beside the penultimate layer (128), both after ReLU, unstandardised."""
    was = model.training
    model.eval()
    probs, feats = [], []
    try:
        for i in range(0, len(x), batch):
            c2 = model.conv_features(x[i:i + batch].float())           # [B, 512]
            h = torch.relu(model.fc1(c2))                              # [B, 128]
            probs.append(torch.softmax(model.fc2(h), dim=1))
            feats.append(torch.cat([c2, h], 1))
    finally:
        model.train(was)
    return torch.cat(probs), torch.cat(feats)


#: Feature spaces built in this process, by classifier key (building one costs ~70k forward passes).
_SPACES: dict[str, FeatureSpace] = {}


def standardiser(feats: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-unit mean and standard deviation [d] (float64) of features [N, d].

    A unit that never varies on real digits (a dead ReLU) gets the median unit's spread, not ~0,
    so that it neither divides by zero nor dominates.
    """
    f = feats.double()
    mean, std = f.mean(0), f.std(0)
    floor = float(std[std > 0].median()) if bool((std > 0).any()) else 1.0
    return mean, torch.where(std > 1e-6 * floor, std, torch.full_like(std, floor))


def feature_space(mnist) -> FeatureSpace:
    """The :class:`FeatureSpace` of an MNIST dataset (its classifier trained, or loaded, first)."""
    model, key, info = classifier_for(mnist)
    space = _SPACES.get(key)
    if space is not None:
        return space
    train_feats = raw_features(model, mnist.train)[1]
    mean, std = standardiser(train_feats)
    train = (train_feats.double() - mean) / std
    reference = (raw_features(model, mnist.test[:N_MNIST])[1].double() - mean) / std
    ceiling = (raw_features(model, mnist.val[:N_MNIST])[1].double() - mean) / std
    # Memorisation threshold, calibrated on the validation split: the smallest distance from a
    # held-out image to its nearest training image
    copy_radius2 = float(F.nearest_sq_dists(ceiling, train, dtype=torch.float32).min())
    space = FeatureSpace(model, key, info, mean, std, train, reference, ceiling, copy_radius2)
    _SPACES[key] = space
    return space


# --- the maths on classifier outputs ---------------------------------------------------------------

def class_stats(probs: torch.Tensor, splits: int = IS_SPLITS, confidence: float = CONFIDENCE,
                min_share: float = MIN_CLASS_SHARE) -> dict[str, float]:
    """Classes covered (confidently, in a meaningful share), KL to uniform (and its noise floor),
    the inception score, and the argmax class count of protocol 1 (``classes_argmax``).

    A class is covered when at least ``min_share`` of all samples are classified into it with
    probability >= ``confidence``. KL is over the argmax labels of all samples.
    """
    top, label = probs.max(1)
    sure = top >= confidence
    counts = modes.label_histogram(label.numpy(), N_CLASSES)
    confident = modes.label_histogram(label[sure].numpy(), N_CLASSES)
    is_mean, is_std = F.inception_score(probs, splits)
    return {"classes": float((confident >= min_share * len(probs)).sum()),
            "classes_argmax": float((counts > 0).sum()),
            "confident_percent": 100.0 * float(sure.double().mean()),
            "min_class_percent": 100.0 * float(confident.min()) / len(probs),
            "kl": modes.kl_to_uniform(counts), "kl_noise_floor": modes.kl_noise_floor(N_CLASSES, len(probs)),
            "is_mean": is_mean, "is_std": is_std, "n": float(len(probs))}


def _cache_name(name: str) -> str:
    return f"v{PROTOCOL_VERSION}b-{name}-{N_MNIST}"  # b: the 640-d feature space


# --- registry entries ------------------------------------------------------------------------------

def mnist_classes_metric(sample, dataset, *, seed: int = 0, n_samples: int = N_MNIST,
                         reference: bool = True) -> dict[str, float]:
    """Registry entry ``mnist_classes10k``: confident class coverage, KL to uniform, MNIST IS,
    and the memorised share."""
    space = feature_space(_mnist_of(dataset))
    probs, feats = space.embed(_draw(sample, n_samples, seed, 1))
    values = class_stats(probs)
    values["memorised"] = space.memorised(feats)
    if reference:
        ref = _cached(space.key, _cache_name("classes"),
                      lambda: class_stats(raw_features(space.model, _mnist_of(dataset).val[:N_MNIST])[0]))
        values.update({f"real_{k}": v for k, v in ref.items()
                       if k in ("classes", "confident_percent", "kl", "is_mean", "is_std",
                                "min_class_percent")})
    values["classifier_test_accuracy"] = float(space.info.get("test_accuracy", float("nan")))
    return values


def _real_memorised(space: FeatureSpace) -> float:
    return _cached(space.key, _cache_name("memorised"),
                   lambda: {"memorised": space.memorised(space.reference)})["memorised"]


def mnist_fd_metric(sample, dataset, *, seed: int = 0, n_samples: int = N_MNIST,
                    reference: bool = True) -> dict[str, float]:
    """Registry entry ``mnist_fd10k``: Fréchet distance to the test images' features, and the
    memorised share."""
    space = feature_space(_mnist_of(dataset))
    fake = space.embed(_draw(sample, n_samples, seed, 1))[1]
    values = {"fd": F.frechet_distance_of(space.reference, fake), "memorised": space.memorised(fake),
              "n": float(len(fake))}
    if reference:
        values["real_fd"] = _cached(space.key, _cache_name("fd"), lambda: {
            "fd": F.frechet_distance_of(space.reference, space.ceiling)})["fd"]
        values["real_memorised"] = _real_memorised(space)
    return values


def mnist_pr_metric(sample, dataset, *, seed: int = 0, n_samples: int = N_MNIST,
                    reference: bool = True) -> dict[str, float]:
    """Registry entry ``mnist_pr10k``: precision/recall (k=3), density/coverage (k=5) against the
    test images, and the memorised share."""
    space = feature_space(_mnist_of(dataset))
    fake = space.embed(_draw(sample, n_samples, seed, 1))[1]
    values = F.manifold_metrics(space.reference, fake, k_pr=3, k_dc=5)
    values["memorised"] = space.memorised(fake)
    if reference:
        ref = _cached(space.key, _cache_name("pr"), lambda: F.manifold_metrics(
            space.reference, space.ceiling, k_pr=3, k_dc=5))
        values.update({f"real_{k}": v for k, v in ref.items()})
        values["real_memorised"] = _real_memorised(space)
    values["n"] = float(len(fake))
    return values


def stacked_mode_stats(model, x: torch.Tensor) -> dict[str, float]:
    """Distinct digit triples and KL(triple histogram || uniform over 1000) of ``[N, 3, 28, 28]``.

    Two diagnostics say where a KL comes from: ``kl_channels``, the summed KL of each channel's
    own digit histogram to uniform (a favoured digit; it equals ``kl`` when the channels are
    independent), and ``unsure_percent``, the stacks with a channel the classifier reads with
    confidence below 0.9 (unclear digits, whose argmax lands on a favourite class).
    """
    probs = [predict(model, x[:, c:c + 1])[0] for c in range(3)]
    digits = torch.stack([p.argmax(1) for p in probs], 1)
    counts = modes.label_histogram((digits[:, 0] * 100 + digits[:, 1] * 10 + digits[:, 2]).numpy(),
                                   1000)
    sure = torch.stack([p.max(1).values >= CONFIDENCE for p in probs], 1).all(1)
    return {"modes": float((counts > 0).sum()), "kl": modes.kl_to_uniform(counts),
            "kl_channels": sum(modes.kl_to_uniform(modes.label_histogram(digits[:, c].numpy(), 10))
                               for c in range(3)),
            "unsure_percent": 100.0 * (1.0 - sure.double().mean().item()),
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

        ref = _cached(key, f"stacked-{N_STACKED}-v2", real_stats)
        values.update({f"real_{k}": ref[k] for k in ("modes", "kl", "kl_channels", "unsure_percent")})
    return values


_COMMON = {"version": PROTOCOL_VERSION,
           "classifier": "gankit MNIST CNN (metrics/mnist_classifier.py), trained on MNIST train "
                         "(50,000), cached by data hash, checksum-verified",
           "generator_mode": "eval (dropout off)"}
_MEMORISED = ("share of samples whose nearest training image (train[0:50000], feature space) is "
              "closer than that of every validation image; real_memorised: the test images' share")
CLASSES_PROTOCOL = {**_COMMON, "n_samples": N_MNIST, "is_splits": IS_SPLITS,
                    "classes": f"classes holding >= {MIN_CLASS_SHARE:.0%} of the samples with "
                               f"confidence >= {CONFIDENCE}",
                    "kl": "KL(argmax class histogram || uniform), nats",
                    "memorised": _MEMORISED,
                    "real_reference": "MNIST validation images train[50000:60000]",
                    "kl_noise_floor": "(K-1)/(2N): expected KL of N exactly uniform labels"}
FD_PROTOCOL = {**_COMMON, "n_samples": N_MNIST,
               "features": "640-d: conv block 2 (512, pooled) and the penultimate layer (128), "
                           "each unit standardised by its mean and std over the 50,000 training "
                           "images",
               "against": "MNIST test images [0:10000]", "memorised": _MEMORISED,
               "real_reference": "MNIST validation images [0:10000] against the same test images"}
PR_PROTOCOL = {**FD_PROTOCOL, "k_precision_recall": 3, "k_density_coverage": 5}
STACKED_PROTOCOL = {"version": 1, **{k: v for k, v in _COMMON.items() if k != "version"},
                    "n_samples": N_STACKED, "modes": 1000,
                    "kl": "KL(triple histogram || uniform over 1000), nats",
                    "kl_channels": "sum over the 3 channels of KL(digit histogram || uniform "
                                   "over 10)",
                    "unsure_percent": f"stacks with a channel read at confidence < {CONFIDENCE}",
                    "real_reference": "26,000 stacked MNIST test images (seed 4321)",
                    "kl_noise_floor": "(K-1)/(2N) = 0.0192 at N = 26,000"}
