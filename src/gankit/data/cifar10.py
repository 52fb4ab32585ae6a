"""CIFAR-10 from the official *binary* version (never the Python version, which is pickled).

Split: train = the five data batches (50,000 images, as the paper's Figure 2 and GAN practice),
test = test_batch (10,000); no validation split. Images ``[N, 3, 32, 32]`` in [0, 1].

Files are read from ``--data-dir`` (the ``.bin`` files, a folder holding ``cifar-10-batches-bin/``,
or one holding ``cifar-10-binary.tar.gz``); without one the archive is downloaded once into the
cache (``$GANKIT_DATA/cifar10``) from a mirror list (``$GANKIT_CIFAR10_MIRRORS``, comma-separated
base URLs), its MD5 (the one published on the dataset's page) is checked before it is used, and it
is unpacked with :func:`gankit.data.archive.safe_extract`.

Record layout (the dataset's page): 1 label byte, then 3,072 pixel bytes: the 1,024 red values of
the 32x32 image in row-major order, then the green, then the blue.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

import numpy as np
import torch

from gankit.errors import DataError
from gankit.data.archive import safe_extract
from gankit.data.base import Dataset
from gankit.data.download import download_verified
from gankit.utils.cache import cache_dir
from gankit.utils.limits import not_regular, open_regular, read_bounded

ARCHIVE = "cifar-10-binary.tar.gz"
ARCHIVE_MD5 = "c32a1d4ab5d03f1284b67883e8d87530"  # www.cs.toronto.edu/~kriz/cifar.html
DEFAULT_MIRRORS = ("https://www.cs.toronto.edu/~kriz/",)
FOLDER = "cifar-10-batches-bin"
TRAIN_FILES = tuple(f"data_batch_{i}.bin" for i in range(1, 6))
TEST_FILE = "test_batch.bin"
RECORD = 1 + 3 * 32 * 32
BATCH_BYTES = 10_000 * RECORD  # every official .bin file holds 10,000 records: nothing larger is read
ARCHIVE_MAX_BYTES = 200_000_000  # the archive is 170,052,171 bytes; a download is cut off above this
DOWNLOAD_DEADLINE = 3600.0  # seconds one download attempt may take ($GANKIT_DOWNLOAD_DEADLINE)
CLASSES = ("airplane", "automobile", "bird", "cat", "deer", "dog", "frog", "horse", "ship", "truck")


def mirrors() -> list[str]:
    env = os.environ.get("GANKIT_CIFAR10_MIRRORS")
    urls = [u.strip() for u in env.split(",") if u.strip()] if env else []
    if env and not urls:
        raise DataError("$GANKIT_CIFAR10_MIRRORS holds no URLs; set it to comma-separated base URLs "
                        "or unset it to use the default mirror")
    return [u if u.endswith("/") else u + "/" for u in (urls or DEFAULT_MIRRORS)]


def parse_records(raw: bytes, source: str) -> tuple[np.ndarray, np.ndarray]:
    """Images ``[N, 3, 32, 32]`` uint8 and labels ``[N]`` of one ``.bin`` file's bytes."""
    if not raw or len(raw) % RECORD:
        raise DataError(f"{source} holds {len(raw)} bytes, not a whole number of {RECORD}-byte "
                        f"CIFAR-10 records (truncated or not a CIFAR-10 binary file); replace it")
    records = np.frombuffer(raw, dtype=np.uint8).reshape(-1, RECORD)
    labels = records[:, 0]
    if labels.max() > 9:
        raise DataError(f"{source} has label {int(labels.max())}; CIFAR-10 labels are 0..9, so "
                        f"this is not a CIFAR-10 binary file")
    return records[:, 1:].reshape(-1, 3, 32, 32), labels


