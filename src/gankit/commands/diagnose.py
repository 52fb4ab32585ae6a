"""``gankit diagnose``: convergence and mode-collapse verdicts for a run folder.

    gankit diagnose RUN_DIR            # prints the verdicts; writes RUN_DIR/report.md + diagnosis.png
    gankit diagnose RUN_DIR --json     # one JSON object per line, one per verdict; nothing else
                                       # on stdout (the report's path goes to stderr)

No maths here: :mod:`gankit.diagnose` does the work.
"""

from __future__ import annotations

import argparse
import json
import sys


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "diagnose", help="verdicts on a run: equilibrium, oscillation, D wins, divergence, collapse",
        description="Judge a run from its stats.jsonl (and metrics.jsonl): near equilibrium / "
                    "oscillating / D wins (G gradients vanish) / diverged / mode collapse suspected "
                    "/ healthy, each with its evidence and a remedy. Writes RUN_DIR/report.md and "
                    "RUN_DIR/diagnosis.png; prints the verdicts, then the report's path.")
    p.add_argument("run_dir", metavar="RUN_DIR", help="run folder made by `gankit train`")
    p.add_argument("--json", action="store_true",
                   help="print one JSON object per verdict, one per line, and nothing else on "
                        "stdout (NaN/Inf evidence as null; the report's path goes to stderr)")
    p.add_argument("--no-metrics", action="store_true",
                   help="do not compute toy_modes from the checkpoint of a ring8/grid25 run")
    p.add_argument("--no-report", action="store_true", help="print only; write no files")
    p.set_defaults(handler=run_diagnose)


def run_diagnose(args: argparse.Namespace) -> int:
    from gankit.diagnose import LIMITS
    from gankit.runs.diagnosis import diagnose_run, write_report
    from gankit.runs.report import write_run_report

    verdicts = diagnose_run(args.run_dir, compute_toy_metrics=not args.no_metrics)
    for v in verdicts:
        # allow_nan=False: bare NaN is not JSON (RFC 8259); to_dict already made it null
        print(json.dumps(v.to_dict(), allow_nan=False) if args.json else str(v), flush=True)
    if not args.json:
        print(f"Limits: {LIMITS}")
    if not args.no_report:
        path = write_report(args.run_dir, verdicts, compute_toy_metrics=not args.no_metrics)
        write_run_report([args.run_dir])  # report.html beside report.md
        if args.json:  # stdout stays pure JSON lines
            print(f"gankit: report: {path}", file=sys.stderr)
        else:
            print(path)
    return 0
