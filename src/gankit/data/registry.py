"""Dataset registry: name -> loader returning a :class:`Dataset` (in memory, or memory-mapped)."""

from __future__ import annotations

from typing import Callable

from gankit.data.base import Dataset, MinibatchStream, to_unit_float
from gankit.data.cifar10 import load_cifar10
from gankit.data.digits import load_digits
from gankit.data.folder import load_folder
from gankit.data.mnist import load_mnist
from gankit.data.stacked_mnist import load_stacked_mnist
from gankit.data.tfd import load_tfd
from gankit.data.toy import load_gauss1d, load_grid25, load_mixture1d, load_ring8

#: name -> loader(data_dir) -> Dataset
DATASETS: dict[str, Callable[[str | None], Dataset]] = {
    "digits": load_digits,
    "mnist": load_mnist,
    "gauss1d": load_gauss1d,
    "mixture1d": load_mixture1d,  # Figure 1's two-Gaussian p_data
    "ring8": load_ring8,
    "grid25": load_grid25,
    "folder": load_folder,
    "cifar10": load_cifar10,
    "stacked_mnist": load_stacked_mnist,  # 1,000 modes (docs/benchmarks.md section 2)
    "tfd": load_tfd,  # TFD_48x48.mat that the user supplies (--data-dir); not downloadable
}

#: name -> the config fields its loader also takes, as keyword arguments (loader(data_dir, **opts))
DATASET_OPTIONS: dict[str, tuple[str, ...]] = {
    "folder": ("image_size", "image_channels", "image_alpha"),
}


def load_dataset(name: str, data_dir: str | None = None, config=None) -> Dataset:
    """Load a registered dataset by name (raises a GankitError for bad names or files).

    ``config`` (a :class:`gankit.config.Config`) supplies the options in ``DATASET_OPTIONS``
    (e.g. the image folder's resolution); without it the loader's defaults apply.
    """
    from gankit.errors import ConfigError

    if name not in DATASETS:
        raise ConfigError(f"unknown dataset '{name}'; choose one of: {', '.join(sorted(DATASETS))}")
    options = {k: getattr(config, k) for k in DATASET_OPTIONS.get(name, ())} if config else {}
    return DATASETS[name](data_dir, **options)

