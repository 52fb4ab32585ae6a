"""Drawing Figure 1 (gankit.figures.figure1) from snapshots made here: no training."""

import math

import numpy as np
import pytest

from gankit.figures.figure1 import (SUPPORT_FRACTION_STRICT, Snapshot, animate, draw_figure1,
                                    draw_panel, draw_theory_curves)
from gankit.utils.plotting import pyplot


def gauss(x, mean, std):
    return np.exp(-0.5 * ((x - mean) / std) ** 2) / (std * math.sqrt(2 * math.pi))


def snapshot(step: int, shift: float, label: str = "") -> Snapshot:
    """p_data N(2, 0.5^2), p_g the same shifted, D = D* (Proposition 1)."""
    x = np.linspace(-0.5, 4.5, 801)
    p_data, p_g = gauss(x, 2.0, 0.5), gauss(x, 2.0 + shift, 0.5)
    D_star = p_data / np.maximum(p_data + p_g, 1e-300)
    z = np.linspace(-1.5, 1.5, 15)
    return Snapshot(step=step, label=label, x=x, p_data=p_data, p_g=p_g, D=D_star, D_star=D_star,
                    z_arrows=z, G_arrows=2.0 + shift + 0.5 * z, jsd=0.1 * shift, C_G=-1.3, V=-1.35,
                    cg_identity_error=1e-10, max_abs_d_minus_dstar=0.01,
                    max_abs_d_minus_dstar_1pct=0.02, mean_abs_d_minus_dstar=0.005,
                    max_abs_d_minus_half=0.2 * shift, pg_mass=1.0)


SNAPS = [snapshot(s, 1.0 - s / 40, f"step {s}") for s in range(0, 41, 10)]


def test_figure_and_theory_curves_are_written_atomically(tmp_path):
    assert draw_figure1(SNAPS[1:], tmp_path / "figure1.png") == tmp_path / "figure1.png"
    assert draw_theory_curves(SNAPS, tmp_path / "theory.png") == tmp_path / "theory.png"
    for name in ("figure1.png", "theory.png"):
        assert (tmp_path / name).read_bytes()[:4] == b"\x89PNG"
    assert sorted(p.name for p in tmp_path.iterdir()) == ["figure1.png", "theory.png"]  # no tmp


def test_animation_is_a_gif_with_a_frame_per_snapshot(tmp_path):
    from PIL import Image

    written = animate(SNAPS, tmp_path / "run", fps=4)
    assert written[0] == tmp_path / "run.gif"
    with Image.open(written[0]) as gif:
        assert gif.n_frames == len(SNAPS)
    assert not list(tmp_path.glob(".*tmp*"))


def test_panel_draws_d_star_only_where_the_densities_matter():
    plt = pyplot()
    fig, ax = plt.subplots()
    try:
        s = SNAPS[0]
        draw_panel(ax, s, legend=True)
        (line,) = [ln for ln in ax.get_lines() if ln.get_label() == "D* (Prop. 1)"]
        drawn = ~np.isnan(np.asarray(line.get_ydata(), dtype=float))
        total = s.p_data + s.p_g
        np.testing.assert_array_equal(drawn, total >= SUPPORT_FRACTION_STRICT * total.max())
        assert 0 < drawn.sum() < len(drawn)
    finally:
        plt.close(fig)


def test_snapshot_numbers_are_its_scalars():
    n = SNAPS[2].numbers()
    assert n["step"] == 20 and n["jsd"] == pytest.approx(0.05) and "p_g" not in n
