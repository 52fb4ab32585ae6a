"""Metric registry: name -> :class:`Metric`; :func:`evaluate` scores a run or an array of samples.

Each metric is a function ``fn(sample, dataset, *, seed, **options) -> dict[str, float]`` where
``sample(n, seed)`` draws n samples (a run's G in eval mode, or a fixed array). :func:`evaluate`
adds the bookkeeping and appends one JSON line per metric to the run's ``metrics.jsonl``::

    {"metric": "parzen", "ll_mean": 151.2, "ll_se": 2.1, "sigma": 0.1668, "n_samples": 10000.0, ...,
     "step": 60000, "seed": 0, "dataset": "mnist", "source": "runs/00003-.../step-060000.safetensors",
     "time": "2025-01-01T12:00:00Z", "seconds": 11.8, "protocol": {...}}

The metric's values sit at the top level (so ``row["ll_mean"]`` works); the other keys are reserved.
Metrics never import training code: a run is anything with ``.sample(n, seed)``, ``.config``,
``.step`` and ``.path`` (a :class:`gankit.runs.run.Run`).
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Mapping, Sequence

import numpy as np
import torch

from gankit.errors import GankitError
from gankit.metrics import mnist_eval, modes, parzen
from gankit.utils.jsonl import append_jsonl
from gankit.utils.registry import unknown_name_message


@dataclass(frozen=True)
class Metric:
    """A registered metric: the function, a one-line summary, and its fixed protocol details."""

    name: str
    fn: Callable[..., dict[str, float]]
    summary: str
    protocol: Mapping[str, Any] = field(default_factory=dict)


METRICS: dict[str, Metric] = {
    "parzen": Metric("parzen", parzen.parzen_metric,
                     "Parzen-window log-likelihood of the test set (Table 1): 10,000 samples, sigma "
                     "chosen on 1,000 validation images, mean +- standard error in nats",
                     parzen.PROTOCOL),
    "toy_modes": Metric("toy_modes", modes.toy_modes_metric,
                        "ring8/grid25 mode coverage: modes captured, % high-quality (within 3 sigma) "
                        "and KL(mode histogram || uniform) on 2,500 samples, beside real data",
                        modes.TOY_PROTOCOL),
    # Protocol 2 of the three MNIST metrics below (issue 19; their rows carry protocol.version = 2):
    # the reference is the held-out test set, the ceiling the validation set, the features are
    # standardised, classes are counted with confidence, and each reports the memorised share.
    "mnist_classes10k": Metric("mnist_classes10k", mnist_eval.mnist_classes_metric,
                               "MNIST classes covered (>= 1% of samples classified with confidence "
                               ">= 0.9), KL(class histogram || uniform) with its noise floor, MNIST IS "
                               "and the memorised share (gankit's classifier, 10,000 samples; "
                               "validation set as ceiling; protocol 2)", mnist_eval.CLASSES_PROTOCOL),
    "mnist_fd10k": Metric("mnist_fd10k", mnist_eval.mnist_fd_metric,
                          "Frechet distance on gankit's MNIST classifier features (standardised), "
                          "10,000 samples vs the 10,000 test images, and the memorised share "
                          "(validation set as ceiling; protocol 2)", mnist_eval.FD_PROTOCOL),
    "mnist_pr10k": Metric("mnist_pr10k", mnist_eval.mnist_pr_metric,
                          "precision/recall (k=3) and density/coverage (k=5) in the same feature "
                          "space against the test images, and the memorised share (validation set "
                          "as ceiling; protocol 2)", mnist_eval.PR_PROTOCOL),
    "stacked_modes26k": Metric("stacked_modes26k", mnist_eval.stacked_modes_metric,
                               "Stacked MNIST: distinct digit triples of 1,000 and KL(triple "
                               "histogram || uniform), 26,000 samples", mnist_eval.STACKED_PROTOCOL),
}

#: Keys of a result line that are not the metric's values.
RESERVED = ("metric", "step", "seed", "dataset", "source", "time", "seconds", "protocol")


def check_metric_names(names: Sequence[str]) -> list[str]:
    """The names, checked against the registry (a GankitError with a suggestion otherwise)."""
    for name in names:
        if name not in METRICS:
            raise GankitError(unknown_name_message("metric", name, METRICS))
    return list(names)


def evaluate(run_or_samples: Any, names: Sequence[str] = ("parzen",), *, seed: int = 0,
             data: Any = None, dataset: str | None = None, data_dir: str | None = None,
             jsonl: str | Path | None = None, source: str | None = None,
             options: Mapping[str, Mapping[str, Any]] | None = None) -> list[dict[str, Any]]:
    """Score a run (samples drawn from its G, eval mode) or an array of samples; one dict per metric.

    - ``run_or_samples``: a :class:`gankit.runs.run.Run`, or samples ``[N, ...]`` (tensor or array,
      pixels in [0, 1] for image datasets).
    - ``data``: a loaded :class:`gankit.data.Dataset`; else ``dataset`` / ``data_dir`` name one to load
      (defaults: a run's own; for an array, ``mnist``, the paper's).
    - ``jsonl``: where to append the result lines; a run's ``metrics.jsonl`` by default, none for an
      array. ``options``: per-metric keyword arguments, e.g. ``{"parzen": {"n_samples": 1000}}``.
    """
    names = check_metric_names(names)
    options = dict(options or {})
    for name in options:
        check_metric_names([name])
    is_run = hasattr(run_or_samples, "sample") and hasattr(run_or_samples, "config")
    if is_run:
        run = run_or_samples
        sample: Callable[[int, int], torch.Tensor] = run.sample
        dataset = dataset or run.config.dataset
        data_dir = data_dir or run.config.data_dir
        step: int | None = int(run.step)
        source = source or str(getattr(run, "checkpoint", None) or run.path)
        jsonl = jsonl if jsonl is not None else Path(run.path) / "metrics.jsonl"
    else:
        dataset, step = dataset or "mnist", None
        fixed = check_samples(run_or_samples, unit_range=dataset not in VECTOR_DATASETS)
        source = source or f"array of {len(fixed)} samples"
    if data is None:
        from gankit.data import load_dataset  # late: only when a metric needs data

        # a run's own config carries its loader options (image size, channels of a folder)
        data = load_dataset(dataset, data_dir, run_or_samples.config if is_run else None)
    if not is_run:
        fixed = _as_samples_of(fixed, data)
        sample = lambda n, s: fixed  # noqa: E731: a file's samples are all used, whatever n and seed
    results = []
    for name in names:
        metric = METRICS[name]
        t0 = time.perf_counter()
        values = metric.fn(sample, data, seed=seed, **options.get(name, {}))
        seconds = time.perf_counter() - t0
        clash = sorted(set(values) & set(RESERVED))
        if clash:  # a programming error in a metric, not a user error
            raise RuntimeError(f"metric {name} returned reserved keys {clash}")
        row = {"metric": name, **{k: float(v) for k, v in values.items()}, "step": step,
               "seed": seed, "dataset": data.name, "source": source,
               "time": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime()),
               "seconds": round(seconds, 3), "protocol": dict(metric.protocol)}
        if jsonl is not None:
            append_jsonl(jsonl, row)
        results.append(row)
    return results


#: Datasets of points in R^d rather than images in [0, 1].
VECTOR_DATASETS = ("gauss1d", "mixture1d", "ring8", "grid25")


def _as_samples_of(x: torch.Tensor, data) -> torch.Tensor:
    """``x`` shaped as the dataset's samples (flat rows are accepted), or a GankitError."""
    shape = tuple(data.sample_shape)
    if tuple(x.shape[1:]) == shape:
        return x
    if x[0].numel() == math.prod(shape) and x.dim() == 2:
        return x.reshape(len(x), *shape)
    raise GankitError(f"samples have shape {tuple(x.shape)}; {data.name} samples are "
                      f"(N, {', '.join(map(str, shape))})")


