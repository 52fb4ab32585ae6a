"""The end-of-run diagnosis of a run folder (gankit.runs.train.report, DiagnosisReport): a run
stopped by Ctrl-C is reported as interrupted, never as diverged (issue 18, item 11)."""

from __future__ import annotations

import json
import os
import signal

import gankit
from gankit.engine.callbacks import Callback
from gankit.runs.diagnosis import diagnose_run
from gankit.runs.train import report


class CtrlC(Callback):
    """Sends the process a SIGINT (what Ctrl-C does) once ``at`` steps are logged."""

    def __init__(self, at: int):
        self.at = at

    def on_log(self, engine, row) -> None:
        if engine.state.step == self.at:
            os.kill(os.getpid(), signal.SIGINT)


def test_ctrl_c_run_is_reported_interrupted_not_diverged(tiny, capsys):
    run = gankit.train(progress=False, callbacks=[CtrlC(8)], **{**tiny, "steps": 40})
    assert run.interrupted and run.step == 9  # the engine finishes the step after the signal
    err = capsys.readouterr().err
    verdict_lines = [line for line in err.splitlines() if line.startswith("gankit: [")]
    assert verdict_lines[0].startswith("gankit: [info] interrupted: the run stopped by Ctrl-C at "
                                       "step 9 of 40")
    assert "diverged" not in err
    report_text = (run.path / "report.md").read_text()
    assert "## interrupted (info)" in report_text and "by Ctrl-C" in report_text
    # diagnosed later, from the folder alone: the log ends before config.json's steps
    kinds = [v.kind for v in diagnose_run(run.path)]
    assert kinds[0] == "interrupted" and "diverged" not in kinds


def test_report_prints_the_verdicts_of_a_finished_run(tiny, capsys):
    run = gankit.train(progress=False, **tiny)
    capsys.readouterr()
    report(run.path)
    err = capsys.readouterr().err
    assert "interrupted" not in err and "gankit: [" in err
    rows = [json.loads(line) for line in (run.path / "stats.jsonl").read_text().splitlines()]
    assert rows[-1]["step"] == tiny["steps"]
