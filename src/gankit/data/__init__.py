"""Layer 2: the data. The dataset registry (:mod:`.registry`: name -> loader returning a
:class:`Dataset`, in memory or memory-mapped) and what every dataset gives the loop (:mod:`.base`).

The public names below load on first use, not at import: a process that decodes images
(:mod:`.decode`, run in a pool's workers) imports this package but needs neither torch nor the
loaders, and importing them cost each pool ~1.3 s of CPU.
"""

from __future__ import annotations

import importlib
from typing import Any

#: public name -> the module of this package that defines it
_PUBLIC = {"Dataset": "base", "MinibatchStream": "base", "to_unit_float": "base",
           "DATASETS": "registry", "DATASET_OPTIONS": "registry", "load_dataset": "registry"}


def __getattr__(name: str) -> Any:
    if name not in _PUBLIC:
        raise AttributeError(f"module 'gankit.data' has no attribute {name!r}")
    value = getattr(importlib.import_module(f"gankit.data.{_PUBLIC[name]}"), name)
    globals()[name] = value
    return value


__all__ = ["DATASETS", "DATASET_OPTIONS", "Dataset", "MinibatchStream", "load_dataset",
           "to_unit_float"]
