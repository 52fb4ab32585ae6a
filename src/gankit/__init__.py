"""gankit: Generative Adversarial Nets (Goodfellow et al., 2014) as real software.

Quick start::

    import gankit
    run = gankit.train(preset="digits", steps=2000)   # -> Run, folder runs/NNNNN-digits-ns-k1
    x = gankit.load_run(run.path).sample(16, seed=0)  # [16, 1, 8, 8] in [0, 1]
"""

__version__ = "0.1.0"

from .config import PRESETS, Config, resolve_config  # noqa: E402
from .errors import GankitError  # noqa: E402
from .run import Run, load_run  # noqa: E402
from .train import train  # noqa: E402

__all__ = ["Config", "GankitError", "PRESETS", "Run", "load_run", "resolve_config", "train",
           "__version__"]
