"""Stacked MNIST (1,000 modes): three random MNIST digits as the channels of one 28x28x3 image.

A mode is the digit triple (100 a + 10 b + c for channels a, b, c); docs/benchmarks.md section 2.
Images are built deterministically from MNIST's own splits (train from train, val from val, test
from test) with a fixed seed, so the data never depend on the run's seed. Labels: ``labels[split]``
is the triple's mode index 0..999 and ``digits[split]`` the three digits ``[N, 3]``.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from gankit.data.base import Dataset

STACKED_SEED = 4321
#: Sizes of the splits (float32 [N, 3, 28, 28]: 50,000 images take 470 MB).
SIZES = {"train": 50_000, "val": 10_000, "test": 26_000}
N_MODES = 1000


@dataclass
class StackedDataset(Dataset):
    """A :class:`Dataset` that also keeps its source MNIST (whose classifier labels the channels)."""

    mnist: Dataset | None = None
    digits: dict[str, torch.Tensor] = field(default_factory=dict)


def stack_digits(images: torch.Tensor, labels: torch.Tensor, n: int, generator: torch.Generator
                 ) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` stacked images ``[n, 3, 28, 28]`` and their digits ``[n, 3]``; each channel an
    independent uniformly drawn image of ``images`` ``[N, 1, 28, 28]``."""
    idx = torch.randint(len(images), (n, 3), generator=generator)  # [n, 3]
    x = images.reshape(len(images), 28, 28)[idx]                   # [n, 3, 28, 28]
    return x, labels[idx]


def triple_mode(digits: torch.Tensor) -> torch.Tensor:
    """Mode index 100 a + 10 b + c of digit triples ``[N, 3]``."""
    d = digits.long()
    return d[:, 0] * 100 + d[:, 1] * 10 + d[:, 2]


def stacked_from_mnist(mnist: Dataset, sizes: dict[str, int] | None = None,
                       seed: int = STACKED_SEED) -> StackedDataset:
    """Build Stacked MNIST from a loaded MNIST :class:`Dataset`."""
    sizes = {**SIZES, **(sizes or {})}
    gen = torch.Generator().manual_seed(seed)
    parts, digits = {}, {}
    for split in ("train", "val", "test"):
        images = getattr(mnist, split)
        if images is None or not len(images):
            parts[split] = None
            continue
        parts[split], digits[split] = stack_digits(images, mnist.labels[split], sizes[split], gen)
    return StackedDataset("stacked_mnist", train=parts["train"], val=parts["val"], test=parts["test"],
                          unit_range=True, labels={k: triple_mode(v) for k, v in digits.items()},
                          mnist=mnist, digits=digits)


def load_stacked_mnist(data_dir: str | None = None) -> StackedDataset:
    """Stacked MNIST from the MNIST IDX files in ``data_dir`` (or the cache; see data/mnist.py)."""
    from gankit.data.mnist import load_mnist

    return stacked_from_mnist(load_mnist(data_dir))
