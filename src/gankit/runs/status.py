"""``status.json``: what a run folder's process is doing, or how it ended.

States: ``running`` (a process is training in the folder), ``finished`` (all ``steps`` done),
``stopped`` (Ctrl-C; resumable from the last checkpoint), ``diverged`` (a loss or weight became
NaN/Inf), ``failed`` (another error, e.g. a full disk), and ``killed``: the file still says running but its process
is gone (a kill, a crash of the machine). Folders written before this file existed are
``finished`` or ``incomplete`` from their checkpoints.
"""

from __future__ import annotations

import json
import os
import socket
import sys
import time
from pathlib import Path
from typing import Any

from gankit.engine.callbacks import Callback, Engine
from gankit.engine.loop import TrainingDiverged
from gankit.utils.atomic import write_text_atomic
from gankit.utils.jsonl import to_json

STATUS_FILE = "status.json"


class RunStatus(Callback):
    """Keeps ``RUN/status.json`` current: at the start, at every snapshot and at the end."""

    def __init__(self, run_dir: str | Path):
        self.path = Path(run_dir) / STATUS_FILE
        self.ended = False

    def on_start(self, engine: Engine) -> None:
        self.write(engine, "running")

    def on_snapshot(self, engine: Engine) -> None:
        self.write(engine, "running")

    def on_end(self, engine: Engine) -> None:
        self.ended = True
        done = engine.state.step >= engine.config.steps
        self.write(engine, "finished" if done and not engine.interrupted else "stopped")

    def on_close(self, engine: Engine) -> None:
        if not self.ended:  # the loop is raising (on_close runs in its `finally`)
            error = sys.exc_info()[1]
            state = ("diverged" if isinstance(error, TrainingDiverged) else
                     "stopped" if isinstance(error, KeyboardInterrupt) else
                     getattr(error, "run_state", "failed"))  # e.g. a time budget: "finished"
            self.write(engine, state)

    def write(self, engine: Engine, state: str) -> None:
        record = {"state": state, "step": engine.state.step, "steps": engine.config.steps,
                  "pid": os.getpid(), "host": socket.gethostname(),
                  "updated": time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime())}
        write_text_atomic(self.path, to_json(record) + "\n")


def read_status(run_dir: str | Path) -> dict[str, Any]:
    """The folder's status record, with ``state`` corrected to ``killed`` when it says running on
    this machine but its process no longer exists; ``{"state": "unknown"}`` without a record."""
    try:
        record = json.loads((Path(run_dir) / STATUS_FILE).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return {"state": "unknown"}
    if not isinstance(record, dict) or not isinstance(record.get("state"), str):
        return {"state": "unknown"}
    if (record["state"] == "running" and record.get("host") == socket.gethostname()
            and isinstance(record.get("pid"), int) and not _alive(record["pid"])):
        record["state"] = "killed"
    return record


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # someone else's process
        return True
    except (OverflowError, ValueError):
        return False
    return True
