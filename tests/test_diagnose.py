"""Verdicts (gankit.diagnose): each one driven by a synthetic log that must produce it, the cases
where they cried wolf on real runs (issue 18, item 11: warm-up gradients, Ctrl-C, short runs,
paper-mnist's early lead of D, checkerboard samples), the report writer and the CLI on a synthetic
run folder, and one real tiny run where D wins."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
import torch

import gankit
from gankit.cli import main
from gankit.constants import LOG_4
from gankit.diagnose import (GOOD, Thresholds, Verdict, check_d_wins, check_diverged,
                             check_oscillating, diagnose, oscillation_stats, period2_peak,
                             warmup_rows)
from gankit.figures.samples import image_grid
from gankit.runs.diagnosis import diagnose_run, image_statistics, write_report
from gankit.utils.jsonl import read_jsonl


def bce(p: float) -> float:
    return -math.log(p)


def log(n: int = 40, dx=0.5, dgz=0.5, every: int = 50, **extra) -> list[dict]:
    """A synthetic stats.jsonl: ``dx``/``dgz`` are numbers or functions of the row index. G's
    batch spread (Diversity/G, logged by the engine) is that of the data unless given."""
    rows = []
    extra.setdefault("Diversity/G", 1.0)
    for i in range(n):
        px = dx(i) if callable(dx) else dx
        pg = dgz(i) if callable(dgz) else dgz
        row = {"step": (i + 1) * every, "epoch": 0, "time": float(i),
               "Loss/D": bce(px) + bce(1 - pg), "Loss/G": bce(pg), "Prob/D(x)": px,
               "Prob/D(G(z))": pg}
        for key, v in extra.items():
            row[key] = v(i) if callable(v) else v
        rows.append(row)
    return rows


def kinds(verdicts: list[Verdict]) -> list[str]:
    return [v.kind for v in verdicts]


# --- one synthetic log per verdict ----------------------------------------------------------------

def test_near_equilibrium():
    rows = log(dx=lambda i: 0.5 + 0.01 * math.sin(i), dgz=lambda i: 0.49 - 0.01 * math.cos(i))
    v = diagnose(rows)
    assert kinds(v) == ["near_equilibrium"]
    assert v[0].severity == "ok"
    assert v[0].evidence["Prob/D(x)"] == pytest.approx(0.5, abs=0.02)
    assert v[0].evidence["Loss/D"] == pytest.approx(LOG_4, abs=0.05)


def test_healthy():
    # D still tells real from fake (0.7 vs 0.3), smoothly: no problem, not at equilibrium
    rows = log(dx=lambda i: 0.7 + 0.005 * math.sin(i), dgz=0.3, **{"Grad/G": 0.5, "Grad/D": 0.4})
    v = diagnose(rows)
    assert kinds(v) == ["healthy"]
    assert v[0].evidence["Prob/D(G(z))"] == pytest.approx(0.3)
    assert v[0].evidence["Grad/G"] == pytest.approx(0.5)


def test_d_wins_with_vanishing_minimax_gradients():
    decay = lambda i: math.exp(-i / 4)  # noqa: E731
    rows = log(dx=lambda i: 1 - 0.5 * decay(i), dgz=lambda i: 0.5 * decay(i),
               **{"Grad/G": lambda i: decay(i), "Grad/D": 0.1})
    v = diagnose(rows, g_loss="minimax")
    assert kinds(v) == ["d_wins"]
    d = v[0]
    assert d.severity == "error" and "non-saturating" in d.remedy
    assert d.evidence["Loss/D"] < 0.35 and d.evidence["Prob/D(G(z))"] < 0.01
    assert "vanished" in d.summary
    assert d.evidence["minimax gradient scale D(G(z))"] == pytest.approx(d.evidence["Prob/D(G(z))"])
    # the non-saturating loss gets no advice to switch to itself
    assert "switch to the non-saturating" not in check_d_wins(rows, "nonsaturating").remedy


def test_oscillating_does_not_decay():
    swing = lambda i: 0.3 * math.sin(2 * math.pi * i / 6)  # noqa: E731
    rows = log(n=60, dx=lambda i: 0.6 + swing(i) / 2, dgz=lambda i: 0.4 - swing(i) / 2)
    v = diagnose(rows)
    assert "oscillating" in kinds(v)
    osc = next(x for x in v if x.kind == "oscillating")
    assert osc.evidence["gap amplitude (std)"] == pytest.approx(0.3 / math.sqrt(2), rel=0.1)
    assert osc.evidence["decay ratio"] == pytest.approx(1.0, abs=0.15)
    assert "near_equilibrium" not in kinds(v) and "healthy" not in kinds(v)


def test_decaying_oscillation_is_not_a_verdict():
    swing = lambda i: 0.4 * math.exp(-i / 8) * math.sin(2 * math.pi * i / 6)  # noqa: E731
    rows = log(n=60, dx=lambda i: 0.5 + swing(i) / 2, dgz=lambda i: 0.5 - swing(i) / 2)
    assert check_oscillating(rows) is None
    assert kinds(diagnose(rows)) == ["near_equilibrium"]


def test_a_trend_is_not_an_oscillation():
    rows = log(n=60, dx=lambda i: 0.5 + i / 200, dgz=lambda i: 0.5 - i / 200)
    s = oscillation_stats(np.array([r["Prob/D(x)"] - r["Prob/D(G(z))"] for r in rows]))
    assert s["amplitude"] == pytest.approx(0.0, abs=1e-9)
    assert check_oscillating(rows) is None


def test_diverged_on_nan():
    rows = log(n=20)
    rows[15]["Loss/G"] = float("nan")
    rows[16]["Loss/D"] = float("inf")
    v = diagnose(rows)
    assert v[0].kind == "diverged" and v[0].severity == "error"
    assert v[0].evidence["step"] == rows[15]["step"]
    assert v[0].evidence["last_finite_step"] == rows[14]["step"]
    assert "Loss/G" in v[0].summary
    assert "near_equilibrium" not in kinds(v)  # a broken run is never called converged


@pytest.mark.parametrize("spelling", [None, "NaN", "Infinity"])
def test_diverged_when_a_strict_json_log_spells_nan(spelling):
    """A stats.jsonl kept to RFC 8259 has no bare NaN: null or "NaN" must still mean NaN."""
    rows = log(n=30)
    rows[20]["Loss/G"] = spelling
    v = diagnose(rows)
    assert kinds(v)[0] == "diverged" and v[0].evidence["step"] == rows[20]["step"]


def test_diverged_rows_before_the_nan_are_still_judged():
    rows = log(n=30, dx=0.999, dgz=0.001)
    rows.append({**rows[-1], "step": 99999, "Loss/D": float("nan")})
    assert kinds(diagnose(rows)) == ["diverged", "d_wins"]


def test_gradient_blow_up_is_divergence():
    rows = log(n=40, **{"Grad/D_input_real": lambda i: 10 ** (i / 8)})
    v = check_diverged(rows)
    assert v is not None and v.kind == "diverged" and v.severity == "warning"
    assert v.evidence["growth"] > 100


@pytest.mark.parametrize("metric_row, fragment", [
    ({"metric": "toy_modes", "modes": 3.0, "n_modes": 8.0, "hq_percent": 99.0, "kl": 0.9}, "3/8 modes"),
    ({"metric": "mnist_classes10k", "classes": 4.0, "kl": 0.9, "real_kl": 0.002,
      "kl_noise_floor": 0.00045}, "4/10 classes"),
    ({"metric": "mnist_classes10k", "classes": 10.0, "kl": 0.2, "real_kl": 0.002}, "class KL 0.200"),
    ({"metric": "stacked_modes26k", "modes": 99.0, "kl": 3.4}, "99/1000"),
    ({"metric": "stacked_modes26k", "modes": 981.0, "kl": 0.5, "kl_channels": 0.45,
      "unsure_percent": 94.0, "real_unsure_percent": 8.0}, "unclear digit: 94%, real 8%"),
    ({"metric": "mnist_pr10k", "recall": 0.1, "real_recall": 0.88, "precision": 0.9}, "recall 0.100"),
])
def test_mode_collapse_at_d_one_half_is_not_also_equilibrium(metric_row, fragment):
    """A collapsed G can sit at D = 1/2: collapse alone, saying that D's values prove nothing
    (before: "mode collapse suspected" and "near equilibrium" together)."""
    v = diagnose(log(), [metric_row])
    assert kinds(v) == ["mode_collapse"]
    assert fragment in v[0].summary and "no sign of convergence" in v[0].summary


def test_mode_collapse_from_batch_diversity():
    v = diagnose(log(dx=0.7, dgz=0.3, **{"Diversity/G": 0.05}))
    assert kinds(v) == ["mode_collapse"]
    assert v[0].evidence["Diversity/G"] == pytest.approx(0.05)


def test_full_coverage_is_not_collapse():
    rows = [{"metric": "toy_modes", "modes": 5.0, "n_modes": 8.0},  # older: superseded
            {"metric": "toy_modes", "modes": 8.0, "n_modes": 8.0, "hq_percent": 97.0, "kl": 0.01}]
    assert kinds(diagnose(log(), rows)) == ["near_equilibrium"]


def test_too_short_is_too_early():
    v = diagnose(log(n=2))
    assert kinds(v) == ["too_early"] and v[0].severity == "info"
    assert v[0].title == "too early to judge"


def test_verdict_is_json_ready_and_printable():
    v = diagnose(log(n=10, dx=0.999, dgz=0.001))[0]
    d = json.loads(json.dumps(v.to_dict()))
    assert d["kind"] == "d_wins" and d["title"] == "D wins (G gradients vanish)"
    assert str(v).startswith("[error] D wins (G gradients vanish): ")


def test_thresholds_are_used():
    rows = log(dx=0.7, dgz=0.3)
    assert kinds(diagnose(rows, thresholds=Thresholds(eq_prob=0.25, eq_loss_d=0.7))) == \
        ["near_equilibrium"]


# --- issue 18, item 11: the verdicts that cried wolf on real runs -------------------------------

def digits_like(n: int = 60, warm: int = 9, ramp: float = 15.0) -> list[dict]:
    """The shape of the digits preset's log (logged every 50 steps; measured in
    benchmarks/results/verdict_calibration.md): for ``warm`` rows D sits at exactly 1/2 while G
    draws the data mean (Diversity/G 0.03) and the gradients are ~1e-4; then D leads (D(x) 0.85
    falling to 0.6), G's batch spreads out and Grad/G is ~1."""
    def after(i: int, start: float, end: float) -> float:
        return end + (start - end) * math.exp(-(i - warm) / ramp)

    return log(n=n,
               dx=lambda i: 0.5 if i < warm else after(i, 0.85, 0.6),
               dgz=lambda i: 0.5 if i < warm else after(i, 0.15, 0.4),
               **{"Grad/G": lambda i: 2e-5 * (i + 1) if i < warm else 1.0 + 0.1 * math.sin(i),
                  "Grad/D": lambda i: 0.01 if i < warm else 2.0,
                  "Grad/D_input_real": lambda i: 1e-4 * (i + 1) if i < warm else 5.0,
                  "Diversity/G": lambda i: 0.03 if i < warm else after(i, 0.1, 0.95)})


