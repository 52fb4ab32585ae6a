"""Figure 1's experiment (gankit figure1): the theory numbers of a snapshot against closed forms,
the data, the recorder on the one engine, and a tiny CLI run that leaves a normal run folder."""

import json
import math
from pathlib import Path

import numpy as np
import pytest
import torch

from gankit import theory as T
from gankit.cli import main
from gankit.config import preset_values
from gankit.data import load_dataset
from gankit.data.toy import TOY_DATA_SEED, TOY_TRAIN_SIZE, sample_mixture
from gankit.errors import ConfigError
from gankit.experiments.figure1 import DATA_1D, evaluate, figure1_config, run_1d, schedule_text
from gankit.nets.mlp import LogitInput
from gankit.runs.run import load_run
from gankit.runs.train import train


class InverseCdfG(torch.nn.Module):
    """z ~ U(-sqrt3, sqrt3) -> N(mean, std^2): a G whose p_g is known exactly."""

    def __init__(self, mean, std):
        super().__init__()
        self.mean, self.std = mean, std

    def forward(self, z):
        u = ((z + math.sqrt(3)) / (2 * math.sqrt(3))).clamp(1e-7, 1 - 1e-7)
        return self.mean + self.std * torch.special.ndtri(u)


class ConstantD(torch.nn.Module):
    def forward(self, x):
        return torch.zeros(x.shape[0])  # logit 0: D = 1/2 everywhere


# --- the theory's numbers ---------------------------------------------------------------------------

def test_evaluate_at_the_global_optimum():
    """p_g = p_data and D = 1/2: JSD 0, C(G) = V = -log 4, D = D* (Theorem 1's equilibrium)."""
    data = DATA_1D["gauss"]
    s = evaluate(InverseCdfG(data.means[0], data.std), ConstantD(), data, step=0)
    assert s.jsd < 1e-4  # the p_g estimate is exact up to the clamp and float32 (measured ~1e-6)
    assert s.C_G == pytest.approx(-T.LOG_4, abs=1e-3)
    assert s.V == pytest.approx(-T.LOG_4, abs=1e-3)
    assert s.cg_identity_error < 1e-6
    assert s.max_abs_d_minus_half == 0.0
    assert s.max_abs_d_minus_dstar < 0.05
    assert s.pg_mass == pytest.approx(1.0, abs=1e-5)


def test_evaluate_shifted_generator_matches_closed_forms():
    data = DATA_1D["gauss"]  # N(2, 0.5^2)
    s = evaluate(InverseCdfG(2.5, 0.5), ConstantD(), data, step=0)
    # D* for equal-variance Gaussians is logistic; V at D = 1/2 is -log 4 whatever p_g is
    expected = 1 / (1 + np.exp(-(-(s.x - 2) ** 2 + (s.x - 2.5) ** 2) / (2 * 0.25)))
    near = (s.p_data + s.p_g) > 0.1
    np.testing.assert_allclose(s.D_star[near], expected[near], atol=0.02)
    assert s.V == pytest.approx(-T.LOG_4, abs=1e-3)
    assert s.cg_identity_error < 1e-6


def test_logit_input_gives_a_unit_variance_logistic_from_uniform_z():
    """G = LogitInput: x = sqrt3/pi · logit(u) for u = (z + sqrt3)/(2 sqrt3) uniform, so p_g is
    logistic with scale sqrt3/pi (variance 1) and G's range is unbounded up to the clamp."""
    G = LogitInput()
    s = evaluate(G, ConstantD(), DATA_1D["gauss"], step=0)
    scale = math.sqrt(3) / math.pi
    exact = np.exp(-s.x / scale) / (scale * (1 + np.exp(-s.x / scale)) ** 2)
    np.testing.assert_allclose(s.p_g, exact, atol=2e-3)  # view-grid interpolation of cell averages
    assert s.pg_mass == pytest.approx(1.0, abs=1e-9)
    with torch.no_grad():
        ends = G(torch.tensor([[-math.sqrt(3)], [math.sqrt(3)]])).squeeze(1)
    assert ends[0] < -7 and ends[1] > 7  # ±scale · logit(1e-6): 7.6 unit standard deviations
    assert sum(p.numel() for p in G.parameters()) == 0


# --- the data and the presets -------------------------------------------------------------------------

def test_mixture1d_is_the_sample_figure1_trained_on_before_the_registry():
    """The oracle: figure1's Data1D("mixture").dataset() before the registry (copied)."""
    gen = torch.Generator().manual_seed(TOY_DATA_SEED)
    means = torch.tensor((1.25, 2.75), dtype=torch.float64)[:, None]
    old = sample_mixture(means, 0.35, TOY_TRAIN_SIZE, gen)
    new = load_dataset("mixture1d")
    assert new.name == "mixture1d" and not new.unit_range
    assert torch.equal(new.train, old)