def check_samples(x: Any, unit_range: bool = True) -> torch.Tensor:
    """Samples as a float32 tensor ``[N, ...]`` with finite values (in [0, 1] for images unless
    ``unit_range`` is False, as for the 2-D toy mixtures), or a GankitError."""
    if isinstance(x, np.ndarray):
        if not (np.issubdtype(x.dtype, np.floating)):
            hint = "; divide 0-255 pixels by 255" if np.issubdtype(x.dtype, np.integer) else ""
            raise GankitError(f"samples must be floating-point pixels in [0, 1], got dtype "
                              f"{x.dtype}{hint}")
        x = torch.from_numpy(np.ascontiguousarray(x, dtype=np.float32))
    x = torch.as_tensor(x)
    if not x.is_floating_point():
        raise GankitError(f"samples must be floating-point pixels in [0, 1], got dtype {x.dtype}")
    x = x.detach().float().cpu()
    if x.dim() < 2 or len(x) == 0:
        raise GankitError(f"samples must be an array [N, ...] with N >= 1, got shape {tuple(x.shape)}")
    if not bool(torch.isfinite(x).all()):
        raise GankitError("samples contain NaN or infinite values")
    if not unit_range:
        return x
    lo, hi = float(x.min()), float(x.max())
    if lo < 0.0 or hi > 1.0:
        hint = ("; they look like 0-255 pixels: divide by 255" if hi > 1.0 and hi <= 255 and lo >= 0
                else "; they look like tanh outputs in [-1, 1]: map them with (x + 1) / 2"
                if lo >= -1.0 and hi <= 1.0 else "")
        raise GankitError(f"samples must lie in [0, 1] (found min {_fmt(lo)}, max {_fmt(hi)}){hint}")
    return x


def _fmt(v: float) -> str:
    return f"{v:.4g}" if math.isfinite(v) else str(v)


__all__ = ["METRICS", "Metric", "check_metric_names", "check_samples", "evaluate"]
