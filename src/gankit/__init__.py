"""gankit: Generative Adversarial Nets (Goodfellow et al., 2014) as real software.

Quick start::

    import gankit
    run = gankit.train(preset="digits", steps=2000)   # -> Run, folder runs/NNNNN-digits-ns-k1
    x = gankit.load_run(run.path).sample(16, seed=0)  # [16, 1, 8, 8] in [0, 1]

This module is the public API only: nothing inside gankit imports it (see tests/test_layers.py).
"""

from gankit.config import PRESETS, Config, resolve_config
from gankit.errors import GankitError
from gankit.runs.run import Run, load_run
from gankit.runs.train import train
from gankit.version import __version__

__all__ = ["Config", "GankitError", "PRESETS", "Run", "load_run", "resolve_config", "train",
           "__version__"]
