"""gankit: Generative Adversarial Nets (Goodfellow et al., 2014) as real software.

Quick start::

    import gankit
    run = gankit.train(preset="digits", steps=2000)   # -> Run, folder runs/NNNNN-digits-ns-k1
    x = gankit.load_run(run.path).sample(16, seed=0)  # [16, 1, 8, 8] in [0, 1]

This module is the public API only: nothing inside gankit imports it (see tests/test_layers.py).
"""

from __future__ import annotations

import importlib
from typing import Any

#: public name -> the module that defines it, loaded on first use (so that importing a small part
#: of gankit, e.g. an image-decoding worker's module, does not import torch and the whole API)
_PUBLIC = {"PRESETS": "gankit.config", "Config": "gankit.config",
           "resolve_config": "gankit.config", "GankitError": "gankit.errors",
           "Run": "gankit.runs.run", "load_run": "gankit.runs.run", "train": "gankit.runs.train",
           "train_many": "gankit.runs.group", "__version__": "gankit.version"}


def __getattr__(name: str) -> Any:
    if name not in _PUBLIC:
        raise AttributeError(f"module 'gankit' has no attribute {name!r}")
    value = getattr(importlib.import_module(_PUBLIC[name]), name)
    globals()[name] = value
    return value


__all__ = ["Config", "GankitError", "PRESETS", "Run", "load_run", "resolve_config", "train",
           "train_many", "__version__"]
