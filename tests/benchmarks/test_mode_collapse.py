"""benchmarks/mode_collapse.py: the case parser and the table formatter, on fake numbers (no training)."""

import importlib.util
import math
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "mode_collapse.py"


@pytest.fixture(scope="module")
def mc():
    spec = importlib.util.spec_from_file_location("mode_collapse", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def _row(case, seed, modes, hq, kl, dataset="ring8"):
    return {"dataset": dataset, "case": case, "label": case.upper(), "seed": seed, "modes": modes,
            "hq_percent": hq, "kl": kl, "steps_per_s": 100.0, "verdicts": ["healthy"]}


def test_cases_take_per_dataset_defaults_and_explicit_values(mc):
    assert mc.parse_case("noise", "grid25")["overrides"] == {"instance_noise": 0.5}
    assert mc.parse_case("r1=0.3", "ring8")["overrides"] == {"r1_gamma": 0.3}
    assert mc.train_overrides(mc.parse_case("lrs", "ring8"), 1e-3) == {"lr_d": pytest.approx(4e-3)}
    assert mc.train_overrides(mc.parse_case("pack4", "ring8"), 1e-3) == {"pack": 4}
    both = mc.parse_case("lrs+r1=0.3", "ring8")
    assert both["overrides"] == {"lr_ratio": 4.0, "r1_gamma": 0.3} and " + " in both["label"]
    with pytest.raises(SystemExit):
        mc.parse_case("unrolled", "ring8")


def test_mean_and_standard_error_skip_nan(mc):
    m, se, n = mc.mean_se([1.0, 3.0, float("nan")])
    assert (m, n) == (2.0, 2) and se == pytest.approx(1.0)
    assert math.isnan(mc.mean_se([float("nan")])[0])


def test_table_shows_means_se_goal_and_published_rows(mc):
    rows = [_row("plain", 0, 1, 99.0, 2.0), _row("plain", 1, 3, 97.0, float("nan")),
            _row("pack4", 0, 8, 96.0, 0.01), _row("pack4", 1, 8, 94.0, 0.03),
            _row("plain", 0, 25, 99.0, 0.0, dataset="grid25")]
    table = mc.format_table(rows, "ring8", real={"modes": 8, "hq_percent": 98.9, "kl": 0.002})
    lines = table.splitlines()
    plain = next(l for l in lines if l.startswith("| PLAIN"))
    assert "2.0 ± 1.0" in plain and "98.0 ± 1.0" in plain and "2.000 (1/2 seeds)" in plain
    assert "| 0/2 |" in plain
    pack = next(l for l in lines if l.startswith("| PACK4"))
    assert "8.0 ± 0.0" in pack and "| 1/2 |" in pack  # seed 1 has 94% HQ: short of the goal
    assert any(l.startswith("| PacGAN4 | 7.8 | 95.9 | 0.07") for l in lines)
    assert any(l.startswith("| GAN | 1.0 | 99.3 |") for l in lines)
    assert any("real data" in l for l in lines)
    grid = mc.format_table(rows, "grid25")
    assert "| PacGAN4 | 24.8 | 93.6 | 0.04" in grid and "modes (of 25)" in grid


def test_architecture_summary_shows_the_common_overrides(mc):
    shipped = mc.preset_summary("grid25")
    assert "G 256x256x256" in shipped and "R1 1" in shipped and "G weight average 0.999" in shipped
    changed = mc.preset_summary("grid25", {"lr_decay": "1.001", "g_hidden": "64,64"})
    assert "divided by 1.001 per step" in changed and "G 64x64" in changed and changed != shipped


def test_a_group_of_seeds_scores_what_lone_runs_score(mc, tmp_path):
    """--group trains a case's seeds at once: each member is its lone run, so the scores agree."""
    case = mc.parse_case("lrs", "ring8")
    common = {"g_hidden": "16,16", "d_hidden": "16,16", "grid_size": "64"}
    grouped = mc.run_case_seeds("ring8", "toy", case, [0, 1], 30, str(tmp_path / "g"), 0, common)
    lone = [mc.run_case("ring8", "toy", case, s, 30, str(tmp_path / "l"), 0, common) for s in (0, 1)]
    assert [r["group"] for r in grouped] == [True, True]
    for g, one in zip(grouped, lone):
        assert (g["seed"], g["modes"], g["hq_percent"]) == (one["seed"], one["modes"], one["hq_percent"])
