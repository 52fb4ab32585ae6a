"""The command line (cli.py): verbs, the last-line contract, one-line errors, Ctrl-C."""

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from gankit.cli import main

TINY = ["--steps", "12", "--batch", "16", "--g-hidden", "32", "--d-hidden", "32", "--z-dim", "8",
        "--log-every", "4", "--snapshot-every", "6", "--grid-size", "16", "--threads", "1", "--quiet"]


def run_cli(capsys, *argv):
    code = main(list(argv))
    out, err = capsys.readouterr()
    return code, out, err


def test_train_prints_the_run_folder_last_and_sample_is_deterministic(tmp_path, capsys):
    code, out, _ = run_cli(capsys, "train", *TINY, "--runs-dir", str(tmp_path / "runs"))
    assert code == 0
    run_dir = Path(out.strip().splitlines()[-1])
    assert run_dir == tmp_path / "runs" / "00001-digits-ns-k1" and run_dir.is_dir()
    outs = []
    for name in ("a.npy", "b.npy"):
        code, out, _ = run_cli(capsys, "sample", str(run_dir), "--n", "9", "--seed", "5",
                               "--out", str(tmp_path / name))
        assert code == 0 and out.strip() == str(tmp_path / name)
        outs.append(np.load(tmp_path / name))
    assert outs[0].shape == (9, 1, 8, 8) and outs[0].dtype == np.float32
    np.testing.assert_array_equal(outs[0], outs[1])
    code, out, _ = run_cli(capsys, "sample", str(run_dir), "--n", "4", "--out", str(tmp_path / "g.png"))
    assert code == 0 and (tmp_path / "g.png").read_bytes()[:4] == b"\x89PNG"


def test_dry_run_prints_resolved_config_and_creates_nothing(tmp_path, capsys):
    cfg = tmp_path / "c.yaml"
    cfg.write_text("preset: paper-mnist\nsteps: 5\n")
    code, out, _ = run_cli(capsys, "train", "--config", str(cfg), "--k", "2", "--dry-run",
                           "--runs-dir", str(tmp_path / "runs"))
    assert code == 0
    resolved = json.loads(out)
    assert resolved["preset"] == "paper-mnist" and resolved["steps"] == 5 and resolved["k"] == 2
    assert resolved["optimizer"] == "sgd"
    assert not (tmp_path / "runs").exists()


def test_presets_lists_records_then_modifiers_then_aliases(capsys):
    code, out, _ = run_cli(capsys, "presets")
    assert code == 0
    from gankit.presets import ALIASES, MODIFIERS, RECORDS

    records, modifiers, aliases = (section.splitlines() for section in out.strip().split("\n\n"))
    assert [line.split()[0] for line in records] == [r.name for r in RECORDS]
    assert all(line.endswith(f"[{r.evidence}]") for line, r in zip(records, RECORDS))
    assert [line.split()[0] for line in modifiers[1:]] == [m.name for m in MODIFIERS]
    assert [line.split()[:3] for line in aliases[1:]] == [[a, "=", t] for a, t in ALIASES.items()]


@pytest.mark.parametrize("argv, words", [
    (["train", "--preset", "bogus"], "unknown preset 'bogus'"),
    (["train", "--dataset", "imagenet"], "unknown dataset 'imagenet'"),
    (["train", "--g-loss", "hinge"], "unknown g_loss 'hinge'"),
    (["train", "--k", "0"], "k must be at least 1"),
    (["train", "--lr-d", "0"], "lr_d must be a positive number"),
    (["train", "--lr", "-1"], "learning rates must be positive numbers (got -1.0); pass e.g. --lr"),
    (["train", "--batch", "0"], "batch must be at least 1"),
    (["train", "--batch", "5000"], "larger than the digits training set"),
    (["train", "--steps", "ten"], "steps expects int"),
    (["train", "--dataset", "mnist", "--data-dir", "/nonexistent/mnist"], "does not exist"),
    (["train", "--config", "/nonexistent.toml"], "does not exist"),
    (["train", "--bogus-flag", "1"], "unrecognized arguments"),
    (["sample", "/nonexistent/run"], "does not exist"),
    (["frobnicate"], "invalid choice"),
])
def test_bad_input_is_one_line_exit_2_and_no_run_folder(tmp_path, capsys, argv, words):
    code, out, err = run_cli(capsys, *argv, *(["--runs-dir", str(tmp_path / "runs")]
                                              if argv[0] == "train" else []))
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("gankit: error:") and words in lines[0]
    assert "Traceback" not in err
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