def test_warmup_is_found():
    assert warmup_rows(digits_like()) == 9
    assert warmup_rows(digits_like(n=6)) == 6       # never left
    assert warmup_rows(log(dx=0.7, dgz=0.3)) == 0   # D learns at once (the toy presets)


def test_readme_example_is_healthy_not_diverged():
    """README's `gankit.train(preset="digits", steps=3000)` ended in "diverged: Grad/G grew 181x":
    growth was measured from the warm-up's ~1e-4 gradients."""
    rows = digits_like()
    assert check_diverged(rows) is None
    v = diagnose(rows, g_loss="nonsaturating", planned_steps=3000)
    assert kinds(v) == ["healthy"]


def test_real_gradient_growth_after_the_warm_up_is_still_divergence():
    rows = digits_like(n=60)
    for i, r in enumerate(rows[40:]):
        r["Grad/G"] = 1.0 * 10 ** (i / 5)  # 10,000x by the end
    v = check_diverged(rows)
    assert v is not None and v.severity == "warning" and "after the warm-up" in v.summary
    assert v.evidence["Grad/G median before"] == pytest.approx(1.0, abs=0.1)


def test_ctrl_c_is_interrupted_not_diverged():
    """A digits run stopped by Ctrl-C at step ~600 of 6000 said "mode collapse suspected" and
    "diverged" (the warm-up again, and G's batch still spreading out)."""
    rows = digits_like(n=13, warm=8)
    for flag in (True, None):  # the engine's flag, or inferred from the planned steps
        v = diagnose(rows, planned_steps=6000, interrupted=flag)
        assert kinds(v) == ["interrupted", "too_early"]
        assert v[0].severity == "info" and v[0].evidence["last logged step"] == 650
        assert ("by Ctrl-C" in v[0].summary) == bool(flag)
        assert "fake batch spread" in v[1].summary  # the measured fact, not a verdict
    # a finished run gets no note; a NaN is divergence whether or not the run was stopped
    assert "interrupted" not in kinds(diagnose(digits_like(), planned_steps=3000))
    broken = digits_like(n=13, warm=8)
    broken[-1]["Loss/D"] = float("nan")
    assert kinds(diagnose(broken, planned_steps=6000, interrupted=True))[0] == "diverged"


