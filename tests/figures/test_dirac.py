"""The Dirac-GAN's three behaviours (gankit figure dirac)."""

import json

import numpy as np
import pytest

from gankit.cli import main
from gankit.figures.dirac import radii, trajectory


def test_dirac_simultaneous_spirals_out_alternating_circles_r1_converges():
    r_sim = radii(trajectory("simultaneous", steps=300, lr=0.1))
    r_alt = radii(trajectory("alternating", steps=300, lr=0.1))
    r_r1 = radii(trajectory("r1", steps=300, lr=0.1, gamma=1.0))
    start = np.sqrt(2)
    assert r_sim[-1] > 1.25 * start and np.all(np.diff(r_sim) > 0)  # grows at every step
    assert 0.95 * start < r_alt.min() and r_alt.max() < 1.01 * start  # stays on a closed orbit
    assert r_r1[-1] < 1e-3 * start  # R1 makes the equilibrium attracting


def test_dirac_first_step_matches_hand_derived_gradients():
    # minimax: θ ← θ + h σ(ψθ) ψ, ψ ← ψ - h σ(ψθ) θ  (from Eq. 1 with D(x) = sigmoid(ψx), x_real = 0)
    (t0, p0), (t1, p1) = trajectory("simultaneous", steps=1, lr=0.1)
    s = 1 / (1 + np.exp(-1.0))
    assert (t1, p1) == pytest.approx((1 + 0.1 * s, 1 - 0.1 * s), abs=1e-12)


def test_figure_dirac_cli_smoke(tmp_path, capsys):
    assert main(["figure", "dirac", "--steps", "50", "--out", str(tmp_path / "d")]) == 0
    d = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert d["steps"] == 50
    assert d["final_radius_simultaneous"] > d["start_radius"] > d["final_radius_r1"]
    assert (tmp_path / "d" / "dirac.png").read_bytes()[:4] == b"\x89PNG"
    assert main(["figure", "dirac", "--data", "ring8"]) == 2
