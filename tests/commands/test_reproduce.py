"""``gankit reproduce mnist`` and gankit.experiments.reproduce: the Parzen curve callback, the budget stop, the
results folder and the CLI.

MNIST is a small synthetic IDX folder (120 training images: 100 train, 20 validation; 30 test) and
the networks are tiny, so each run takes a few seconds.
"""

from __future__ import annotations

import dataclasses
import json
from types import SimpleNamespace

import pytest
import torch

from gankit.runs.checkpoint import checkpoint_files, load_checkpoint, prune_checkpoints
from gankit.errors import GankitError
from gankit.experiments.reproduce import (SELECTED, BudgetReached, CurvePoint, ParzenCurve, reproduce,
                              results_markdown, summarise)

from test_eval import one_line_error, run_cli, write_idx_folder  # tests/commands is on sys.path

TINY = dict(g_hidden=(32,), d_hidden=(16,), z_dim=8, batch=20, steps=6, grid_size=16)


@pytest.fixture(autouse=True)
def _private_cache(tmp_path, monkeypatch):
    """The real-data reference is cached in $GANKIT_DATA: keep it inside the test's folder."""
    monkeypatch.setenv("GANKIT_DATA", str(tmp_path / "cache"))
    torch.set_num_threads(1)


@pytest.fixture(scope="module")
def mnist_dir(tmp_path_factory):
    return write_idx_folder(tmp_path_factory.mktemp("mnist"))


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_reproduce_on_a_gpu_scores_the_generator_while_it_trains_there(mnist_dir, tmp_path):
    result = reproduce("mnist", out=tmp_path / "out", budget_minutes=None, data_dir=str(mnist_dir),
                       eval_every_steps=3, n_samples=50,
                       overrides={**TINY, "device": "cuda", "precision": "bf16"}, progress=False)
    assert [p.step for p in result.points] == [3, 6]
    assert json.loads((result.out / "summary.json").read_text())["selected"]["step"] in (3, 6)
    assert (result.out / "figure3.png").is_file()


def test_reproduce_writes_the_results_folder(mnist_dir, tmp_path):
    lines = []
    result = reproduce("mnist", out=tmp_path / "out", budget_minutes=None, data_dir=str(mnist_dir),
                       eval_every_steps=3, n_samples=50, overrides={**TINY, "keep_checkpoints": 1},
                       progress=False,
                       log=lines.append)
    out = result.out
    for name in ("results.md", "results.html", "parzen_curve.png", "parzen_curve.jsonl",
                 "figure2.png", "figure3.png", "environment.json", "summary.json"):
        assert (out / name).is_file() and (out / name).stat().st_size > 0, name
    # one evaluation per eval_every_steps, the last at the final step
    assert [p.step for p in result.points] == [3, 6]
    curve = [json.loads(x) for x in (out / "parzen_curve.jsonl").read_text().splitlines()]
    assert [c["step"] for c in curve] == [3, 6] and all(c["n_samples"] == 50 for c in curve)
    # epochs = step * batch / training images (100 of the 120 synthetic ones; 20 validate)
    assert [c["epochs"] for c in curve] == [pytest.approx(0.6), pytest.approx(1.2)]
    # training time excludes the evaluations; wall time includes them and grows
    for c in curve:
        assert 0 <= c["train_seconds"] <= c["wall_seconds"] and c["cpu_seconds"] > 0
    assert curve[1]["wall_seconds"] - curve[1]["eval_seconds"] >= curve[0]["wall_seconds"] - 1e-6
    # the same numbers went to the run's metrics.jsonl (registry) and into the summary
    rows = [json.loads(x) for x in (result.run_dir / "metrics.jsonl").read_text().splitlines()]
    assert [r["ll_mean"] for r in rows] == [c["ll_mean"] for c in curve]
    assert result.summary["final"]["ll_mean"] == curve[-1]["ll_mean"]
    assert result.summary["stopped_by_budget"] is False and result.summary["steps"] == 6
    md = (out / "results.md").read_text()
    for text in ("225 ± 2", "214 ± 1.1", "138 ± 2", "held-out real data", "Theis", "figure2.png",
                 "parzen_curve.png", f"{curve[-1]['ll_mean']:.1f}", "σ"):
        assert text in md, text
    assert "<table>" in (out / "results.html").read_text()
    env = json.loads((out / "environment.json").read_text())
    assert env["seed"] == 0 and env["threads"] >= 1 and env["torch"] == torch.__version__
    assert {"git_commit", "device", "wall_seconds", "train_seconds", "load_average_start"} <= set(env)
    assert len(lines) >= 2
    # the evaluation with the best validation score is selected, its checkpoint kept (not pruned)
    # and drawn in Figures 2 and 3
    chosen = max(curve, key=lambda c: c["val_ll_mean"])
    assert result.summary["selected"]["step"] == chosen["step"] == result.summary["figures_step"]
    kept = result.run_dir / "checkpoints" / "selected.safetensors"
    assert result.summary["selected_checkpoint"] == str(kept)
    assert load_checkpoint(kept)[1]["step"] == chosen["step"]
    assert f"selected on validation** (step {chosen['step']}" in md