def test_a_time_budget_run_is_not_interrupted(tmp_path):
    """`gankit reproduce` runs with a time budget store steps = 10**9: no planned end to miss."""
    run = write_run(tmp_path / "00001-x", digits_like())
    (run / "config.json").write_text(json.dumps({"dataset": "digits", "steps": 10**9}))
    assert kinds(diagnose_run(run)) == ["healthy"]
    (run / "config.json").write_text(json.dumps({"dataset": "digits", "steps": 6000}))
    assert kinds(diagnose_run(run)) == ["interrupted", "healthy"]


def test_300_steps_is_too_early_not_collapse_and_equilibrium():
    """A 300-step digits run printed "mode collapse suspected" and "near equilibrium" together."""
    v = diagnose(digits_like(n=6), planned_steps=300)
    assert kinds(v) == ["too_early"]
    assert "warm-up is not over" in v[0].summary


def test_short_toy_run_is_too_early_with_its_mode_count_as_evidence():
    """ring8 after 300 steps (6/8 modes, D near 1/2): too early, the mode count in the summary."""
    toy = {"metric": "toy_modes", "modes": 6.0, "n_modes": 8.0, "hq_percent": 20.0, "kl": 0.3}
    v = diagnose(log(n=6, dx=0.52, dgz=0.48), [toy], planned_steps=300)
    assert kinds(v) == ["too_early"]
    assert "6/8 modes" in v[0].summary and v[0].evidence["toy modes"] == 6.0


