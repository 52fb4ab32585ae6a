"""MNIST from the original IDX files, with the paper's split.

Split (authors' mnist.yaml): train = the first 50,000 training images, validation = the last 10,000,
test = t10k. Files are read from ``--data-dir`` (flat, or torchvision's ``DIR/MNIST/raw/`` layout,
gzipped or not); without one they are downloaded once into the cache (``$GANKIT_DATA``) from a
mirror list (``$GANKIT_MNIST_MIRRORS``, comma-separated base URLs) and each file's MD5 is checked
before it is used: the original ``.gz`` file's MD5 (checked before anything is decompressed), else
the MD5 of its uncompressed bytes (the official list; some mirrors recompress).

Every size is bounded before it is allocated: MNIST's four files have known sizes (``SIZES``), so a
file (or what a gzip file decompresses to) larger than the official one is refused as soon as the
limit is passed (a 17 MB gzip bomb would expand to 4 GB), and an IDX header's dimensions are
multiplied as Python integers (no wrap-around) and must match the bytes the file holds.
"""

from __future__ import annotations

import hashlib
import math
import os
import struct
from pathlib import Path

import numpy as np
import torch

from gankit.errors import DataError
from gankit.data.base import Dataset
from gankit.data.download import download_verified
from gankit.utils.cache import cache_dir
from gankit.utils.limits import not_regular, open_regular, read_maybe_gzip

FILES = {
    "train_images": "train-images-idx3-ubyte",
    "train_labels": "train-labels-idx1-ubyte",
    "test_images": "t10k-images-idx3-ubyte",
    "test_labels": "t10k-labels-idx1-ubyte",
}

#: MD5 of each file's uncompressed bytes (the official list; mirrors recompress differently).
MD5 = {
    "train-images-idx3-ubyte": "6bbc9ace898e44ae57da46a324031adb",
    "train-labels-idx1-ubyte": "a25bea736e30d166cdddb491f175f624",
    "t10k-images-idx3-ubyte": "2646ac647ad5339dbf082846283269ea",
    "t10k-labels-idx1-ubyte": "27ae3e4e09519cfbb04c329615203637",
}

#: MD5 of the original gzipped files (what the default mirrors serve), checked before decompressing.
GZ_MD5 = {
    "train-images-idx3-ubyte": "f68b3c2dcbeaaa9fbdd348bbdeb94873",
    "train-labels-idx1-ubyte": "d53e105ee54ea40749a09fcbcd1e9432",
    "t10k-images-idx3-ubyte": "9fb629c4189551a2d022fa330f9573f3",
    "t10k-labels-idx1-ubyte": "ec29112dd5afa0611ce80d1b7f02629c",
}

#: Uncompressed size of each official file (IDX header, then one byte per value): the most any of
#: them may hold, from --data-dir or a mirror (smaller files, e.g. subsets, are fine).
SIZES = {
    "train-images-idx3-ubyte": 16 + 60_000 * 28 * 28,
    "train-labels-idx1-ubyte": 8 + 60_000,
    "t10k-images-idx3-ubyte": 16 + 10_000 * 28 * 28,
    "t10k-labels-idx1-ubyte": 8 + 10_000,
}

#: Seconds one download attempt of one file may take in all ($GANKIT_DOWNLOAD_DEADLINE overrides).
DOWNLOAD_DEADLINE = 600.0

DEFAULT_MIRRORS = (
    "https://ossci-datasets.s3.amazonaws.com/mnist/",
    "https://storage.googleapis.com/cvdf-datasets/mnist/",
    "http://yann.lecun.com/exdb/mnist/",
)

VALIDATION_SIZE = 10_000
_IDX_MAGIC = {3: 2051, 1: 2049}  # images (3 dims) and labels (1 dim), unsigned bytes


def mirrors() -> list[str]:
    env = os.environ.get("GANKIT_MNIST_MIRRORS")
    urls = [u.strip() for u in env.split(",") if u.strip()] if env else []
    if env and not urls:
        raise DataError("$GANKIT_MNIST_MIRRORS holds no URLs; set it to comma-separated base URLs "
                        "or unset it to use the default mirrors")
    urls = urls or list(DEFAULT_MIRRORS)
    return [u if u.endswith("/") else u + "/" for u in urls]


# --- reading -----------------------------------------------------------------------------------------

def read_bytes(path: Path, limit: int | None = None) -> bytes:
    """The file's uncompressed bytes (gzip recognised by its magic number, not its name), refused
    once they pass ``limit`` bytes (default: the largest official MNIST file)."""
    return read_maybe_gzip(path, max(SIZES.values()) if limit is None else limit, "MNIST file",
                           "it is not the MNIST file of that name: replace it with the original")


