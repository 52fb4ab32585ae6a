"""Crashes lose nothing; hostile files never run code; broken input fails with our own errors."""

import io
import os
import pickle
import random
import signal
import subprocess
import sys
import tarfile
import time
import zipfile
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

import gankit
from gankit.runs.checkpoint import checkpoint_files, load_checkpoint
from gankit.cli import main
from gankit.config import load_config_file, resolve_config
from gankit.data.archive import safe_extract
from gankit.data.mnist import parse_idx
from gankit.errors import CheckpointError, DataError, GankitError

ARGS = ["--batch", "16", "--g-hidden", "24", "--d-hidden", "16", "--z-dim", "4", "--log-every", "5",
        "--snapshot-every", "40", "--threads", "1", "--quiet"]


def small(tmp_path, **kw):
    return dict(dict(steps=20, batch=16, g_hidden=(24,), d_hidden=(16,), z_dim=4, log_every=5,
                     snapshot_every=10, grid_size=8, threads=1, runs_dir=str(tmp_path / "runs")), **kw)


def test_sigkill_at_random_moments_then_resume_loses_at_most_one_snapshot(tmp_path):
    """Kill -9 the trainer repeatedly (also during checkpoint writes); every file stays readable,
    at most one snapshot interval is lost, and the finished run equals an uninterrupted one."""
    endless, every, n_kills = 10**6, 40, 3  # the killed runs never finish on their own
    rng = random.Random(7)
    runs = tmp_path / "runs"
    cmd = [sys.executable, "-m", "gankit", "train", *ARGS]
    run_dir, kills = None, 0
    while kills < n_kills:
        argv = cmd + ["--steps", str(endless)] + (
            ["--resume", str(run_dir)] if run_dir else ["--runs-dir", str(runs)])
        proc = subprocess.Popen(argv, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
        _wait_until_training(runs, proc)
        time.sleep(rng.uniform(0.0, 1.0))  # a random moment: often inside a checkpoint write
        assert proc.poll() is None, proc.communicate()[1][-2000:]
        proc.send_signal(signal.SIGKILL)
        proc.wait()
        kills += 1
        found = sorted(runs.glob("*")) if runs.exists() else []
        if not found or not checkpoint_files(found[0] / "checkpoints"):
            continue  # killed before the first checkpoint: nothing to resume yet
        run_dir = found[0]
        for ckpt in checkpoint_files(run_dir / "checkpoints"):
            load_checkpoint(ckpt)  # raises if any published checkpoint is corrupt
        logged = [int(l.split('"step": ')[1].split(",")[0])
                  for l in (run_dir / "stats.jsonl").read_text().splitlines() if '"step": ' in l]
        newest = int(checkpoint_files(run_dir / "checkpoints")[0].stem.split("-")[1])
        assert max(logged, default=0) - newest <= every
    assert run_dir is not None
    # Finish a little past the newest checkpoint, then train the same total in one go.
    total = int(checkpoint_files(run_dir / "checkpoints")[0].stem.split("-")[1]) + 2 * every
    finish = subprocess.run(cmd + ["--steps", str(total), "--resume", str(run_dir)],
                            capture_output=True)
    assert finish.returncode == 0, finish.stderr
    assert gankit.load_run(run_dir).step == total
    straight = subprocess.run(cmd + ["--steps", str(total), "--runs-dir", str(tmp_path / "straight")],
                              capture_output=True)
    assert straight.returncode == 0
    a = load_file(str(next((tmp_path / "straight").glob("*/checkpoints")) / f"step-{total:06d}.safetensors"))
    b = load_file(str(run_dir / "checkpoints" / f"step-{total:06d}.safetensors"))
    assert [k for k in a if not torch.equal(a[k], b[k])] == []


def _wait_until_training(runs: Path, proc: subprocess.Popen, timeout: float = 60.0) -> None:
    """Until this process has logged a new line (interpreter start-up is not training)."""
    def lines():
        return sum(len(p.read_text().splitlines()) for p in runs.glob("*/stats.jsonl"))

    start, deadline = lines(), time.time() + timeout
    while lines() <= start and proc.poll() is None and time.time() < deadline:
        time.sleep(0.05)


def test_a_bit_flipped_or_truncated_checkpoint_falls_back_to_the_previous(tmp_path, capsys):
    run = gankit.train(progress=False, **small(tmp_path))
    newest, previous = checkpoint_files(run.path / "checkpoints")[:2]
    data = bytearray(newest.read_bytes())
    data[-5] ^= 0x40  # one bit in the tensor bytes: only the checksum can tell
    newest.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="fails its checksum"):
        load_checkpoint(newest)
    loaded = gankit.load_run(run.path)
    assert loaded.checkpoint == previous and "trying the previous checkpoint" in capsys.readouterr().err
    previous.write_bytes(previous.read_bytes()[:300])  # truncated
    with pytest.raises(CheckpointError, match="corrupt or truncated"):
        load_checkpoint(previous)


def test_malicious_pickle_is_never_loaded(tmp_path, capsys):
    marker = tmp_path / "pwned"

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    for name in ("evil.pt", "evil.safetensors"):
        path = tmp_path / name
        path.write_bytes(pickle.dumps(Evil()))
        with pytest.raises(CheckpointError):
            load_checkpoint(path)
        assert main(["train", "--resume", str(path)]) == 2
        assert main(["sample", str(path)]) == 2
    assert not marker.exists()


