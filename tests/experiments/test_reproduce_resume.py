"""``gankit reproduce --resume RESULTS_DIR``: a reproduce killed mid-run continues, its finished
parts are kept, and the curve is the one an uninterrupted reproduce draws."""

from __future__ import annotations

import json

import pytest

from gankit.experiments import parzen_curve
from gankit.experiments.reproduce import reproduce

TINY = dict(g_hidden=(32,), d_hidden=(16,), z_dim=8, batch=20, steps=9, grid_size=16)

pytestmark = pytest.mark.usefixtures("private_cache")


def _reproduce(folder, data, **kw):
    return reproduce("mnist", out=folder, budget_minutes=None, data_dir=str(data),
                     eval_every_steps=3, n_samples=50, restarts=1, overrides=TINY, progress=False,
                     log=lambda line: None, **kw)


def test_a_killed_reproduce_resumes_and_draws_the_uninterrupted_curve(mnist_idx_folder, tmp_path,
                                                                      monkeypatch, run_cli):
    straight = _reproduce(tmp_path / "a", mnist_idx_folder)
    real_evaluate = parzen_curve.ParzenCurve._evaluate

    def killed_at_6(self, engine, *a):  # dies after step 6's checkpoint, before its evaluation
        if engine.state.step == 6:
            raise RuntimeError("killed")
        return real_evaluate(self, engine, *a)

    monkeypatch.setattr(parzen_curve.ParzenCurve, "_evaluate", killed_at_6)
    with pytest.raises(RuntimeError, match="killed"):
        _reproduce(tmp_path / "b", mnist_idx_folder)
    monkeypatch.undo()
    assert not (tmp_path / "b" / "summary.json").exists()
    assert (tmp_path / "b" / "reproduce.json").is_file()
    code, out, err = run_cli("reproduce", "mnist", "--resume", tmp_path / "b", "--quiet")
    assert code == 0, err
    line = json.loads(out.strip().splitlines()[-1])
    resumed = [json.loads(x) for x in (tmp_path / "b" / "parzen_curve.jsonl").read_text().splitlines()]
    assert [p["step"] for p in resumed] == [p.step for p in straight.points] == [3, 6, 9]
    assert [p["ll_mean"] for p in resumed] == [p.ll_mean for p in straight.points]
    assert line["final"]["ll_mean"] == straight.summary["final"]["ll_mean"]
    assert len(list((tmp_path / "b" / "runs").iterdir())) == 1  # the same run, resumed
    assert not (tmp_path / "b" / "parzen_curve.partial.jsonl").exists()
    # resuming a finished folder keeps it as it is
    before = (tmp_path / "b" / "summary.json").read_bytes()
    code, out, err = run_cli("reproduce", "mnist", "--resume", tmp_path / "b", "--quiet")
    assert code == 0 and "is finished; kept as it is" in err
    assert (tmp_path / "b" / "summary.json").read_bytes() == before


def test_resume_refuses_other_settings_and_folders_it_did_not_make(tmp_path, run_cli,
                                                                   one_line_error):
    line = one_line_error(*run_cli("reproduce", "mnist", "--resume", tmp_path, "--seed", "3"))
    assert "drop --seed" in line
    line = one_line_error(*run_cli("reproduce", "mnist", "--resume", tmp_path))
    assert "has no reproduce.json" in line
