"""Parzen-window log-likelihood: the paper's Table 1 evaluator (goodfeli/adversarial ``parzen_ll.py``).

The protocol (``docs/paper.md``, "The Parzen-window protocol"):

1. Draw N = 10,000 samples mu_j from G (eval mode: dropout off), flattened to d dims, pixels in [0, 1].
2. For a test point x: ``log p(x) = logsumexp_j(-||x - mu_j||^2 / 2 sigma^2) - log N
   - (d/2) log(2 pi sigma^2)`` (an equal mixture of N isotropic Gaussians centred on the samples).
3. sigma from ``logspace(-1, 0, 10)`` (0.1 ... 1.0): the best mean log-likelihood on the first 1,000
   validation images (MNIST: train[50000:60000]).
4. Report the mean log-likelihood of the 10,000 test images +- its standard error std / sqrt(N_test).

Why the number misleads (Theis, van den Oord & Bethge, "A note on the evaluation of generative
models", ICLR 2016): in 784 dimensions a Parzen window with 10,000 centres is a poor density
estimate; the score mostly measures how close the nearest sample lies to each test image, so it
rewards blurry or memorised samples, and k-means centroids of the training set outscore held-out
real data. It is also very sensitive to sigma (forcing sigma = 0.01 gives about -256,000). We report
it to reproduce Table 1, always with sigma, N and the real-data reference, never as the only measure.

The maths (first section) takes tensors and returns tensors; the protocol (second section) adds the
paper's choices; :func:`parzen_metric` (last) is the registry entry that draws the samples and
checks inputs. Nothing here imports training code.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Callable, Sequence

import numpy as np
import torch

from gankit.constants import TABLE1_MNIST
from gankit.errors import GankitError
from gankit.utils.cache import cache_dir

#: The paper's sigma grid: logspace(-1, 0, 10) = 0.1, 0.129, ..., 1.0.
SIGMAS: tuple[float, ...] = tuple(float(s) for s in np.logspace(-1, 0, 10))
N_SAMPLES = 10_000  # samples drawn from G (step 1)
N_VAL = 1_000       # validation images that choose sigma (step 3)
#: Elements in one [test points, centres] block of squared distances (float64: 8 bytes each, so about
#: 32 MB per block; two such blocks are alive at once). Bounds memory whatever N and N_test are.
BLOCK_ELEMENTS = 4_000_000


# --- the maths ---------------------------------------------------------------------------------------

def _flat64(x: torch.Tensor | np.ndarray) -> torch.Tensor:
    x = torch.as_tensor(x)
    return x.reshape(len(x), -1).to(torch.float64)


def parzen_log_likelihood_grid(samples: torch.Tensor | np.ndarray, x: torch.Tensor | np.ndarray,
                               sigmas: Sequence[float], batch: int | None = None) -> torch.Tensor:
    """log p(x) under the Parzen window on ``samples``, for every sigma: float64 ``[len(sigmas), N_x]``.

    ``samples`` ``[N, ...]`` are the centres, ``x`` ``[N_x, ...]`` the points (both flattened). Points
    are processed ``batch`` at a time against all centres (default: as many as fit in
    ``BLOCK_ELEMENTS``), so memory is bounded; the answer does not depend on ``batch``.

    Precision: everything is float64. Squared distances use ``||x||^2 + ||mu||^2 - 2 x mu^T`` (one
    matrix multiply, the whole cost); in float32 that form cancels catastrophically (||x||^2 is about
    100 on MNIST, so the error is about 1e-5 in d^2, i.e. ~5e-4 nats at sigma = 0.1 and 100x more
    per decade of sigma below), while float64 costs only ~2x the time (10k x 10k x 784: ~3.4 s against
    ~1.8 s on one core). The log-sum-exp subtracts each point's nearest-centre distance first, so
    exp never overflows and far points (exponents of -1e6) keep full precision.
    """
    mu, x = _flat64(samples), _flat64(x)
    if mu.shape[1] != x.shape[1]:
        raise ValueError(f"samples have {mu.shape[1]} dims but the points have {x.shape[1]}")
    n, d = mu.shape
    sig = torch.as_tensor([float(s) for s in sigmas], dtype=torch.float64)
    if len(sig) == 0 or not bool((sig > 0).all()):
        raise ValueError(f"sigmas must be positive (got {sigmas})")
    coef = -0.5 / sig**2                                         # [S]: exponent per unit d^2
    log_norm = -math.log(n) - 0.5 * d * torch.log(2 * math.pi * sig**2)  # [S]: -log N - d/2 log 2πσ²
    batch = batch or max(1, BLOCK_ELEMENTS // n)
    mu_sq = (mu * mu).sum(1)                                     # [N]
    out = torch.empty(len(sig), len(x), dtype=torch.float64)
    for i in range(0, len(x), batch):
        xb = x[i:i + batch]                                      # [B, d]
        # ||x - mu||^2 = ||x||^2 + ||mu||^2 - 2 x mu^T: [B, N]; clamp the rounding below zero
        d2 = torch.addmm(mu_sq.unsqueeze(0), xb, mu.T, alpha=-2.0)
        d2.add_((xb * xb).sum(1, keepdim=True)).clamp_(min=0.0)
        d_min = d2.amin(1)                                       # [B]: nearest centre
        d2.sub_(d_min.unsqueeze(1))                              # excess over the nearest, >= 0
        tmp = torch.empty_like(d2)
        for s in range(len(sig)):
            # logsumexp_j(c d_j) = c d_min + log sum_j exp(c (d_j - d_min)); the sum is >= 1
            total = torch.mul(d2, coef[s], out=tmp).exp_().sum(1)
            out[s, i:i + batch] = coef[s] * d_min + total.log() + log_norm[s]
    return out


def parzen_log_likelihood(samples: torch.Tensor | np.ndarray, x: torch.Tensor | np.ndarray,
                          sigma: float, batch: int | None = None) -> torch.Tensor:
    """log p(x) for each point of ``x`` under the Parzen window of width ``sigma`` on ``samples``.

    Returns float64 ``[N_x]``. See :func:`parzen_log_likelihood_grid` for batching and precision.
    """
    return parzen_log_likelihood_grid(samples, x, [sigma], batch)[0]


def sigma_scores(samples: torch.Tensor | np.ndarray, val: torch.Tensor | np.ndarray,
                 sigmas: Sequence[float] = SIGMAS, batch: int | None = None) -> torch.Tensor:
    """Mean log-likelihood of ``val`` for each sigma: float64 ``[len(sigmas)]`` (one distance pass)."""
    return parzen_log_likelihood_grid(samples, val, sigmas, batch).mean(1)


def select_sigma(samples: torch.Tensor | np.ndarray, val: torch.Tensor | np.ndarray,
                 sigmas: Sequence[float] = SIGMAS, batch: int | None = None) -> float:
    """The sigma of ``sigmas`` with the best mean log-likelihood on ``val`` (first one on ties)."""
    return float(list(sigmas)[int(torch.argmax(sigma_scores(samples, val, sigmas, batch)))])


# --- the protocol ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class ParzenResult:
    """One Parzen evaluation: the test mean +- standard error, sigma and what chose it."""

    ll_mean: float
    ll_se: float
    sigma: float
    n_samples: int
    n_val: int
    n_test: int
    val_ll: tuple[float, ...]  # mean validation log-likelihood for each sigma of the grid


def parzen_protocol(samples: torch.Tensor | np.ndarray, val: torch.Tensor | np.ndarray,
                    test: torch.Tensor | np.ndarray, sigmas: Sequence[float] = SIGMAS,
                    n_val: int = N_VAL, batch: int | None = None) -> ParzenResult:
    """Steps 2-4 of the protocol for given samples: sigma on ``val[:n_val]``, LL on all of ``test``.

    Step 1 (drawing the samples) is the caller's, so that real images or another tool's samples can
    be scored the same way.
    """
    val = val[:n_val]
    scores = sigma_scores(samples, val, sigmas, batch)
    best = int(torch.argmax(scores))  # numpy.argmax in parzen_ll.py: the first best on ties
    sigma = float(list(sigmas)[best])
    ll = parzen_log_likelihood(samples, test, sigma, batch)
    # parzen_ll.py: ll.std() / sqrt(N_test) with numpy's default ddof = 0
    se = float(ll.std(unbiased=False)) / math.sqrt(len(ll))
    return ParzenResult(float(ll.mean()), se, sigma, len(samples), len(val), len(ll),
                        tuple(float(s) for s in scores))


def real_data_reference(dataset, n_samples: int = N_SAMPLES, n_val: int = N_VAL,
                        sigmas: Sequence[float] = SIGMAS, batch: int | None = None,
                        cache: bool = True) -> ParzenResult:
    """The same protocol with held-out real images as the "samples": the number a perfect G would score.

    Centres: the first ``n_samples`` validation images (MNIST: train[50000:60000], never trained on).
    Sigma cannot be chosen on the first validation images as for G, because those are now centres
    themselves (each would find itself at distance 0, and the smallest sigma would always win), so
    it is chosen on the first ``n_val`` *training* images, which are disjoint from the centres just
    as the validation images are disjoint from G's samples. The test images are the same.

    The result depends only on the data, so it is cached in the data cache (keyed by a hash of the
    images and the protocol); ``cache=False`` always recomputes.
    """
    centres, val, test = dataset.val[:n_samples], dataset.train[:n_val], dataset.test
    key = _reference_key(centres, val, test, sigmas)
    path = _reference_cache() / f"{dataset.name}-{key}.json"
    if cache and path.is_file():
        try:
            d = json.loads(path.read_text(encoding="utf-8"))
            return ParzenResult(**{**d, "val_ll": tuple(d["val_ll"])})
        except (OSError, ValueError, TypeError, KeyError):
            pass  # a damaged cache entry: recompute it
    result = parzen_protocol(centres, val, test, sigmas, n_val, batch)
    if cache:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            tmp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
            tmp.write_text(json.dumps(asdict(result)) + "\n", encoding="utf-8")
            os.replace(tmp, path)
        except OSError:
            pass  # a read-only cache only costs time
    return result


def _reference_cache() -> Path:

    return cache_dir() / "parzen-reference"


def _reference_key(centres: torch.Tensor, val: torch.Tensor, test: torch.Tensor,
                   sigmas: Sequence[float]) -> str:
    h = hashlib.sha256(json.dumps([float(s) for s in sigmas]).encode())
    for t in (centres, val, test):
        t = t.detach().to(torch.float32).contiguous()
        h.update(str(tuple(t.shape)).encode())
        h.update(t.numpy().tobytes())
    return h.hexdigest()[:16]


# --- the registry entry -------------------------------------------------------------------------------

#: Fixed protocol details, recorded with every result.
PROTOCOL = {
    "source": "Goodfellow et al. 2014, Table 1; goodfeli/adversarial parzen_ll.py",
    "kernel": "isotropic Gaussian on flattened pixels in [0, 1]",
    "sigma_grid": [round(s, 6) for s in SIGMAS],
    "sigma_chosen_on": "first n_val validation images (MNIST: train[50000:51000])",
    "evaluated_on": "test split (MNIST: t10k, 10,000 images)",
    "validation_score": "val_ll_mean: mean LL of all validation images at the chosen sigma; "
                        "select checkpoints on it, never on the test score",
    "se": "std (ddof=0) / sqrt(n_test)",
    "generator_mode": "eval (dropout off)",
    "real_reference": "n_samples held-out validation images as centres (MNIST: train[50000:60000]), "
                      "sigma chosen on train[0:n_val], same test images",
    "precision": "float64 distances and log-sum-exp",
}


def parzen_metric(sample: Callable[[int, int], torch.Tensor], dataset, *, seed: int = 0,
                  n_samples: int = N_SAMPLES, n_val: int = N_VAL, reference: bool = True,
                  batch: int | None = None) -> dict[str, float]:
    """Registry entry ``parzen``: draw ``n_samples`` from ``sample(n, seed)`` and run the protocol.

    ``sample`` may return a fixed array (a sample file), whose every row is then used. Returns the
    score with its sigma and sizes, the mean log-likelihood of all validation images at that sigma
    (``val_ll_mean`` over ``n_val_all`` images: select checkpoints on it, never on the test score),
    the real-data reference (``real_*``) unless ``reference`` is False, and the paper's number
    (``paper_*``) for MNIST.
    """
    if dataset.val is None or dataset.test is None or not len(dataset.val) or not len(dataset.test):
        raise GankitError(
            f"the parzen metric needs held-out validation and test images, but dataset "
            f"'{dataset.name}' has none (digits: all 1,797 images train the model, so any score "
            f"would reward memorising them); evaluate an mnist run (e.g. --preset paper-mnist), "
            f"or score a sample file with --samples")
    if not dataset.unit_range:
        raise GankitError(f"the parzen metric is defined on pixels in [0, 1]; dataset "
                          f"'{dataset.name}' is not")
    x = sample(n_samples, seed)
    x = torch.as_tensor(x)
    d = math.prod(dataset.sample_shape)
    if x.dim() < 2 or math.prod(x.shape[1:]) != d:
        raise GankitError(f"samples of shape {tuple(x.shape)} do not match dataset "
                          f"'{dataset.name}' ({d} values per example, shape "
                          f"{tuple(dataset.sample_shape)})")
    if not bool(torch.isfinite(x).all()):
        raise GankitError("the samples contain NaN or infinite values; the generator has diverged "
                          "or the file is damaged")
    result = parzen_protocol(x, dataset.val, dataset.test, SIGMAS, n_val, batch)
    # Every validation image at the chosen sigma: the score to pick a checkpoint (or a
    # hyperparameter) by, so that the test set is only ever read for the number reported.
    # The first n_val were scored at every sigma already; only the rest need a pass.
    n_all, n_chose = len(dataset.val), result.n_val
    rest = parzen_log_likelihood(x, dataset.val[n_chose:], result.sigma, batch).sum().item() \
        if n_all > n_chose else 0.0
    val_ll_mean = (max(result.val_ll) * n_chose + rest) / n_all
    values: dict[str, float] = {
        "ll_mean": result.ll_mean, "ll_se": result.ll_se, "sigma": result.sigma,
        "n_samples": float(result.n_samples), "n_val": float(result.n_val),
        "n_test": float(result.n_test), "val_ll_mean": val_ll_mean,
        "n_val_all": float(n_all),
    }
    if reference:
        ref = real_data_reference(dataset, n_samples, n_val, SIGMAS, batch)
        values.update(real_ll_mean=ref.ll_mean, real_ll_se=ref.ll_se, real_sigma=ref.sigma,
                      real_n_samples=float(ref.n_samples))
    if dataset.name == "mnist":
        values.update(paper_ll_mean=float(TABLE1_MNIST[0]), paper_ll_se=float(TABLE1_MNIST[1]))
    return values
