"""``gankit report RUN [RUN ...]``: one self-contained HTML page to look at runs rather than read
their logs.

For each run (several side by side): status, the curves with the equilibrium lines of Theorem 1
(log 4, log 2, D = 1/2), the fixed-noise sample grids over training on a slider (the GAN's "film"),
the verdicts of :mod:`gankit.diagnose` with their evidence, every ``metrics.jsonl`` row with its
protocol, the config (for several runs: what differs first), the environment, and any pictures
the folder holds (Figure 1 panels, Figures 2 and 3, a toy run's heat maps).

The page reads only finished files (grids are written atomically; a log line still being written is
skipped), so it can be regenerated while a run trains. Every picture is inlined and the page's
Content-Security-Policy forbids any fetch: it works offline and can be sent as one file. A folder
made by an older gankit, missing newer files, still renders with what it has.
"""

from __future__ import annotations

import io
import json
import re
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from gankit.diagnose import LIMITS, Verdict
from gankit.errors import GankitError
from gankit.figures.curves import curves_figure
from gankit.objectives import objective_of
from gankit.runs.diagnosis import diagnose_run
from gankit.runs.listing import RunSummary, format_age, is_run_folder, summarize_run
from gankit.utils.atomic import write_text_atomic
from gankit.utils.jsonl import read_json_object, read_jsonl
from gankit.utils.plotting import figure_svg, pyplot
from gankit.utils.webpage import data_uri, escape, page, script_data, table

#: At most this many grids on a run's film, and about this many bytes of them (the page must stay
#: small enough to send): frames are spread evenly over training, always the first and the last.
MAX_FRAMES = 24
FILM_BYTES = 3_000_000
#: Pictures of the folder that the page draws itself (or that repeat the curves).
NOT_EMBEDDED = ("curves.png", "diagnosis.png")
PICTURE_BYTES = 2_000_000
#: The pictures `gankit reproduce`, `gankit figure1` and `gankit figure toy2d` draw beside the
#: ``runs/`` folder of their run (Figures 1-3, the Parzen curve; toy2d's is named after the data).
FIGURE_FILES = ("figure1.png", "theory.png", "figure2.png", "figure3.png", "parzen_curve.png")
_GRID = re.compile(r"^fakes-(\d+)\.png$")
_METRIC_BOOKKEEPING = ("metric", "step", "seed", "dataset", "source", "time", "seconds", "protocol")


@dataclass
class RunFolder:
    """What the report reads from one run folder."""

    path: Path
    summary: RunSummary
    config: dict[str, Any]
    stats: list[dict]
    metrics: list[dict]
    environment: dict[str, Any]
    grids: list[tuple[int, Path]]  # (step, samples/fakes-NNNNNN.png), by step
    pictures: list[Path]
    verdicts: list[Verdict] = field(default_factory=list)

    @property
    def label(self) -> str:
        return self.path.name


def read_run_folder(path: str | Path) -> RunFolder:
    path = Path(path)
    if not is_run_folder(path):
        raise GankitError(f"{path} is not a run folder (it has no config.json); pass folders made "
                          f"by `gankit train`, e.g. runs/00001-digits-ns-k1")
    config = read_json_object(path / "config.json")
    stats = [r for r in read_jsonl(path / "stats.jsonl") if isinstance(r.get("step"), (int, float))]
    metrics = read_jsonl(path / "metrics.jsonl")
    grids = sorted((int(m.group(1)), p) for p in (path / "samples").glob("fakes-*.png")
                   if (m := _GRID.match(p.name)) and p.is_file())
    pictures = sorted(p for p in path.glob("*.png") if p.name not in NOT_EMBEDDED and p.is_file())
    if path.parent.name == "runs":  # a run inside the folder of gankit reproduce / figure1 / figure
        around = path.parent.parent
        pictures += [around / n for n in FIGURE_FILES if (around / n).is_file()]
        pictures += [around / f"{config.get('dataset')}.png"] if (
            around / f"{config.get('dataset')}.png").is_file() else []
    try:
        verdicts = diagnose_run(path, compute_toy_metrics=False) if stats else []
    except GankitError:  # e.g. too few rows to judge: the page says so instead
        verdicts = []
    return RunFolder(path, summarize_run(path), config, stats, metrics,
                     read_json_object(path / "environment.json"), grids, pictures, verdicts)


def write_run_report(paths: Sequence[str | Path], out: str | Path | None = None) -> Path:
    """Write the page for ``paths`` (run folders) to ``out``; default: ``RUN/report.html`` for one
    run, ``report.html`` in the current folder for several. Returns its path."""
    if not paths:
        raise GankitError("pass at least one run folder")
    runs = [read_run_folder(p) for p in paths]
    if out is None:
        out = runs[0].path / "report.html" if len(runs) == 1 else Path("report.html")
    out = Path(out)
    if out.is_dir():
        raise GankitError(f"{out} is a folder; pass a file name such as {out / 'report.html'}")
    write_text_atomic(out, report_html(runs))
    return out