def test_sample_refuses_pickles_and_keeps_the_existing_file(tmp_path, capsys):
    evil = tmp_path / "model.pt"
    marker = tmp_path / "pwned"
    import pickle

    class Evil:
        def __reduce__(self):
            return (os.system, (f"touch {marker}",))

    evil.write_bytes(pickle.dumps(Evil()))
    code, _, err = run_cli(capsys, "sample", str(evil), "--out", str(tmp_path / "x.npy"))
    assert code == 2 and "never loads pickled" in err and not marker.exists()


def test_ctrl_c_saves_a_checkpoint_and_exits_cleanly(tmp_path):
    cmd = [sys.executable, "-m", "gankit", "train", "--steps", "100000", "--batch", "16",
           "--g-hidden", "32", "--d-hidden", "32", "--z-dim", "8", "--snapshot-every", "100000",
           "--threads", "1", "--quiet", "--runs-dir", str(tmp_path / "runs")]
    proc = subprocess.Popen(cmd, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    stats = None
    deadline = time.time() + 60
    while time.time() < deadline:  # wait until training is really under way
        found = list((tmp_path / "runs").glob("*/stats.jsonl"))
        if found and found[0].stat().st_size > 0:
            stats = found[0]
            break
        time.sleep(0.1)
    assert stats is not None, "training did not start"
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130
    assert "Traceback" not in err and "checkpoint saved" in err
    run_dir = Path(out.strip().splitlines()[-1])
    ckpts = sorted((run_dir / "checkpoints").glob("step-*.safetensors"))
    assert ckpts[0].name == "step-000000.safetensors" and len(ckpts) == 2
    step = int(ckpts[-1].stem.split("-")[1])
    assert 0 < step < 100000
    from gankit import load_run

    assert load_run(run_dir).step == step


def test_version_prints_the_package_version(capsys):
    from gankit.version import __version__

    code, out, err = run_cli(capsys, "--version")
    assert code == 0 and out.strip() == f"gankit {__version__}" and err == ""


def test_ctrl_c_outside_training_is_one_line(capsys, monkeypatch):
    import gankit.runs.train as train_module

    def interrupted(*a, **kw):  # e.g. while a data set loads, before training started
        raise KeyboardInterrupt

    monkeypatch.setattr(train_module, "_load_data", interrupted)
    code, out, err = run_cli(capsys, "train", "--steps", "5", "--quiet")
    assert code == 130 and "Traceback" not in err
    assert err.strip().splitlines() == ["gankit: error: interrupted by Ctrl-C; files are written "
                                        "atomically, so none is half-written"]


@pytest.mark.parametrize("argv, default", [
    (["figure1"], "figures/figure1-gauss"), (["figure1", "--data", "mixture"], "figures/figure1-mixture"),
    (["figure", "toy2d"], "figures/figure-toy2d"), (["figure", "dirac"], "figures/figure-dirac"),
])
def test_figures_go_to_figures_not_beside_the_numbered_runs(capsys, monkeypatch, argv, default):
    import gankit.experiments.figure1 as figure1
    import gankit.experiments.toy2d as toy2d
    import gankit.figures.dirac as dirac

    seen = []

    def record(*a, steps=None, **kw):  # stands in for the three (keeps dirac's `steps` default)
        seen.append(str(a[2] if len(a) > 2 else a[0]))
        return {}

    monkeypatch.setattr(figure1, "figure1", record)
    monkeypatch.setattr(toy2d, "figure_toy2d", record)
    monkeypatch.setattr(dirac, "figure_dirac", record)
    code, out, err = run_cli(capsys, *argv)
    assert code == 0, err
    assert seen == [default] and not default.startswith("runs")
