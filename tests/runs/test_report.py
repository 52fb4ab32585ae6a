"""gankit report: the page's content, for one run, several, and an old folder."""

import json
import re
import shutil

import pytest

import gankit
from gankit.errors import GankitError
from gankit.runs.report import MAX_FRAMES, write_run_report


@pytest.fixture
def two_runs(tiny):
    a = gankit.train(preset="digits", progress=False, **tiny)
    b = gankit.train(preset="digits", progress=False, **{**tiny, "lr_d": 0.01, "steps": 18})
    return a.path, b.path


def film(html: str) -> dict:
    return json.loads(re.search(r"const FILM = (.*?);</script>", html).group(1))


def test_one_run_page_is_self_contained_and_complete(tiny):
    run = gankit.train(preset="digits", progress=False, **tiny)
    with open(run.path / "metrics.jsonl", "a") as f:
        f.write(json.dumps({"metric": "parzen", "ll_mean": 12.5, "real_ll_mean": 20.0, "step": 12,
                            "protocol": {"sigma": 0.1}}) + "\n")
    out = write_run_report([run.path])
    assert out == run.path / "report.html"
    html = out.read_text()
    assert "Content-Security-Policy" in html and "default-src 'none'" in html
    assert not re.search(r"""(src|href)\s*=\s*['"]?(https?:|//|file:)""", html)  # nothing fetched
    assert "<svg" in html and "log 4" in html  # curves with the equilibrium lines
    data = film(html)
    assert data["steps"] == [0, 6, 12]  # every snapshot's grid, on the slider
    assert all(uri.startswith("data:image/png;base64,") for uri in data["runs"][0]["images"])
    assert "ll_mean = 12.5" in html and "real_ll_mean = 20" in html  # metric with its reference
    assert "finished" in html and "12/12" in html
    assert "<td>lr_d</td>" in html  # the config table


def test_several_runs_side_by_side_show_what_differs(two_runs, tmp_path):
    a, b = two_runs
    out = write_run_report([a, b], tmp_path / "cmp.html")
    html = out.read_text()
    data = film(html)
    assert [r["label"] for r in data["runs"]] == [a.name, b.name]
    assert data["steps"] == [0, 6, 12, 18]
    assert data["runs"][0]["index"] == [0, 1, 2, 2]  # a ended at 12: its last grid stays
    differ = html[html.index("What differs"):html.index("the keys they share")]
    assert "lr_d" in differ and "steps" in differ and "z_dim" not in differ


def test_the_film_is_spread_within_its_frame_limit(tiny):
    run = gankit.train(preset="digits", progress=False, **tiny)
    grid = (run.path / "samples" / "fakes-000012.png").read_bytes()
    for step in range(14, 62, 2):  # as a longer run leaves them: 31 snapshots
        (run.path / "samples" / f"fakes-{step:06d}.png").write_bytes(grid)
    steps = film(write_run_report([run.path]).read_text())["steps"]
    assert len(steps) == MAX_FRAMES and steps[0] == 0 and steps[-1] == 60


def test_an_old_folder_missing_newer_files_still_renders(tiny, tmp_path):
    run = gankit.train(preset="digits", progress=False, **tiny)
    old = tmp_path / "00007-old"
    old.mkdir()
    shutil.copy(run.path / "config.json", old)
    (old / "stats.jsonl").write_text((run.path / "stats.jsonl").read_text() + '{"step": 13, "Lo')
    html = write_run_report([old]).read_text()
    assert "No sample grids yet" in html and "No metrics yet" in html and "<svg" in html
    bare = tmp_path / "00008-bare"
    bare.mkdir()
    (bare / "config.json").write_text("{}")
    assert "No logged rows yet" in write_run_report([bare]).read_text()


def test_not_a_run_folder_is_one_line(tmp_path, run_cli, one_line_error):
    line = one_line_error(*run_cli("report", tmp_path))
    assert "not a run folder" in line
    with pytest.raises(GankitError):
        write_run_report([])


def test_figures_drawn_beside_the_runs_folder_are_shown(tiny, tmp_path):
    from PIL import Image

    out = tmp_path / "results"
    run = gankit.train(preset="digits", progress=False, **{**tiny, "runs_dir": str(out / "runs")})
    for name in ("figure2.png", "figure3.png", "unrelated.png"):
        Image.new("L", (4, 4), 128).save(out / name)
    html = write_run_report([run.path]).read_text()
    assert "../../figure2.png" in html and "../../figure3.png" in html
    assert "unrelated.png" not in html
