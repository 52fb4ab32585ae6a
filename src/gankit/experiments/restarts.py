"""Independent restarts of ``gankit reproduce``, trained side by side, the winner chosen on validation.

The paper warns that the game may not converge (Section 6); measured here
(benchmarks/results/mnist_parzen.md), one recipe lands anywhere from 218 to 228 nats depending on the
seed alone. The MLP of the paper keeps one CPU core busy, so on a machine with several cores the same
time budget trains several generators at once: ``gankit reproduce mnist --restarts N`` starts N runs
with seeds ``seed .. seed+N-1``, each in its own process with its own share of the threads, and each
keeps its checkpoint with the best validation score. The restart whose selected checkpoint has the
best *validation* score wins (:func:`gankit.experiments.selection.choose`); its *test* score is the
one quoted. The test set chooses nothing.

Layout of ``OUT``::

    results.md, results.html   every restart's scores, and which one won
    summary.json               the winner's summary, plus ``restarts`` and ``chosen_seed``
    environment.json           versions, machine, threads per restart, wall time
    figure2.png, figure3.png, parzen_curve.png, parzen_curve.jsonl   the winner's
    restarts/seed-S/           each restart's complete results folder (:mod:`.single_run`)
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any, Callable, Mapping

from gankit.config import Config, config_from_dict
from gankit.constants import TABLE1_MNIST
from gankit.errors import GankitError
from gankit.experiments.parzen_curve import CurvePoint
from gankit.experiments.results_page import restarts_markdown, title
from gankit.experiments.selection import choose
from gankit.experiments.single_run import ReproduceResult, run_single
from gankit.utils.atomic import write_text_atomic
from gankit.utils.report import write_report_pages
from gankit.utils.jsonl import to_json

#: What a restart process runs: one seed, given as JSON (no pickle between processes).
_CHILD = ("import json, sys; from gankit.experiments.restarts import child_main; "
          "sys.exit(child_main(json.loads(sys.argv[1])))")
#: The winner's files copied up to OUT, so that OUT reads like a single-run results folder.
_WINNER_FILES = ("figure2.png", "figure3.png", "parzen_curve.png", "parzen_curve.jsonl")


def threads_per_restart(restarts: int, threads: int | None) -> int:
    """``threads`` when given, else the machine's cores shared out (at least one each)."""
    if threads is not None:
        return threads
    return max(1, (os.cpu_count() or 1) // restarts)


def run_restarts(restarts: int, config: Config, out: Path, *, log: Callable[[str], None],
                 settings: Mapping[str, Any], facts: Mapping[str, Any] | None = None,
                 resume: bool = False) -> ReproduceResult:
    """Train ``restarts`` seeds of ``config`` at once (``config.seed`` onwards, ``config.threads``
    each) with :func:`~gankit.experiments.single_run.run_single`; keep the best on validation.

    ``settings`` are run_single's other keyword arguments (JSON-serialisable: the evaluation
    cadence, the budget and its clock, N). Each restart is a separate process in its own session:
    the first Ctrl-C here is passed on once to each restart (which finishes its step, saves and
    writes its results), a second one aborts them. ``resume``: ``out`` was interrupted: finished
    restarts are kept as they are, the others resume (:func:`run_single`'s ``resume``).
    """
    seeds = [config.seed + i for i in range(restarts)]
    folders = {s: out / "restarts" / f"seed-{s}" for s in seeds}
    log(f"gankit reproduce: {restarts} restarts (seeds {seeds[0]}..{seeds[-1]}), {config.threads} "
        f"thread(s) each, side by side -> {out}")
    t_start, load_start = time.time(), os.getloadavg()
    procs = {}
    for s in seeds:
        child = {"config": dataclasses.replace(config, seed=s).to_dict(), "out": str(folders[s]),
                 "settings": dict(settings), "facts": dict(facts or {}), "resume": resume}
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
    summary.update(chosen_seed=chosen, threads_per_restart=config.threads, restarts=[
        _restart_row(s, folders[s], codes[s], summaries.get(s)) for s in seeds])
    env = json.loads((winner / "environment.json").read_text(encoding="utf-8"))
    env.update(restarts=restarts, threads_per_restart=config.threads, seeds=seeds,
               started=time.strftime("%Y-%m-%dT%H:%M:%S%z", time.localtime(t_start)),
               wall_seconds=round(time.time() - t_start, 1),
               load_average_start=[round(v, 2) for v in load_start],
               load_average_end=[round(v, 2) for v in os.getloadavg()])
    write_text_atomic(out / "environment.json", to_json(env, indent=2) + "\n")
    write_text_atomic(out / "summary.json", to_json(summary, indent=2) + "\n")
    write_report_pages(out, restarts_markdown(summary), title(summary))
    sel = summary["selected"]
    log(f"gankit reproduce: chose seed {chosen} of {len(done)} finished restarts on validation "
        f"({sel['val_ll_mean']:.1f}): Parzen LL {sel['ll_mean']:.1f} +- {sel['ll_se']:.1f} at step "
        f"{sel['step']}; paper {TABLE1_MNIST[0]:g} +- {TABLE1_MNIST[1]:g}; results in {out}")
    points = [CurvePoint(**json.loads(line))
              for line in (winner / "parzen_curve.jsonl").read_text(encoding="utf-8").splitlines()]
    return ReproduceResult(out, Path(summary["run_dir"]), points, summary)


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
    """One restart (in its own process): run_single for one seed, log lines prefixed with the seed."""
    config = config_from_dict(spec["config"])

    def log(line: str) -> None:
        print(f"[seed {config.seed}] {line}", file=sys.stderr, flush=True)

    try:
        run_single(config, Path(spec["out"]), progress=False, log=log, facts=spec.get("facts"),
                   resume=bool(spec.get("resume")), **spec["settings"])
    except GankitError as e:
        log(f"error: {e}")
        return getattr(e, "exit_code", 2)
    except KeyboardInterrupt:  # a second Ctrl-C: aborted, as gankit's CLI does it
        log("aborted")
        return 130
    return 0


__all__ = ["child_main", "run_restarts", "threads_per_restart"]
