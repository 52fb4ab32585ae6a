"""Resume, hardened (issue 18): branching from an older checkpoint, one process per run folder,
the same stats.jsonl as an uninterrupted run, a folder stopped before its first checkpoint, a
smaller data set, a second Ctrl-C."""

import json
import os
import signal
import struct
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
import torch
from safetensors.torch import load_file

import gankit
from gankit.engine.callbacks import Callback
from gankit.errors import DataError
from gankit.runs.checkpoint import checkpoint_files, load_checkpoint
from gankit.runs.lock import RunLock, RunLocked


def small(tmp_path, name="runs", **kw):
    return dict(dict(steps=20, batch=16, g_hidden=(24,), d_hidden=(16,), z_dim=4, log_every=5,
                     snapshot_every=10, grid_size=8, threads=1, runs_dir=str(tmp_path / name)), **kw)


def snapshot(folder: Path) -> dict[str, bytes]:
    """Every file of a folder, by relative path, with its bytes."""
    return {str(p.relative_to(folder)): p.read_bytes() for p in sorted(folder.rglob("*")) if p.is_file()}


def rows(run_dir: Path) -> list[dict]:
    """stats.jsonl without its wall-clock field."""
    return [{k: v for k, v in json.loads(line).items() if k != "time"}
            for line in (run_dir / "stats.jsonl").read_text().splitlines()]


def same_tensors(a: Path, b: Path) -> bool:
    ta, tb = load_file(str(a)), load_file(str(b))
    return ta.keys() == tb.keys() and all(torch.equal(ta[k], tb[k]) for k in ta)


# --- item 8: an older checkpoint branches into a new run folder ------------------------------------

def test_resuming_an_older_checkpoint_branches_and_leaves_the_original_untouched(tmp_path, run_cli,
                                                                                capsys):
    run = gankit.train(progress=False, **small(tmp_path, steps=30, keep_checkpoints=5))
    original = snapshot(run.path)
    older = run.path / "checkpoints" / "step-000010.safetensors"
    branch = gankit.train(resume=older, progress=False, steps=15)
    assert "branching into" in capsys.readouterr().err
    assert snapshot(run.path) == original  # byte for byte: nothing written, nothing deleted
    assert branch.path != run.path and branch.path.parent == run.path.parent
    record = json.loads((branch.path / "branch.json").read_text())
    assert record["parent_run"] == str(run.path.resolve()) and record["parent_step"] == 10
    assert record["parent_checkpoint"] == str(older.resolve())
    # the branch holds its own history only: rows, grids and checkpoints up to 10, then its own
    assert [r["step"] for r in rows(branch.path)] == [5, 10, 15]
    assert sorted(p.name for p in (branch.path / "samples").glob("fakes-*.png")) == [
        "fakes-000000.png", "fakes-000010.png", "fakes-000015.png"]
    assert [p.name for p in checkpoint_files(branch.path / "checkpoints")] == [
        "step-000015.safetensors", "step-000010.safetensors"]
    assert json.loads((branch.path / "config.json").read_text())["steps"] == 15
    # what sample and export use is the branch's step 15, not the abandoned step 30
    assert gankit.load_run(branch.path).step == 15 and gankit.load_run(run.path).step == 30
    code, out, err = run_cli("export", branch.path, "--format", "safetensors", "--out",
                             tmp_path / "g.safetensors")
    assert code == 0, err
    assert load_checkpoint(tmp_path / "g.safetensors")[1]["step"] == 15
    # and the branch is exactly the run that continues from step 10 to 15
    straight = gankit.train(progress=False, **small(tmp_path, "straight", steps=15))
    assert same_tensors(straight.path / "checkpoints" / "step-000015.safetensors",
                        branch.path / "checkpoints" / "step-000015.safetensors")
    assert rows(straight.path) == rows(branch.path)


def test_resuming_the_newest_checkpoint_by_name_continues_in_place(tmp_path):
    run = gankit.train(progress=False, **small(tmp_path))
    resumed = gankit.train(resume=checkpoint_files(run.path / "checkpoints")[0], progress=False,
                           steps=25)
    assert resumed.path == run.path and not (run.path / "branch.json").exists()
    assert len(list((tmp_path / "runs").iterdir())) == 1


