"""``gankit export``: a run's generator as a standalone file (safetensors, TorchScript or ONNX).

    gankit export RUN_DIR --out G.safetensors                 # then: gankit sample G.safetensors
    gankit export RUN_DIR --format torchscript --out G.pt     # for PyTorch without gankit
    gankit export RUN_DIR --format onnx --out G.onnx          # needs: pip install onnx onnxscript

No maths here: :mod:`gankit.runs.export` does the work.
"""

from __future__ import annotations

import argparse


def register(subparsers) -> None:
    from gankit.runs.export import FORMATS, ONNX_INSTALL_HINT

    p = subparsers.add_parser(
        "export", help="write a run's generator as a standalone TorchScript or ONNX file",
        description="Export the generator of a run (its newest good checkpoint, in eval mode) as a "
                    "file that maps noise z [N, z_dim] to samples [N, C, H, W] in [0, 1] without "
                    "gankit. z_dim, z_dist, the sample shape and the run's config travel inside "
                    "it. `gankit sample FILE` accepts the safetensors file (data only); a "
                    "TorchScript file carries code, so it needs `gankit sample --trust-code`. "
                    "ONNX needs: "
                    + ONNX_INSTALL_HINT + ".")
    p.add_argument("run_dir", metavar="RUN_DIR", help="run folder (or one checkpoint file)")
    p.add_argument("--format", choices=FORMATS, default="torchscript",
                   help="safetensors (weights + JSON: gankit samples it, nothing in it runs), "
                        "torchscript (default: for PyTorch without gankit) or onnx")
    p.add_argument("--out", metavar="FILE", help="output file (default: RUN_DIR/generator.pt for "
                   "torchscript, RUN_DIR/generator.onnx for onnx)")
    p.set_defaults(handler=run_export)


def run_export(args: argparse.Namespace) -> int:
    from pathlib import Path

    from gankit.runs.export import export_generator

    out = args.out
    if out is None:
        run_dir = Path(args.run_dir)
        folder = run_dir if run_dir.is_dir() else run_dir.parent.parent  # checkpoints/step-N
        out = folder / {"torchscript": "generator.pt", "onnx": "generator.onnx",
                        "safetensors": "generator.safetensors"}[args.format]
    print(export_generator(args.run_dir, out, args.format))
    return 0
