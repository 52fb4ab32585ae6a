"""status.json: running, finished, stopped, diverged, failed, killed."""

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

import gankit
from gankit.engine.loop import TrainingDiverged
from gankit.runs.status import read_status


def test_a_finished_run_says_finished(tiny):
    run = gankit.train(preset="digits", progress=False, **tiny)
    status = read_status(run.path)
    assert status["state"] == "finished" and status["step"] == status["steps"] == tiny["steps"]


def test_a_run_seen_while_training_says_running(tiny):
    seen = []
    gankit.train(preset="digits", progress=False, callbacks=[lambda e: seen.append(
        read_status(e.run_dir)["state"])], **tiny)
    assert seen[:-1] and set(seen[:-1]) == {"running"}


def test_a_stopped_run_says_stopped(tiny):
    def stop(engine):  # as the first Ctrl-C does
        engine.interrupted = True
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        gankit.train(preset="digits", progress=False, callbacks=[stop], **tiny)
    (run_dir,) = Path(tiny["runs_dir"]).iterdir()
    assert read_status(run_dir)["state"] == "stopped"


def test_a_diverged_run_says_diverged(tiny):
    with pytest.raises(TrainingDiverged):
        gankit.train(preset="digits", progress=False, lr_d=1e30, lr_g=1e30, **tiny)
    (run_dir,) = Path(tiny["runs_dir"]).iterdir()
    assert read_status(run_dir)["state"] == "diverged"


def test_another_error_says_failed(tiny):
    def fail(engine):
        raise OSError("disk full")

    with pytest.raises(OSError):
        gankit.train(preset="digits", progress=False, callbacks=[fail], **tiny)
    (run_dir,) = Path(tiny["runs_dir"]).iterdir()
    assert read_status(run_dir)["state"] == "failed"


def test_running_with_its_process_gone_reads_as_killed(tiny):
    run = gankit.train(preset="digits", progress=False, **tiny)
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    record = json.loads((run.path / "status.json").read_text())
    (run.path / "status.json").write_text(json.dumps({**record, "state": "running",
                                                      "pid": dead.pid}))
    assert read_status(run.path)["state"] == "killed"
    (run.path / "status.json").write_text(json.dumps({**record, "state": "running",
                                                      "pid": os.getpid()}))
    assert read_status(run.path)["state"] == "running"


def test_no_or_unreadable_record_is_unknown(tmp_path):
    assert read_status(tmp_path) == {"state": "unknown"}
    (tmp_path / "status.json").write_text("[1, 2")
    assert read_status(tmp_path) == {"state": "unknown"}
