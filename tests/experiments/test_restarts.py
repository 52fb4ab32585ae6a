"""gankit.experiments.restarts: seeds trained side by side, the winner chosen on validation."""

from __future__ import annotations

import json

import pytest

from gankit.experiments import reproduce as experiment
from gankit.experiments.reproduce import reproduce

TINY = dict(g_hidden=(32,), d_hidden=(16,), z_dim=8, batch=20, steps=6, grid_size=16)

pytestmark = pytest.mark.usefixtures("private_cache")


def test_restarts_train_side_by_side_and_the_winner_is_chosen_on_validation(
        mnist_idx_folder, tmp_path, monkeypatch):
    # the default restarts: one per core (here a 2-core machine), one thread each
    monkeypatch.setattr(experiment.os, "cpu_count", lambda: 2)
    lines = []
    result = reproduce("mnist", out=tmp_path / "out", budget_minutes=None,
                       data_dir=str(mnist_idx_folder), eval_every_steps=3, n_samples=50, seed=4,
                       overrides=TINY, progress=False, log=lines.append)
    out, s = result.out, result.summary
    rows = {r["seed"]: r for r in s["restarts"]}
    assert sorted(rows) == [4, 5] and all(r["exit_status"] == 0 for r in rows.values())
    for seed in (4, 5):  # each restart is a complete results folder with its own seed
        folder = out / "restarts" / f"seed-{seed}"
        assert (folder / "results.md").is_file() and (folder / "figure2.png").is_file()
        assert (folder / "results.html").is_file()
        config = json.loads(next((folder / "runs").glob("*/config.json")).read_text())
        assert config["seed"] == seed and config["threads"] == 1 and config["g_hidden"] == [32]
        assert config["preset"] == "table1-mnist"
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
    assert "<table>" in (out / "results.html").read_text()
    env = json.loads((out / "environment.json").read_text())
    assert env["restarts"] == 2 and env["seeds"] == [4, 5] and env["threads_per_restart"] == 1
    assert env["precision"] in ("bf16", "fp32") and env["precision_reason"]
    assert any("2 restarts" in line for line in lines)