def test_fewer_than_min_steps_is_too_early():
    v = diagnose(log(n=15, dx=0.7, dgz=0.3))  # 750 steps, D learning from the start
    assert kinds(v) == ["too_early"] and "750 generator steps" in v[0].summary
    assert kinds(diagnose(log(n=15, dx=0.7, dgz=0.3), thresholds=Thresholds(min_steps=500))) == \
        ["healthy"]


def test_a_decisive_failure_is_reported_however_early():
    rows = log(n=6, dx=0.999, dgz=0.001)
    assert kinds(diagnose(rows, g_loss="minimax")) == ["d_wins"]


#: `gankit train --preset paper-mnist --steps 2000` (seed 0, logged every 100 steps): D(x), D(G(z)),
#: Grad/G, Diversity/G per row (benchmarks/results/verdict_calibration.md).
PAPER_MNIST_2000 = [
    (0.502, 0.500, 0.003, 0.05), (0.736, 0.333, 2.79, 0.04), (0.913, 0.087, 2.90, 0.04),
    (0.936, 0.079, 5.26, 0.06), (0.945, 0.060, 4.50, 0.19), (0.922, 0.088, 3.76, 0.28),
    (0.927, 0.084, 1.84, 0.37), (0.935, 0.070, 2.29, 0.55), (0.949, 0.055, 3.08, 0.51),
    (0.953, 0.050, 2.40, 0.50), (0.954, 0.044, 3.29, 0.66), (0.969, 0.031, 3.19, 0.55),
    (0.977, 0.026, 3.08, 0.48), (0.961, 0.037, 2.49, 0.64), (0.967, 0.032, 3.38, 0.69),
    (0.966, 0.032, 3.12, 0.80), (0.964, 0.037, 2.43, 0.67), (0.958, 0.043, 2.50, 0.69),
    (0.956, 0.044, 2.79, 0.71), (0.938, 0.062, 2.70, 0.66)]


