"""Reading a generator exported by ``gankit export --format torchscript``: its marker and metadata
(plain JSON in the archive, read without running anything) and, only on explicit request, the
module itself.
"""

from __future__ import annotations

import json
import warnings
import zipfile
from pathlib import Path
from typing import Any

import torch

from gankit.config import Config, config_from_dict
from gankit.errors import CheckpointError, ConfigError

#: Name of the JSON file inside a TorchScript archive (``<archive>/extra/<MARKER>``) and key of the
#: ONNX metadata entry.
MARKER = "gankit_generator.json"
FORMAT_TAG = "gankit-generator-1"
#: The most JSON an exported file's marker may hold (a config is a few kB).
MAX_METADATA_BYTES = 1 << 20


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
            info = z.getinfo(name)
            if info.file_size > MAX_METADATA_BYTES:  # read no more than a config's worth
                raise ValueError(f"{info.file_size} bytes of metadata")
            meta = json.loads(z.read(name))
    except (StopIteration, zipfile.BadZipFile, OSError, ValueError, KeyError, RecursionError):
        raise CheckpointError(f"{path} is not a generator exported by `gankit export`") from None
    if not isinstance(meta, dict) or meta.get("format") != FORMAT_TAG:
        raise CheckpointError(f"{path} carries an unknown generator format "
                              f"({meta.get('format') if isinstance(meta, dict) else meta!r}); "
                              f"expected {FORMAT_TAG}")
    if not isinstance(meta.get("config"), dict):
        raise CheckpointError(f"{path} carries no config in its {MARKER}; export the run again "
                              f"with `gankit export`")
    return meta


def load_exported_module(path: str | Path) -> tuple[Config, torch.nn.Module, int]:
    """(config, G, step) of an exported TorchScript generator. RUNS THE ARCHIVE'S CODE: only for
    ``gankit sample --trust-code`` (its load and forward can do what torch operators can, e.g.
    write files).

    Safety: gankit never unpickles checkpoints. A TorchScript archive is different from a pickled
    module: torch.jit.load compiles its code with the TorchScript compiler (which can only call
    torch operators, not arbitrary Python) and reads its data.pkl with a restricted unpickler that
    rebuilds only tensors and TorchScript types. To stay conservative, only archives carrying
    gankit's marker (written by `gankit export`) are loaded; any other .pt/.pth file is refused.
    The marker is not a signature: load exported files only from sources you trust.
    """
    path = Path(path)
    meta = read_generator_metadata(path)
    try:
        config = config_from_dict(meta["config"])
    except ConfigError as e:
        raise CheckpointError(f"{path} carries an impossible config ({e})") from None
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", DeprecationWarning)
            G = torch.jit.load(str(path), map_location="cpu")
    except (RuntimeError, OSError) as e:
        raise CheckpointError(f"cannot load exported generator {path} "
                              f"({str(e).strip().splitlines()[0] if str(e).strip() else e})") from None
    G.eval()
    step = meta.get("step", 0)
    return config, G, step if isinstance(step, int) and step >= 0 else 0
