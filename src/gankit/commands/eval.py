"""``gankit eval``: score a run, or a sample file, with registered metrics; one JSON line each.

    gankit eval RUN_DIR --metric parzen               # appends to RUN_DIR/metrics.jsonl
    gankit eval --metric parzen --samples x.npy [--data-dir DIR]   # any tool's MNIST samples

No maths here: :mod:`gankit.metrics` does the work.
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np

from gankit.errors import GankitError
from gankit.commands.arguments import positive_int
from gankit.utils.limits import load_npy
from gankit.utils.jsonl import to_json


def register(subparsers) -> None:
    from gankit.metrics import METRICS

    p = subparsers.add_parser(
        "eval", help="score a run or a sample file (Parzen log-likelihood, Table 1)",
        description="Score a run's generator (samples drawn in eval mode) or a .npy file of samples "
                    "with one or more metrics. Prints one JSON line per metric; for a run, also "
                    "appends it to RUN_DIR/metrics.jsonl. Metrics: " +
                    "; ".join(f"{m.name}: {m.summary}" for m in METRICS.values()))
    p.add_argument("run_dir", nargs="?", metavar="RUN_DIR",
                   help="run folder (its newest checkpoint) or one checkpoint file")
    p.add_argument("--metric", action="append", dest="metrics", metavar="NAME",
                   help=f"metric to compute, repeatable; one of: {', '.join(METRICS)} "
                        f"(default: parzen)")
    p.add_argument("--samples", metavar="FILE.npy",
                   help="score this array instead of a run: MNIST-shaped samples (N, 784) or "
                        "(N, 1, 28, 28), floats in [0, 1]; or points (N, 2) with --dataset "
                        "ring8/grid25")
    p.add_argument("--dataset", metavar="NAME", default="mnist",
                   help="what a --samples file holds samples of (default: mnist; e.g. grid25 "
                        "with --metric toy_modes)")
    p.add_argument("--data-dir", metavar="DIR",
                   help="folder with the dataset files (MNIST IDX); default: the run's, or the cache")
    p.add_argument("--seed", type=int, default=0,
                   help="noise seed for the samples drawn from G (default: 0)")
    p.add_argument("--n-samples", type=int, default=None, metavar="N",
                   help="parzen: samples drawn from G (default: the paper's 10000)")
    p.add_argument("--no-reference", action="store_true",
                   help="parzen: skip the real-data reference (cached after its first computation)")
    p.add_argument("--threads", type=positive_int, default=None, metavar="T",
                   help="CPU threads for torch (default: torch's, one per core); on a shared "
                        "machine, 1 keeps a training run beside it at full speed")
    p.set_defaults(handler=run_eval)


def run_eval(args: argparse.Namespace) -> int:
    from gankit.metrics import check_metric_names, evaluate

    names = check_metric_names(args.metrics or ["parzen"])
    if args.threads is not None:
        import torch

        torch.set_num_threads(args.threads)
    if (args.run_dir is None) == (args.samples is None):
        raise GankitError("give either RUN_DIR or --samples FILE.npy (exactly one)")
    if args.n_samples is not None and args.n_samples < 1:
        raise GankitError(f"--n-samples must be at least 1 (got {args.n_samples})")
    parzen_opts = {"reference": not args.no_reference}
    if args.n_samples is not None:
        if args.samples is not None:
            raise GankitError("--n-samples applies to a run; a sample file is scored on all its rows")
        parzen_opts["n_samples"] = args.n_samples
    options = {"parzen": parzen_opts} if "parzen" in names else {}
    if args.samples is not None:
        from gankit.data import DATASETS

        if args.dataset not in DATASETS:
            raise GankitError(f"unknown dataset '{args.dataset}'; choose from "
                              f"{', '.join(DATASETS)}")
        mnist_shaped = args.dataset == "mnist"
        x = load_samples(args.samples, mnist_shaped)
        rows = evaluate(x, names, seed=args.seed, dataset=args.dataset, data_dir=args.data_dir,
                        source=str(args.samples), options=options)
    else:
        from gankit.runs.run import load_run

        run = load_run(args.run_dir)
        rows = evaluate(run, names, seed=args.seed, data_dir=args.data_dir, options=options)
    for row in rows:
        print(to_json(row), flush=True)
    return 0


#: The largest sample array read (10,000 MNIST samples in float64 are 63 MB).
MAX_SAMPLE_BYTES = 2_000_000_000
#: Shapes of a sample file: flat MNIST vectors or MNIST images.
_SHAPES = ("(N, 784)", "(N, 1, 28, 28)")


def load_samples(path: str | Path, mnist_shaped: bool = True) -> np.ndarray:
    """Read a .npy sample file safely (never unpickles) and check its shape (MNIST's, or at least
    (N, D) for other datasets, whose exact shape evaluate() checks): a GankitError if wrong."""
    path = Path(path)
    if not path.is_file():
        raise GankitError(f"sample file {path} does not exist")
    try:
        with open(path, "rb") as f:
            magic = f.read(6)
    except OSError as e:
        raise GankitError(f"cannot read {path} ({e.strerror or e})") from None
    if magic[:4] == b"PK\x03\x04":  # a zip file: numpy.savez
        raise GankitError(f"{path} is an .npz archive; save one array with numpy.save(FILE.npy, x)")
    if magic != b"\x93NUMPY":
        raise GankitError(f"{path} is not a .npy file (no NumPy header); save the samples with "
                          f"numpy.save")
    # header first: shape x item size (Python ints) must match the file and a limit before NumPy
    # allocates anything (a 128-byte file may declare (2^40, 784)); never unpickles
    x = load_npy(path, MAX_SAMPLE_BYTES, "save the samples with numpy.save")
    if not mnist_shaped:
        if x.ndim < 2:
            raise GankitError(f"{path} holds an array of shape {x.shape}; expected (N, ...) samples")
    elif not (x.ndim == 2 and x.shape[1] == 784 or x.ndim == 4 and x.shape[1:] == (1, 28, 28)):
        raise GankitError(f"{path} holds an array of shape {x.shape}; expected MNIST samples "
                          f"{' or '.join(_SHAPES)}")
    if x.shape[0] == 0:
        raise GankitError(f"{path} holds no samples (shape {x.shape})")
    return x