def test_paper_mnist_2000_steps_is_d_ahead_not_d_wins():
    """`paper-mnist --steps 2000` ended in "D wins": D leads in every early paper-mnist run, but
    with the non-saturating loss G's gradient is alive (Grad/G at half its peak)."""
    t = PAPER_MNIST_2000
    rows = log(n=len(t), every=100, dx=lambda i: t[i][0], dgz=lambda i: t[i][1],
               **{"Grad/G": lambda i: t[i][2], "Diversity/G": lambda i: t[i][3]})
    v = diagnose(rows, g_loss="nonsaturating", planned_steps=2000)
    assert kinds(v) == ["d_ahead"] and v[0].severity == "info"
    assert "not D winning" in v[0].summary
    # the same log with the saturating minimax loss, or with G's gradient gone, is D winning
    assert kinds(diagnose(rows, g_loss="minimax"))[0] == "d_wins"
    dead = [{**r, "Grad/G": r["Grad/G"] * (1e-3 if i >= 10 else 1)} for i, r in enumerate(rows)]
    assert kinds(diagnose(dead, g_loss="nonsaturating"))[0] == "d_wins"


@pytest.mark.parametrize("case", ["readme", "ctrl-c", "300", "long"])
def test_never_a_contradictory_pair(case):
    rows = {"readme": digits_like(), "ctrl-c": digits_like(n=13, warm=8),
            "300": digits_like(n=6), "long": log()}[case]
    toy = [{"metric": "toy_modes", "modes": 3.0, "n_modes": 8.0}]
    for metrics in ((), toy):
        ks = kinds(diagnose(rows, metrics, planned_steps=6000))
        assert sum(k in GOOD for k in ks) <= 1
        if any(k in GOOD for k in ks):  # a good verdict comes alone (an interrupted note aside)
            assert set(ks) - set(GOOD) <= {"interrupted"}
        assert not ({"too_early"} & set(ks) and {"mode_collapse", "oscillating"} & set(ks))


# --- checkerboard samples ------------------------------------------------------------------------

def test_period2_peak_closed_forms():
    i, j = np.meshgrid(np.arange(16), np.arange(16), indexing="ij")
    board = ((-1.0) ** (i + j))[None]
    stripes = ((-1.0) ** i)[None]
    blob = np.exp(-((i - 7.5) ** 2 + (j - 7.5) ** 2) / 20.0)[None]
    noise = np.random.default_rng(0).standard_normal((400, 16, 16))
    assert period2_peak(board) == math.inf and period2_peak(stripes) == math.inf
    assert period2_peak(noise) == pytest.approx(1.0, abs=0.1)  # white noise is flat
    assert period2_peak(blob) < 0.1                             # smooth images fall with frequency
    assert period2_peak(blob + 0.05 * board) > 100
    assert math.isnan(period2_peak(np.ones((2, 8, 8))))        # no detail at all


def blobs(n: int, size: int = 32, seed: int = 0) -> torch.Tensor:
    g = torch.Generator().manual_seed(seed)
    c = torch.arange(size, dtype=torch.float32)
    yy, xx = torch.meshgrid(c, c, indexing="ij")
    centres = torch.rand(n, 2, generator=g) * size
    d2 = (yy[None] - centres[:, 0, None, None]) ** 2 + (xx[None] - centres[:, 1, None, None]) ** 2
    return torch.exp(-d2 / 40.0)[:, None].repeat(1, 3, 1, 1)  # [N, 3, H, W] in [0, 1]