# --- item 9: one process trains in a run folder at a time ---------------------------------------

def test_a_run_folder_in_use_is_refused_with_one_line(tmp_path, run_cli, one_line_error, capsys):
    run = gankit.train(progress=False, **small(tmp_path))
    before = snapshot(run.path)
    with RunLock(run.path):  # as another process training in it holds it
        with pytest.raises(RunLocked, match="in use: another gankit process is training"):
            gankit.train(resume=run.path, progress=False, steps=30)
        capsys.readouterr()
        line = one_line_error(*run_cli("train", "--resume", run.path, "--steps", "30", "--quiet"))
        assert str(run.path) in line and "wait for that one to finish" in line
    assert snapshot(run.path) == before  # the refused resume wrote nothing
    assert gankit.train(resume=run.path, progress=False, steps=25).step == 25  # released


def test_the_lock_is_held_by_another_process_and_dies_with_it(tmp_path, run_cli, one_line_error,
                                                              capsys):
    run = gankit.train(progress=False, **small(tmp_path))
    capsys.readouterr()
    src = str(Path(gankit.__file__).parents[1])
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sys, time; from gankit.runs.lock import RunLock; "
         "l = RunLock(sys.argv[1]).acquire(); print('locked', flush=True); time.sleep(60)",
         str(run.path)], stdout=subprocess.PIPE, env={**os.environ, "PYTHONPATH": src})
    try:
        assert holder.stdout.readline().strip() == b"locked"
        one_line_error(*run_cli("train", "--resume", run.path, "--steps", "25", "--quiet"))
    finally:
        holder.kill()  # SIGKILL: no clean-up ran, and the lock is gone with the process
        holder.wait()
    code, out, err = run_cli("train", "--resume", run.path, "--steps", "25", "--quiet")
    assert code == 0, err


def test_a_new_run_is_locked_while_it_trains(tmp_path):
    seen = []

    class TryToResume(Callback):
        def on_snapshot(self, engine):
            with pytest.raises(RunLocked):
                RunLock(engine.run_dir).acquire()
            seen.append(engine.state.step)

    gankit.train(progress=False, callbacks=[TryToResume()], **small(tmp_path))
    assert seen == [10, 20]


# --- item 10: the same stats.jsonl as an uninterrupted run ----------------------------------------

class StopAt(Callback):
    """Ctrl-C at a step (the engine's own handler sees a real SIGINT), or a crash (a kill)."""

    def __init__(self, step, crash=False):
        self.step, self.crash = step, crash

    def on_step(self, engine, stats):
        if engine.state.step == self.step:
            if self.crash:
                raise RuntimeError("killed")
            os.kill(os.getpid(), signal.SIGINT)


@pytest.mark.parametrize("how", ["ctrl-c", "kill"])
def test_stats_across_an_interruption_equal_an_uninterrupted_run(tmp_path, how, capsys):
    # log every 4 steps, snapshot every 6: the interruption falls between log steps
    kw = dict(steps=24, log_every=4, snapshot_every=6)
    straight = gankit.train(progress=False, **small(tmp_path, "a", **kw))
    if how == "ctrl-c":  # stops at step 9: a partial row and a checkpoint at 9
        first = gankit.train(progress=False, callbacks=[StopAt(9)], **small(tmp_path, "b", **kw))
        assert first.interrupted and first.step == 9 and rows(first.path)[-1]["step"] == 9
        path = first.path
    else:  # dies at step 10: rows up to 8 written, newest checkpoint at 6
        with pytest.raises(RuntimeError, match="killed"):
            gankit.train(progress=False, callbacks=[StopAt(10, crash=True)],
                         **small(tmp_path, "b", **kw))
        path = next((tmp_path / "b").iterdir())
        assert [r["step"] for r in rows(path)] == [4, 8]
    resumed = gankit.train(resume=path, progress=False, steps=24)
    assert rows(resumed.path) == rows(straight.path)
    assert same_tensors(straight.path / "checkpoints" / "step-000024.safetensors",
                        resumed.path / "checkpoints" / "step-000024.safetensors")


