"""``gankit runs``: one line per run folder.

    gankit runs                      # runs/ : name, preset, steps, status, D's outputs, metric, verdict, age
    gankit runs DIR --sort name      # also: age (default, newest first), step, status, preset
    gankit runs --json               # one JSON line per run, for scripts
"""

from __future__ import annotations

import argparse
import json
from pathlib import Path

from gankit.config import Config
from gankit.errors import GankitError
from gankit.runs.listing import SORT_KEYS, format_table, list_runs


def register(subparsers) -> None:
    p = subparsers.add_parser(
        "runs", help="list run folders: steps, status, D's outputs, best metric, verdict, age",
        description="One line per run folder in RUNS_DIR (default: the runs_dir config default).")
    p.add_argument("runs_dir", metavar="RUNS_DIR", nargs="?", default=Config().runs_dir,
                   help=f"folder of run folders (default: {Config().runs_dir})")
    p.add_argument("--sort", choices=SORT_KEYS, default="age", help="order of the lines")
    p.add_argument("--json", action="store_true", help="one JSON line per run instead of a table")
    p.set_defaults(handler=run_runs)


def run_runs(args: argparse.Namespace) -> int:
    folder = Path(args.runs_dir)
    if not folder.is_dir():
        raise GankitError(f"{folder} is not a folder; pass the folder that holds your run folders "
                          f"(gankit train writes them into runs/)")
    summaries = list_runs(folder, args.sort)
    if args.json:
        for s in summaries:
            print(json.dumps(s.to_dict(), allow_nan=False))
    elif summaries:
        print(format_table(summaries))
    else:
        print(f"no run folders in {folder}")
    return 0
