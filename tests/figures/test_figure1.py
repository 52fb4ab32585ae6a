"""Figure 1 from a real run (gankit figure1): the evaluation's numbers, and a tiny CLI run."""

import json
import math

import numpy as np
import pytest
import torch

from gankit import theory as T
from gankit.cli import main
from gankit.figures.figure1 import DATA_1D, evaluate


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


def test_figure1_cli_smoke(tmp_path, capsys):
    out = tmp_path / "f1"
    code = main(["figure1", "--steps", "20", "--out", str(out), "--seed", "1"])
    stdout = capsys.readouterr().out
    assert code == 0
    summary = json.loads(stdout.strip().splitlines()[-1])  # the last line is the JSON object
    for key in ("final_jsd", "max_abs_d_minus_dstar", "cg_identity_error"):
        assert math.isfinite(summary[key])
    assert 0 <= summary["final_jsd"] <= math.log(2) + 1e-9
    assert summary["cg_identity_error"] < 1e-6
    for name in ("figure1.png", "theory.png"):
        assert (out / name).read_bytes()[:4] == b"\x89PNG"
    assert (out / "figure1_run.gif").read_bytes()[:3] == b"GIF"
    assert json.loads((out / "summary.json").read_text())["final_jsd"] == summary["final_jsd"]


def test_figure1_cli_rejects_bad_input(capsys):
    assert main(["figure1", "--steps", "0"]) == 2
    assert main(["figure1", "--data", "ring8"]) == 2
    err = capsys.readouterr().err
    assert err.count("gankit: error:") == 2
