"""`gankit figure1` and `gankit figure dirac|toy2d`: the paper's theory, drawn from real runs.

Each verb's last stdout line is one JSON object (its numbers and the files written), for scripts.
"""

from __future__ import annotations

import argparse
import json

from gankit.errors import GankitError


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def register(subparsers) -> None:
    """Add the ``figure1`` and ``figure`` verbs."""
    from gankit.experiments.figure1 import DATA_1D, DEFAULT_STEPS
    from gankit.experiments.toy2d import TOY2D

    f1 = subparsers.add_parser(
        "figure1", help="the paper's Figure 1 from a real 1-D run, with D* and C(G) checked",
        description="Train a small 1-D GAN (z uniform, Algorithm 1) and draw the paper's Figure 1 "
                    "(four panels), an animation, and V / C(G) / -log 4 + 2 JSD over training.")
    steps_default = ", ".join(f"{k} {v}" for k, v in DEFAULT_STEPS.items())
    f1.add_argument("--data", choices=sorted(DATA_1D), default="gauss",
                    help="p_data: gauss (N(2, 0.5^2)) or mixture (two Gaussians) (default: gauss)")
    f1.add_argument("--steps", type=_positive, default=None,
                    help=f"generator steps (default: {steps_default})")
    f1.add_argument("--g-input", choices=("logit", "z"), default="logit",
                    help="G's first layer: logit (fixed, parameter-free z -> logit of z's CDF, so p_g "
                         "can have tails) or z (the MLP sees z itself) (default: logit)")
    f1.add_argument("--out", metavar="DIR", default=None,
                    help="output folder (default: runs/figure1-DATA)")
    f1.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    f1.set_defaults(handler=_figure1)

    f = subparsers.add_parser("figure", help="theory figures: dirac (non-convergence), toy2d",
                              description="dirac: the Dirac-GAN under simultaneous, alternating and "
                                          "R1-penalised updates. toy2d: a real run on ring8/grid25.")
    f.add_argument("kind", choices=("dirac", "toy2d"), help="which figure")
    f.add_argument("--data", choices=sorted(TOY2D), default=None,
                   help="toy2d only: ring8 or grid25 (default: ring8)")
    f.add_argument("--steps", type=_positive, default=None,
                   help="dirac: update steps (default: 300); toy2d: generator steps (default: 3000)")
    f.add_argument("--out", metavar="DIR", default=None, help="output folder (default: runs/figure-KIND)")
    f.add_argument("--seed", type=int, default=0, help="toy2d: random seed (default: 0)")
    f.set_defaults(handler=_figure)


def _log(line: str) -> None:
    print(line, flush=True)


def _figure1(args: argparse.Namespace) -> int:
    from gankit.experiments.figure1 import figure1

    out = args.out or f"runs/figure1-{args.data}"
    summary = figure1(args.data, args.steps, out, args.seed, log=_log, g_input=args.g_input)
    print(json.dumps(summary))
    return 0


def _figure(args: argparse.Namespace) -> int:
    out = args.out or f"runs/figure-{args.kind}"
    if args.kind == "dirac":
        if args.data is not None:
            raise GankitError("--data is for `gankit figure toy2d`; the Dirac-GAN's p_data is δ_0")
        from gankit.figures.dirac import figure_dirac

        summary = figure_dirac(out, steps=args.steps or 300)
    else:
        from gankit.experiments.toy2d import figure_toy2d

        summary = figure_toy2d(args.data or "ring8", args.steps or 3000, out, args.seed, log=_log)
    print(json.dumps(summary))
    return 0
