"""Checkpoints as data: tensors in safetensors, everything else as JSON in its header; and the
capture and restore of a run's whole :class:`~gankit.engine.state.TrainingState` (exact resume).

Never a pickle: loading a checkpoint cannot run code. Writes are atomic (temporary file, flush,
fsync, rename), and a SHA-256 of the JSON header (config, counters, optimiser settings) and of all
tensors (names, dtypes, shapes, bytes) is stored with the file, so that a truncated or bit-flipped
checkpoint is detected on load rather than silently used. The checksum detects damage, not
intent (anyone can recompute it): everything read from a checkpoint is also checked
(:mod:`gankit.runs.verify`) before anything is built from it.

Format 1 (before issue 18) checksummed the tensors only; such a checkpoint still loads if its
tensors verify, with a warning that its header is unverified (its content is checked all the same).
"""

from __future__ import annotations

import hashlib
import json
import os
import random
import re
import sys
from pathlib import Path
from typing import Any

import numpy as np
import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from gankit.config import Config
from gankit.data import Dataset
from gankit.engine.distributed import gather_rng_states
from gankit.engine.state import TrainingState
from gankit.errors import CheckpointError
from gankit.runs.verify import check_training_checkpoint
from gankit.utils.atomic import atomic_path
from gankit.version import __version__

FORMAT = "gankit-checkpoint-2"  # the checksum covers the header's meta and the tensors
OLD_FORMAT = "gankit-checkpoint-1"  # the checksum covers the tensors only
_STEP_FILE = re.compile(r"^step-(\d+)\.safetensors$")


def _hash_tensors(h: "hashlib._Hash", tensors: dict[str, torch.Tensor]) -> None:
    for name in sorted(tensors):
        t = tensors[name].contiguous()
        h.update(name.encode())
        h.update(str(t.dtype).encode() + str(tuple(t.shape)).encode())
        h.update(t.reshape(-1).view(torch.uint8).numpy().tobytes() if t.numel() else b"")


def tensors_digest(tensors: dict[str, torch.Tensor]) -> str:
    """Format 1's checksum: the tensors alone."""
    h = hashlib.sha256()
    _hash_tensors(h, tensors)
    return h.hexdigest()


def checkpoint_digest(tensors: dict[str, torch.Tensor], meta_json: str) -> str:
    """Format 2's checksum: the format tag, the header's meta exactly as stored (length-prefixed
    UTF-8), then every tensor's name, dtype, shape and bytes."""
    h = hashlib.sha256()
    h.update(FORMAT.encode() + b"\0")
    data = meta_json.encode("utf-8")
    h.update(len(data).to_bytes(8, "big") + data)
    _hash_tensors(h, tensors)
    return h.hexdigest()


