"""Independent restarts of ``gankit reproduce``, trained side by side, the winner chosen on validation.

The paper warns that the game may not converge (Section 6); measured here
(benchmarks/results/mnist_parzen.md), one recipe lands anywhere from 218 to 228 nats depending on the
seed alone. The MLP of the paper keeps one CPU core busy, so on a machine with several cores the same
time budget trains several generators at once: ``gankit reproduce mnist --restarts N`` starts N runs
with seeds ``seed .. seed+N-1``, each in its own process with its own share of the threads, and each
keeps its checkpoint with the best validation score. The restart whose selected checkpoint has the
best *validation* score wins; its *test* score is the one quoted. The test set chooses nothing.

Layout of ``OUT``::

    results.md, results.html   every restart's scores, and which one won
    summary.json               the winner's summary, plus ``restarts`` and ``chosen_seed``
    environment.json           versions, machine, threads per restart, wall time
    figure2.png, figure3.png, parzen_curve.png, parzen_curve.jsonl   the winner's
    restarts/seed-S/           each restart's complete ``gankit reproduce`` results folder
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable, Mapping

from gankit.errors import GankitError

#: What a restart process runs: ``reproduce`` for one seed, given as JSON (no pickle between processes).
_CHILD = ("import json, sys; from gankit.experiments.restarts import child_main; "
          "sys.exit(child_main(json.loads(sys.argv[1])))")
#: The winner's files copied up to OUT, so that OUT reads like a single-run results folder.
_WINNER_FILES = ("figure2.png", "figure3.png", "parzen_curve.png", "parzen_curve.jsonl")


def threads_per_restart(restarts: int, threads: int | None) -> int:
    """``threads`` when given, else the machine's cores shared out (at least one each)."""
    if threads is not None:
        return threads
    return max(1, (os.cpu_count() or 1) // restarts)


def reproduce_restarts(restarts: int, *, out: Path, seed: int, threads: int | None,
                       log: Callable[[str], None], spec: Mapping[str, Any]):
    """Run ``restarts`` seeds of :func:`gankit.experiments.reproduce.reproduce` at once; keep the best on validation.

    ``spec`` holds reproduce's other keyword arguments (JSON-serialisable). Each restart is a
    separate process in its own session: the first Ctrl-C here is passed on once to each restart
    (which finishes its step, saves and writes its results), a second one aborts them.
    """
    from gankit.experiments.reproduce import CurvePoint, ReproduceResult, _write, markdown_table_html

    per = threads_per_restart(restarts, threads)
    seeds = [seed + i for i in range(restarts)]
    folders = {s: out / "restarts" / f"seed-{s}" for s in seeds}
    log(f"gankit reproduce: {restarts} restarts (seeds {seeds[0]}..{seeds[-1]}), {per} thread(s) "
        f"each, side by side -> {out}")
    t_start, load_start = time.time(), os.getloadavg()
    procs = {}
    for s in seeds:
        child = {**spec, "out": str(folders[s]), "seed": s, "threads": per}
        procs[s] = subprocess.Popen([sys.executable, "-c", _CHILD, json.dumps(child)],
                                    start_new_session=True)
    codes = _wait_all(procs, log)
    done = {s: f for s, f in folders.items() if codes[s] == 0 and (f / "summary.json").is_file()}
    if not done:
        raise GankitError(f"every restart failed (exit statuses {sorted(set(codes.values()))}); "
                          f"see the lines above")
    summaries = {s: json.loads((f / "summary.json").read_text(encoding="utf-8"))
                 for s, f in done.items()}
    chosen = choose(summaries)
    winner = done[chosen]
    for name in _WINNER_FILES:
        if (winner / name).is_file():
            try:
                shutil.copyfile(winner / name, out / name)
            except OSError as e:
                raise GankitError(f"cannot copy {winner / name} to {out} ({e.strerror or e}); the "
                                  f"restarts' own results are complete in {out / 'restarts'}") from None
    summary = dict(summaries[chosen])
    summary.update(chosen_seed=chosen, threads_per_restart=per, restarts=[
        _restart_row(s, folders[s], codes[s], summaries.get(s)) for s in seeds])
    env = json.loads((winner / "environment.json").read_text(encoding="utf-8"))
    env.update(restarts=restarts, threads_per_restart=per, seeds=seeds,
               wall_seconds=round(time.time() - t_start, 1),
               load_average_start=[round(v, 2) for v in load_start],
               load_average_end=[round(v, 2) for v in os.getloadavg()])
    _write(out / "environment.json", json.dumps(env, indent=2) + "\n")
    _write(out / "summary.json", json.dumps(summary, indent=2) + "\n")
    md = restarts_markdown(summary)
    _write(out / "results.md", md)
    _write(out / "results.html", markdown_table_html(md, title=f"gankit reproduce: {summary['preset']}"))
    sel = summary["selected"]
    log(f"gankit reproduce: chose seed {chosen} of {len(done)} finished restarts on validation "
        f"({sel['val_ll_mean']:.1f}): Parzen LL {sel['ll_mean']:.1f} +- {sel['ll_se']:.1f} at step "
        f"{sel['step']}; paper 225 +- 2; results in {out}")
    points = [CurvePoint(**json.loads(line))
              for line in (winner / "parzen_curve.jsonl").read_text(encoding="utf-8").splitlines()]
    return ReproduceResult(out, Path(summary["run_dir"]), points, summary)


def choose(summaries: Mapping[int, Mapping[str, Any]]) -> int:
    """The seed whose selected checkpoint has the best validation score (test scores unread).

    Restarts without a validation-selected checkpoint cannot compete; if none has one, an error.
    """
    scored = {s: m["selected"]["val_ll_mean"] for s, m in summaries.items() if m.get("selected")}
    if not scored:
        raise GankitError("no restart has a checkpoint selected on validation; nothing to choose from")
    return max(scored, key=lambda s: (scored[s], -s))  # ties: the lowest seed


def _restart_row(seed: int, folder: Path, code: int, summary: Mapping[str, Any] | None) -> dict:
    row: dict[str, Any] = {"seed": seed, "out": str(folder), "exit_status": code}
    if summary is not None:
        row.update({k: summary[k] for k in ("final", "best", "selected", "passed", "steps")})
    return row


def _wait_all(procs: dict[int, subprocess.Popen], log: Callable[[str], None]) -> dict[int, int]:
    """Wait for every restart; pass each Ctrl-C on to those still running."""
    codes: dict[int, int] = {}
    while len(codes) < len(procs):
        try:
            for s, p in procs.items():
                if s not in codes:
                    codes[s] = p.wait()
        except KeyboardInterrupt:
            log("gankit reproduce: interrupted; passing it on to the restarts (Ctrl-C again to "
                "abort them without saving)")
            for s, p in procs.items():
                if s not in codes and p.poll() is None:
                    p.send_signal(signal.SIGINT)
    return codes


def child_main(spec: dict[str, Any]) -> int:
    """One restart: ``reproduce`` for one seed, its log lines prefixed with the seed."""
    from gankit.experiments.reproduce import reproduce

    seed = spec["seed"]

    def log(line: str) -> None:
        print(f"[seed {seed}] {line}", file=sys.stderr, flush=True)

    try:
        reproduce("mnist", **{**spec, "out": Path(spec["out"]), "restarts": 1, "progress": False,
                              "log": log})
    except GankitError as e:
        log(f"error: {e}")
        return 2
    except KeyboardInterrupt:  # a second Ctrl-C: aborted, as gankit's CLI does it
        log("aborted")
        return 130
    return 0


def restarts_markdown(summary: Mapping[str, Any]) -> str:
    """The top results page: each restart's scores, the winner, and where its full page is."""
    chosen = summary["chosen_seed"]
    ref = summary["reference"]
    lines = [
        f"# gankit reproduce mnist: `{summary['preset']}`, {len(summary['restarts'])} restarts",
        "",
        f"{len(summary['restarts'])} independent runs (seeds "
        f"{summary['restarts'][0]['seed']}..{summary['restarts'][-1]['seed']}) trained side by "
        f"side, {summary['threads_per_restart']} thread(s) each, within the same budget. Each kept "
        "its checkpoint with the best validation score; the restart whose kept checkpoint scores "
        "best on validation wins, and its test score is the result. The test set chose nothing. "
        "Parzen-window log-likelihood of the 10,000 test images on the paper's protocol (nats); "
        "**this number misleads** (Theis et al. 2016): read it beside the real-data reference.",
        "",
        "| seed | selected on validation: test LL | validation LL | at step | best test LL "
        "| final test LL | passed 225 at (training min) | results |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for r in summary["restarts"]:
        if r.get("selected") is None:
            lines.append(f"| {r['seed']} | failed (exit status {r['exit_status']}) | | | | | | "
                         f"`restarts/seed-{r['seed']}/` |")
            continue
        sel, hit = r["selected"], r["passed"].get("225")
        mark = "**" if r["seed"] == chosen else ""
        lines.append(
            f"| {mark}{r['seed']}{' (chosen)' if r['seed'] == chosen else ''}{mark} | "
            f"{mark}{sel['ll_mean']:.1f} ± {sel['ll_se']:.1f}{mark} | {sel['val_ll_mean']:.1f} | "
            f"{sel['step']} | {r['best']['ll_mean']:.1f} | {r['final']['ll_mean']:.1f} | "
            + (f"step {hit['step']} ({hit['train_minutes']})" if hit else "no")
            + f" | `restarts/seed-{r['seed']}/results.md` |")
    sel = summary["selected"]
    lines += [
        "| paper, Table 1 (adversarial nets) | 225 ± 2 | | | | | | |",
        f"| held-out real data | {ref['ll_mean']:.1f} ± {ref['ll_se']:.1f} | | | | | | σ "
        f"{ref['sigma']:.3f}, N {ref['n_samples']} |",
        "",
        f"**Result: {sel['ll_mean']:.1f} ± {sel['ll_se']:.1f}** (seed {chosen}, step {sel['step']}, "
        f"σ {sel['sigma']:.3f}, N {sel['n_samples']}).",
        "",
        "![Parzen LL of the chosen restart](parzen_curve.png)",
        "",
        "Figure 2 (samples and the nearest training image) and Figure 3 (lines in z space) of the "
        "chosen generator:",
        "",
        "![Figure 2](figure2.png)",
        "",
        "![Figure 3](figure3.png)",
        "",
        "Environment: `environment.json`; each restart's own results page has its curve, "
        "configuration and timings.",
        "",
    ]
    return "\n".join(lines)
