"""``gankit reproduce mnist``: flags, their defaults, the one-line JSON output and usage errors.

The experiment itself is tested in tests/experiments/ (test_reproduce.py, test_restarts.py, ...).
MNIST is the small synthetic IDX folder of tests/conftest.py.
"""

from __future__ import annotations

import json
from pathlib import Path
from types import SimpleNamespace

import pytest

from gankit.commands import reproduce as command
from gankit.experiments.reproduce import DEFAULTS, default_restarts

#: The real-data reference is cached in $GANKIT_DATA: keep it inside each test's folder.
pytestmark = pytest.mark.usefixtures("private_cache")


def test_cli_reproduce_mnist(mnist_idx_folder, tmp_path, run_cli):
    # the real table1-mnist networks, one restart, stopped by the budget at the first snapshot
    code, out, err = run_cli("reproduce", "mnist", "--data-dir", mnist_idx_folder, "--out",
                             tmp_path / "res", "--budget-minutes", "0.000001", "--budget-clock",
                             "wall", "--eval-every-steps", "2", "--quiet", "--threads", "1",
                             "--restarts", "1", "--set", "g_ema=0.99",
                             "--set", "d-dropout-hidden = 0.4")
    assert code == 0, err
    summary = json.loads(out.strip().splitlines()[-1])
    assert summary["final"]["step"] == 2 and summary["paper"] == {"ll_mean": 225.0, "ll_se": 2.0}
    assert summary["selected"]["step"] == 2  # the only evaluation, chosen on its validation score
    assert summary["final"]["n_samples"] == 10_000  # the paper's protocol
    assert summary["out"] == str(tmp_path / "res") and "restarts" not in summary
    assert (tmp_path / "res" / "results.md").is_file() and (tmp_path / "res" / "results.html").is_file()
    config = json.loads(next((tmp_path / "res" / "runs").glob("*/config.json")).read_text())
    assert config["preset"] == "table1-mnist" and config["schedule"] == "simultaneous"
    assert config["g_ema"] == 0.99 and config["d_dropout_hidden"] == 0.4  # --set, recorded
    assert config["steps"] > 100_000  # the budget, not the preset's 100,000 steps, ends the run
    assert summary["precision"] == config["precision"]
    assert f"precision {config['precision']}" in err  # the log says which, and why


def test_no_flags_runs_the_experiments_defaults(monkeypatch, run_cli):
    seen = {}

    def fake_reproduce(dataset, **kwargs):
        seen.update(kwargs, dataset=dataset)
        point = {"step": 1, "ll_mean": 1.0}
        summary = {"final": point, "best": point, "selected": point, "passed": {},
                   "reference": point, "precision": "bf16"}
        return SimpleNamespace(summary=summary, points=[point], out=Path("results/x"))

    monkeypatch.setattr(command, "reproduce", fake_reproduce)
    code, out, err = run_cli("reproduce", "mnist")
    assert code == 0, err
    assert seen["dataset"] == "mnist" and seen["preset"] == DEFAULTS.preset == "table1-mnist"
    assert (seen["budget_minutes"], seen["budget_clock"], seen["eval_every_steps"]) == (60.0, "cpu", 5000)
    assert seen["restarts"] is None and seen["threads"] is None  # one per core, one thread each
    assert seen["data_dir"] is None and seen["overrides"] == {} and seen["seed"] == 0
    line = json.loads(out.strip().splitlines()[-1])
    assert line["precision"] == "bf16" and line["out"] == "results/x"
    # --preset paper-mnist: the paper's exact recipe; --data-dir: local IDX files
    run_cli("reproduce", "mnist", "--preset", "paper-mnist", "--data-dir", "idx")
    assert seen["preset"] == "paper-mnist" and seen["data_dir"] == "idx"


def test_help_shows_the_defaults(run_cli, capsys, monkeypatch):
    monkeypatch.setenv("COLUMNS", "1000")  # no line wrapping inside the words checked
    with pytest.raises(SystemExit):
        run_cli("reproduce", "--help")
    text = " ".join(capsys.readouterr().out.split())
    for words in ("default: table1-mnist", "(default: 60)", "(default: cpu)", "(default: 5000)",
                  f"one per core, at most {DEFAULTS.max_restarts}: {default_restarts()} here",
                  "the paper's exact recipe", "bf16"):
        assert words in text, words


def test_cli_reproduce_usage_errors(mnist_idx_folder, tmp_path, run_cli, one_line_error):
    one_line_error(*run_cli("reproduce", "cifar10"))
    one_line_error(*run_cli("reproduce", "mnist", "--budget-minutes", "0"))
    one_line_error(*run_cli("reproduce", "mnist", "--eval-every-steps", "0"))
    line = one_line_error(*run_cli("reproduce", "mnist", "--restarts", "0"))
    assert "--restarts" in line
    line = one_line_error(*run_cli("reproduce", "mnist", "--preset", "digits", "--data-dir",
                                   mnist_idx_folder, "--out", tmp_path / "x"))
    assert "MNIST preset" in line
    line = one_line_error(*run_cli("reproduce", "mnist", "--preset", "paper-mnst"))
    assert "did you mean 'paper-mnist'" in line
    for bad, words in (("g_ema", "KEY=VALUE"), ("g_emma=0.9", "did you mean 'g_ema'"),
                       ("g_ema=1.5", "g_ema"), ("precision=fp8", "precision"),
                       ("seed=3", "--seed"), ("data-dir=x", "--data-dir"), ("preset=digits", "--preset"),
                       ("runs_dir=x", "--out"), ("steps=abc", "steps")):
        line = one_line_error(*run_cli("reproduce", "mnist", "--data-dir", mnist_idx_folder,
                                       "--out", tmp_path / "bad", "--set", bad))
        assert words in line, line
    line = one_line_error(*run_cli("reproduce", "mnist", "--data-dir", mnist_idx_folder, "--out",
                                   tmp_path / "bad", "--set", "instance_noise=0.1"))
    assert "steps=N" in line  # its fade needs a step count, which a budget leaves open
    assert not (tmp_path / "bad").exists()  # refused before anything was written