def test_budget_stops_cleanly_with_a_final_evaluation(mnist_dir, tmp_path):
    # A budget far below one snapshot interval: the first snapshot already predicts passing it.
    result = reproduce("mnist", out=tmp_path / "out", budget_minutes=1e-6, data_dir=str(mnist_dir),
                       eval_every_steps=2, n_samples=30, overrides={**TINY, "steps": 100},
                       progress=False, log=lambda line: None)
    assert result.summary["stopped_by_budget"] is True
    assert [p.step for p in result.points] == [2] and result.summary["steps"] == 2
    assert (result.run_dir / "checkpoints" / "step-000002.safetensors").is_file()
    assert (result.out / "figure2.png").is_file()


def _fake_trainer(step, elapsed, snapshot_every=10, steps=1000):
    return SimpleNamespace(state=SimpleNamespace(step=step, elapsed=elapsed,
                                                 stream=SimpleNamespace(epoch=step // 100)),
                           config=SimpleNamespace(snapshot_every=snapshot_every, steps=steps))


def test_parzen_curve_budget_rule_and_clocks():
    calls = []

    def fake_eval(trainer):
        calls.append(trainer.state.step)
        return {"ll_mean": float(trainer.state.step), "ll_se": 1.0, "sigma": 0.2, "n_samples": 5}

    curve = ParzenCurve(eval_every_steps=20, budget_seconds=35.0, evaluate_fn=fake_eval)
    curve(_fake_trainer(10, 10.0))   # not an evaluation step; next snapshot at ~20 s < 35 s
    assert calls == []
    curve(_fake_trainer(20, 20.0))   # evaluation step; next snapshot at ~30 s
    assert calls == [20]
    spent = curve.eval_total
    with pytest.raises(BudgetReached):  # next snapshot at ~40 s > 35 s: evaluate now and stop
        curve(_fake_trainer(30, 30.0 + spent))
    assert calls == [20, 30] and curve.stopped_by_budget
    # training time excludes the time already spent evaluating
    assert curve.points[1].train_seconds == pytest.approx(30.0, abs=1e-3)
    # no budget: never stops; the run's final step is always evaluated
    free = ParzenCurve(eval_every_steps=20, evaluate_fn=fake_eval)
    free(_fake_trainer(10, 1.0, steps=15))
    free(_fake_trainer(15, 2.0, steps=15))
    assert calls[-1] == 15 and not free.stopped_by_budget
    # Ctrl-C: a snapshot off the snapshot_every grid is the run's last, so it is evaluated too
    free(_fake_trainer(23, 3.0))
    assert calls[-1] == 23 and not free.stopped_by_budget


def test_parzen_curve_keeps_the_checkpoint_with_the_best_validation_score(tmp_path):
    checkpoints = tmp_path / "checkpoints"
    checkpoints.mkdir()
    val = {10: 5.0, 20: 7.0, 30: 6.0}

    def fake_eval(trainer):
        return {"ll_mean": 1.0, "ll_se": 1.0, "sigma": 0.2, "n_samples": 5,
                "val_ll_mean": val[trainer.state.step]}

    curve = ParzenCurve(eval_every_steps=10, evaluate_fn=fake_eval)
    for step in val:  # as the trainer does: write the step checkpoint, prune to 1, call back
        (checkpoints / f"step-{step:06d}.safetensors").write_bytes(f"weights {step}".encode())
        prune_checkpoints(checkpoints, 1)
        curve(SimpleNamespace(**vars(_fake_trainer(step, float(step))), run_dir=tmp_path))
    assert (checkpoints / SELECTED).read_bytes() == b"weights 20"  # kept though step 20 was pruned
    # not a step checkpoint: pruning, resume and load_run(run folder) never see it
    assert checkpoint_files(checkpoints) == [checkpoints / "step-000030.safetensors"]


def test_curves_written_before_validation_scores_still_load():
    old = {"step": 5000, "epoch": 10, "epochs": 10.0, "train_seconds": 60.0, "wall_seconds": 70.0,
           "eval_seconds": 4.0, "cpu_seconds": 110.0, "ll_mean": 150.0, "ll_se": 2.0,
           "sigma": 0.2, "n_samples": 10000}
    new = {**old, "step": 10000, "ll_mean": 170.0, "val_ll_mean": 171.0}
    points = [CurvePoint(**old), CurvePoint(**new)]
    assert points[0].val_ll_mean is None
    # a curve scored on validation only in part is not searched in part
    assert summarise(points)["selected"] is None and summarise(points)["best"]["step"] == 10000


def test_summarise_reports_first_passing_times():
    pts = [CurvePoint(s, s // 500, s / 500, s / 10, s / 10 + 1, 1.0, s / 20, ll, 2.0, 0.17, 10000)
           for s, ll in [(1000, 150.0), (2000, 205.0), (3000, 199.0), (4000, 226.0)]]
    s = summarise(pts)
    assert s["passed"]["200"]["step"] == 2000 and s["passed"]["225"]["step"] == 4000
    assert s["passed"]["225"]["train_minutes"] == pytest.approx(400 / 60, abs=0.01)
    assert s["passed"]["225"]["cpu_minutes"] == pytest.approx(200 / 60, abs=0.01)
    assert s["best"]["ll_mean"] == 226.0 and s["final"]["step"] == 4000
    assert summarise(pts[:1])["passed"]["200"] is None
    assert s["selected"] is None  # no validation scores: nothing to select on
    # selection reads the validation score only: here it prefers step 2000, whose test score is lower
    val = {1000: 140.0, 2000: 212.0, 3000: 205.0, 4000: 209.0}
    pts = [dataclasses.replace(p, val_ll_mean=val[p.step]) for p in pts]
    s = summarise(pts)
    assert s["selected"]["step"] == 2000 and s["selected"]["ll_mean"] == 205.0
    assert s["best"]["step"] == 4000
    summary = {**s, "preset": "p", "reference": s["final"], "steps": 4000, "stopped_by_budget": False,
               "schedule": "simultaneous", "optimizer": "sgd", "batch": 100,
               "eval_seconds_total": 4.0, "run_dir": "r"}
    env = {"threads": 1, "cpu_count": 2, "processor": "x", "load_average_start": [0.0],
           "load_average_end": [0.0], "seed": 0}
    md = results_markdown(summary, pts, {}, env)
    assert "selected on validation** (step 2000" in md and "| 209.0 |" in md


def test_cli_reproduce_mnist(mnist_dir, tmp_path, capsys):
    # the real paper-mnist networks, stopped by the budget at the first snapshot
    code, out, err = run_cli(capsys, "reproduce", "mnist", "--data-dir", mnist_dir, "--out",
                             tmp_path / "res", "--budget-minutes", "0.000001",
                             "--eval-every-steps", "2", "--quiet", "--threads", "1",
                             "--set", "g_ema=0.99", "--set", "d-dropout-hidden = 0.4")
    assert code == 0, err
    summary = json.loads(out.strip().splitlines()[-1])
    assert summary["final"]["step"] == 2 and summary["paper"] == {"ll_mean": 225.0, "ll_se": 2.0}
    assert summary["selected"]["step"] == 2  # the only evaluation, chosen on its validation score
    assert summary["final"]["n_samples"] == 10_000  # the paper's protocol
    assert (tmp_path / "res" / "results.md").is_file()
    config = json.loads(next((tmp_path / "res" / "runs").glob("*/config.json")).read_text())
    assert config["preset"] == "paper-mnist" and config["schedule"] == "simultaneous"
    assert config["g_ema"] == 0.99 and config["d_dropout_hidden"] == 0.4  # --set, recorded
    assert config["steps"] > 100_000  # the budget, not paper-mnist's 100,000 steps, ends the run


def test_cli_reproduce_usage_errors(mnist_dir, tmp_path, capsys):
    one_line_error(*run_cli(capsys, "reproduce", "cifar10"))
    one_line_error(*run_cli(capsys, "reproduce", "mnist", "--budget-minutes", "0"))
    one_line_error(*run_cli(capsys, "reproduce", "mnist", "--eval-every-steps", "0"))
    line = one_line_error(*run_cli(capsys, "reproduce", "mnist", "--preset", "digits", "--data-dir",
                                   mnist_dir, "--out", tmp_path / "x"))
    assert "MNIST preset" in line
    line = one_line_error(*run_cli(capsys, "reproduce", "mnist", "--preset", "paper-mnst"))
    assert "did you mean 'paper-mnist'" in line
    for bad, words in (("g_ema", "KEY=VALUE"), ("g_emma=0.9", "did you mean 'g_ema'"),
                       ("g_ema=1.5", "g_ema"), ("precision=fp8", "precision"),
                       ("seed=3", "--seed"), ("data-dir=x", "--data-dir"), ("preset=digits", "--preset"),
                       ("runs_dir=x", "--out"), ("steps=abc", "steps")):
        line = one_line_error(*run_cli(capsys, "reproduce", "mnist", "--data-dir", mnist_dir,
                                       "--out", tmp_path / "bad", "--set", bad))
        assert words in line, line
    line = one_line_error(*run_cli(capsys, "reproduce", "mnist", "--data-dir", mnist_dir, "--out",
                                   tmp_path / "bad", "--set", "instance_noise=0.1"))
    assert "steps=N" in line  # its fade needs a step count, which a budget leaves open
    assert not (tmp_path / "bad").exists()  # refused before anything was written


def test_cpu_budget_clock_ignores_wall_time():
    def fake_eval(trainer):
        return {"ll_mean": 1.0, "ll_se": 1.0, "sigma": 0.2, "n_samples": 5}

    # hours of wall time but (almost) no CPU time: the CPU clock does not stop the run
    curve = ParzenCurve(eval_every_steps=10, budget_seconds=60.0, budget_clock="cpu",
                        evaluate_fn=fake_eval)
    curve.start()
    curve(_fake_trainer(10, 7200.0))
    curve(_fake_trainer(20, 14400.0))
    assert not curve.stopped_by_budget and len(curve.points) == 2
    assert 0 <= curve.points[1].cpu_seconds < 60 and curve.points[1].train_seconds == 14400.0
    with pytest.raises(GankitError, match="wall or cpu"):
        ParzenCurve(eval_every_steps=10, budget_clock="gpu")


def test_restarts_train_side_by_side_and_the_winner_is_chosen_on_validation(mnist_dir, tmp_path):
    lines = []
    result = reproduce("mnist", out=tmp_path / "out", budget_minutes=None, data_dir=str(mnist_dir),
                       eval_every_steps=3, n_samples=50, seed=4, restarts=2, threads=1,
                       overrides=TINY, progress=False, log=lines.append)
    out, s = result.out, result.summary
    rows = {r["seed"]: r for r in s["restarts"]}
    assert sorted(rows) == [4, 5] and all(r["exit_status"] == 0 for r in rows.values())
    for seed in (4, 5):  # each restart is a complete results folder with its own seed
        folder = out / "restarts" / f"seed-{seed}"
        assert (folder / "results.md").is_file() and (folder / "figure2.png").is_file()
        config = json.loads(next((folder / "runs").glob("*/config.json")).read_text())
        assert config["seed"] == seed and config["threads"] == 1 and config["g_hidden"] == [32]
    # different seeds, different generators
    assert rows[4]["final"]["ll_mean"] != rows[5]["final"]["ll_mean"]
    # the winner has the best validation score of the selected checkpoints; its summary is quoted
    val = {seed: r["selected"]["val_ll_mean"] for seed, r in rows.items()}
    assert s["chosen_seed"] == max(val, key=val.get)
    assert s["selected"] == rows[s["chosen_seed"]]["selected"]
    assert result.run_dir.parent == out / "restarts" / f"seed-{s['chosen_seed']}" / "runs"
    for name in ("results.md", "results.html", "summary.json", "environment.json", "figure2.png",
                 "figure3.png", "parzen_curve.png"):
        assert (out / name).is_file(), name
    md = (out / "results.md").read_text()
    assert f"{s['chosen_seed']} (chosen)" in md and "225 ± 2" in md
    env = json.loads((out / "environment.json").read_text())
    assert env["restarts"] == 2 and env["seeds"] == [4, 5] and env["threads_per_restart"] == 1


def test_choose_reads_validation_scores_only():
    from gankit.experiments.restarts import choose

    def summary(val, test):
        return {"selected": {"val_ll_mean": val, "ll_mean": test}}

    # seed 1 has the better test score, seed 0 the better validation score: seed 0 wins
    assert choose({0: summary(230.0, 220.0), 1: summary(229.0, 228.0)}) == 0
    assert choose({3: summary(1.0, 0.0), 2: summary(1.0, 0.0)}) == 2  # a tie: the lower seed
    assert choose({0: {"selected": None}, 1: summary(-5.0, 0.0)}) == 1
    with pytest.raises(GankitError, match="selected on validation"):
        choose({0: {"selected": None}})


def test_cli_restarts_must_be_positive(capsys):
    line = one_line_error(*run_cli(capsys, "reproduce", "mnist", "--restarts", "0"))
    assert "--restarts" in line
