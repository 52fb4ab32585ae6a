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

Loggers are callbacks that record ``on_log`` rows; their registry is :mod:`gankit.engine.loggers`.
"""

from __future__ import annotations

from typing import Any, Callable

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
