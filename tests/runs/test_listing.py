"""gankit runs: one line per run folder."""

import json
import os
import time

import gankit
from gankit.runs.listing import best_metrics, format_age, list_runs, summarize_run


def test_a_run_is_summarised_from_its_files(tiny):
    run = gankit.train(preset="digits", progress=False, **tiny)
    with open(run.path / "metrics.jsonl", "a") as f:
        for value in (120.0, 150.5, 140.0):
            f.write(json.dumps({"metric": "parzen", "ll_mean": value, "step": 12}) + "\n")
    s = summarize_run(run.path)
    last = [json.loads(line) for line in (run.path / "stats.jsonl").read_text().splitlines()][-1]
    assert (s.name, s.preset, s.step, s.steps, s.status) == (run.path.name, "digits", 12, 12,
                                                             "finished")
    assert (s.d_real, s.d_fake) == (last["Prob/D(x)"], last["Prob/D(G(z))"])
    assert s.metrics == {"parzen ll_mean": 150.5}
    assert s.verdict  # the diagnosis of the same rows names one
    assert 0 <= s.age_seconds < 600


def test_best_metric_respects_direction():
    rows = [{"metric": "mnist_fd10k", "fd": v} for v in (30.0, 12.0, 20.0)]
    rows.append({"metric": "unknown", "x": 1.0})
    rows.append({"metric": "parzen", "ll_mean": float("nan")})
    assert best_metrics(rows) == {"mnist_fd10k fd": 12.0}


def test_listing_sorts_and_skips_other_folders(tiny, tmp_path):
    a = gankit.train(preset="digits", progress=False, **tiny)
    b = gankit.train(preset="digits", progress=False, **{**tiny, "steps": 8})
    (tmp_path / "runs" / "not-a-run").mkdir()
    old = time.time() - 7200
    for p in a.path.iterdir():
        if p.is_file():
            os.utime(p, (old, old))
    assert [s.name for s in list_runs(tmp_path / "runs")] == [b.path.name, a.path.name]
    assert [s.name for s in list_runs(tmp_path / "runs", "name")] == sorted([a.path.name,
                                                                            b.path.name])
    assert [s.step for s in list_runs(tmp_path / "runs", "step")] == [12, 8]


def test_an_old_or_broken_folder_still_lists(tmp_path):
    run = tmp_path / "00001-old"
    run.mkdir()
    (run / "config.json").write_text(json.dumps({"preset": "digits", "steps": 100}))
    (run / "stats.jsonl").write_text('{"step": 50, "Prob/D(x)": NaN}\n{"step": 60, bro')
    s = summarize_run(run)
    assert (s.status, s.step, s.steps, s.d_real) == ("incomplete", 50, 100, None)


def test_format_age():
    assert [format_age(x) for x in (None, 5, 90, 7200, 3 * 86400)] == ["-", "5s", "1m", "2h", "3d"]


def test_cli_table_and_json(tiny, run_cli):
    run = gankit.train(preset="digits", progress=False, **tiny)
    code, out, err = run_cli("runs", tiny["runs_dir"])
    assert code == 0
    header, line = out.strip().splitlines()
    assert header.split()[:4] == ["RUN", "PRESET", "STEP", "STATUS"]
    assert line.split()[:4] == [run.path.name, "digits", "12/12", "finished"]
    code, out, err = run_cli("runs", tiny["runs_dir"], "--json")
    (row,) = [json.loads(line) for line in out.splitlines()]
    assert row["name"] == run.path.name and row["status"] == "finished"


def test_cli_missing_folder_is_one_line(tmp_path, run_cli, one_line_error):
    line = one_line_error(*run_cli("runs", tmp_path / "nowhere"))
    assert "nowhere" in line