def save_checkpoint(path: str | Path, tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> Path:
    """Atomically write ``tensors`` and JSON-able ``meta`` to ``path`` (a .safetensors file)."""
    path = Path(path)
    tensors = {k: v.detach().to("cpu").contiguous().clone() for k, v in tensors.items()}
    meta_json = json.dumps(meta, allow_nan=False)
    header = {"format": FORMAT, "sha256": checkpoint_digest(tensors, meta_json), "meta": meta_json}
    with atomic_path(path) as tmp:
        save_file(tensors, str(tmp), metadata=header)
        with open(tmp, "rb+") as f:  # flush the OS cache to disk before the rename publishes it
            os.fsync(f.fileno())
    _fsync_dir(path.parent)
    return path


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def load_checkpoint(path: str | Path) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    """Load and verify a checkpoint written by :func:`save_checkpoint`."""
    path = Path(path)
    if path.suffix != ".safetensors":
        raise CheckpointError(f"{path} is not a .safetensors checkpoint; gankit never loads pickled "
                              f"files (.pt/.pth/.pkl) because loading them can run code")
    if not path.is_file():
        raise CheckpointError(f"checkpoint {path} does not exist")
    try:
        from safetensors import safe_open

        with safe_open(str(path), framework="pt") as f:
            header = f.metadata() or {}
        tensors = load_file(str(path))
    except (SafetensorError, OSError, ValueError, RuntimeError) as e:
        raise CheckpointError(f"checkpoint {path} is corrupt or truncated ({str(e).splitlines()[0]})"
                              ) from None
    fmt, meta_json = header.get("format"), header.get("meta")
    if fmt not in (FORMAT, OLD_FORMAT):
        raise CheckpointError(f"{path} is not a gankit checkpoint (no '{FORMAT}' header)")
    if not isinstance(meta_json, str):
        raise CheckpointError(f"checkpoint {path} has no metadata header; use an earlier checkpoint")
    digest = (checkpoint_digest(tensors, meta_json) if fmt == FORMAT else tensors_digest(tensors))
    if digest != header.get("sha256"):
        raise CheckpointError(f"checkpoint {path} fails its checksum (bit-flipped, edited or partly "
                              f"written); use an earlier checkpoint")
    if fmt == OLD_FORMAT:
        print(f"gankit: warning: {path} is an old (format 1) checkpoint: its checksum covers the "
              f"weights but not its header (config, step), which is checked but unverified",
              file=sys.stderr)
    try:
        meta = json.loads(meta_json, parse_constant=_no_constant)
    except (ValueError, RecursionError):  # RecursionError: nesting deeper than Python's stack
        raise CheckpointError(f"checkpoint {path} has an unreadable metadata header; use an "
                              f"earlier checkpoint") from None
    if not isinstance(meta, dict):
        raise CheckpointError(f"checkpoint {path} has a metadata header that is not a table; use "
                              f"an earlier checkpoint")
    return tensors, meta


def _no_constant(name: str) -> Any:
    raise ValueError(f"{name} in a checkpoint header")


def checkpoint_files(folder: str | Path) -> list[Path]:
    """Step checkpoints in ``folder``, newest (highest step) first."""
    folder = Path(folder)
    if not folder.is_dir():
        return []
    found = [(int(m.group(1)), p) for p in folder.iterdir() if (m := _STEP_FILE.match(p.name))]
    return [p for _, p in sorted(found, reverse=True)]


def prune_checkpoints(folder: str | Path, keep: int) -> None:
    """Delete all but the ``keep`` newest step checkpoints."""
    for old in checkpoint_files(folder)[max(keep, 1):]:
        old.unlink(missing_ok=True)


# --- module and optimiser state as flat tensors + JSON -------------------------------------------

def flatten_optimizer(prefix: str, opt: torch.optim.Optimizer,
                      tensors: dict[str, torch.Tensor]) -> dict[str, Any]:
    """Put an optimiser's tensor state into ``tensors``; return the rest as JSON-able data."""
    sd = opt.state_dict()
    scalars: dict[str, dict[str, Any]] = {}
    for idx, state in sd["state"].items():
        for key, value in state.items():
            if isinstance(value, torch.Tensor):
                tensors[f"{prefix}.state.{idx}.{key}"] = value
            else:
                scalars.setdefault(str(idx), {})[key] = value
    return {"param_groups": sd["param_groups"], "scalars": scalars}


def unflatten_optimizer(prefix: str, opt: torch.optim.Optimizer, tensors: dict[str, torch.Tensor],
                        meta: dict[str, Any]) -> None:
    state: dict[int, dict[str, Any]] = {}
    lead = prefix + ".state."
    for name, value in tensors.items():
        if name.startswith(lead):
            idx, key = name[len(lead):].split(".", 1)
            state.setdefault(int(idx), {})[key] = value
    for idx, extra in meta.get("scalars", {}).items():
        state.setdefault(int(idx), {}).update(extra)
    opt.load_state_dict({"state": state, "param_groups": meta["param_groups"]})


def module_tensors(prefix: str, module: torch.nn.Module) -> dict[str, torch.Tensor]:
    return {f"{prefix}.{k}": v for k, v in module.state_dict().items()}


def load_module(prefix: str, module: torch.nn.Module, tensors: dict[str, torch.Tensor]) -> None:
    lead = prefix + "."
    sd = {k[len(lead):]: v for k, v in tensors.items() if k.startswith(lead)}
    try:
        module.load_state_dict(sd)
    except RuntimeError as e:
        raise CheckpointError(f"checkpoint weights for {prefix} do not fit the network built from "
                              f"its config ({str(e).splitlines()[0]})") from None


# --- a run's state as a checkpoint, and back -------------------------------------------------------

def state_to_checkpoint(state: TrainingState, config: Config, dataset: Dataset
                        ) -> tuple[dict[str, torch.Tensor], dict[str, Any]]:
    tensors = {**module_tensors("G", state.G), **module_tensors("D", state.D)}
    if state.G_ema is not None:
        tensors.update(module_tensors("G_ema", state.G_ema))
    meta: dict[str, Any] = {
        "config": config.to_dict(), "step": state.step, "epoch": state.stream.epoch,
        "elapsed_seconds": state.elapsed, "sample_shape": list(dataset.sample_shape),
        "unit_range": dataset.unit_range, "gankit_version": __version__,
        "torch_version": torch.__version__,
        "opt_G": flatten_optimizer("opt_G", state.opt_G, tensors),
        "opt_D": flatten_optimizer("opt_D", state.opt_D, tensors),
    }
    for name, value in state.stream.state_dict().items():
        tensors[f"data.{name}"] = value
    tensors["rng.torch"] = torch.get_rng_state()
    if state.dist.active:  # each rank's dropout stream, so that a distributed resume is exact too
        for rank, rng in enumerate(gather_rng_states(state.dist)):
            tensors[f"rng.torch.rank{rank}"] = rng
    tensors["rng.noise"] = state.noise_gen.get_state()
    tensors["rng.data"] = state.stream.generator.get_state()
    # gankit draws nothing from Python's or NumPy's generators, but user code (callbacks) may.
    meta["rng_python"] = _jsonable(random.getstate())
    np_state = np.random.get_state()
    tensors["rng.numpy"] = torch.from_numpy(np_state[1].astype(np.int64))
    meta["rng_numpy"] = [np_state[0], int(np_state[2]), int(np_state[3]), float(np_state[4])]
    if torch.cuda.is_available():
        for i, s in enumerate(torch.cuda.get_rng_state_all()):
            tensors[f"rng.cuda.{i}"] = s
    tensors["fixed_z"] = state.fixed_z
    return tensors, meta


def _jsonable(value: Any) -> Any:
    return [_jsonable(v) for v in value] if isinstance(value, (tuple, list)) else value


def restore_state(state: TrainingState, tensors: dict[str, torch.Tensor], meta: dict[str, Any]
                  ) -> None:
    """Put a checkpoint back into a freshly built state (exact resume).

    Everything is checked first (:func:`gankit.runs.verify.check_training_checkpoint`, unless
    :func:`gankit.runs.run.newest_good_checkpoint` already did), then against the live state (the
    data order must cover the data); a problem is one CheckpointError and the state is untouched.
    """
    source = getattr(meta, "source", "the checkpoint")
    if not getattr(meta, "training", False):
        check_training_checkpoint(source, tensors, meta)
    n = len(state.stream.data)
    if tensors["data.order"].numel() != n:
        raise CheckpointError(f"the data order in checkpoint {source} covers "
                              f"{tensors['data.order'].numel()} examples, the data have {n}; "
                              f"resume with the data the run was trained on (--data-dir)")
    try:
        _restore(state, tensors, meta)
    except (RuntimeError, ValueError, TypeError, KeyError, IndexError, OverflowError) as e:
        raise CheckpointError(f"cannot restore checkpoint {source} "
                              f"({str(e).splitlines()[0] if str(e) else type(e).__name__})") from None


def _restore(state: TrainingState, tensors: dict[str, torch.Tensor], meta: dict[str, Any]) -> None:
    load_module("G", state.G, tensors)
    load_module("D", state.D, tensors)
    if state.G_ema is not None:
        load_module("G_ema", state.G_ema, tensors)
    unflatten_optimizer("opt_G", state.opt_G, tensors, meta["opt_G"])
    unflatten_optimizer("opt_D", state.opt_D, tensors, meta["opt_D"])
    state.stream.load_state_dict({"order": tensors["data.order"],
                                  "counters": tensors["data.counters"]})
    torch.set_rng_state(tensors.get(f"rng.torch.rank{state.dist.rank}", tensors["rng.torch"]))
    state.noise_gen.set_state(tensors["rng.noise"])
    state.stream.generator.set_state(tensors["rng.data"])
    if "rng_python" in meta:
        v = meta["rng_python"]
        random.setstate((v[0], tuple(v[1]), v[2]))
    if "rng.numpy" in tensors:
        name, pos, has_gauss, gauss = meta["rng_numpy"]
        np.random.set_state((name, tensors["rng.numpy"].numpy().astype(np.uint32), pos, has_gauss,
                             gauss))
    cuda_states = [tensors[f"rng.cuda.{i}"] for i in range(torch.cuda.device_count())
                   if f"rng.cuda.{i}" in tensors]
    if cuda_states and len(cuda_states) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(cuda_states)
    state.fixed_z = tensors["fixed_z"]
    state.step, state.elapsed = int(meta["step"]), float(meta.get("elapsed_seconds", 0.0))
