"""``gankit report``: one self-contained HTML page for one run or several side by side.

    gankit report RUN                     # writes RUN/report.html
    gankit report RUN1 RUN2 --out cmp.html
"""

from __future__ import annotations

import argparse

from gankit.runs.report import write_run_report


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "report", help="an HTML page of runs: curves, samples over training, verdicts, metrics, config",
        description="Write one self-contained HTML page (no network access: everything inlined) "
                    "for one run folder or several side by side. It reads only finished files, so "
                    "it can be regenerated while a run trains.")
    p.add_argument("run_dirs", metavar="RUN", nargs="+", help="run folders made by `gankit train`")
    p.add_argument("--out", default=None, metavar="FILE",
                   help="the page to write (default: RUN/report.html for one run, ./report.html "
                        "for several)")
    p.set_defaults(handler=run_report)


def run_report(args: argparse.Namespace) -> int:
    print(write_run_report(args.run_dirs, args.out))
    return 0
