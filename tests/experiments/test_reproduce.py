"""gankit.experiments.reproduce: the results folder, the budget stop, and the defaults (restarts,
precision) that make ``gankit reproduce mnist`` reproduce Table 1 on whatever the machine has.

MNIST is the small synthetic IDX folder of tests/conftest.py and the networks are tiny, so each run
takes a few seconds.
"""

from __future__ import annotations

import json

import pytest
import torch

from gankit.config import resolve_config
from gankit.experiments import reproduce as experiment
from gankit.experiments.reproduce import (DEFAULTS, bf16_support, choose_precision,
                                          default_restarts, reproduce)
from gankit.runs.checkpoint import load_checkpoint

TINY = dict(g_hidden=(32,), d_hidden=(16,), z_dim=8, batch=20, steps=6, grid_size=16)

#: The real-data reference is cached in $GANKIT_DATA: keep it inside each test's folder.
pytestmark = pytest.mark.usefixtures("private_cache")


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_reproduce_on_a_gpu_scores_the_generator_while_it_trains_there(mnist_idx_folder, tmp_path):
    result = reproduce("mnist", out=tmp_path / "out", budget_minutes=None,
                       data_dir=str(mnist_idx_folder), eval_every_steps=3, n_samples=50, restarts=1,
                       overrides={**TINY, "device": "cuda", "precision": "bf16"}, progress=False)
    assert [p.step for p in result.points] == [3, 6]
    assert json.loads((result.out / "summary.json").read_text())["selected"]["step"] in (3, 6)
    assert (result.out / "figure3.png").is_file()
    assert json.loads((result.out / "environment.json").read_text())["device"].startswith("cuda")


def test_reproduce_writes_the_results_folder(mnist_idx_folder, tmp_path):
    lines = []
    result = reproduce("mnist", out=tmp_path / "out", budget_minutes=None,
                       data_dir=str(mnist_idx_folder), eval_every_steps=3, n_samples=50, restarts=1,
                       overrides={**TINY, "keep_checkpoints": 1}, progress=False, log=lines.append)
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
    assert result.summary["preset"] == DEFAULTS.preset
    md = (out / "results.md").read_text()
    for text in ("225 ± 2", "214 ± 1.1", "138 ± 2", "held-out real data", "Theis", "figure2.png",
                 "parzen_curve.png", f"{curve[-1]['ll_mean']:.1f}", "σ"):
        assert text in md, text
    html = (out / "results.html").read_text()
    assert "<table>" in html and "<title>gankit reproduce: table1-mnist</title>" in html
    # the one environment record (gankit.utils.environment), with the experiment's facts
    env = json.loads((out / "environment.json").read_text())
    assert env["seed"] == 0 and env["threads"] >= 1 and env["torch"] == torch.__version__
    assert {"git_commit", "device", "processor", "wall_seconds", "train_seconds",
            "load_average_start", "started", "finished"} <= set(env)
    assert env["device"] == "cpu" and env["precision"] in ("bf16", "fp32")
    assert "measured with bf16" in env["precision_reason"]  # the default preset: bf16 if native
    config = json.loads(next((out / "runs").glob("*/config.json")).read_text())
    assert config["precision"] == env["precision"] == result.summary["precision"]
    assert config["snapshot_every"] == 3  # a snapshot (and checkpoint) at every evaluation
    assert len(lines) >= 2 and any("precision" in line for line in lines)
    # the evaluation with the best validation score is selected, its checkpoint kept (not pruned)
    # and drawn in Figures 2 and 3
    chosen = max(curve, key=lambda c: c["val_ll_mean"])
    assert result.summary["selected"]["step"] == chosen["step"] == result.summary["figures_step"]
    kept = result.run_dir / "checkpoints" / "selected.safetensors"
    assert result.summary["selected_checkpoint"] == str(kept)
    assert load_checkpoint(kept)[1]["step"] == chosen["step"]
    assert f"selected on validation** (step {chosen['step']}" in md


def test_budget_stops_cleanly_with_a_final_evaluation(mnist_idx_folder, tmp_path):
    # A budget far below one snapshot interval: the first snapshot already predicts passing it.
    result = reproduce("mnist", out=tmp_path / "out", budget_minutes=1e-6, budget_clock="wall",
                       data_dir=str(mnist_idx_folder), eval_every_steps=2, n_samples=30, restarts=1,
                       overrides={**TINY, "steps": 100}, progress=False, log=lambda line: None)
    assert result.summary["stopped_by_budget"] is True and result.summary["budget_clock"] == "wall"
    assert [p.step for p in result.points] == [2] and result.summary["steps"] == 2
    assert (result.run_dir / "checkpoints" / "step-000002.safetensors").is_file()
    assert (result.out / "figure2.png").is_file()


def test_the_defaults_are_what_the_headline_was_measured_with():
    # gankit reproduce mnist --preset paper-mnist-ema-g4-ls --set precision=bf16 --restarts 2
    #     --budget-clock cpu --eval-every-steps 5000   (docs/table1.md), on a 2-core machine
    assert (DEFAULTS.preset, DEFAULTS.budget_clock, DEFAULTS.eval_every_steps,
            DEFAULTS.budget_minutes) == ("table1-mnist", "cpu", 5000, 60.0)
    assert resolve_config(DEFAULTS.preset).to_dict() == \
        {**resolve_config("paper-mnist-ema-g4-ls").to_dict(), "preset": DEFAULTS.preset}
    assert default_restarts(2) == 2 and default_restarts(1) == 1 and default_restarts(0) == 1
    assert default_restarts(64) == DEFAULTS.max_restarts
    # the Python function's defaults are the same record as the CLI's
    import inspect

    params = inspect.signature(reproduce).parameters
    for name in ("preset", "budget_minutes", "budget_clock", "eval_every_steps", "n_samples", "seed"):
        assert params[name].default == getattr(DEFAULTS, name), name
    assert params["restarts"].default is None  # one per core


def test_precision_bf16_for_the_table1_recipe_where_the_hardware_has_it(monkeypatch):
    for native in (True, False):
        monkeypatch.setattr(experiment, "bf16_support", lambda device, ok=native: (ok, "because"))
        for name in ("table1-mnist", "paper-mnist-ema-g4-ls"):  # the recipe, by either name
            precision, why = choose_precision(resolve_config(name, device="cpu"), {})
            assert precision == ("bf16" if native else "fp32") and "because" in why
        # the paper's exact recipe stays fp32, as in the paper
        assert choose_precision(resolve_config("paper-mnist", device="cpu"), {})[0] == "fp32"
    # --set precision wins either way
    config = resolve_config("table1-mnist", precision="fp32")
    assert choose_precision(config, {"precision": "fp32"}) == ("fp32", "chosen with --set precision")
    config = resolve_config("paper-mnist", precision="bf16")
    assert choose_precision(config, {"precision": "bf16"})[0] == "bf16"


def test_bf16_support_reads_the_cpus_instruction_sets(monkeypatch):
    monkeypatch.setattr(torch.cpu, "get_capabilities", lambda: {"avx2": True, "avx512_f": True},
                        raising=False)
    ok, why = bf16_support("cpu")
    assert not ok and "no native bf16" in why
    monkeypatch.setattr(torch.cpu, "get_capabilities",
                        lambda: {"avx512_bf16": True, "amx_bf16": False}, raising=False)
    ok, why = bf16_support("cpu")  # then a tiny autocast matmul, checked against fp32
    assert ok and why == "the CPU has AVX512-BF16"
