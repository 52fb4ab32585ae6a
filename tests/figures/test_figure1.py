"""Figure 1 from a real run (gankit figure1): the evaluation's numbers, and a tiny CLI run."""

import json
import math

import numpy as np
import pytest
import torch

from gankit import theory as T
from gankit.cli import main
from gankit.experiments.figure1 import DATA_1D, LogitInput, evaluate, lr_factor, run_1d


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
    """G = LogitInput(identity): x = sqrt3/pi · logit(u) for u = (z + sqrt3)/(2 sqrt3) uniform, so
    p_g is logistic with scale sqrt3/pi (variance 1) and G's range is unbounded up to the clamp."""
    G = LogitInput(torch.nn.Identity())
    s = evaluate(G, ConstantD(), DATA_1D["gauss"], step=0)
    scale = math.sqrt(3) / math.pi
    exact = np.exp(-s.x / scale) / (scale * (1 + np.exp(-s.x / scale)) ** 2)
    np.testing.assert_allclose(s.p_g, exact, atol=2e-3)  # view-grid interpolation of cell averages
    assert s.pg_mass == pytest.approx(1.0, abs=1e-9)
    with torch.no_grad():
        ends = G(torch.tensor([[-math.sqrt(3)], [math.sqrt(3)]])).squeeze(1)
    assert ends[0] < -7 and ends[1] > 7  # ±scale · logit(1e-6): 7.6 unit standard deviations
    assert sum(p.numel() for p in G.parameters()) == 0


def test_lr_factor_is_constant_then_cosine_annealed():
    steps = 4000
    f = [lr_factor(t, steps) for t in range(1, steps + 1)]
    assert f[:2000] == [1.0] * 2000  # the first half at the full learning rates
    assert f[2999] == pytest.approx(0.505)  # halfway down the cosine
    assert f[-1] == pytest.approx(0.01)
    assert all(a >= b for a, b in zip(f, f[1:]))


def test_run_1d_on_raw_z_and_rejects_unknown_inputs():
    run = run_1d("mixture", steps=4, n_snapshots=2, g_input="z")
    assert run.config["g_input"] == "z" and run.config["k"] == 2
    assert len(run.panels) == 4 and run.snapshots[-1].step == 4
    with pytest.raises(ValueError, match="g_input"):
        run_1d(steps=1, g_input="tanh")


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
    assert summary["support_fraction"] == 0.1
    assert 0 <= summary["final_jsd"] <= math.log(2) + 1e-9
    assert summary["cg_identity_error"] < 1e-6
    for name in ("figure1.png", "theory.png"):
        assert (out / name).read_bytes()[:4] == b"\x89PNG"
    assert (out / "figure1_run.gif").read_bytes()[:3] == b"GIF"
    assert json.loads((out / "summary.json").read_text())["final_jsd"] == summary["final_jsd"]


def test_figure1_cli_rejects_bad_input(capsys):
    assert main(["figure1", "--steps", "0"]) == 2
    assert main(["figure1", "--data", "ring8"]) == 2
    assert main(["figure1", "--g-input", "relu"]) == 2
    err = capsys.readouterr().err
    assert err.count("gankit: error:") == 3