def find_files(data_dir: str | Path) -> dict[str, Path]:
    """The six ``.bin`` files in DIR or DIR/cifar-10-batches-bin, unpacking DIR/ARCHIVE if needed."""
    root = Path(data_dir)
    if not root.is_dir():
        raise DataError(f"data directory {root} does not exist; pass --data-dir with the folder "
                        f"holding CIFAR-10's binary files, or omit it to download them")
    for folder in (root, root / FOLDER, cache_dir() / "cifar10" / _archive_key(root) / FOLDER):
        if all(os.path.lexists(folder / n) for n in TRAIN_FILES + (TEST_FILE,)):
            return find_files_in(folder, folder)
    if os.path.lexists(root / ARCHIVE):  # unpacked into the cache: the user's folder stays as it is
        target = cache_dir() / "cifar10" / _archive_key(root)
        _check_md5(root / ARCHIVE)
        safe_extract(root / ARCHIVE, target)
        return find_files_in(target / FOLDER, root / ARCHIVE)
    raise DataError(f"CIFAR-10 binary files ({', '.join(TRAIN_FILES[:1])}, ..., {TEST_FILE}) not "
                    f"found in {root} (nor in {FOLDER}/), and no {ARCHIVE} there; the Python "
                    f"(pickled) version is not read")


def find_files_in(folder: Path, source: Path) -> dict[str, Path]:
    for n in TRAIN_FILES + (TEST_FILE,):
        kind = not_regular(folder / n)
        if kind not in (None, "missing"):  # a FIFO would block the read for ever
            raise DataError(f"{folder / n} is {kind}, not a regular file; put the CIFAR-10 binary "
                            f"file itself there")
    missing = [n for n in TRAIN_FILES + (TEST_FILE,) if not (folder / n).is_file()]
    if missing:
        raise DataError(f"{source} lacks {FOLDER}/{missing[0]}; it is not the CIFAR-10 binary "
                        f"archive ({ARCHIVE})")
    return {n: folder / n for n in TRAIN_FILES + (TEST_FILE,)}


def _archive_key(root: Path) -> str:
    return hashlib.sha256(str(root.resolve()).encode()).hexdigest()[:12]


def _check_md5(path: Path) -> None:
    digest = _md5(path)
    if digest != ARCHIVE_MD5:
        raise DataError(f"{path} has MD5 {digest}, not the published {ARCHIVE_MD5}: it is "
                        f"incomplete or a different file; download it again")


def _md5(path: Path) -> str:
    h = hashlib.md5()
    with open_regular(path, "replace it with the CIFAR-10 binary archive") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return h.hexdigest()


def load_cifar10(data_dir: str | None = None) -> Dataset:
    """CIFAR-10: train ``[50000, 3, 32, 32]``, test ``[10000, 3, 32, 32]`` in [0, 1], labels."""
    files = find_files(data_dir) if data_dir else download_cifar10(cache_dir() / "cifar10")
    parts = [parse_records(_read_batch(files[n]), str(files[n])) for n in TRAIN_FILES]
    test_x, test_y = parse_records(_read_batch(files[TEST_FILE]), str(files[TEST_FILE]))
    train_x = np.concatenate([p[0] for p in parts])
    train_y = np.concatenate([p[1] for p in parts])
    as_float = lambda a: torch.from_numpy(a.copy()).float().div_(255.0)  # noqa: E731
    return Dataset("cifar10", train=as_float(train_x), test=as_float(test_x), unit_range=True,
                   labels={"train": torch.from_numpy(train_y.astype(np.int64)),
                           "test": torch.from_numpy(test_y.astype(np.int64))})


def _read_batch(path: Path) -> bytes:
    return read_bounded(path, BATCH_BYTES, "CIFAR-10 batch file (10,000 records)",
                        "it is not a CIFAR-10 binary file: replace it with the original")


def download_cifar10(target: Path, timeout: float = 30.0) -> dict[str, Path]:
    """Fetch and unpack the archive into ``target`` unless already there; MD5 checked first."""
    folder = target / FOLDER
    if all((folder / n).is_file() for n in TRAIN_FILES + (TEST_FILE,)):
        return {n: folder / n for n in TRAIN_FILES + (TEST_FILE,)}
    target.mkdir(parents=True, exist_ok=True)
    archive = target / ARCHIVE
    if not archive.is_file():
        _download(archive, timeout)
    safe_extract(archive, target)
    files = find_files_in(folder, archive)
    archive.unlink()  # the six .bin files are what is read; the 162 MB archive is not kept
    return files


def _download(final: Path, timeout: float) -> None:
    download_verified([base + ARCHIVE for base in mirrors()], final, ARCHIVE_MD5, _md5, timeout,
                      "check the network or $GANKIT_CIFAR10_MIRRORS, or pass --data-dir with a "
                      "folder holding the files", max_bytes=ARCHIVE_MAX_BYTES,
                      deadline=DOWNLOAD_DEADLINE)