def parse_idx(raw: bytes, ndim: int, source: str) -> np.ndarray:
    """Parse IDX bytes (big-endian header: 0, 0, dtype 0x08, ndim, then ndim int32 sizes)."""
    if len(raw) < 4 or struct.unpack(">I", raw[:4])[0] != _IDX_MAGIC[ndim]:
        found = struct.unpack(">I", raw[:4])[0] if len(raw) >= 4 else None
        raise DataError(f"{source} is not an IDX file of {'images' if ndim == 3 else 'labels'} "
                        f"(magic number {found}, expected {_IDX_MAGIC[ndim]}); check that the "
                        f"file is the right MNIST file")
    header = 4 + 4 * ndim
    if len(raw) < header:
        raise DataError(f"{source} is truncated inside its header; replace the file")
    dims = struct.unpack(f">{ndim}I", raw[4:header])
    expected = header + math.prod(dims)  # Python ints: (2^22, 2^22, 2^20) must not wrap to 0
    if len(raw) != expected:
        raise DataError(f"{source} holds {len(raw)} bytes but its header {tuple(dims)} needs "
                        f"{expected} (truncated or corrupt); replace the file")
    return np.frombuffer(raw, dtype=np.uint8, offset=header).reshape(dims)


def find_files(data_dir: str | Path) -> dict[str, Path]:
    """Locate the four IDX files in DIR, DIR/raw, DIR/MNIST/raw (torchvision), gzipped or not."""
    root = Path(data_dir)
    if not root.is_dir():
        raise DataError(f"data directory {root} does not exist; pass --data-dir with the folder "
                        f"holding the MNIST IDX files, or omit it to download them")
    found = {}
    for key, name in FILES.items():
        for folder in (root, root / "raw", root / "MNIST" / "raw"):
            hits = [folder / n for n in (name, name + ".gz") if os.path.lexists(folder / n)]
            if hits:
                kind = not_regular(hits[0])
                if kind:  # a FIFO would block the read for ever; a folder is not the file
                    raise DataError(f"{hits[0]} is {kind}, not a regular file; put the MNIST IDX "
                                    f"file itself there")
                found[key] = hits[0]
                break
        else:
            raise DataError(f"{name}(.gz) not found in {root} (nor in raw/ or MNIST/raw/); put the "
                            f"four MNIST IDX files there, or omit --data-dir to download them")
    return found


def load_mnist(data_dir: str | None = None) -> Dataset:
    """MNIST as the paper split it; images [N, 1, 28, 28] in [0, 1]."""
    files = find_files(data_dir) if data_dir else download_mnist(cache_dir() / "mnist")
    arrays = {key: parse_idx(read_bytes(p, SIZES[FILES[key]]), 3 if key.endswith("images") else 1,
                             str(p))
              for key, p in files.items()}
    for split in ("train", "test"):
        images, labels = arrays[f"{split}_images"], arrays[f"{split}_labels"]
        if images.shape[1:] != (28, 28):
            raise DataError(f"{files[split + '_images']} holds {images.shape[1]}x{images.shape[2]} "
                            f"images; MNIST images are 28x28")
        if len(images) != len(labels):
            raise DataError(f"{files[split + '_images']} has {len(images)} images but its labels "
                            f"file has {len(labels)}; the two files do not belong together")
    train_all = torch.from_numpy(arrays["train_images"].copy()).float().div_(255.0).unsqueeze(1)
    labels_all = torch.from_numpy(arrays["train_labels"].astype(np.int64))
    # The paper's split: the last 10,000 training images are the validation set. Smaller IDX files
    # (tests, subsets) keep one sixth for validation, the same proportion.
    n_val = VALIDATION_SIZE if len(train_all) >= 2 * VALIDATION_SIZE else len(train_all) // 6
    n_train = len(train_all) - n_val
    test = torch.from_numpy(arrays["test_images"].copy()).float().div_(255.0).unsqueeze(1)
    return Dataset(
        "mnist", train=train_all[:n_train], val=train_all[n_train:], test=test, unit_range=True,
        labels={"train": labels_all[:n_train], "val": labels_all[n_train:],
                "test": torch.from_numpy(arrays["test_labels"].astype(np.int64))})


# --- downloading ---------------------------------------------------------------------------------------

def download_mnist(target: Path, timeout: float = 30.0) -> dict[str, Path]:
    """Fetch any missing file into ``target``; a file is used only after its MD5 matches."""
    target.mkdir(parents=True, exist_ok=True)
    found = {}
    for key, name in FILES.items():
        final = target / (name + ".gz")
        if not final.is_file():
            _download_one(name, final, timeout)
        found[key] = final
    return found


def _download_one(name: str, final: Path, timeout: float) -> None:
    download_verified([base + name + ".gz" for base in mirrors()], final, MD5[name],
                      lambda part: _content_md5(name, part), timeout,
                      "check the network or $GANKIT_MNIST_MIRRORS, or pass --data-dir with a "
                      "folder holding the IDX files",
                      # a mirror may serve the file uncompressed; nothing larger is MNIST
                      max_bytes=SIZES[name] + 1024, deadline=DOWNLOAD_DEADLINE)


def _content_md5(name: str, part: Path) -> str:
    """MD5 of the file's uncompressed bytes, as in the official list (``MD5``). The original .gz
    (``GZ_MD5``) is recognised without decompressing it; anything else is decompressed only up to
    the official size, so a gzip bomb from a mirror is stopped there (a DataError)."""
    digest = hashlib.md5()
    with open_regular(part) as f:
        while chunk := f.read(1 << 20):
            digest.update(chunk)
    if digest.hexdigest() == GZ_MD5[name]:
        return MD5[name]
    return hashlib.md5(read_maybe_gzip(part, SIZES[name], source="the downloaded file")).hexdigest()
