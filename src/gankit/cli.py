"""The ``gankit`` command: a thin layer over the Python API; no maths here.

Every config field becomes a ``train`` flag (``--lr-d``), with its help text and type taken from
``config.Config``. User errors print one line and exit with status 2.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from dataclasses import fields
from pathlib import Path
from typing import Sequence

from gankit.config import PRESET_DESCRIPTIONS, PRESETS, Config, _kind, resolve_config
from gankit.engine.state import check_config
from gankit.errors import GankitError
from gankit.utils.disk import DISK_ERRNOS, error_code, write_failure
from gankit.version import __version__


#: Modules of gankit.commands that add a verb: each defines ``register(subparsers)``, which adds a
#: parser and sets ``handler`` (a function args -> exit status) with ``set_defaults``.
COMMANDS: list[str] = ["eval", "figures", "reproduce", "diagnose", "export", "runs", "report"]


#: What a Ctrl-C outside training says (files are written atomically: none is left half-written).
INTERRUPTED = "interrupted by Ctrl-C; files are written atomically, so none is half-written"


class _Parser(argparse.ArgumentParser):
    """argparse that reports a usage error as one line (and exit status 2), without the usage dump."""

    def error(self, message: str) -> None:  # type: ignore[override]
        raise GankitError(f"{message} (see `{self.prog} --help`)")


def _add_config_flags(p: argparse.ArgumentParser) -> None:
    for f in fields(Config):
        kind = _kind(f.name)
        metavar = {int: "INT", float: "FLOAT", tuple: "W1,W2,...", bool: "true|false"}.get(kind, "NAME")
        if f.name in ("data_dir", "runs_dir"):
            metavar = "DIR"
        bare = dict(nargs="?", const="true") if kind is bool else {}  # --d-spectral-norm alone: true
        p.add_argument(f"--{f.name.replace('_', '-')}", dest=f.name, default=None, metavar=metavar,
                       help=f"{f.metadata['help']} (default: {_default_text(f)})", **bare)
    p.add_argument("--lr", type=float, default=None, metavar="FLOAT",
                   help="set both --lr-d and --lr-g")


def _default_text(f) -> str:
    d = getattr(Config(), f.name)
    return ",".join(map(str, d)) if isinstance(d, tuple) else str(d)


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog="gankit", description="Generative Adversarial Nets (Goodfellow et al., "
                     "2014): train, sample, inspect.")
    parser.add_argument("--version", action="store_true", help="print gankit's version and exit")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND", parser_class=_Parser)

    t = sub.add_parser("train", help="train a GAN (default: the digits preset, no download)",
                       description="Train a GAN. Flags override --config, which overrides --preset.")
    t.add_argument("--config", metavar="FILE", help="TOML or YAML file with config.json's keys")
    t.add_argument("--dry-run", action="store_true", help="print the resolved config and exit")
    t.add_argument("--resume", metavar="RUN", nargs="+", help="continue a run folder (or one of "
                   "its checkpoints) exactly, in the same folder; --steps is its new total. "
                   "Several folders: resume them as one group (those of a --seeds/--sweep run)")
    t.add_argument("--seeds", metavar="LIST", help="train one member per seed as one group in "
                   "this process, each in its own run folder: 0-7, or 0,3,5")
    t.add_argument("--sweep", metavar="KEY=V1,V2", nargs="+", help="one member per value (every "
                   "combination, for each of --seeds) of scalar hyperparameters: lr, lr_g, lr_d, "
                   "momentum, momentum_final, adam_beta1, adam_beta2, label_smoothing, r1_gamma, "
                   "r2_gamma, instance_noise, g_ema")
    t.add_argument("--quiet", action="store_true", help="no progress bar")
    t.add_argument("--tensorboard", action="store_true", help="also write TensorBoard event files "
                   "into the run folder (the same as adding tensorboard to --loggers; needs "
                   "pip install \"gankit[tensorboard]\")")
    _add_config_flags(t)

    s = sub.add_parser("sample", help="draw samples from a trained run",
                       description="Write N samples of a run's generator to a .png grid or .npy array.")
    s.add_argument("run_dir", metavar="RUN_DIR", help="run folder (or one checkpoint file)")
    s.add_argument("--n", type=int, default=64, help="number of samples (default: 64)")
    s.add_argument("--seed", type=int, default=0, help="noise seed; same seed, same samples (default: 0)")
    s.add_argument("--out", metavar="FILE", help="output .png or .npy "
                   "(default: RUN_DIR/samples/sample-nN-seedS.png)")
    s.add_argument("--trust-code", action="store_true",
                   help="allow a TorchScript generator (from gankit export --format torchscript): "
                        "loading it runs the code it carries, so only for files you trust")

    t.set_defaults(handler=_train)
    s.set_defaults(handler=_sample)
    sub.add_parser("presets", help="list the named presets").set_defaults(handler=_presets)
    for module in COMMANDS:  # further verbs, each a module with register(subparsers)
        importlib.import_module(f"gankit.commands.{module}").register(sub)
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    parser = build_parser()
    try:
        args = parser.parse_args(argv)
        if args.version:
            print(f"gankit {__version__}")
            return 0
        if args.command is None:
            parser.print_help()
            return 0
        return args.handler(args)
    except GankitError as e:
        print(f"gankit: error: {e}", file=sys.stderr)
        return getattr(e, "exit_code", 2)
    except KeyboardInterrupt as e:  # a second Ctrl-C (engine.loop.Aborted says where), or one
        # outside training (loading data, drawing a figure): nothing to save
        print(f"gankit: error: {str(e) or INTERRUPTED}", file=sys.stderr)
        return 130
    except Exception as e:  # noqa: BLE001: the last resort for a full or read-only disk
        failure = write_failure(e) if error_code(e) in DISK_ERRNOS else None
        if failure is None:
            raise  # anything else is a bug: keep its traceback
        print(f"gankit: error: {failure}", file=sys.stderr)
        return 2


def _flag_overrides(args: argparse.Namespace) -> dict:
    """The config fields given explicitly on the command line."""
    overrides = {f.name: getattr(args, f.name) for f in fields(Config)
                 if getattr(args, f.name) is not None}
    if args.lr is not None:
        overrides.setdefault("lr_d", args.lr)
        overrides.setdefault("lr_g", args.lr)
    if getattr(args, "tensorboard", False):
        overrides["loggers"] = ",".join(filter(None, [overrides.get("loggers"), "tensorboard"]))
    return overrides


def _train(args: argparse.Namespace) -> int:
    from gankit.runs.train import train

    if (args.seeds or args.sweep or args.cuda_graph  # a graph replays the group's step
            or (args.resume and len(args.resume) > 1)):
        return _train_group(args)
    if args.resume:
        if args.config or args.dry_run:
            raise GankitError("--resume uses the config stored in the run's checkpoint; drop "
                              "--config/--dry-run (only --steps and bookkeeping flags may change)")
        run = train(resume=args.resume[0], progress=not args.quiet, **_flag_overrides(args))
    else:
        config = check_config(resolve_config(file=args.config, **_flag_overrides(args)))
        if args.dry_run:
            print(config.to_json())
            return 0
        run = train(config, progress=not args.quiet)
    if not getattr(run, "is_main", True):  # other ranks of a torchrun job print nothing
        return 130 if run.interrupted else 0
    print(f"trained {run.step} generator steps; samples in {run.path / 'samples'}, "
          f"curves in {run.path / 'curves.png'}")
    if run.interrupted:
        print(f"gankit: stopped by Ctrl-C at step {run.step}; checkpoint saved: {run.checkpoint}",
              file=sys.stderr)
    print(run.path)  # the last line: the run folder, for scripts
    return 130 if run.interrupted else 0


def _train_group(args: argparse.Namespace) -> int:
    """--seeds / --sweep (or --resume with several folders): many members as one group."""
    from gankit.runs.group import members, parse_seeds, parse_sweep, resume_many, train_many

    if args.resume:
        if args.seeds or args.sweep or args.config or args.dry_run:
            raise GankitError("--resume of a group uses the configs stored in its checkpoints; "
                              "drop --seeds/--sweep/--config/--dry-run")
        overrides = _flag_overrides(args)
        runs = resume_many(args.resume, progress=not args.quiet, overrides=overrides)
    else:
        base = resolve_config(file=args.config, **_flag_overrides(args))
        configs = members(base, parse_seeds(args.seeds) if args.seeds else None,
                          parse_sweep(args.sweep or []))
        if args.dry_run:
            print("[" + ",\n".join(c.to_json() for c in configs) + "]")
            return 0
        runs = train_many(configs, progress=not args.quiet)
    failed = [r for r in runs if getattr(r, "error", None) is not None]
    print(f"trained {len(runs) - len(failed)} of {len(runs)} members to step "
          f"{max(r.step for r in runs)}" + (f"; {len(failed)} diverged (see their report.md)"
                                           if failed else ""))
    for run in runs:
        print(run.path)
    if any(r.interrupted for r in runs):
        return 130
    return 1 if failed else 0


def _sample(args: argparse.Namespace) -> int:
    from gankit.runs.run import load_run

    run = load_run(args.run_dir, trust_code=args.trust_code)
    default_dir = run.path / "samples" if (run.path / "samples").is_dir() else Path.cwd()
    out = Path(args.out) if args.out else default_dir / f"sample-n{args.n}-seed{args.seed}.png"
    path = run.save_samples(out, args.n, args.seed)
    print(path)
    return 0


def _presets(args: argparse.Namespace) -> int:
    from gankit.presets import ALIASES, MODIFIERS, RECORDS

    evidence = {r.name: r.evidence for r in RECORDS}
    width = max(map(len, [*PRESETS, *ALIASES]))
    for name in PRESETS:
        print(f"{name:<{width}}  {PRESET_DESCRIPTIONS[name]} [{evidence[name]}]")
    print("\nmodifiers, applied left to right (e.g. --preset paper-mnist+ema+smooth-labels):")
    for m in MODIFIERS:
        print(f"{m.name:<{width}}  {m.description} [{m.evidence}]")
    print("\naliases (old names, still accepted):")
    for name, expression in ALIASES.items():
        print(f"{name:<{width}}  = {expression}")
    return 0
