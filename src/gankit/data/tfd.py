"""The Toronto Face Database (TFD) 48x48, from the ``TFD_48x48.mat`` file a user supplies.

TFD is not publicly downloadable (it is obtained from its maintainers at the University of
Toronto), so nothing is downloaded: pass ``--data-dir`` with the folder holding ``TFD_48x48.mat``,
or the file's own path.

The file is MATLAB v5 and is read with :func:`scipy.io.loadmat`, which parses arrays and executes
nothing (a MATLAB v7.3 file is HDF5 and is refused with a clear message). Keys used: ``images``
``[N, 48, 48]`` uint8 and ``folds`` ``[N, F]`` (F = 5 in the released file); ``labs_ex`` and
``labs_id`` (expression and identity labels) are not needed.

Split, with pylearn2's TFD semantics (``pylearn2.datasets.tfd``, which the authors' code used):
in each fold's column of ``folds``, 0 = unlabeled, 1 = train, 2 = valid, 3 = test. gankit uses fold
0: train = its unlabeled and train images (0 or 1), val = its valid images (2), test = its test
images (3). (The authors' tfd_pretrain/pretrain.yaml trained on the unlabeled images alone.)
Images are ``[N, 1, 48, 48]`` in [0, 1] (pixel / 255, pylearn2's ``scale=True``).
"""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import torch

from gankit.errors import DataError
from gankit.data.base import Dataset
from gankit.utils.limits import not_regular, open_regular

FILE = "TFD_48x48.mat"
SIZE = 48
FOLD = 0
#: pylearn2's TFD ``mapper``: the value of an image in a fold's column of ``folds``
UNLABELED, TRAIN, VALID, TEST = 0, 1, 2, 3
MAX_IMAGES = 250_000  # the released file holds 102,236; declared shapes are checked before loading
_HDF5_MAGIC = b"\x89HDF\r\n\x1a\n"
_WHERE = (f"TFD is not publicly downloadable: obtain {FILE} from the Toronto Face Database's "
          f"maintainers and pass --data-dir with the folder holding it (or the file itself)")


def find_file(data_dir: str | Path | None) -> Path:
    """``data_dir`` itself if it is a file, else ``data_dir/TFD_48x48.mat``; DataError if absent."""
    if not data_dir:
        raise DataError(f"the tfd dataset needs --data-dir; {_WHERE}")
    path = Path(data_dir)
    if path.is_dir():
        path = path / FILE
    kind = not_regular(path)
    if kind == "missing":
        raise DataError(f"{path} does not exist; {_WHERE}")
    if kind:  # a FIFO would block the read for ever
        raise DataError(f"{path} is {kind}, not a regular file; pass the {FILE} file itself")
    return path


def read_mat(path: Path) -> dict[str, np.ndarray]:
    """``images`` and ``folds`` of a MATLAB v5 file (scipy.io.loadmat: data only, no code)."""
    import scipy.io  # scikit-learn's dependency, so always installed with gankit

    with open_regular(path, f"pass the {FILE} file itself") as f:  # one open: no FIFO swap
        head = f.read(520)
        if head[512:520] == _HDF5_MAGIC or head[:8] == _HDF5_MAGIC:
            raise DataError(f"{path} is a MATLAB v7.3 (HDF5) file; gankit reads MATLAB v5 .mat "
                            f"files (as the released {FILE}): re-save it in MATLAB with "
                            f"save(..., '-v7')")
        try:
            f.seek(0)
            declared = {name: shape for name, shape, _ in scipy.io.whosmat(f)}
            _check_declared(declared, path)  # before anything is allocated
            f.seek(0)
            data = scipy.io.loadmat(f, variable_names=("images", "folds"))
        except (DataError, MemoryError):
            raise
        except Exception as e:  # scipy raises several types for a file that is not a .mat
            msg = " ".join(str(e).split()) or type(e).__name__
            raise DataError(f"{path} is not a readable MATLAB v5 .mat file ({msg}); replace it "
                            f"with the original {FILE}") from None
    missing = [k for k in ("images", "folds") if k not in data]
    if missing:
        raise DataError(f"{path} has no '{missing[0]}' array; it is not {FILE} (which holds "
                        f"'images' [N, 48, 48] and 'folds' [N, 5])")
    return {"images": data["images"], "folds": data["folds"]}


def _check_declared(declared: dict[str, tuple], path: Path) -> None:
    """The sizes the file's headers declare, bounded before loadmat allocates them (the exact
    shapes are checked after loading, by :func:`check_arrays`)."""
    for name, most in (("images", MAX_IMAGES * SIZE * SIZE), ("folds", MAX_IMAGES * 64)):
        shape = declared.get(name)
        if shape is not None and math.prod(int(n) for n in shape) > most:  # Python ints: no wrap
            raise DataError(f"{path}: '{name}' has shape {tuple(shape)}, more than {FILE} holds "
                            f"(at most {MAX_IMAGES:,} images of {SIZE}x{SIZE}); use the 48x48 file")


def check_arrays(images: np.ndarray, folds: np.ndarray, source: str) -> None:
    if images.ndim != 3 or images.shape[1:] != (SIZE, SIZE):
        raise DataError(f"{source}: 'images' has shape {tuple(images.shape)}, expected "
                        f"[N, {SIZE}, {SIZE}]; use the 48x48 file ({FILE})")
    if not np.issubdtype(images.dtype, np.number) or np.iscomplexobj(images):
        raise DataError(f"{source}: 'images' holds {images.dtype} values, expected uint8 pixels")
    if images.size and (images.min() < 0 or images.max() > 255):
        raise DataError(f"{source}: 'images' values lie in [{images.min()}, {images.max()}], "
                        f"expected pixels in 0..255")
    if folds.ndim != 2 or len(folds) != len(images) or folds.shape[1] <= FOLD:
        raise DataError(f"{source}: 'folds' has shape {tuple(folds.shape)}, expected "
                        f"[{len(images)}, 5] (one row per image, one column per fold)")
    values = set(np.unique(folds[:, FOLD]).tolist())
    if not values <= {UNLABELED, TRAIN, VALID, TEST}:
        raise DataError(f"{source}: 'folds' holds values {sorted(values)}; expected 0 (unlabeled), "
                        f"1 (train), 2 (valid) and 3 (test)")


def load_tfd(data_dir: str | None = None) -> Dataset:
    """TFD 48x48, fold 0: train = unlabeled + train, val = valid, test = test; [N, 1, 48, 48]."""
    path = find_file(data_dir)
    arrays = read_mat(path)
    images, folds = arrays["images"], arrays["folds"]
    check_arrays(images, folds, str(path))
    fold = folds[:, FOLD]

    def split(mask: np.ndarray) -> torch.Tensor | None:
        if not mask.any():
            return None
        x = np.asarray(images[mask], dtype=np.float32) / 255.0
        return torch.from_numpy(x).unsqueeze(1)  # [N, 1, 48, 48]

    train = split((fold == UNLABELED) | (fold == TRAIN))
    if train is None:
        raise DataError(f"{path}: fold {FOLD} has no unlabeled or train images (values 0 or 1 in "
                        f"'folds'); nothing to train on")
    return Dataset("tfd", train=train, val=split(fold == VALID), test=split(fold == TEST),
                   unit_range=True)
