"""A full disk (ENOSPC) and a read-only file system (EROFS), for real: a small tmpfs mounted by the
test (root only; skipped otherwise). Every write fails with one line naming the file, the cause and
what to do; the checkpoints already written stay intact and the run resumes once there is room."""

import errno
import os
import subprocess
from pathlib import Path

import pytest

import gankit
from gankit.engine.callbacks import Callback
from gankit.runs.checkpoint import checkpoint_files, load_checkpoint
from gankit.utils.disk import WriteFailed


def small(runs_dir, **kw):
    return dict(dict(steps=20, batch=16, g_hidden=(24,), d_hidden=(16,), z_dim=4, log_every=5,
                     snapshot_every=5, grid_size=8, threads=1, runs_dir=str(runs_dir)), **kw)


@pytest.fixture
def disk(tmp_path):
    """A 2 MB tmpfs at tmp_path/disk, unmounted afterwards."""
    if os.geteuid() != 0:
        pytest.skip("mounting a tmpfs needs root")
    mnt = tmp_path / "disk"
    mnt.mkdir()
    done = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(mnt)],
                          capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot mount a tmpfs: {done.stderr.strip()}")
    yield mnt
    subprocess.run(["umount", "-l", str(mnt)], capture_output=True)


def fill(folder: Path, leave: int) -> Path:
    """Fill the file system of ``folder`` to the last byte, then free ``leave`` bytes."""
    filler = folder / "filler"
    fd = os.open(filler, os.O_WRONLY | os.O_CREAT)
    try:
        while True:
            try:
                if os.write(fd, b"\0" * 4096) < 4096:
                    break
            except OSError as e:
                assert e.errno == errno.ENOSPC
                break
        os.ftruncate(fd, max(0, os.fstat(fd).st_size - leave))
    finally:
        os.close(fd)
    return filler


class FillAt(Callback):
    """Fill the disk at a step, in a hook that runs after the run folder's own callbacks."""

    def __init__(self, step, hook, leave):
        self.step, self.hook, self.leave = step, hook, leave

    def on_log(self, engine, row):
        if self.hook == "on_log" and engine.state.step == self.step:
            fill(engine.run_dir.parent.parent, self.leave)

    def on_snapshot(self, engine):
        if self.hook == "on_snapshot" and engine.state.step == self.step:
            fill(engine.run_dir.parent.parent, self.leave)


def one_line(err: str) -> str:
    lines = [l for l in err.strip().splitlines() if l.startswith("gankit: error:")]
    assert len(lines) == 1 and "Traceback" not in err, err
    return lines[0]


@pytest.mark.parametrize("what, hook, leave, file", [
    ("checkpoint", "on_log", 16384, "checkpoints/step-000010.safetensors"),  # the PNG fits
    ("status.json", "on_log", 0, "status.json"),  # the first file a snapshot writes
    ("sample grid", "on_log", 0, "samples/fakes-000010.png"),  # (status.json not written here)
    ("stats.jsonl", "on_snapshot", 0, "stats.jsonl"),  # filled after the step-10 snapshot
])
def test_a_full_disk_is_one_line_and_keeps_every_checkpoint(disk, what, hook, leave, file, capsys,
                                                            monkeypatch):
    if what == "sample grid":  # reach the PNG writer: status.json is written just before it
        from gankit.runs.status import RunStatus

        monkeypatch.setattr(RunStatus, "write", lambda *a: None)
    kw = small(disk / "runs", log_every=1 if what == "stats.jsonl" else 5,
               snapshot_every=10 if what == "stats.jsonl" else 5)
    with pytest.raises(WriteFailed) as failed:
        gankit.train(progress=False, callbacks=[FillAt(10, hook,
                                                       leave)], **kw)
    message = str(failed.value)
    run_dir = next((disk / "runs").iterdir())
    assert f"cannot write {run_dir / file} (No space left on device)" in message, message
    assert "free disk space" in message or "has space" in message
    assert f"gankit train --resume {run_dir}" in message
    assert "\n" not in message
    kept = checkpoint_files(run_dir / "checkpoints")
    assert kept and all(load_checkpoint(c) for c in kept)  # the earlier ones, intact
    assert not [p for p in run_dir.rglob("*") if ".tmp-" in p.name]  # no half-written file
    (disk / "filler").unlink()  # room again: the run goes on
    assert gankit.train(resume=run_dir, progress=False, steps=20).step == 20


