"""The one training loop: its callbacks' hooks, loggers by registry, and that watching a run never
changes it."""

from __future__ import annotations

import pytest
from torch.testing import assert_close

import gankit
from gankit.config import resolve_config
from gankit.data import load_dataset
from gankit.engine.callbacks import Callback
from gankit.engine.loggers import LOGGERS
from gankit.engine.loop import Engine
from gankit.errors import ConfigError


class Recorder(Callback):
    def __init__(self):
        self.events: list[tuple[str, int]] = []

    def on_start(self, engine):
        self.events.append(("start", engine.state.step))

    def on_step(self, engine, stats):
        self.events.append(("step", engine.state.step))

    def on_log(self, engine, row):
        self.events.append(("log", int(row["step"])))

    def on_snapshot(self, engine):
        self.events.append(("snapshot", engine.state.step))

    def on_end(self, engine):
        self.events.append(("end", engine.state.step))

    def on_close(self, engine):
        self.events.append(("close", engine.state.step))


def test_hooks_run_in_order_at_their_steps():
    config = resolve_config(steps=6, batch=16, g_hidden=(8,), d_hidden=(8,), z_dim=4, log_every=2,
                            snapshot_every=3, threads=1)
    rec = Recorder()
    Engine(config, load_dataset("digits"), [rec]).run()
    assert rec.events[0] == ("start", 0) and rec.events[-2:] == [("end", 6), ("close", 6)]
    assert [s for kind, s in rec.events if kind == "step"] == [1, 2, 3, 4, 5, 6]
    assert [s for kind, s in rec.events if kind == "log"] == [2, 4, 6]
    assert [s for kind, s in rec.events if kind == "snapshot"] == [3, 6]
    # each step's log comes before its snapshot, both after the step itself
    assert rec.events.index(("log", 6)) < rec.events.index(("snapshot", 6))


def test_close_runs_even_when_a_callback_fails():
    config = resolve_config(steps=4, batch=16, g_hidden=(8,), d_hidden=(8,), z_dim=4, threads=1)

    class Boom(Recorder):
        def on_step(self, engine, stats):
            raise RuntimeError("boom")

    rec = Boom()
    with pytest.raises(RuntimeError, match="boom"):
        Engine(config, load_dataset("digits"), [rec]).run()
    assert rec.events == [("start", 0), ("close", 1)]


def test_a_logger_added_by_one_registry_line_receives_every_logged_row(tiny, monkeypatch):
    rows: list[dict] = []

    class ListLogger(Callback):
        def on_log(self, engine, row):
            rows.append(row)

    monkeypatch.setitem(LOGGERS._items, "list", lambda run_dir, config, progress: ListLogger())
    run = gankit.train(progress=False, loggers="list", **tiny)
    logged = [line for line in (run.path / "stats.jsonl").read_text().splitlines() if line]
    assert [r["step"] for r in rows] == [4, 8, 12] and len(logged) == 3  # stats.jsonl still on
    with pytest.raises(ConfigError, match="unknown logger 'lst'"):
        gankit.train(progress=False, loggers="lst", **tiny)


def test_callbacks_watch_without_changing_the_run(tiny):
    plain = gankit.train(progress=False, **tiny)
    watched = gankit.train(progress=False, callbacks=[Recorder(), lambda engine: engine.state.G],
                           **tiny)
    assert_close(plain.sample(32, seed=1), watched.sample(32, seed=1), rtol=0, atol=0)
