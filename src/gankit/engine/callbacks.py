"""Callbacks: how everything that is not Algorithm 1 plugs into the one training loop.

The engine calls, in list order, on every callback:

- ``on_start(engine)``: before the first iteration (``engine.state.step`` > 0 when resumed);
- ``on_step(engine, stats)``: after every iteration, with its detached statistics;
- ``on_log(engine, row)``: every ``log_every`` steps and at the last, with the logged row (means
  over the interval, gradient norms, learning rates);
- ``on_snapshot(engine)``: every ``snapshot_every`` steps and at the last (checkpoints, sample
  grids, figures' snapshots, periodic metrics);
- ``on_end(engine)``: after the loop finished or stopped on Ctrl-C (not after an error);
- ``on_close(engine)``: always, last (close files and progress bars).

In a distributed run only rank 0 calls callbacks, except those with ``all_ranks = True`` (whose
hooks contain collective operations, like capturing every rank's RNG state for a checkpoint).

Loggers are callbacks that record ``on_log`` rows; :data:`LOGGERS` maps a name to a factory
``(run_dir, config, progress) -> Callback``. Adding one (TensorBoard, ...) is a new module and one
``register`` line.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any, Callable

from gankit.config import STEPS_UNBOUNDED
from gankit.utils.registry import Registry

#: The hooks receive the :class:`gankit.engine.loop.Engine` (named, not imported: the engine imports
#: this module).
Engine = Any


class Callback:
    """Base class: override the hooks you need (all do nothing here)."""

    all_ranks = False  # True: also called on ranks > 0 of a distributed run

    def on_start(self, engine: Engine) -> None: ...

    def on_step(self, engine: Engine, stats: dict[str, Any]) -> None: ...

    def on_log(self, engine: Engine, row: dict[str, float]) -> None: ...

    def on_snapshot(self, engine: Engine) -> None: ...

    def on_end(self, engine: Engine) -> None: ...

    def on_close(self, engine: Engine) -> None: ...


class OnSnapshot(Callback):
    """Adapts a plain function ``fn(engine)`` into a callback run at every snapshot."""

    def __init__(self, fn: Callable[[Engine], None]):
        self.fn = fn

    def on_snapshot(self, engine: Engine) -> None:
        self.fn(engine)


class JsonlLogger(Callback):
    """One JSON line per logged step in ``stats.jsonl`` (flushed, so a crash loses at most one)."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._file = None

    def on_start(self, engine: Engine) -> None:
        self._file = open(self.path, "a", encoding="utf-8")

    def on_log(self, engine: Engine, row: dict[str, float]) -> None:
        self._file.write(json.dumps(row) + "\n")
        self._file.flush()

    def on_close(self, engine: Engine) -> None:
        if self._file is not None:
            self._file.close()
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
        self.bar.set_postfix_str(
            f"loss_D={row['Loss/D']:.3f} loss_G={row['Loss/G']:.3f} "
            f"D(x)={row['Prob/D(x)']:.3f} D(G(z))={row['Prob/D(G(z))']:.3f}", refresh=False)

    def on_close(self, engine: Engine) -> None:
        if self.bar is not None:
            self.bar.close()


#: The loggers every run has; the ``loggers`` config field adds more.
DEFAULT_LOGGERS = ("jsonl", "progress")

#: name -> factory(run_dir, config, progress) -> Callback
LOGGERS: Registry[Callable[..., Callback]] = Registry("logger")
LOGGERS.register("jsonl", lambda run_dir, config, progress: JsonlLogger(Path(run_dir) / "stats.jsonl"))
LOGGERS.register("progress", lambda run_dir, config, progress: ProgressBar(progress))