def test_a_full_disk_from_the_command_line_is_one_line(disk, run_cli):
    from gankit.cli import main

    kw = small(disk / "runs", steps=5)
    run = gankit.train(progress=False, **kw)
    fill(disk, 0)
    code, out, err = run_cli("train", "--resume", run.path, "--steps", "10", "--quiet")
    assert code == 2 and "No space left on device" in one_line(err)
    assert main  # the same entry point as `gankit`


def test_a_new_run_on_a_full_disk_leaves_no_folder(disk, run_cli):
    fill(disk, 0)
    code, out, err = run_cli("train", "--steps", "5", "--quiet", "--runs-dir", disk / "runs")
    # the runs folder itself may not fit: either way one line, and no half-made run folder
    assert code == 2 and "No space left on device" in one_line(err)
    assert not [p for p in (disk / "runs").glob("0*")] if (disk / "runs").exists() else True


@pytest.fixture
def read_only(disk):
    """A run trained on the tmpfs, which is then remounted read-only."""
    run = gankit.train(progress=False, **small(disk / "runs", steps=5))
    done = subprocess.run(["mount", "-o", "remount,ro", str(disk)], capture_output=True, text=True)
    if done.returncode != 0:
        pytest.skip(f"cannot remount read-only: {done.stderr.strip()}")
    return run


def _files(folder: Path) -> dict:
    return {str(p): p.read_bytes() for p in folder.rglob("*") if p.is_file()}


def test_a_read_only_file_system_is_one_line_everywhere(read_only, disk, run_cli, tmp_path):
    before = _files(read_only.path)
    code, out, err = run_cli("train", "--resume", read_only.path, "--steps", "10", "--quiet")
    assert code == 2 and "(Read-only file system)" in one_line(err)
    code, out, err = run_cli("train", "--steps", "5", "--quiet", "--runs-dir", disk / "more")
    line = one_line(err)
    assert code == 2 and "cannot create a run folder in" in line and "Read-only" in line
    code, out, err = run_cli("sample", read_only.path, "--out", disk / "x.png")
    line = one_line(err)
    assert code == 2 and f"cannot write {disk / 'x.png'} (Read-only file system)" in line
    code, out, err = run_cli("figure", "dirac", "--out", disk / "fig", "--steps", "10")
    assert code == 2 and "Read-only file system" in one_line(err)
    assert _files(read_only.path) == before


def test_safetensors_errors_are_read_for_their_os_error_code():
    from safetensors import SafetensorError

    from gankit.utils.disk import write_failure

    for text in ("Error while serializing: I/O error: No space left on device (os error 28)",
                 'Error while serializing: IoError(Os { code: 28, kind: StorageFull, message: "x" })'):
        failure = write_failure(SafetensorError(text), "ck.safetensors")
        assert failure.errno == errno.ENOSPC
        assert str(failure) == ("cannot write ck.safetensors (No space left on device); free disk "
                                "space or write elsewhere")
    assert write_failure(ValueError("a bug")) is None  # anything else keeps its traceback


@pytest.mark.parametrize("fmt", ["safetensors", "torchscript"])
def test_export_to_a_full_disk_is_one_line_naming_the_file(disk, tmp_path, run_cli, one_line_error,
                                                           capsys, fmt):
    run = gankit.train(progress=False, **small(tmp_path / "runs"))
    capsys.readouterr()  # the run's own verdicts
    fill(disk, leave=0)
    out = disk / f"g.{fmt}"
    line = one_line_error(*run_cli("export", run.path, "--format", fmt, "--out", out))
    assert str(out) in line and "No space left on device" in line
    assert not out.exists() and not [p for p in disk.iterdir() if p.name != "filler"]
