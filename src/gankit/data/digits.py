"""The 8x8 handwritten digits that ship inside scikit-learn: the embedded, no-download default."""

from __future__ import annotations

import torch

from gankit.data.base import Dataset


def load_digits(data_dir: str | None = None) -> Dataset:
    """1,797 grey 8x8 digits (UCI optdigits), pixel counts 0..16 scaled to [0, 1]."""
    from sklearn.datasets import load_digits as _sk_load  # bundled file, no network

    bunch = _sk_load()
    images = torch.tensor(bunch.images, dtype=torch.float32).div_(16.0).unsqueeze(1)  # [N, 1, 8, 8]
    labels = torch.tensor(bunch.target, dtype=torch.int64)
    return Dataset("digits", train=images, unit_range=True, labels={"train": labels})
