"""`gankit figure1` and `gankit figure dirac|toy2d`: the paper's theory, drawn from real runs.

figure1 and toy2d train a preset through the one engine and leave its run folder beside their
pictures, in ``figures/`` by default (``--out``): apart from ``runs/``, whose numbered folders are
gankit train's. Each verb's last stdout line is one JSON object (its numbers, the files written and, for
the trained figures, ``run_dir``), for scripts.
"""

from __future__ import annotations

import argparse
import inspect

from gankit.commands.arguments import positive_int
from gankit.errors import GankitError
from gankit.utils.jsonl import to_json

#: Where the figures go by default: not inside runs/, which holds gankit train's numbered run folders.
FIGURES_DIR = "figures"


def register(subparsers) -> None:
    """Add the ``figure1`` and ``figure`` verbs."""
    from gankit.experiments.figure1 import DATA_1D
    from gankit.experiments.toy2d import TOY2D
    from gankit.figures.dirac import figure_dirac

    f1 = subparsers.add_parser(
        "figure1", help="the paper's Figure 1 from a real 1-D run, with D* and C(G) checked",
        description="Train a small 1-D GAN (z uniform, Algorithm 1; the figure1-gauss or "
                    "figure1-mixture preset) and draw the paper's Figure 1 (four panels), an "
                    "animation, and V / C(G) / -log 4 + 2 JSD over training. The run folder is "
                    "left in OUT/runs.")
    presets = ", ".join(f"{name}: {d.preset}" for name, d in DATA_1D.items())
    f1.add_argument("--data", choices=sorted(DATA_1D), default="gauss",
                    help=f"p_data: gauss (N(2, 0.5^2)) or mixture (two Gaussians), trained with "
                         f"the preset ({presets}) (default: gauss)")
    f1.add_argument("--steps", type=positive_int, default=None,
                    help="generator steps (default: the preset's)")
    f1.add_argument("--g-input", choices=("logit", "z"), default=None,
                    help="G's first layer: logit (fixed, parameter-free z -> logit of z's CDF, so p_g "
                         "can have tails) or z (the MLP sees z itself) (default: the preset's)")
    f1.add_argument("--out", metavar="DIR", default=None,
                    help="output folder; the run folder goes in OUT/runs (default: figures/figure1-DATA, "
                         "apart from gankit train's numbered runs/)")
    f1.add_argument("--seed", type=int, default=0, help="random seed (default: 0)")
    f1.set_defaults(handler=_figure1)

    dirac_steps = inspect.signature(figure_dirac).parameters["steps"].default
    f = subparsers.add_parser("figure", help="theory figures: dirac (non-convergence), toy2d",
                              description="dirac: the Dirac-GAN under simultaneous, alternating and "
                                          "R1-penalised updates. toy2d: a real run of the ring8 or "
                                          "grid25 preset (its run folder is left in OUT/runs).")
    f.add_argument("kind", choices=("dirac", "toy2d"), help="which figure")
    f.add_argument("--data", choices=sorted(TOY2D), default=None,
                   help="toy2d only: the preset ring8 or grid25 (default: ring8)")
    f.add_argument("--steps", type=positive_int, default=None,
                   help=f"dirac: update steps (default: {dirac_steps}); toy2d: generator steps "
                        f"(default: the preset's)")
    f.add_argument("--out", metavar="DIR", default=None,
                   help="output folder; toy2d's run folder goes in OUT/runs (default: figures/figure-KIND, "
                        "apart from gankit train's numbered runs/)")
    f.add_argument("--seed", type=int, default=0, help="toy2d: random seed (default: 0)")
    f.set_defaults(handler=_figure)


def _log(line: str) -> None:
    print(line, flush=True)


def _figure1(args: argparse.Namespace) -> int:
    from gankit.experiments.figure1 import figure1

    out = args.out or f"{FIGURES_DIR}/figure1-{args.data}"
    summary = figure1(args.data, args.steps, out, args.seed, log=_log, g_input=args.g_input)
    print(to_json(summary))
    return 0


def _figure(args: argparse.Namespace) -> int:
    out = args.out or f"{FIGURES_DIR}/figure-{args.kind}"
    if args.kind == "dirac":
        if args.data is not None:
            raise GankitError("--data is for `gankit figure toy2d`; the Dirac-GAN's p_data is δ_0")
        from gankit.figures.dirac import figure_dirac

        summary = figure_dirac(out, **({"steps": args.steps} if args.steps else {}))
    else:
        from gankit.experiments.toy2d import figure_toy2d

        summary = figure_toy2d(args.data or "ring8", args.steps, out, args.seed, log=_log)
    print(to_json(summary))
    return 0
