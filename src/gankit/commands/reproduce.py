"""``gankit reproduce mnist``: the paper's Table 1 row, its training curve and Figures 2 and 3.

    gankit reproduce mnist                                  # Table 1 on this machine, 60 minutes
    gankit reproduce mnist --data-dir ~/data/mnist  # your IDX files instead of downloading
    gankit reproduce mnist --preset paper-mnist             # the paper's exact recipe

No logic here: :mod:`gankit.experiments.reproduce` does the work, and its ``DEFAULTS`` are the
flags' defaults. The last stdout line is one JSON object (the final and best Parzen LL, the
evaluation selected on validation, when the curve passed 200 and 225, the paper's number and the
results folder), for scripts.
"""

from __future__ import annotations

import argparse

from gankit.commands.arguments import positive_int, positive_minutes
from gankit.constants import TABLE1_MNIST
from gankit.errors import GankitError
from gankit.experiments.reproduce import DEFAULTS, default_restarts, reproduce
from gankit.utils.jsonl import to_json


def register(subparsers) -> None:
    """Add the ``reproduce`` verb."""
    d = DEFAULTS
    p = subparsers.add_parser(
        "reproduce", help="reproduce the paper's MNIST Table 1 row, curve and Figures 2 and 3",
        description=f"Train a preset (default: {d.preset}, the recipe that reaches Table 1's "
                    f"{TABLE1_MNIST[0]:g}) on MNIST, scoring it with the paper's Parzen-window "
                    "protocol every --eval-every-steps steps, stop at the time budget, and write a "
                    "results folder: results.md/.html (beside the paper's Table 1, with sigma, N "
                    "and the real-data reference), parzen_curve.png (LL against epochs and "
                    "minutes), figure2.png and figure3.png (of the checkpoint with the best "
                    "validation score, kept as checkpoints/selected.safetensors) and "
                    "environment.json. Several seeds train side by side (--restarts) and the one "
                    "best on validation is kept (each restart's folder under restarts/). "
                    f"Precision: bf16 for {d.preset} where the hardware multiplies bf16 natively "
                    "(the recipe was measured so), else fp32; other presets keep their own "
                    "(paper-mnist: fp32, as in the paper); --set precision=... overrides; the log "
                    "and environment.json say which.")
    p.add_argument("dataset", choices=(d.dataset,), help="the experiment (mnist: Table 1's MNIST column)")
    p.add_argument("--budget-minutes", type=positive_minutes, default=d.budget_minutes, metavar="M",
                   help="training time budget in minutes, Parzen evaluations excluded; training "
                        "stops at the last evaluation before it, however many steps that is "
                        f"(--set steps=N caps it) (default: {d.budget_minutes:g})")
    p.add_argument("--budget-clock", choices=("wall", "cpu"), default=d.budget_clock,
                   help="what the budget counts: wall (training wall time) or cpu (this process's "
                        f"CPU time, fair on a shared machine) (default: {d.budget_clock})")
    p.add_argument("--data-dir", metavar="DIR", default=None,
                   help="folder with the MNIST IDX files (default: download into the cache)")
    p.add_argument("--out", metavar="DIR", default=None,
                   help="results folder (default: results/NNNNN-reproduce-PRESET)")
    p.add_argument("--preset", default=d.preset, metavar="NAME",
                   help=f"MNIST preset to train (default: {d.preset}; paper-mnist: the paper's "
                        "exact recipe; see `gankit presets`)")
    p.add_argument("--eval-every-steps", type=positive_int, default=d.eval_every_steps, metavar="N",
                   help="Parzen evaluation (and snapshot) every N generator steps (default: "
                        f"{d.eval_every_steps})")
    p.add_argument("--seed", type=int, default=d.seed,
                   help=f"training, sampling and figure seed (default: {d.seed})")
    p.add_argument("--threads", type=positive_int, default=None, metavar="T",
                   help="CPU threads for torch, per restart (default: with the default restarts, "
                        f"{d.restart_threads}; with --restarts N, the cores shared out N ways; "
                        "with --restarts 1, the preset's, else automatic)")
    p.add_argument("--restarts", type=positive_int, default=None, metavar="N",
                   help="train N seeds (--seed, --seed+1, ...) side by side within the same budget "
                        "and keep the one whose selected checkpoint scores best on validation; "
                        "the test set chooses nothing (default: one per core, at most "
                        f"{d.max_restarts}: {default_restarts()} here)")
    p.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", dest="overrides",
                   help="change one config field of the preset, repeatable (e.g. --set "
                        "precision=fp32 --set g_ema=0.9999); recorded in the run's config.json")
    p.add_argument("--resume", metavar="DIR", default=None,
                   help="continue an interrupted reproduce (killed, or stopped by Ctrl-C) in its "
                        "results folder DIR, with the settings DIR/reproduce.json recorded: "
                        "finished restarts are kept, the others resume from their newest "
                        "checkpoints; the other flags must not be given")
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


#: Flags whose values a resumed reproduce takes from its reproduce.json instead.
_RECORDED = ("budget_minutes", "budget_clock", "data_dir", "out", "preset", "eval_every_steps",
             "seed", "threads", "restarts")


def run_reproduce(args: argparse.Namespace) -> int:
    if args.resume is not None:
        given = [f"--{k.replace('_', '-')}" for k in _RECORDED
                 if getattr(args, k) != getattr(DEFAULTS, k, None)] + (["--set"] if args.overrides else [])
        if given:
            raise GankitError(f"--resume continues with the settings the results folder recorded; "
                              f"drop {', '.join(given)}")
        result = reproduce(args.dataset, resume=args.resume, progress=not args.quiet)
    else:
        result = reproduce(args.dataset, out=args.out, budget_minutes=args.budget_minutes,
                           data_dir=args.data_dir, preset=args.preset,
                           eval_every_steps=args.eval_every_steps, seed=args.seed,
                           threads=args.threads, budget_clock=args.budget_clock,
                           overrides=_overrides(args.overrides), progress=not args.quiet,
                           restarts=args.restarts)
    s = result.summary
    if not result.points:  # pragma: no cover - reproduce raises first
        raise GankitError("no evaluation was made")
    paper_mean, paper_se = TABLE1_MNIST
    line = {"final": s["final"], "best": s["best"], "selected": s["selected"], "passed": s["passed"],
            "reference": s["reference"], "paper": {"ll_mean": float(paper_mean), "ll_se": float(paper_se)},
            "precision": s.get("precision"), "out": str(result.out)}
    if "restarts" in s:
        line.update(chosen_seed=s["chosen_seed"], restarts=[
            {"seed": r["seed"], "selected": r.get("selected"), "out": r["out"]} for r in s["restarts"]])
    print(to_json(line), flush=True)
    return 0