def write_image_run(folder, fakes, reals, steps=600, n_rows=12):
    from PIL import Image

    write_run(folder, log(n=n_rows, dx=0.7, dgz=0.3, every=50), g_loss="nonsaturating")
    config = {"dataset": "folder", "g_loss": "nonsaturating", "steps": steps, "grid_size": len(reals)}
    (folder / "config.json").write_text(json.dumps(config))
    (folder / "samples").mkdir()
    Image.fromarray(image_grid(reals)).save(folder / "samples" / "reals.png")
    Image.fromarray(image_grid(reals)).save(folder / "samples" / "fakes-000000.png")
    Image.fromarray(image_grid(fakes)).save(folder / "samples" / f"fakes-{steps:06d}.png")
    return folder


def test_checkerboard_grid_is_found_in_the_run_folder(tmp_path):
    """A 600-step dcgan-folder run whose samples were checkerboard blobs was judged healthy."""
    reals = blobs(16)
    i = torch.arange(32)
    board = ((i[:, None] + i[None, :]) % 2).float()  # 0/1 checkerboard
    fakes = (0.6 * blobs(16, seed=1) + 0.4 * board).clamp(0, 1)
    run = write_image_run(tmp_path / "00001-folder", fakes, reals, steps=1500, n_rows=30)
    stats = image_statistics(run, 16)
    assert stats["step"] == 1500 and stats["fake_peak"] > 10 * stats["real_peak"]
    v = diagnose_run(run)
    assert kinds(v) == ["artifacts"] and v[0].severity == "warning"
    # the same run with clean samples is healthy; 600 steps of it is too early to judge
    clean = write_image_run(tmp_path / "00002-folder", blobs(16, seed=1), reals, 1500, 30)
    assert kinds(diagnose_run(clean)) == ["healthy"]
    short = write_image_run(tmp_path / "00003-folder", fakes, reals, steps=600, n_rows=12)
    v = diagnose_run(short)
    assert kinds(v) == ["too_early"] and "checkerboard" in v[0].summary
    # speckle (an early MLP G on MNIST) is flat noise, not a checkerboard
    noisy = (blobs(16, seed=1) + 0.3 * torch.rand(16, 3, 32, 32, generator=torch.Generator()
                                                  .manual_seed(0))).clamp(0, 1)
    speckled = write_image_run(tmp_path / "00004-folder", noisy, reals, 1500, 30)
    assert kinds(diagnose_run(speckled)) == ["healthy"]


def test_enlarged_digit_grids_are_read_at_their_own_size(tmp_path):
    from PIL import Image

    x = blobs(9, size=8)  # 8x8 images are enlarged 4x in the grid
    Image.fromarray(image_grid(x)).save(tmp_path / "g.png")
    from gankit.runs.diagnosis import _grid_tiles

    tiles = _grid_tiles(tmp_path / "g.png", 9)
    assert tiles.shape == (9, 8, 8, 3)
    torch.testing.assert_close(torch.from_numpy(tiles).permute(0, 3, 1, 2).float(), x,
                               atol=1 / 255, rtol=0)


def test_a_toy_scatter_plot_has_no_image_statistics(tmp_path):
    from PIL import Image

    (tmp_path / "samples").mkdir()
    noise = (np.random.default_rng(0).random((120, 160, 3)) * 255).astype(np.uint8)
    for name in ("reals.png", "fakes-000100.png"):
        Image.fromarray(noise).save(tmp_path / "samples" / name)
    assert image_statistics(tmp_path, 1000) is None


# --- JSON output: valid per RFC 8259 (no bare NaN, nothing but JSON on stdout) --------------------

def strict_json(text: str):
    def refuse(name):
        raise ValueError(f"bare {name} is not JSON")
    return json.loads(text, parse_constant=refuse)


