"""Verdicts (gankit.diagnose): each one driven by a synthetic log that must produce it, the report
writer and the CLI on a synthetic run folder, and one real tiny run where D wins."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest

import gankit
from gankit.cli import main
from gankit.constants import LOG_4
from gankit.diagnose import (Thresholds, Verdict, check_d_wins, check_diverged, check_oscillating,
                             diagnose, oscillation_stats)
from gankit.runs.diagnosis import diagnose_run, write_report
from gankit.utils.jsonl import read_jsonl


def bce(p: float) -> float:
    return -math.log(p)


def log(n: int = 40, dx=0.5, dgz=0.5, every: int = 50, **extra) -> list[dict]:
    """A synthetic stats.jsonl: ``dx``/``dgz`` are numbers or functions of the row index."""
    rows = []
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
    ({"metric": "mnist_pr10k", "recall": 0.1, "real_recall": 0.88, "precision": 0.9}, "recall 0.100"),
])
def test_mode_collapse_from_metrics_next_to_equilibrium(metric_row, fragment):
    """A collapsed G can sit at D = 1/2: both verdicts are reported, collapse first."""
    v = diagnose(log(), [metric_row])
    assert kinds(v) == ["mode_collapse", "near_equilibrium"]
    assert fragment in v[0].summary


def test_mode_collapse_from_batch_diversity():
    v = diagnose(log(dx=0.7, dgz=0.3, **{"Diversity/G": 0.05}))
    assert kinds(v) == ["mode_collapse"]
    assert v[0].evidence["Diversity/G"] == pytest.approx(0.05)


def test_full_coverage_is_not_collapse():
    rows = [{"metric": "toy_modes", "modes": 5.0, "n_modes": 8.0},  # older: superseded
            {"metric": "toy_modes", "modes": 8.0, "n_modes": 8.0, "hq_percent": 97.0, "kl": 0.01}]
    assert kinds(diagnose(log(), rows)) == ["near_equilibrium"]


def test_too_short_is_inconclusive():
    assert kinds(diagnose(log(n=2))) == ["inconclusive"]


def test_verdict_is_json_ready_and_printable():
    v = diagnose(log(n=10, dx=0.999, dgz=0.001))[0]
    d = json.loads(json.dumps(v.to_dict()))
    assert d["kind"] == "d_wins" and d["title"] == "D wins (G gradients vanish)"
    assert str(v).startswith("[error] D wins (G gradients vanish): ")


def test_thresholds_are_used():
    rows = log(dx=0.7, dgz=0.3)
    assert kinds(diagnose(rows, thresholds=Thresholds(eq_prob=0.25, eq_loss_d=0.7))) == \
        ["near_equilibrium"]


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
    run = write_run(tmp_path / "00001-x", log(n=10))
    assert main(["diagnose", str(run)]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("[ok] near equilibrium:")
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
