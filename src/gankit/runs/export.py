"""Take the generator away: a standalone file mapping z ``[N, z_dim]`` to samples, without gankit.

Three formats:

- ``safetensors``: G's weights (safetensors) and the run's config, sample shape and step (JSON in the
  header, under the checksum): data only, rebuilt by gankit's own code. ``gankit sample FILE`` and
  ``gankit eval FILE`` take it like a run folder; nothing in it can run.
- ``torchscript``: ``torch.jit.load(FILE)(z)`` in any PyTorch (C++ included). The file carries
  ``extra/gankit_generator.json`` (z_dim, z_dist, sample shape, step, the run's config); read it
  with ``torch.jit.load(FILE, _extra_files={"gankit_generator.json": ""})``. Loading a TorchScript
  file runs the code it carries, so ``gankit sample`` refuses it unless given ``--trust-code``.
- ``onnx``: for onnxruntime and other runtimes; the same JSON is in the model's metadata_props
  (key ``gankit_generator``). Needs the optional packages ``onnx`` and ``onnxscript``.

G is exported in eval mode (BatchNorm uses its running statistics), exactly as ``gankit sample``
runs it, so the exported file and the checkpoint give the same samples for the same z.
"""

from __future__ import annotations

import io
import json
import logging
import warnings
from pathlib import Path
from typing import Any

import torch

from gankit.errors import GankitError
from gankit.runs.exported import FORMAT_TAG, MARKER, is_exported_generator
from gankit.runs.checkpoint import save_checkpoint
from gankit.runs.run import load_run, newest_good_checkpoint
from gankit.utils.atomic import atomic_path
from gankit.utils.disk import writing
from gankit.version import __version__

FORMATS = ("safetensors", "torchscript", "onnx")
ONNX_INSTALL_HINT = "pip install onnx onnxscript (and onnxruntime to run the file)"


def export_generator(run_path: str | Path, out: str | Path, format: str = "torchscript") -> Path:
    """Write the generator of a run folder (its newest good checkpoint) or checkpoint to ``out``."""
    if format not in FORMATS:
        raise GankitError(f"unknown export format '{format}'; choose one of: {', '.join(FORMATS)}")
    out = Path(out)
    if not out.parent.is_dir():
        raise GankitError(f"folder {out.parent} does not exist; create it or choose another --out")
    if is_exported_generator(run_path):
        raise GankitError(f"{run_path} is already an exported generator; pass the run folder")
    if format == "onnx":
        _require_onnx()
    if format == "safetensors":
        return _export_safetensors(run_path, out)
    run = load_run(run_path)
    G = run.G.eval()
    z = torch.zeros(2, run.config.z_dim)  # example input: only its shape matters to the trace
    meta = generator_metadata(run)
    with writing(out), atomic_path(out) as tmp:  # a full or read-only disk: one line
        if format == "torchscript":
            _export_torchscript(G, z, meta, tmp)
        else:
            _export_onnx(G, z, meta, tmp)
    return out


def _export_safetensors(run_path: str | Path, out: Path) -> Path:
    """G alone as a checkpoint: the weights gankit samples from (the weight average if the run
    kept one) under ``G.``, and the metadata :func:`gankit.runs.run.load_run` needs."""
    _, tensors, meta = newest_good_checkpoint(run_path)
    source = "G_ema" if any(k.startswith("G_ema.") for k in tensors) else "G"
    weights = {"G." + k[len(source) + 1:]: v for k, v in tensors.items()
               if k.startswith(source + ".")}
    keep = {k: meta[k] for k in ("config", "step", "sample_shape", "unit_range") if k in meta}
    with writing(out):  # a full or read-only disk: one line naming the file
        save_checkpoint(out, weights, {**keep, "format": FORMAT_TAG, "gankit_version": __version__})
    return out


def generator_metadata(run) -> dict[str, Any]:
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
        # Into memory, then one Python write: torch.jit.save to a full disk aborts the process
        # (a C++ abort, no exception), a Python write raises an OSError that is one line.
        buffer = io.BytesIO()
        torch.jit.save(traced, buffer, _extra_files={MARKER: json.dumps(meta)})
    path.write_bytes(buffer.getvalue())


def _export_onnx(G: torch.nn.Module, z: torch.Tensor, meta: dict, path: Path) -> None:
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
    path.write_bytes(model.SerializeToString())  # onnx.save's bytes, written by Python (above)


def _require_onnx() -> None:
    try:
        import onnx  # noqa: F401
        import onnxscript  # noqa: F401  (torch.onnx's exporter needs it)
    except ImportError as e:
        raise GankitError(f"--format onnx needs the optional package '{e.name}': "
                          f"{ONNX_INSTALL_HINT}") from None
