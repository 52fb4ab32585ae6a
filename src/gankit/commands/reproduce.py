"""``gankit reproduce mnist``: the paper's Table 1 row, its training curve and Figures 2 and 3.

    gankit reproduce mnist --budget-minutes 60 --data-dir ../shared/data/mnist

No logic here: :mod:`gankit.experiments.reproduce` does the work. The last stdout line is one JSON object (the
final and best Parzen LL, the evaluation selected on validation, when the curve passed 200 and 225,
and the results folder), for scripts.
"""

from __future__ import annotations

import argparse
import json

from gankit.errors import GankitError


def _positive_int(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of minutes, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"expected a positive number of minutes, got {text}")
    return value


def register(subparsers) -> None:
    """Add the ``reproduce`` verb."""
    p = subparsers.add_parser(
        "reproduce", help="reproduce the paper's MNIST Table 1 row, curve and Figures 2 and 3",
        description="Train a preset (default: paper-mnist) on MNIST, scoring it with the paper's "
                    "Parzen-window protocol every --eval-every-steps steps, stop at the time budget, "
                    "and write a results folder: results.md/.html (beside the paper's Table 1, with "
                    "sigma, N and the real-data reference), parzen_curve.png (LL against epochs and "
                    "minutes), figure2.png and figure3.png (of the checkpoint with the best "
                    "validation score, kept as checkpoints/selected.safetensors) and "
                    "environment.json. With --restarts N, N seeds train side by side and the one "
                    "best on validation is kept (each restart's folder under restarts/).")
    p.add_argument("dataset", choices=("mnist",), help="the experiment (mnist: Table 1's MNIST column)")
    p.add_argument("--budget-minutes", type=_positive_float, default=60.0, metavar="M",
                   help="training time budget in minutes, Parzen evaluations excluded; training "
                        "stops at the last evaluation before it, however many steps that is "
                        "(--set steps=N caps it) (default: 60)")
    p.add_argument("--budget-clock", choices=("wall", "cpu"), default="wall",
                   help="what the budget counts: wall (training wall time) or cpu (this process's "
                        "CPU time, fair on a shared machine) (default: wall)")
    p.add_argument("--data-dir", metavar="DIR", default=None,
                   help="folder with the MNIST IDX files (default: download into the cache)")
    p.add_argument("--out", metavar="DIR", default=None,
                   help="results folder (default: results/NNNNN-reproduce-PRESET)")
    p.add_argument("--preset", default="paper-mnist", metavar="NAME",
                   help="MNIST preset to train (default: paper-mnist; see `gankit presets`)")
    p.add_argument("--eval-every-steps", type=_positive_int, default=2500, metavar="N",
                   help="Parzen evaluation (and snapshot) every N generator steps (default: 2500, "
                        "5 epochs at batch 100)")
    p.add_argument("--seed", type=int, default=0, help="training, sampling and figure seed (default: 0)")
    p.add_argument("--threads", type=_positive_int, default=None, metavar="T",
                   help="CPU threads for torch, per restart (default: the preset's, else "
                        "automatic; with --restarts N, the cores shared out N ways)")
    p.add_argument("--restarts", type=_positive_int, default=1, metavar="N",
                   help="train N seeds (--seed, --seed+1, ...) side by side within the same budget "
                        "and keep the one whose selected checkpoint scores best on validation; "
                        "the test set chooses nothing (default: 1)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", dest="overrides",
                   help="change one config field of the preset, repeatable (e.g. --set "
                        "precision=bf16 --set g_ema=0.9999); recorded in the run's config.json")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    p.set_defaults(handler=run_reproduce)


def _overrides(items: list[str]) -> dict[str, str]:
    """``KEY=VALUE`` strings as a dict; the config coerces and validates the values."""
    fields = {}
    for item in items:
        key, sep, value = item.partition("=")
        if not sep or not key.strip():
            raise GankitError(f"--set expects KEY=VALUE (e.g. --set precision=bf16), got {item!r}")
        key = key.strip().replace("-", "_")
        if key in _OWN_FLAGS:
            raise GankitError(f"--set {key}=... is not how to choose that here: use "
                              f"{_OWN_FLAGS[key]}")
        fields[key] = value.strip()
    return fields


#: Config fields that gankit reproduce sets from its own flags (or owns, like the run folder).
_OWN_FLAGS = {"preset": "--preset", "seed": "--seed", "data_dir": "--data-dir",
              "threads": "--threads", "runs_dir": "--out (the run goes in OUT/runs)",
              "file": "a preset and --set"}


def run_reproduce(args: argparse.Namespace) -> int:
    from gankit.experiments.reproduce import reproduce

    result = reproduce(args.dataset, out=args.out, budget_minutes=args.budget_minutes,
                       data_dir=args.data_dir, preset=args.preset,
                       eval_every_steps=args.eval_every_steps, seed=args.seed, threads=args.threads,
                       budget_clock=args.budget_clock, overrides=_overrides(args.overrides),
                       progress=not args.quiet, restarts=args.restarts)
    s = result.summary
    if not result.points:  # pragma: no cover - reproduce raises first
        raise GankitError("no evaluation was made")
    line = {"final": s["final"], "best": s["best"], "selected": s["selected"], "passed": s["passed"],
            "reference": s["reference"], "paper": {"ll_mean": 225.0, "ll_se": 2.0},
            "out": str(result.out)}
    if "restarts" in s:
        line.update(chosen_seed=s["chosen_seed"], restarts=[
            {"seed": r["seed"], "selected": r.get("selected"), "out": r["out"]} for r in s["restarts"]])
    print(json.dumps(line), flush=True)
    return 0