def test_unwritable_checkpoint_is_a_clear_error_and_keeps_the_previous(tmp_path, monkeypatch):
    import gankit.runs.checkpoint as ck

    run = gankit.train(progress=False, **small(tmp_path))
    before = {p.name: p.read_bytes() for p in (run.path / "checkpoints").iterdir()}

    def disk_full(*a, **kw):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(ck, "save_file", disk_full)
    with pytest.raises(GankitError, match="No space left on device.*untouched"):
        gankit.train(resume=run.path, progress=False, steps=40)
    after = {p.name: p.read_bytes() for p in (run.path / "checkpoints").iterdir()}
    assert after == before


def test_resume_with_a_checkpoint_of_another_architecture_is_refused(tmp_path):
    a = gankit.train(progress=False, **small(tmp_path))
    b = gankit.train(progress=False, **small(tmp_path, g_hidden=(32,)))
    ckpt = checkpoint_files(a.path / "checkpoints")[0]
    tensors, meta = load_checkpoint(ckpt)
    meta["config"] = b.config.to_dict()  # weights of one architecture, config of another
    from gankit.runs.checkpoint import save_checkpoint

    forged = tmp_path / "forged" / "checkpoints"
    forged.mkdir(parents=True)
    save_checkpoint(forged / "step-000020.safetensors", tensors, meta)
    with pytest.raises(CheckpointError, match="do not fit the network"):
        gankit.load_run(forged.parent)
    with pytest.raises(CheckpointError, match="do not fit the network"):
        gankit.train(resume=forged.parent, progress=False, steps=30)


@pytest.mark.parametrize("kind", ["tar", "zip"])
def test_archives_with_path_escapes_are_refused_before_writing(tmp_path, kind):
    archive = tmp_path / f"evil.{kind}"
    if kind == "tar":
        with tarfile.open(archive, "w:gz") as t:
            for name in ("ok.txt", "../evil"):
                info = tarfile.TarInfo(name)
                info.size = 2
                t.addfile(info, io.BytesIO(b"hi"))
    else:
        with zipfile.ZipFile(archive, "w") as z:
            z.writestr("ok.txt", "hi")
            z.writestr("../evil", "hi")
    target = tmp_path / "out"
    with pytest.raises(DataError, match="outside"):
        safe_extract(archive, target)
    assert not (tmp_path / "evil").exists() and not (target / "ok.txt").exists()


def test_safe_archives_extract(tmp_path):
    archive = tmp_path / "good.tar.gz"
    with tarfile.open(archive, "w:gz") as t:
        info = tarfile.TarInfo("sub/a.bin")
        info.size = 3
        t.addfile(info, io.BytesIO(b"abc"))
    files = safe_extract(archive, tmp_path / "out")
    assert [f.read_bytes() for f in files] == [b"abc"]
    (tmp_path / "bad.tar.gz").write_bytes(archive.read_bytes()[:20])
    with pytest.raises(DataError, match="cannot extract"):
        safe_extract(tmp_path / "bad.tar.gz", tmp_path / "out2")


def _idx(n=3, rows=28, cols=28):
    import struct

    return struct.pack(">IIII", 2051, n, rows, cols) + bytes(range(256)) * (n * rows * cols // 256) \
        + bytes(n * rows * cols % 256)


def test_fuzz_idx_reader_never_raises_anything_but_data_error():
    rng = random.Random(0)
    good = _idx()
    outcomes = {"loaded": 0, "DataError": 0}
    for _ in range(500):
        raw = bytearray(good)
        for _ in range(rng.randint(1, 4)):
            op = rng.random()
            i = rng.randrange(len(raw))
            if op < 0.5:
                raw[i] = rng.randrange(256)
            elif op < 0.75:
                del raw[i:]
            else:
                raw[i:i] = bytes(rng.randrange(256) for _ in range(rng.randint(1, 8)))
        try:
            parse_idx(bytes(raw), 3, "fuzz")
            outcomes["loaded"] += 1
        except DataError:
            outcomes["DataError"] += 1
    assert outcomes["DataError"] > 100 and sum(outcomes.values()) == 500


def test_fuzz_config_reader_never_raises_anything_but_gankit_errors(tmp_path):
    rng = random.Random(1)
    good = 'preset = "digits"\nsteps = 10\nk = 2\ng_hidden = [16, 8]\nlr_d = 0.01\ng_loss = "minimax"\n'
    alphabet = string_alphabet = '=[]"\n.,-0123456789abcdefghijklmnopqrstuvwxyz_ \t#\\{}'
    errors = 0
    for i in range(300):
        text = list(good)
        for _ in range(rng.randint(1, 5)):
            text[rng.randrange(len(text))] = rng.choice(string_alphabet)
        path = tmp_path / f"c{i}.toml"
        path.write_text("".join(text))
        try:
            resolve_config(file=path)
        except GankitError as e:
            errors += 1
            assert "\n" not in str(e)
    assert errors > 50
    del alphabet


def test_config_file_type_errors(tmp_path):
    f = tmp_path / "c.yaml"
    f.write_text("steps: [1, 2]\n")
    with pytest.raises(GankitError, match="steps expects int"):
        resolve_config(file=f)
    f.write_text("- a\n- b\n")
    with pytest.raises(GankitError, match="table of keys"):
        load_config_file(f)
