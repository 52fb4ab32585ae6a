"""torchrun + DistributedDataParallel on CPU (gloo): a real 2-process job, its equivalence with one
process, and a killed rank ending the job."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
import torch
from safetensors.torch import load_file

import gankit

# No dropout: dropout masks are drawn per rank, so only a dropout-free net can be compared exactly
# with one process. Noise and real examples ARE the same: each rank takes its slice of the same
# global batch (see gankit/distributed.py).
NET = ["--g-hidden", "32", "--d-hidden", "16", "--z-dim", "8", "--d-dropout-input", "0",
       "--d-dropout-hidden", "0", "--threads", "1", "--quiet", "--log-every", "1"]


def torchrun(nproc, *args, timeout=120, **popen):
    cmd = [sys.executable, "-m", "torch.distributed.run", f"--nproc_per_node={nproc}",
           "--standalone", "-m", "gankit", "train", *args]
    env = {**os.environ, "OMP_NUM_THREADS": "1"}
    return subprocess.run(cmd, capture_output=True, text=True, timeout=timeout, env=env, **popen)


def ok(out: subprocess.CompletedProcess) -> bool:
    """Exit status 0; else print both ranks' own errors, which torchrun's traceback would bury."""
    if out.returncode != 0:
        print(out.stderr)
    return out.returncode == 0


def weights(run_dir: Path, step: int) -> dict:
    return load_file(str(run_dir / "checkpoints" / f"step-{step:06d}.safetensors"))


def test_two_ranks_with_half_batches_make_the_same_update_as_one_process(tmp_path):
    args = [*NET, "--steps", "3", "--batch", "32", "--snapshot-every", "1"]
    one = gankit.train(progress=False, **{"steps": 3, "batch": 32, "snapshot_every": 1,
                                          "g_hidden": (32,), "d_hidden": (16,), "z_dim": 8,
                                          "d_dropout_input": 0.0, "d_dropout_hidden": 0.0,
                                          "threads": 1, "log_every": 1,
                                          "runs_dir": str(tmp_path / "one")})
    out = torchrun(2, *args, "--runs-dir", str(tmp_path / "two"))
    assert ok(out)
    two_dir = Path(out.stdout.strip().splitlines()[-1])
    assert sorted(p.name for p in (tmp_path / "two").iterdir()) == [two_dir.name]  # rank 0 only
    worst = 0.0
    for step in (1, 3):
        a, b = weights(one.path, step), weights(two_dir, step)
        for key in a:
            if key.startswith(("G.", "D.")):
                torch.testing.assert_close(a[key], b[key], rtol=1e-5, atol=1e-6)
                worst = max(worst, (a[key] - b[key]).abs().max().item())
    print(f"DDP equivalence: max |w_1proc - w_2ranks| = {worst:.3g}")
    rows_one = [json.loads(l) for l in (one.path / "stats.jsonl").read_text().splitlines()]
    rows_two = [json.loads(l) for l in (two_dir / "stats.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows_one] == [r["step"] for r in rows_two]
    for r1, r2 in zip(rows_one, rows_two):  # statistics gathered across ranks = the global batch
        assert r1["Loss/D"] == pytest.approx(r2["Loss/D"], rel=1e-4, abs=1e-6)


def test_distributed_resume_continues_the_run(tmp_path):
    args = [*NET, "--batch", "32", "--snapshot-every", "5"]
    first = torchrun(2, *args, "--steps", "5", "--runs-dir", str(tmp_path))
    assert ok(first)
    run_dir = first.stdout.strip().splitlines()[-1]
    # 7 is not a multiple of --snapshot-every: the end-of-run checkpoint is a collective that
    # every rank must join (a rank skipping it would leave the others waiting at the exit)
    again = torchrun(2, "--resume", run_dir, "--steps", "7", "--quiet", timeout=60)
    assert ok(again)
    assert gankit.load_run(run_dir).step == 7
    assert "rng.torch.rank1" in weights(Path(run_dir), 7)


def test_a_killed_rank_ends_the_job_quickly(tmp_path):
    cmd = [sys.executable, "-m", "torch.distributed.run", "--nproc_per_node=2", "--standalone",
           "-m", "gankit", "train", *NET, "--batch", "32", "--steps", "1000000",
           "--snapshot-every", "1000000", "--dist-timeout", "30", "--runs-dir", str(tmp_path)]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            env={**os.environ, "OMP_NUM_THREADS": "1"}, start_new_session=True)
    try:
        deadline = time.time() + 90
        while time.time() < deadline:  # until both ranks are training
            stats = list(tmp_path.glob("*/stats.jsonl"))
            if stats and stats[0].stat().st_size > 200:
                break
            time.sleep(0.2)
        else:
            pytest.fail("the job did not start training")
        workers = subprocess.run(["pgrep", "-P", str(proc.pid)], capture_output=True,
                                 text=True).stdout.split()
        assert len(workers) == 2
        os.kill(int(workers[-1]), signal.SIGKILL)
        t0 = time.time()
        proc.wait(timeout=60)
        ended = time.time() - t0
    finally:
        if proc.poll() is None:
            os.killpg(proc.pid, signal.SIGKILL)
    assert proc.returncode != 0
    print(f"job ended {ended:.1f} s after a rank was killed")
    assert ended < 45


def test_a_penalised_spectrally_normalised_critic_trains_under_torchrun(tmp_path):
    # WGAN-GP's penalty runs D a second time (on interpolates) before the one backward pass, and
    # spectral norm updates D's buffers in every forward: both must work with DDP's hooks
    out = torchrun(2, *NET, "--steps", "3", "--batch", "32", "--objective", "wgan-gp", "--k", "2",
                   "--d-spectral-norm", "--optimizer", "adam", "--lr", "1e-4",
                   "--runs-dir", str(tmp_path / "runs"))
    assert ok(out)
    run_dir = Path(out.stdout.strip().splitlines()[-1])
    rows = [json.loads(l) for l in (run_dir / "stats.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [1, 2, 3] and all("Critic/f(x)" in r for r in rows)
    assert all(torch.isfinite(w).all() for w in weights(run_dir, 3).values() if w.is_floating_point())
