"""Exact resume and determinism: N steps + resume + N steps == 2N steps, bit for bit."""

import json

import pytest
import torch
from safetensors.torch import load_file

import gankit
from gankit.cli import main
from gankit.errors import ConfigError

CASES = {
    "digits-paper-k1": dict(preset="digits"),  # maxout + dropout D, momentum SGD with schedules
    "digits-paper-k2": dict(preset="digits", k=2),
    "digits-sim": dict(preset="digits", schedule="simultaneous"),
    "ring8-adam-k1": dict(preset="ring8"),
    "ring8-adam-k3": dict(preset="ring8", k=3, g_loss="minimax"),
    "digits-g-ema": dict(preset="digits", g_ema=0.9),  # the weight average is resumed too
}


def small(tmp_path, name, **kw):
    return dict(kw, steps=20, batch=16, g_hidden=(24,), d_hidden=(16,), z_dim=4, log_every=5,
                snapshot_every=10, grid_size=8, threads=1, runs_dir=str(tmp_path / name))


def all_tensors(run_path, step):
    return load_file(str(run_path / "checkpoints" / f"step-{step:06d}.safetensors"))


@pytest.mark.parametrize("case", sorted(CASES))
def test_resume_is_bit_identical_to_an_uninterrupted_run(tmp_path, case):
    straight = gankit.train(progress=False, **small(tmp_path, "a", **CASES[case]))
    half = gankit.train(progress=False, **{**small(tmp_path, "b", **CASES[case]), "steps": 10})
    resumed = gankit.train(resume=half.path, progress=False, steps=20)
    assert resumed.path == half.path and resumed.step == 20
    a, b = all_tensors(straight.path, 20), all_tensors(resumed.path, 20)
    assert a.keys() == b.keys()
    for key in a:  # weights, optimiser states, data order, every RNG state
        assert torch.equal(a[key], b[key]), key
    rows = lambda p: [{k: v for k, v in json.loads(l).items() if k != "time"}  # noqa: E731
                      for l in (p / "stats.jsonl").read_text().splitlines()]
    assert rows(straight.path) == rows(resumed.path)
    assert json.loads((resumed.path / "config.json").read_text())["steps"] == 20


def test_resume_from_an_older_checkpoint_redoes_the_log(tmp_path):
    run = gankit.train(progress=False, **{**small(tmp_path, "a"), "keep_checkpoints": 5})
    ckpt = run.path / "checkpoints" / "step-000010.safetensors"
    resumed = gankit.train(resume=ckpt, progress=False, steps=30)
    steps = [json.loads(l)["step"] for l in (resumed.path / "stats.jsonl").read_text().splitlines()]
    assert steps == [5, 10, 15, 20, 25, 30]
    straight = gankit.train(progress=False, **{**small(tmp_path, "c"), "steps": 30})
    a, b = all_tensors(straight.path, 30), all_tensors(resumed.path, 30)
    assert all(torch.equal(a[k], b[k]) for k in a)


def test_resume_refuses_to_change_the_maths(tmp_path):
    run = gankit.train(progress=False, **small(tmp_path, "a"))
    with pytest.raises(ConfigError, match="cannot change lr_d when resuming"):
        gankit.train(resume=run.path, progress=False, lr_d=0.5, steps=30)
    with pytest.raises(ConfigError, match="beyond --steps 5"):
        gankit.train(resume=run.path, progress=False, steps=5)


def test_same_seed_twice_gives_identical_checkpoints(tmp_path):
    a = gankit.train(progress=False, **small(tmp_path, "a"))
    b = gankit.train(progress=False, **small(tmp_path, "b"))
    ta, tb = all_tensors(a.path, 20), all_tensors(b.path, 20)
    assert all(torch.equal(ta[k], tb[k]) for k in ta)


def test_cli_resume_continues_in_the_same_folder(tmp_path, capsys):
    argv = ["--steps", "10", "--batch", "16", "--g-hidden", "24", "--d-hidden", "16", "--z-dim", "4",
            "--snapshot-every", "5", "--threads", "1", "--quiet", "--runs-dir", str(tmp_path)]
    assert main(["train", *argv]) == 0
    run_dir = capsys.readouterr().out.strip().splitlines()[-1]
    assert main(["train", "--resume", run_dir, "--steps", "15", "--quiet"]) == 0
    out, err = capsys.readouterr()
    assert out.strip().splitlines()[-1] == run_dir and "resuming" in err
    assert gankit.load_run(run_dir).step == 15
    assert len(list(tmp_path.iterdir())) == 1  # no new run folder
    assert main(["train", "--resume", run_dir, "--lr", "0.3"]) == 2
