"""Rows of uint8 pixels ``[C, S, S]`` as an image folder's cache holds them: the ``.npy`` file they
live in (a fixed-size header, so that the work file can become the cache in place), grey made from
RGB as Pillow does, exact pixel sums for the mean example, and the writer with which any decoding
process puts a row into its slot.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from gankit.errors import DataError
from gankit.utils.disk import writing
from gankit.utils.limits import map_npy

#: The work file's .npy header, padded to this length so that the cache's shape fits in its place.
HEADER_BYTES = 128
#: Pixel sums are kept as integers in units of 2**-31: every float32 ``pixel / 255`` is such a
#: multiple (the smallest non-zero one, 1/255, is above 2**-8), so the sums are exact.
_SUM_SHIFT = 31
_SUM_ROWS = 1 << 20  # rows summed in float64 at a time (below 2**22: exact)


def npy_header_bytes(shape: tuple[int, ...], length: int = HEADER_BYTES) -> bytes:
    """A version 1.0 ``.npy`` header for C-order uint8 ``shape``, padded to ``length`` bytes."""
    text = f"{{'descr': '|u1', 'fortran_order': False, 'shape': {tuple(shape)!r}, }}"
    body = length - 10  # magic (6), version (2), header length (2)
    if len(text) + 1 > body:
        raise ValueError(f"shape {shape} does not fit a {length}-byte .npy header")
    return (b"\x93NUMPY\x01\x00" + body.to_bytes(2, "little")
            + (text.ljust(body - 1) + "\n").encode("latin1"))


def pwrite_all(fd: int, data, offset: int) -> None:
    """``os.pwrite`` until every byte of ``data`` is written (a call may write fewer)."""
    view = memoryview(data).cast("B")
    while view:
        written = os.pwrite(fd, view, offset)
        view, offset = view[written:], offset + written


def to_channels(rows: np.ndarray, channels: int) -> np.ndarray:
    """uint8 ``[..., C, S, S]`` rows as ``channels`` channels: RGB made grey (:func:`to_gray`), or
    grey repeated (grey rows are exactly R = G = B). Unchanged if they already have them."""
    if rows.shape[-3] == channels:
        return rows
    if channels == 1:
        return to_gray(rows.reshape(-1, *rows.shape[-3:])).reshape(*rows.shape[:-3], 1,
                                                                    *rows.shape[-2:])
    return np.repeat(rows, channels, axis=-3)


def to_gray(rgb: np.ndarray) -> np.ndarray:
    """``[n, 3, H, W]`` uint8 RGB -> ``[n, 1, H, W]`` ITU-R 601-2 luma, Pillow's ``convert("L")``:
    grey sources (equal channels) are unchanged."""
    weights = np.array([0.299, 0.587, 0.114], dtype=np.float32)
    luma = np.einsum("nchw,c->nhw", rgb.astype(np.float32), weights)
    return np.clip(np.rint(luma), 0, 255).astype(np.uint8)[:, None]


def pixel_sum(rows: np.ndarray) -> np.ndarray:
    """The sum over ``rows`` (uint8 ``[n, C, S, S]``) of each pixel as float32 ``/ 255`` (what
    :meth:`gankit.data.base.Dataset.mean_example` adds up), exactly: int64 ``[C, S, S]`` in
    units of 2**-31, so that sums can be added and subtracted in any order."""
    total = np.zeros(rows.shape[1:], np.int64)
    for start in range(0, len(rows), _SUM_ROWS):
        part = (rows[start:start + _SUM_ROWS].astype(np.float32) / np.float32(255.0)).sum(
            0, dtype=np.float64)
        total += np.ldexp(part, _SUM_SHIFT).astype(np.int64)
    return total


def mean_of(total: np.ndarray, n: int) -> np.ndarray:
    """The mean example ``[1, C, S, S]`` (float64) of ``n`` rows whose :func:`pixel_sum` is
    ``total``: the same float64 as summing the float32 pixels and dividing by ``n``."""
    return (np.ldexp(total.astype(np.float64), -_SUM_SHIFT) / max(n, 1))[None]


@dataclass(frozen=True)
class RowFile:
    """Where the decoding processes write rows: the work file (by path, so that another process
    can open it), its header length, its channels, the image size, and the process that records
    the rows (``owner``: a worker orphaned by its death writes nothing more)."""

    path: str
    offset: int
    channels: int
    size: int
    owner: int

    @property
    def row_bytes(self) -> int:
        return self.channels * self.size * self.size


class RowWriter:
    """Writes decoded RGB rows into their slots of a :class:`RowFile` (made grey if the file is
    grey), from whichever process decodes, and adds up their :func:`pixel_sum`."""

    def __init__(self, rows: RowFile):
        self.rows = rows
        self.fd = os.open(rows.path, os.O_WRONLY | getattr(os, "O_CLOEXEC", 0))
        self.folded = np.zeros((rows.channels, rows.size, rows.size), np.int64)
        self.sum = np.zeros(self.folded.shape, np.float64)  # exact below 2**22 rows
        self.count = 0

    def write(self, slot: int, rgb: np.ndarray) -> None:
        """Slot ``slot`` = ``rgb`` (uint8 ``[3, S, S]``) in the file's channels."""
        row = np.ascontiguousarray(to_channels(rgb, self.rows.channels), np.uint8)
        # the recording process killed: its rows may be resumed, moved or renamed by another
        os.kill(self.rows.owner, 0)  # ProcessLookupError if it is gone
        with writing(self.rows.path):
            pwrite_all(self.fd, row.data, self.rows.offset + slot * self.rows.row_bytes)
        self.sum += row.astype(np.float32) / np.float32(255.0)  # float32 pixels, as pixel_sum
        self.count += 1
        if self.count == _SUM_ROWS:
            self._fold()

    def _fold(self) -> None:
        self.folded += np.ldexp(self.sum, _SUM_SHIFT).astype(np.int64)
        self.sum[:] = 0
        self.count = 0

    def take_sum(self) -> np.ndarray:
        """The :func:`pixel_sum` of the rows written since the last call."""
        self._fold()
        total, self.folded = self.folded, np.zeros_like(self.folded)
        return total

    def close(self) -> None:
        os.close(self.fd)


def map_pixels(path: Path, shape: tuple[int, ...]) -> np.ndarray:
    """The cache file's pixels, memory-mapped (copy-on-write: never written back), after its header
    is checked: uint8, exactly ``shape``, the file exactly that long. DataError otherwise."""
    pixels = map_npy(path, int(np.prod(shape, dtype=object)), "it is decoded again")
    if pixels.dtype != np.uint8 or pixels.shape != tuple(shape):
        raise DataError(f"{path} holds {pixels.dtype} {tuple(pixels.shape)}, not uint8 "
                        f"{tuple(shape)}")
    return pixels
