"""Loggers: callbacks that record each logged row. :data:`LOGGERS` maps a name to a factory
``(run_dir, config, progress) -> Callback``; a run has :data:`DEFAULT_LOGGERS` and those its
``loggers`` config field names.

Adding one is a new module in this package defining a :class:`~gankit.engine.callbacks.Callback`
with ``on_log`` (and ``on_close``), plus one ``register`` line below (:mod:`.tensorboard` is one). A
factory's optional ``requires()`` raises a ConfigError when what it needs is not installed.
"""

from __future__ import annotations

import sys
from pathlib import Path
from typing import Any, Callable

from gankit.config import STEPS_UNBOUNDED
from gankit.engine.callbacks import Callback, Engine
from gankit.engine.tensorboard import TensorBoardLogger, require_tensorboard
from gankit.utils.disk import writing
from gankit.utils.registry import Registry
from gankit.utils.jsonl import to_json


class JsonlLogger(Callback):
    """One JSON line per logged step in ``stats.jsonl`` (flushed, so a crash loses at most one)."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._file = None

    def on_start(self, engine: Engine) -> None:
        with writing(self.path):
            self._file = open(self.path, "a", encoding="utf-8")

    def on_log(self, engine: Engine, row: dict[str, float]) -> None:
        with writing(self.path):  # a full disk: one line naming stats.jsonl, not a traceback
            self._file.write(to_json(row) + "\n")
            self._file.flush()

    def on_close(self, engine: Engine) -> None:
        if self._file is not None:
            try:
                self._file.close()
            except OSError:  # a full disk: the failed write already said so, in one line
                pass
            self._file = None


class ProgressBar(Callback):
    """A tqdm bar on stderr with the last logged losses and D's outputs."""

    def __init__(self, enabled: bool = True):
        self.enabled, self.bar = enabled, None

    def on_start(self, engine: Engine) -> None:
        from tqdm.auto import tqdm  # late: tqdm.auto probes for notebooks when imported

        total = engine.config.steps
        self.bar = tqdm(total=None if total >= STEPS_UNBOUNDED else total,  # a budget: no ETA
                        initial=engine.state.step, disable=not self.enabled, unit="step",
                        dynamic_ncols=True, file=sys.stderr, mininterval=0.5)

    def on_step(self, engine: Engine, stats: dict[str, Any]) -> None:
        self.bar.update(1)

    def on_log(self, engine: Engine, row: dict[str, float]) -> None:
        outputs = " ".join(f"{label}={row[key]:.3f}" for key, label in D_OUTPUTS if key in row)
        self.bar.set_postfix_str(f"loss_D={row['Loss/D']:.3f} loss_G={row['Loss/G']:.3f} {outputs}",
                                 refresh=False)

    def on_close(self, engine: Engine) -> None:
        if self.bar is not None:
            self.bar.close()


#: D's outputs as logged (a probability, or a critic's scores) and their labels on the progress bar.
D_OUTPUTS = (("Prob/D(x)", "D(x)"), ("Prob/D(G(z))", "D(G(z))"), ("Critic/f(x)", "f(x)"),
             ("Critic/f(G(z))", "f(G(z))"))

#: The loggers every run has; the ``loggers`` config field adds more.
DEFAULT_LOGGERS = ("jsonl", "progress")

#: name -> factory(run_dir, config, progress) -> Callback
LOGGERS: Registry[Callable[..., Callback]] = Registry("logger")
LOGGERS.register("jsonl", lambda run_dir, config, progress: JsonlLogger(Path(run_dir) / "stats.jsonl"))
LOGGERS.register("progress", lambda run_dir, config, progress: ProgressBar(progress))


def _tensorboard(run_dir: Path, config: Any, progress: bool) -> Callback:
    return TensorBoardLogger(run_dir, config)


_tensorboard.requires = require_tensorboard  # checked with the config, before a run folder exists
LOGGERS.register("tensorboard", _tensorboard)
