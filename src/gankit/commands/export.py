"""``gankit export``: a run's generator as a standalone TorchScript or ONNX file.

    gankit export RUN_DIR --format torchscript --out G.pt     # then: gankit sample G.pt --out x.png
    gankit export RUN_DIR --format onnx --out G.onnx          # needs: pip install onnx onnxscript

No maths here: :mod:`gankit.export` does the work.
"""

from __future__ import annotations

import argparse


def register(subparsers) -> None:
    from ..export import FORMATS, ONNX_INSTALL_HINT

    p = subparsers.add_parser(
        "export", help="write a run's generator as a standalone TorchScript or ONNX file",
        description="Export the generator of a run (its newest good checkpoint, in eval mode) as a "
                    "file that maps noise z [N, z_dim] to samples [N, C, H, W] in [0, 1] without "
                    "gankit. z_dim, z_dist, the sample shape and the run's config travel inside "
                    "it. `gankit sample FILE` accepts the TorchScript file. ONNX needs: "
                    + ONNX_INSTALL_HINT + ".")
    p.add_argument("run_dir", metavar="RUN_DIR", help="run folder (or one checkpoint file)")
    p.add_argument("--format", choices=FORMATS, default="torchscript",
                   help="torchscript (default) or onnx")
    p.add_argument("--out", metavar="FILE", help="output file (default: RUN_DIR/generator.pt for "
                   "torchscript, RUN_DIR/generator.onnx for onnx)")
    p.set_defaults(handler=run_export)


def run_export(args: argparse.Namespace) -> int:
    from pathlib import Path

    from ..export import export_generator

    out = args.out
    if out is None:
        run_dir = Path(args.run_dir)
        folder = run_dir if run_dir.is_dir() else run_dir.parent.parent  # checkpoints/step-N
        out = folder / ("generator.pt" if args.format == "torchscript" else "generator.onnx")
    print(export_generator(args.run_dir, out, args.format))
    return 0
