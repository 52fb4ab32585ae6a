"""The 2-D toy figure (gankit figure toy2d): the preset's own run through the one engine, with a
recorder that does not change it."""

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from gankit.cli import main
from gankit.config import preset_values
from gankit.experiments.toy2d import TOY2D, Toy2DRecorder, toy2d_config
from gankit.data import load_dataset
from gankit.metrics.modes import toy_mode_stats, toy_modes_metric
from gankit.runs.run import load_run
from gankit.runs.train import train


@pytest.mark.parametrize("data", sorted(TOY2D))
def test_the_figure_trains_the_whole_preset(data):
    """The old figure's own loop dropped R1, the weight average and the lr decay; the preset has
    them and the figure's config is the preset's, steps included."""
    cfg, preset = toy2d_config(data, seed=4), preset_values(data)
    assert (cfg.preset, cfg.seed, cfg.steps) == (data, 4, preset["steps"])
    for key in ("r1_gamma", "g_ema", "lr_decay", "lr_min", "lr_d", "lr_g", "g_hidden"):
        if key in preset:
            assert getattr(cfg, key) == preset[key], key
    assert toy2d_config(data, steps=9).steps == 9


def test_recorder_records_the_weight_average_on_fixed_noise(tmp_path):
    rec = Toy2DRecorder("grid25", n_snapshots=3, n_eval=500)
    run = train(preset="grid25", steps=6, seed=1, runs_dir=str(tmp_path), progress=False,
                callbacks=[rec])
    assert [s.step for s in rec.snapshots] == [0, 2, 4, 6]  # every max(1, 6 // 3) = 2 steps
    last = rec.snapshots[-1]
    assert run.config.g_ema > 0  # grid25 samples from the weight average: so does the figure
    np.testing.assert_array_equal(last.x_fake, run.generate(rec.z).numpy())
    stats = toy_mode_stats(last.x_fake, rec.means, rec.std)
    assert last.modes == stats["modes"] and last.hq == stats["hq_percent"] / 100
    assert last.D.shape == last.p_g.shape and 0 <= last.D.min() <= last.D.max() <= 1
    assert rec.real.shape == (3000, 2)


def test_the_last_snapshot_scores_what_gankit_eval_toy_modes_scores(tmp_path):
    """The figure's numbers are the toy_modes metric's (computed once, by the same function, on
    the same samples as `gankit eval RUN --metric toy_modes --seed 0`)."""
    rec = Toy2DRecorder("ring8", n_snapshots=2)
    run = train(preset="ring8", steps=4, seed=2, runs_dir=str(tmp_path), progress=False,
                callbacks=[rec])
    metric = toy_modes_metric(lambda n, seed: run.sample(n, seed), load_dataset("ring8"), seed=0,
                              reference=False)
    last = rec.snapshots[-1]
    assert (last.modes, last.hq * 100) == (metric["modes"], pytest.approx(metric["hq_percent"]))


def test_figure_toy2d_and_gankit_train_give_the_same_generator(tmp_path, capsys):
    """Acceptance: `figure toy2d --data grid25 --steps N --seed S` and `train --preset grid25
    --steps N --seed S` train the same run: identical samples for the same sampling seed."""
    out = tmp_path / "fig"
    assert main(["figure", "toy2d", "--data", "grid25", "--steps", "40", "--seed", "3",
                 "--out", str(out)]) == 0
    summary = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert main(["train", "--preset", "grid25", "--steps", "40", "--seed", "3",
                 "--runs-dir", str(tmp_path / "plain"), "--quiet"]) == 0
    capsys.readouterr()
    (plain,) = (tmp_path / "plain").iterdir()
    fig_run, plain_run = load_run(summary["run_dir"]), load_run(plain)
    assert Path(summary["run_dir"]).parent == out / "runs" and fig_run.step == plain_run.step == 40
    torch.testing.assert_close(fig_run.sample(500, seed=0), plain_run.sample(500, seed=0),
                               rtol=0, atol=0)
    assert summary["steps"] == 40 and summary["seed"] == 3
    assert summary["n_modes"] == 25 and 0 <= summary["modes"] <= 25 and 0 <= summary["hq"] <= 1
    assert (out / "grid25.png").read_bytes()[:4] == b"\x89PNG"
    assert (out / "grid25_run.gif").read_bytes()[:3] == b"GIF"
    assert not list(out.glob(".*tmp*"))


def test_figure_toy2d_rejects_other_data(capsys):
    assert main(["figure", "toy2d", "--data", "gauss1d"]) == 2
    assert main(["figure", "toy2d", "--steps", "0"]) == 2
    assert capsys.readouterr().err.count("gankit: error:") == 2