def report_html(runs: Sequence[RunFolder]) -> str:
    title = f"gankit report: {', '.join(r.label for r in runs)}"
    body = [f"<h1>{escape(title)}</h1>",
            "<h2>Status</h2>", _status_table(runs),
            "<h2>Curves</h2>",
            "<p class='muted'>Dashed: the values at the game's equilibrium, D = 1/2 everywhere "
            "(Theorem 1): loss_D = log 4, loss_G = log 2 (non-saturating) or -log 2 (minimax).</p>",
            _curves(runs),
            "<h2>Samples over training</h2>", _film(runs),
            "<h2>Verdicts</h2>", *(_verdicts(r, len(runs) > 1) for r in runs),
            f"<p class='muted'>Limits: {escape(LIMITS)}</p>",
            "<h2>Metrics</h2>", *(_metrics(r, len(runs) > 1) for r in runs),
            "<h2>Config</h2>", _configs(runs),
            *_pictures(runs),
            "<h2>Environment</h2>", *(_environment(r) for r in runs)]
    return page(title, "\n".join(body), _FILM_SCRIPT)


# --- sections --------------------------------------------------------------------------------------

def _status_table(runs: Sequence[RunFolder]) -> str:
    rows = []
    for r in runs:
        s = r.summary
        total = "budget" if s.steps is None else s.steps
        rows.append([s.name, s.preset or "-", _game(r.config), s.status,
                     f"{s.step}/{total}", _num(s.d_real), _num(s.d_fake), s.verdict or "-",
                     format_age(s.age_seconds)])
    return table(["run", "preset", "objective", "status", "step", "D(x)", "D(G(z))",
                  "worst verdict", "last write"], rows)


def _game(config: dict) -> str:
    """The objective and, for the paper's, its G loss: "gan (nonsaturating)", "wgan-gp"."""
    objective = str(config.get("objective", "gan"))
    return f"gan ({config.get('g_loss', '-')})" if objective == "gan" else objective


def _curves(runs: Sequence[RunFolder]) -> str:
    with_rows = [(r.label, r.stats, objective_of(r.config)) for r in runs if r.stats]
    if not with_rows:
        return "<p class='muted'>No logged rows yet (stats.jsonl is empty or missing).</p>"
    plt = pyplot()
    fig = curves_figure(with_rows)
    try:
        return f"<div id='curves'>{figure_svg(fig)}</div>"
    finally:
        plt.close(fig)


def _film(runs: Sequence[RunFolder]) -> str:
    films = [_frames(r) for r in runs]
    steps = sorted({step for film in films for step, _ in film})
    if not steps:
        return "<p class='muted'>No sample grids yet (samples/fakes-*.png).</p>"
    steps = _spread(steps, MAX_FRAMES)
    data = {"steps": steps, "runs": []}
    figures = []
    for i, (r, film) in enumerate(zip(runs, films)):
        images = [uri for _, uri in film]
        # For each step of the slider: this run's latest grid at or before it (its first before).
        index = [max([j for j, (s, _) in enumerate(film) if s <= step] or [0]) for step in steps]
        data["runs"].append({"label": r.label, "images": images, "index": index if film else []})
        src = images[index[-1]] if film else ""
        figures.append(f"<figure><img id='film-img-{i}' alt='samples of {escape(r.label)}' "
                       f"src='{src}'><figcaption>{escape(r.label)}</figcaption></figure>")
    slider = (f"<p><input type='range' id='film-slider' min='0' max='{len(steps) - 1}' "
              f"value='{len(steps) - 1}' aria-label='training step'> step "
              f"<b id='film-step'>{steps[-1]}</b> <span class='muted'>(G on the same fixed "
              f"noise at every snapshot; {len(steps)} of the snapshots)</span></p>")
    return slider + f"<div class='film'>{''.join(figures)}</div>" + script_data("FILM", data)


def _verdicts(r: RunFolder, named: bool) -> str:
    head = f"<h3>{escape(r.label)}</h3>" if named else ""
    if not r.verdicts:
        return head + "<p class='muted'>No verdicts: too few logged rows to judge yet.</p>"
    rows = [[f"<span class='{escape(v.severity)}'>{escape(v.severity)}</span>", escape(v.title),
             escape(v.summary),
             escape(", ".join(f"{k} = {_num(x)}" for k, x in v.evidence.items()) or "-"),
             escape(v.remedy or "-")] for v in r.verdicts]
    return head + table(["", "verdict", "summary", "evidence", "remedy"], rows, raw=True)