def test_nan_evidence_is_null_in_json():
    toy = {"metric": "toy_modes", "modes": 0.0, "n_modes": 8.0, "hq_percent": 0.0,
           "kl": float("nan")}  # toy_modes' KL is NaN when no sample is high-quality
    v = diagnose(log(), [toy])[0]
    assert v.kind == "mode_collapse" and math.isnan(v.evidence["toy KL"])
    d = strict_json(json.dumps(v.to_dict(), allow_nan=False))
    assert d["evidence"]["toy KL"] is None


def test_cli_json_stdout_is_only_json(tmp_path, capsys):
    toy = {"metric": "toy_modes", "modes": 0.0, "n_modes": 8.0, "kl": float("nan"), "step": 2000}
    run = write_run(tmp_path / "00001-x", log(n=40), [toy])
    assert main(["diagnose", str(run), "--json"]) == 0  # with the report written
    out, err = capsys.readouterr()
    assert [strict_json(line)["kind"] for line in out.splitlines()] == ["mode_collapse"]
    assert str(run / "report.md") in err


def test_report_says_what_the_verdicts_cannot_see(tmp_path):
    run = write_run(tmp_path / "00001-x", log(n=40))
    text = write_report(run).read_text()
    assert "## What these verdicts cannot see" in text and "memorisation" in text


# --- run folders: report, plot, CLI ---------------------------------------------------------------

def write_run(folder, rows, metrics=(), g_loss="nonsaturating"):
    folder.mkdir(parents=True)
    (folder / "config.json").write_text(json.dumps({"dataset": "digits", "g_loss": g_loss}))
    with open(folder / "stats.jsonl", "w") as f:
        for r in rows:
            f.write(json.dumps(r) + "\n")
        f.write('{"step": 1, "Loss/D"')  # a line cut short by a crash: skipped
    if metrics:
        (folder / "metrics.jsonl").write_text("".join(json.dumps(m) + "\n" for m in metrics))
    return folder


