"""Dataset registry: name -> loader returning an in-memory :class:`Dataset`."""

from __future__ import annotations

from typing import Callable

from .base import Dataset, MinibatchStream
from .digits import load_digits
from .mnist import load_mnist
from .toy import load_gauss1d, load_grid25, load_ring8

#: name -> loader(data_dir) -> Dataset
DATASETS: dict[str, Callable[[str | None], Dataset]] = {
    "digits": load_digits,
    "mnist": load_mnist,
    "gauss1d": load_gauss1d,
    "ring8": load_ring8,
    "grid25": load_grid25,
}


def load_dataset(name: str, data_dir: str | None = None) -> Dataset:
    """Load a registered dataset by name (raises a GankitError for bad names or files)."""
    from ..errors import ConfigError

    if name not in DATASETS:
        raise ConfigError(f"unknown dataset '{name}'; choose one of: {', '.join(sorted(DATASETS))}")
    return DATASETS[name](data_dir)


__all__ = ["DATASETS", "Dataset", "MinibatchStream", "load_dataset"]