def _metrics(r: RunFolder, named: bool) -> str:
    head = f"<h3>{escape(r.label)}</h3>" if named else ""
    rows = [m for m in r.metrics if isinstance(m.get("metric"), str)]
    if not rows:
        return head + ("<p class='muted'>No metrics yet: <code>gankit eval RUN --metric NAME</code> "
                       "appends them to metrics.jsonl.</p>")
    cells = []
    for m in rows:
        values = ", ".join(f"{k} = {_num(v)}" for k, v in m.items()
                           if k not in _METRIC_BOOKKEEPING and isinstance(v, (int, float)))
        protocol = json.dumps(m.get("protocol", {}), indent=1, sort_keys=True, allow_nan=False,
                              default=str) if isinstance(m.get("protocol"), dict) else "{}"
        cells.append([escape(m["metric"]), escape(m.get("step", "-")), escape(values),
                      f"<details><summary>protocol</summary><pre>{escape(protocol)}</pre></details>"])
    return head + table(["metric", "step", "values (real-data references beside them)",
                         "protocol"], cells, raw=True)


def _configs(runs: Sequence[RunFolder]) -> str:
    keys = sorted({k for r in runs for k in r.config})
    value = lambda r, k: json.dumps(r.config.get(k), default=str) if k in r.config else "—"  # noqa
    if len(runs) == 1:
        return table(["key", "value"], [[k, value(runs[0], k)] for k in keys])
    differ = [k for k in keys if len({value(r, k) for r in runs}) > 1]
    same = [k for k in keys if k not in differ]
    out = ("<p>What differs between the runs:</p>" +
           table(["key", *(r.label for r in runs)], [[k, *(value(r, k) for r in runs)]
                                                     for k in differ])
           if differ else "<p>The runs have the same config.</p>")
    return out + ("<details><summary>the keys they share</summary>" +
                  table(["key", "value"], [[k, value(runs[0], k)] for k in same]) + "</details>")


def _pictures(runs: Sequence[RunFolder]) -> list[str]:
    parts = []
    for r in runs:
        for p in r.pictures:
            data = p.read_bytes()
            if len(data) <= PICTURE_BYTES:
                where = p.name if p.parent == r.path else f"../../{p.name}"
                parts.append(f"<figure><img src='{data_uri(data, 'image/png')}' alt='{escape(p.name)}'"
                             f"><figcaption>{escape(r.label)}/{escape(where)}</figcaption></figure>")
    return ["<h2>Pictures</h2>", *parts] if parts else []


def _environment(r: RunFolder) -> str:
    text = json.dumps(r.environment, indent=1, default=str) if r.environment else "not recorded"
    return (f"<details><summary>{escape(r.label)}</summary><pre>{escape(text)}</pre></details>")


# --- pieces ----------------------------------------------------------------------------------------

def _frames(r: RunFolder) -> list[tuple[int, str]]:
    """(step, data URI) of the grids shown: spread over training, within the byte budget."""
    n = min(MAX_FRAMES, len(r.grids))
    while True:
        chosen = _spread(r.grids, n)
        film = [(step, _encode(path)) for step, path in chosen]
        size = sum(len(uri) for _, uri in film)
        if size <= FILM_BYTES or n <= 2:
            return film
        n = max(2, min(n - 1, int(n * FILM_BYTES / size)))


def _spread(items: list, n: int) -> list:
    """``n`` items spread evenly, the first and the last included."""
    if len(items) <= n:
        return list(items)
    if n <= 1:
        return items[-1:]
    return [items[round(i * (len(items) - 1) / (n - 1))] for i in range(n)]


def _encode(path: Path) -> str:
    """A grid as a data URI: its PNG, or a JPEG when that is much smaller (photos)."""
    data = path.read_bytes()
    if len(data) < 100_000:
        return data_uri(data, "image/png")
    from PIL import Image  # late: only large grids need it

    with Image.open(io.BytesIO(data)) as im:
        buf = io.BytesIO()
        im.convert("RGB").save(buf, format="JPEG", quality=85)
    jpeg = buf.getvalue()
    return data_uri(jpeg, "image/jpeg") if len(jpeg) < len(data) / 2 else data_uri(data, "image/png")


def _num(v: Any) -> str:
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return "-" if v is None else str(v)
    return f"{v:.4g}"


# The film's slider: every run's grid at the chosen snapshot.
_FILM_SCRIPT = """
(function () {
  const slider = document.getElementById('film-slider');
  if (!slider || typeof FILM === 'undefined') return;
  function show(i) {
    document.getElementById('film-step').textContent = FILM.steps[i];
    FILM.runs.forEach(function (run, r) {
      if (run.index.length) document.getElementById('film-img-' + r).src = run.images[run.index[i]];
    });
  }
  slider.addEventListener('input', function () { show(Number(slider.value)); });
  show(Number(slider.value));
})();
"""


__all__ = ["RunFolder", "read_run_folder", "report_html", "write_run_report"]