def test_report_and_plot(tmp_path):
    rows = log(n=30, dx=0.999, dgz=0.001, **{"Grad/G": 1e-4, "Grad/D": 1e-3})
    run = write_run(tmp_path / "00001-x", rows, [{"metric": "mnist_classes10k", "classes": 2.0,
                                                   "kl": 1.2, "real_kl": 0.002, "step": 1500}])
    assert len(read_jsonl(run / "stats.jsonl")) == 30
    assert kinds(diagnose_run(run)) == ["d_wins", "mode_collapse"]
    path = write_report(run)
    text = path.read_text()
    assert path == run / "report.md"
    assert "## D wins (G gradients vanish) (error)" in text and "**Remedy:**" in text
    assert "mnist_classes10k" in text and "real_kl" in text and "![diagnosis](diagnosis.png)" in text
    assert (run / "diagnosis.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_cli(tmp_path, capsys):
    run = write_run(tmp_path / "00001-x", log(n=30))
    assert main(["diagnose", str(run)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("[ok] near equilibrium:")
    assert out[1].startswith("Limits: ")
    assert out[-1] == str(run / "report.md")
    assert main(["diagnose", str(run), "--json", "--no-report"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert [json.loads(x)["kind"] for x in lines] == ["near_equilibrium"]


def test_cli_errors_are_one_line(tmp_path, capsys):
    assert main(["diagnose", str(tmp_path / "nope")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("gankit: error:") and len(err.splitlines()) == 1
    (tmp_path / "empty").mkdir()
    assert main(["diagnose", str(tmp_path / "empty")]) == 2
    assert "stats.jsonl" in capsys.readouterr().err


# --- a real tiny run ------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def d_wins_run(tmp_path_factory):
    """ring8, minimax loss, a frozen-ish tiny G against a fast D: D wins within ~50 steps."""
    return gankit.train(preset="ring8", steps=150, log_every=10, snapshot_every=150,
                        runs_dir=str(tmp_path_factory.mktemp("runs")), progress=False, threads=1,
                        g_hidden=(8,), d_hidden=(32, 32), lr_g=1e-6, lr_d=3e-3, k=2,
                        g_loss="minimax", grid_size=16)


def test_real_run_d_wins(d_wins_run):
    v = diagnose_run(d_wins_run.path)
    assert kinds(v)[0] == "d_wins"
    assert "mode_collapse" in kinds(v)  # toy_modes computed from the checkpoint: few modes
    assert not (d_wins_run.path / "metrics.jsonl").exists()  # diagnosing writes nothing ...
    write_report(d_wins_run.path)  # ... but the report
    assert "toy_modes" in (d_wins_run.path / "report.md").read_text()


def test_real_run_toy_modes_via_eval(d_wins_run, capsys):
    assert main(["eval", str(d_wins_run.path), "--metric", "toy_modes"]) == 0
    row = json.loads(capsys.readouterr().out.splitlines()[-1])
    assert row["metric"] == "toy_modes" and row["real_modes"] == 8.0 and row["n"] == 2500.0
    assert row["modes"] < 8


# --- objectives after 2014: LSGAN's equilibrium loss, a critic's gap -------------------------------

def critic_log(gap, n: int = 40, every: int = 50, level: float = 3.0, **extra) -> list[dict]:
    """A synthetic critic's stats.jsonl (hinge/WGAN): scores f(x) = level + gap(i), f(G(z)) = level."""
    rows = []
    for i in range(n):
        g = gap(i) if callable(gap) else gap
        row = {"step": (i + 1) * every, "epoch": 0, "time": float(i), "Loss/D": -g,
               "Loss/G": -level, "Critic/f(x)": level + g, "Critic/f(G(z))": level,
               "Diversity/G": 1.0, "Grad/G": 0.5, "Grad/D": 0.4}
        row.update(extra)
        rows.append(row)
    return rows


def test_a_critic_whose_gap_closed_is_near_equilibrium_without_any_half():
    rows = critic_log(lambda i: 2.0 * math.exp(-i / 5))
    v = diagnose(rows, objective="wgan-gp")
    assert kinds(v) == ["near_equilibrium"]
    assert "gap" in v[0].summary and "no D = 1/2" in v[0].summary
    assert not any(k.startswith("Prob/") for k in v[0].evidence)
    assert v[0].evidence["critic gap peak"] == pytest.approx(2.0)


def test_a_critic_with_an_open_gap_is_healthy_and_never_d_wins():
    # a large, steady gap and a tiny loss: "D wins" for a probability, but a critic has no labels
    rows = critic_log(3.0, **{"Loss/D": 0.001})
    v = diagnose(rows, objective="hinge")
    assert kinds(v) == ["healthy"]
    assert v[0].evidence["critic gap now"] == pytest.approx(3.0)
    assert "D(x)" not in v[0].summary


def test_a_critic_that_diverged_is_told_of_lipschitz_constraints():
    rows = critic_log(1.0)
    rows[-1]["Loss/D"] = float("nan")
    v = diagnose(rows, objective="wgan")
    assert v[0].kind == "diverged" and "--d-spectral-norm" in v[0].remedy
    assert "non-saturating" not in v[0].remedy


def test_lsgan_is_judged_at_its_own_equilibrium_loss():
    def rows_with(loss_d):
        rows = log(dx=0.5, dgz=0.5)
        for r in rows:
            r["Loss/D"] = loss_d
        return rows
    assert kinds(diagnose(rows_with(0.25), objective="lsgan")) == ["near_equilibrium"]
    assert kinds(diagnose(rows_with(LOG_4), objective="lsgan")) == ["healthy"]
    assert kinds(diagnose(rows_with(LOG_4))) == ["near_equilibrium"]  # the paper's: log 4


def test_lsgan_d_wins_scales_its_loss_threshold():
    rows = log(dx=0.97, dgz=0.005, **{"Grad/G": lambda i: 1.0 if i < 5 else 1e-4})
    for r in rows:
        r["Loss/D"] = 0.5 * (0.03 ** 2 + 0.005 ** 2)
    assert "d_wins" in kinds(diagnose(rows, objective="lsgan"))