@pytest.mark.parametrize("data", sorted(DATA_1D))
def test_each_density_is_the_one_its_preset_trains_on(data):
    d = DATA_1D[data]
    x = load_dataset(preset_values(d.preset)["dataset"]).train.double().squeeze(1).numpy()
    mean = np.mean(d.means)
    var = d.std ** 2 + np.mean((np.array(d.means) - mean) ** 2)  # of an equal-weight mixture
    n = len(x)
    assert x.mean() == pytest.approx(mean, abs=4 * math.sqrt(var / n))
    assert x.var() == pytest.approx(var, rel=0.02)
    assert d.support[0] < x.min() and x.max() < d.support[1]


def test_figure1_config_is_the_preset_with_overrides(tmp_path):
    cfg = figure1_config("mixture", steps=7, seed=3, runs_dir=tmp_path, g_input="z")
    assert (cfg.preset, cfg.dataset, cfg.steps, cfg.seed, cfg.g_input) == \
        ("figure1-mixture", "mixture1d", 7, 3, "z")
    assert cfg.runs_dir == str(tmp_path)
    assert figure1_config("gauss").steps == preset_values("figure1-gauss")["steps"]
    assert figure1_config("gauss").g_input == "logit"
    assert schedule_text(cfg) == "cosine to 0.01x over the last 50% of the steps"
    with pytest.raises(ConfigError, match="g_input"):
        figure1_config("gauss", g_input="tanh")


# --- the run --------------------------------------------------------------------------------------

def test_recorder_snapshots_and_panels_on_raw_z(tmp_path):
    r = run_1d("mixture", steps=8, runs_dir=tmp_path, n_snapshots=3, g_input="z")
    assert r.config.g_input == "z" and r.config.k == 2
    assert [s.step for s in r.snapshots] == [0, 2, 4, 6, 8]  # every max(1, 8 // 3) = 2 steps
    assert len(r.panels) == 4 and r.panels[-1] is r.snapshots[-1]
    assert r.panels[0].step == 2  # 2 >= 8 // 4: panel (a) at the first snapshot
    assert [p.label[:3] for p in r.panels] == ["(a)", "(b)", "(c)", "(d)"]
    assert r.run.step == 8 and r.run.path.parent == tmp_path


def test_the_recorder_leaves_the_run_as_gankit_train_makes_it(tmp_path):
    """The snapshots and panels (b)-(c) work on copies and their own streams: the figure's
    generator is the one `train --preset figure1-gauss` gives, sample for sample."""
    r = run_1d("gauss", steps=12, seed=2, runs_dir=tmp_path / "fig", n_snapshots=4)
    plain = train(preset="figure1-gauss", steps=12, seed=2, runs_dir=str(tmp_path / "plain"),
                  progress=False)
    torch.testing.assert_close(load_run(r.run.path).sample(300, seed=0),
                               load_run(plain.path).sample(300, seed=0), rtol=0, atol=0)


def test_figure1_cli_smoke(tmp_path, capsys):
    out = tmp_path / "f1"
    code = main(["figure1", "--steps", "10", "--out", str(out), "--seed", "1"])
    stdout = capsys.readouterr().out
    assert code == 0
    summary = json.loads(stdout.strip().splitlines()[-1])  # the last line is the JSON object
    for key in ("final_jsd", "max_abs_d_minus_dstar", "max_abs_d_minus_dstar_1pct",
                "cg_identity_error"):
        assert math.isfinite(summary[key])
    assert summary["max_abs_d_minus_dstar"] <= summary["max_abs_d_minus_dstar_1pct"]  # a subregion
    assert summary["g_input"] == "logit" and summary["z_dist"] == "uniform"
    assert summary["support_fraction"] == 0.1 and summary["steps"] == 10
    assert 0 <= summary["final_jsd"] <= math.log(2) + 1e-9
    assert summary["cg_identity_error"] < 1e-6
    for name in ("figure1.png", "theory.png"):
        assert (out / name).read_bytes()[:4] == b"\x89PNG"
    assert (out / "figure1_run.gif").read_bytes()[:3] == b"GIF"
    assert json.loads((out / "summary.json").read_text())["final_jsd"] == summary["final_jsd"]
    with np.load(out / "snapshots.npz") as npz:
        assert list(npz["step"]) == list(range(11)) and npz["p_g"].shape == (11, 801)
    # a normal run folder beside the pictures: config, checkpoints, stats; it can be sampled
    run_dir = Path(summary["run_dir"])
    assert run_dir.parent == out / "runs"
    assert json.loads((run_dir / "config.json").read_text())["preset"] == "figure1-gauss"
    assert (run_dir / "stats.jsonl").is_file()
    run = load_run(run_dir)
    assert run.step == 10 and run.sample(5, seed=0).shape == (5, 1)
    assert not list(out.glob(".*tmp*"))  # every write was atomic


def test_figure1_cli_rejects_bad_input(capsys):
    assert main(["figure1", "--steps", "0"]) == 2
    assert main(["figure1", "--data", "ring8"]) == 2
    assert main(["figure1", "--g-input", "relu"]) == 2
    err = capsys.readouterr().err
    assert err.count("gankit: error:") == 3
