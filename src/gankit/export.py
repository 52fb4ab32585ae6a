"""Take the generator away: a standalone file mapping z ``[N, z_dim]`` to samples, without gankit.

Two formats:

- ``torchscript``: ``torch.jit.load(FILE)(z)`` in any PyTorch (C++ included). The file carries
  ``extra/gankit_generator.json`` (z_dim, z_dist, sample shape, step, the run's config); read it
  with ``torch.jit.load(FILE, _extra_files={"gankit_generator.json": ""})``. ``gankit sample FILE``
  works on it like on a run folder.
- ``onnx``: for onnxruntime and other runtimes; the same JSON is in the model's metadata_props
  (key ``gankit_generator``). Needs the optional packages ``onnx`` and ``onnxscript``.

G is exported in eval mode (BatchNorm uses its running statistics), exactly as ``gankit sample``
runs it, so the exported file and the checkpoint give the same samples for the same z.
"""

from __future__ import annotations

import json
import logging
import os
import warnings
import zipfile
from pathlib import Path
from typing import Any

import torch

from .errors import CheckpointError, GankitError

FORMATS = ("torchscript", "onnx")
#: Name of the JSON file inside a TorchScript archive (``<archive>/extra/<MARKER>``) and key of the
#: ONNX metadata entry. Its presence is what makes `gankit sample` accept a TorchScript file.
MARKER = "gankit_generator.json"
FORMAT_TAG = "gankit-generator-1"
ONNX_INSTALL_HINT = "pip install onnx onnxscript (and onnxruntime to run the file)"


def export_generator(run_path: str | Path, out: str | Path, format: str = "torchscript") -> Path:
    """Write the generator of a run folder (its newest good checkpoint) or checkpoint to ``out``."""
    from .run import load_run

    if format not in FORMATS:
        raise GankitError(f"unknown export format '{format}'; choose one of: {', '.join(FORMATS)}")
    out = Path(out)
    if not out.parent.is_dir():
        raise GankitError(f"folder {out.parent} does not exist; create it or choose another --out")
    if is_exported_generator(run_path):
        raise GankitError(f"{run_path} is already an exported generator; pass the run folder")
    if format == "onnx":
        _require_onnx()
    run = load_run(run_path)
    G = run.G.eval()
    z = torch.zeros(2, run.config.z_dim)  # example input: only its shape matters to the trace
    meta = generator_metadata(run)
    tmp = out.with_name(f".{out.name}.tmp-{os.getpid()}")
    try:
        if format == "torchscript":
            _export_torchscript(G, z, meta, tmp)
        else:
            _export_onnx(G, z, meta, tmp)
        os.replace(tmp, out)
    finally:
        tmp.unlink(missing_ok=True)
    return out


def generator_metadata(run) -> dict[str, Any]:
    from . import __version__

    shape = list(run.sample(1).shape[1:])
    return {"format": FORMAT_TAG, "z_dim": run.config.z_dim, "z_dist": run.config.z_dist,
            "sample_shape": shape, "step": run.step, "source": str(run.checkpoint or run.path),
            "config": run.config.to_dict(), "gankit_version": __version__,
            "input": "z: float32 [N, z_dim]; z_dist 'uniform' is U(-sqrt 3, sqrt 3), 'normal' N(0, 1)",
            "output": "float32 [N, *sample_shape]; images in [0, 1]"}


def _export_torchscript(G: torch.nn.Module, z: torch.Tensor, meta: dict, path: Path) -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # torch.jit is deprecated, still works
        # Tracing records the ops G ran on z; the batch size stays free (view uses z.shape[0]).
        traced = torch.jit.trace(G, z, check_inputs=[(torch.randn(3, z.shape[1]),)],
                                 _store_inputs=False)
        torch.jit.save(traced, str(path), _extra_files={MARKER: json.dumps(meta)})


def _export_onnx(G: torch.nn.Module, z: torch.Tensor, meta: dict, path: Path) -> None:
    import onnx

    logger = logging.getLogger("torch.onnx")  # e.g. "torchvision is not installed" notices
    level = logger.level
    logger.setLevel(logging.ERROR)
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            batch = torch.export.Dim("batch", min=1)  # any number of z vectors
            program = torch.onnx.export(G, (z,), input_names=["z"], output_names=["x"],
                                        dynamo=True, dynamic_shapes=({0: batch},),
                                        external_data=False, verbose=False)
    finally:
        logger.setLevel(level)
    model = program.model_proto
    entry = model.metadata_props.add()
    entry.key, entry.value = MARKER.removesuffix(".json"), json.dumps(meta)
    onnx.save(model, str(path))


def _require_onnx() -> None:
    try:
        import onnx  # noqa: F401
        import onnxscript  # noqa: F401  (torch.onnx's exporter needs it)
    except ImportError as e:
        raise GankitError(f"--format onnx needs the optional package '{e.name}': "
                          f"{ONNX_INSTALL_HINT}") from None


# --- reading an exported TorchScript file back (gankit sample FILE) ----------------------------------

def is_exported_generator(path: str | Path) -> bool:
    """True for a TorchScript archive written by :func:`export_generator` (has the marker)."""
    path = Path(path)
    if not path.is_file() or path.suffix == ".safetensors" or not zipfile.is_zipfile(path):
        return False
    try:
        with zipfile.ZipFile(path) as z:
            return any(n.endswith(f"/extra/{MARKER}") for n in z.namelist())
    except (zipfile.BadZipFile, OSError):
        return False


def read_generator_metadata(path: str | Path) -> dict[str, Any]:
    """The JSON an exported TorchScript file carries, without loading its module."""
    path = Path(path)
    try:
        with zipfile.ZipFile(path) as z:
            name = next(n for n in z.namelist() if n.endswith(f"/extra/{MARKER}"))
            meta = json.loads(z.read(name))
    except (StopIteration, zipfile.BadZipFile, OSError, json.JSONDecodeError, KeyError):
        raise CheckpointError(f"{path} is not a generator exported by `gankit export`") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT_TAG:
        raise CheckpointError(f"{path} carries an unknown generator format "
                              f"({meta.get('format') if isinstance(meta, dict) else meta!r}); "
                              f"expected {FORMAT_TAG}")
    return meta


def load_exported(path: str | Path):
    """A :class:`gankit.run.Run` around an exported TorchScript generator (for sample and eval).

    Safety: gankit never unpickles checkpoints. A TorchScript archive is different from a pickled
    module: torch.jit.load compiles its code with the TorchScript compiler (which can only call
    torch operators, not arbitrary Python) and reads its data.pkl with a restricted unpickler that
    rebuilds only tensors and TorchScript types. To stay conservative, only archives carrying
    gankit's marker (written by `gankit export`) are loaded; any other .pt/.pth file is refused.
    The marker is not a signature: load exported files only from sources you trust.
    """
    from .config import config_from_dict
    from .run import Run

    path = Path(path)
    meta = read_generator_metadata(path)
    config = config_from_dict(meta["config"])
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            G = torch.jit.load(str(path), map_location="cpu")
    except (RuntimeError, OSError) as e:
        raise CheckpointError(f"cannot load exported generator {path} "
                              f"({str(e).strip().splitlines()[0] if str(e).strip() else e})") from None
    G.eval()
    return Run(path.parent, config, G, int(meta.get("step", 0)), checkpoint=path)