def test_a_folder_stopped_before_its_first_checkpoint_starts_afresh_in_place(tmp_path, run_cli):
    straight = gankit.train(progress=False, **small(tmp_path, "a"))
    run = gankit.train(progress=False, **small(tmp_path, "b"))
    for p in [*run.path.rglob("*")][::-1]:  # as a kill before the first checkpoint leaves it
        if p.name not in ("config.json", "environment.json", "b"):
            p.unlink() if p.is_file() else p.rmdir()
    assert sorted(p.name for p in run.path.iterdir()) == ["config.json", "environment.json"]
    code, out, err = run_cli("train", "--resume", run.path, "--steps", "20", "--quiet")
    assert code == 0, err
    assert "starting it afresh in place" in err and out.strip().splitlines()[-1] == str(run.path)
    assert rows(run.path) == rows(straight.path)
    assert same_tensors(straight.path / "checkpoints" / "step-000020.safetensors",
                        run.path / "checkpoints" / "step-000020.safetensors")


# --- item 7: a smaller data set on resume; a second Ctrl-C ---------------------------------------

def _idx_folder(folder: Path, n_train: int) -> Path:
    from gankit.data.mnist import FILES

    folder.mkdir()
    rng = np.random.default_rng(0)
    arrays = {"train_images": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
              "train_labels": rng.integers(0, 10, n_train, dtype=np.uint8),
              "test_images": rng.integers(0, 256, (20, 28, 28), dtype=np.uint8),
              "test_labels": rng.integers(0, 10, 20, dtype=np.uint8)}
    for key, a in arrays.items():
        header = struct.pack(">I", {3: 2051, 1: 2049}[a.ndim]) + struct.pack(f">{a.ndim}I", *a.shape)
        (folder / FILES[key]).write_bytes(header + a.tobytes())
    return folder


def test_resume_with_a_smaller_data_set_is_refused_before_training(tmp_path, run_cli,
                                                                   one_line_error, capsys):
    big, smaller = _idx_folder(tmp_path / "big", 200), _idx_folder(tmp_path / "small", 80)
    run = gankit.train(progress=False, **small(tmp_path, dataset="mnist", data_dir=str(big),
                                               steps=4, snapshot_every=4, log_every=2))
    before = snapshot(run.path)
    capsys.readouterr()
    line = one_line_error(*run_cli("train", "--resume", run.path, "--data-dir", smaller,
                                   "--steps", "40", "--quiet"))
    assert "have 67 training examples" in line and "trained on 167" in line  # a sixth validates
    assert snapshot(run.path) == before
    with pytest.raises(DataError):
        gankit.train(resume=run.path, progress=False, data_dir=str(smaller), steps=40)


def test_a_second_ctrl_c_inside_the_png_writer_is_one_line_and_leaves_no_half_file(
        tmp_path, run_cli, monkeypatch):
    import gankit.figures.samples as samples

    real_grid = samples.image_grid

    def grid_then_two_ctrl_c(images, *a, **kw):
        out = real_grid(images, *a, **kw)
        if (tmp_path / "runs").exists() and list((tmp_path / "runs").glob("*/samples/fakes-000006.png")):
            os.kill(os.getpid(), signal.SIGINT)  # the first: stop at the next safe point
            os.kill(os.getpid(), signal.SIGINT)  # the second: abort, here inside the writer
        return out

    monkeypatch.setattr(samples, "image_grid", grid_then_two_ctrl_c)
    code, out, err = run_cli("train", "--steps", "30", "--batch", "16", "--g-hidden", "24",
                             "--d-hidden", "16", "--z-dim", "4", "--snapshot-every", "6",
                             "--threads", "1", "--quiet", "--runs-dir", tmp_path / "runs")
    assert code == 130 and "Traceback" not in err
    assert err.strip().splitlines()[-1].startswith("gankit: error: aborted by a second Ctrl-C")
    run_dir = next((tmp_path / "runs").iterdir())
    assert not [p for p in run_dir.rglob("*") if ".tmp-" in p.name]  # nothing half-written
    for ckpt in checkpoint_files(run_dir / "checkpoints"):
        load_checkpoint(ckpt)
    monkeypatch.undo()
    assert gankit.train(resume=run_dir, progress=False, steps=14).step == 14
