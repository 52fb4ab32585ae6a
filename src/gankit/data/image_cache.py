"""The files behind an image folder's cache: a resumable decoding journal and the uint8 pixel file.

While a folder is decoded, two work files sit beside the cache entry ``KEY``:

- ``KEY.part.npy``: uint8 RGB rows ``[capacity, 3, S, S]`` (one per candidate file at most),
  written as images arrive (``pwrite``: the pages go to the page cache, not to this process), so
  the memory decoding takes does not grow with the folder; its space is reserved up front (a full
  disk is one error line before any work);
- ``KEY.part.jsonl``: a header line, then one :class:`Record` a line, in the candidates' order,
  appended only after the rows they name were synced to disk. A process killed at any point leaves a
  prefix of complete records (a torn last line is ignored): decoding resumes after it.

When every file is done, :func:`write_pixels` copies the used rows, in chunks, into ``KEY.npy``
(``[N, C, S, S]``, grey converted as Pillow's ``convert("L")``), which :func:`map_pixels` maps
read-only after checking its header against the expected shape. No pickles anywhere.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from gankit.errors import DataError
from gankit.utils.disk import writing
from gankit.utils.limits import map_npy, npy_header, read_bounded

#: Bytes copied at a time when the cache file is written from the work rows.
CHUNK_BYTES = 32 << 20
#: The most bytes one journal line may take (a path of 4,096 bytes, a reason, a digest).
_LINE_BYTES = 16_384


@dataclass
class Record:
    """What became of one candidate file. ``status`` is ``used`` (its pixels are row ``row``),
    ``skipped`` (``detail`` says why) or ``duplicate`` (``detail``: same bytes as which file).
    ``size``, ``mtime`` and ``target`` say which version of the file it was; ``digest`` is the
    SHA-256 of its bytes ("" if it was never read); ``flags``: ``g`` a grey source, ``u``
    upscaled, ``t`` had transparent pixels."""

    rel: str
    size: int
    mtime: int
    target: str
    status: str
    detail: str = ""
    digest: str = ""
    row: int = -1
    flags: str = ""

    def to_json(self) -> list:
        return [self.rel, self.size, self.mtime, self.target, self.status, self.detail,
                self.digest, self.row, self.flags]

    @classmethod
    def from_json(cls, v) -> Record:
        """A record from its JSON list; ValueError if it is not one (a foreign or torn line)."""
        if not (isinstance(v, list) and len(v) == 9
                and all(isinstance(v[i], str) for i in (0, 3, 4, 5, 6, 8))
                and all(isinstance(v[i], int) for i in (1, 2, 7))
                and v[4] in ("used", "skipped", "duplicate")):
            raise ValueError("not a decoding record")
        return cls(*v)


class WorkFiles:
    """The work rows and journal of one decoding (see the module docstring), created or resumed.

    ``records`` are those already done (a prefix of the candidates). Rows are written and read
    with ``pwrite``/``pread``, not through a memory map, so the file's pages stay in the page
    cache and never count in this process's resident memory. :meth:`add` queues a record whose
    row is written; :meth:`commit` syncs the rows to disk, then appends the queued records.
    """

    def __init__(self, base: Path, header: dict, capacity: int, size: int):
        self.rows_path = Path(f"{base}.part.npy")
        self.journal_path = Path(f"{base}.part.jsonl")
        self.header = header
        self.records: list[Record] = []
        self.queued: list[Record] = []
        self.shape = (max(capacity, 1), 3, size, size)
        self.row_bytes = 3 * size * size
        if not self._resume():
            self._create()
        self.fd = os.open(self.rows_path, os.O_RDWR | getattr(os, "O_CLOEXEC", 0))
        self.journal = open(self.journal_path, "a", encoding="utf-8")

    def _resume(self) -> bool:
        """Reopen the work files of an interrupted decoding of the same files; False (and the
        records empty) if there are none or they do not match."""
        if not (self.rows_path.is_file() and self.journal_path.is_file()):
            return False
        try:
            text = read_bounded(self.journal_path, _LINE_BYTES * (self.shape[0] + 1), "journal")
            lines = text.decode("utf-8", errors="replace").split("\n")
            if json.loads(lines[0]) != self.header:
                return False
            records = []
            for line in lines[1:]:
                try:
                    records.append(Record.from_json(json.loads(line)))
                except ValueError:  # a torn last line: the record after it was never committed
                    break
            shape, dtype, self.offset = npy_header(self.rows_path, int(np.prod(self.shape)))
        except (OSError, ValueError, DataError):
            return False
        rows = [r.row for r in records if r.status == "used"]
        if shape != self.shape or dtype != np.uint8 or rows != list(range(len(rows))):
            return False
        self.records = records
        # keep only the complete lines: the next append must start on a line of its own
        with writing(self.journal_path):
            with open(self.journal_path, "w", encoding="utf-8") as f:
                f.write(json.dumps(self.header) + "\n")
                f.writelines(json.dumps(r.to_json()) + "\n" for r in records)
        return True

    def _create(self) -> None:
        with writing(self.rows_path):
            with open(self.rows_path, "wb") as f:
                np.lib.format.write_array_header_1_0(
                    f, {"descr": "|u1", "fortran_order": False, "shape": self.shape})
                self.offset = f.tell()
                end = self.offset + int(np.prod(self.shape))
                if hasattr(os, "posix_fallocate"):  # the space now: a full disk is an OSError
                    os.posix_fallocate(f.fileno(), 0, end)
                else:
                    f.truncate(end)
            self.journal_path.write_text(json.dumps(self.header) + "\n", encoding="utf-8")

    def write_row(self, row: int, pixels: np.ndarray) -> None:
        """Row ``row`` = ``pixels`` (uint8 ``[3, S, S]``)."""
        with writing(self.rows_path):
            os.pwrite(self.fd, np.ascontiguousarray(pixels, np.uint8).tobytes(),
                      self.offset + row * self.row_bytes)

    def read_rows(self, start: int, stop: int) -> np.ndarray:
        """Rows ``start:stop`` (uint8 ``[stop - start, 3, S, S]``)."""
        data = os.pread(self.fd, (stop - start) * self.row_bytes,
                        self.offset + start * self.row_bytes)
        return np.frombuffer(data, np.uint8).reshape(stop - start, *self.shape[1:])

    def add(self, record: Record) -> None:
        self.queued.append(record)

    def commit(self) -> None:
        """Sync the rows to the disk, then record the files they belong to (in that order, so a
        record never names a row that was not written, even after a power cut)."""
        if not self.queued:
            return
        with writing(self.rows_path):
            os.fdatasync(self.fd) if hasattr(os, "fdatasync") else os.fsync(self.fd)
        with writing(self.journal_path):
            self.journal.writelines(json.dumps(r.to_json()) + "\n" for r in self.queued)
            self.journal.flush()
        self.records += self.queued
        self.queued = []

    def close(self, remove: bool = False) -> None:
        self.journal.close()
        os.close(self.fd)
        if remove:
            self.rows_path.unlink(missing_ok=True)
            self.journal_path.unlink(missing_ok=True)


class MemoryWork:
    """:class:`WorkFiles`' stand-in when the cache folder cannot be written: the rows in memory,
    nothing kept for a resumed or later run."""

    def __init__(self, capacity: int, size: int):
        self.rows = np.empty((max(capacity, 1), 3, size, size), np.uint8)
        self.records: list[Record] = []

    def write_row(self, row: int, pixels: np.ndarray) -> None:
        self.rows[row] = pixels

    def read_rows(self, start: int, stop: int) -> np.ndarray:
        return self.rows[start:stop]

    def add(self, record: Record) -> None:
        self.records.append(record)

    def commit(self) -> None:
        pass

    def close(self, remove: bool = False) -> None:
        pass


def to_gray(rgb: np.ndarray) -> np.ndarray:
    """``[n, 3, H, W]`` uint8 RGB -> ``[n, 1, H, W]`` ITU-R 601-2 luma, Pillow's ``convert("L")``:
    grey sources (equal channels) are unchanged."""
    weights = np.array([0.299, 0.587, 0.114], dtype=np.float32)
    luma = np.einsum("nchw,c->nhw", rgb.astype(np.float32), weights)
    return np.clip(np.rint(luma), 0, 255).astype(np.uint8)[:, None]


def write_pixels(path: Path, work: WorkFiles | MemoryWork, n: int, gray: bool) -> np.ndarray:
    """Write the first ``n`` RGB rows of ``work`` as ``path`` (a ``.npy`` of uint8 ``[n, C, S, S]``,
    C = 1 if ``gray``), a chunk at a time with ordinary writes (a full disk raises OSError).
    Returns the mean example ``[1, C, S, S]`` (float64 of the float32 pixels, as
    :meth:`gankit.data.base.Dataset.mean_example` computes it), so that a run never has to read
    the whole cache to find it."""
    s = work.read_rows(0, 1).shape[-1]
    c = 1 if gray else 3
    step = max(1, CHUNK_BYTES // (3 * s * s))
    total = np.zeros((c, s, s), np.float64)
    with open(path, "wb") as f:
        np.lib.format.write_array_header_1_0(
            f, {"descr": "|u1", "fortran_order": False, "shape": (n, c, s, s)})
        for start in range(0, n, step):
            chunk = work.read_rows(start, min(n, start + step))
            chunk = to_gray(chunk) if gray else chunk
            f.write(chunk.tobytes())
            total += (chunk.astype(np.float32) / np.float32(255.0)).sum(0, dtype=np.float64)
    return (total / max(n, 1))[None]


def map_pixels(path: Path, shape: tuple[int, ...]) -> np.ndarray:
    """The cache file's pixels, memory-mapped (copy-on-write: never written back), after its header
    is checked: uint8, exactly ``shape``, the file exactly that long. DataError otherwise."""
    pixels = map_npy(path, int(np.prod(shape, dtype=object)), "it is decoded again")
    if pixels.dtype != np.uint8 or pixels.shape != tuple(shape):
        raise DataError(f"{path} holds {pixels.dtype} {tuple(pixels.shape)}, not uint8 "
                        f"{tuple(shape)}")
    return pixels
