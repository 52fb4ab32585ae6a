"""The files behind an image folder's cache: a resumable decoding journal and the uint8 pixel file.

While a folder is decoded, two work files sit beside the cache entry ``KEY``:

- ``KEY.part.npy``: uint8 rows ``[capacity, C, S, S]``, one slot per candidate file (slot i for
  the i-th candidate, C = 1 when grey was asked for, else 3: RGB). The decoding processes write
  each image's row into its slot themselves (``pwrite``: the pages go to the page cache, not to
  any process), so neither the memory decoding takes nor the parent's share of the work grows
  with the images; its space is reserved up front (a full disk is one error line before any work);
- ``KEY.part.jsonl``: a header line, then one :class:`Record` a line, in the candidates' order,
  appended only after the rows they name were synced to disk. A process killed at any point leaves a
  prefix of complete records (a torn last line is ignored): decoding resumes after it.

When every file is done, :meth:`WorkFiles.finish` turns the work file into the cache file in
place: a folder where every file was used keeps its rows where they are (no copy); otherwise the
used rows move down over the slots of skipped and duplicate files (only the rows after the first
such slot move), grey is made from RGB if the majority decided so (Pillow's ``convert("L")``), the
``.npy`` header is rewritten for ``[N, C, S, S]`` and the file cut to that length; the caller then
renames it to ``KEY.npy``. The mean example comes from exact sums kept as the rows were written,
not from reading the pixels again (:mod:`gankit.data.pixel_rows`, which also maps the cache
read-only after checking its header against the expected shape). No pickles anywhere.
"""

from __future__ import annotations

import json
import os
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from gankit.errors import DataError
from gankit.data.pixel_rows import (HEADER_BYTES, RowFile, mean_of, npy_header_bytes,
                                     pixel_sum, pwrite_all, to_gray)
from gankit.utils.disk import writing
from gankit.utils.limits import npy_header, read_bounded

#: Bytes moved at a time when the work rows are compacted or made grey.
CHUNK_BYTES = 32 << 20
#: The most bytes one journal line may take (a path of 4,096 bytes, a reason, a digest).
_LINE_BYTES = 16_384
#: The journal line written before the rows are moved in place: a decoding killed after it
#: cannot trust its rows' slots, and starts again.
_FINISHING = {"finishing": True}


@dataclass
class Record:
    """What became of one candidate file. ``status`` is ``used`` (its pixels are row ``row``: the
    file's slot in the work file while decoding, its row in the cache after), ``skipped``
    (``detail`` says why) or ``duplicate`` (``detail``: same bytes as which file). ``size``,
    ``mtime`` and ``target`` say which version of the file it was; ``digest`` is the SHA-256 of
    its bytes ("" if it was never read); ``flags``: ``g`` a grey source, ``u`` upscaled, ``t``
    had transparent pixels."""

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


def finished_records(text: bytes) -> list[Record]:
    """The records of a finished decoding's journal (kept as the cache entry's records), each
    used file's ``row`` its row in the cache: the used files are its rows, in order. ValueError if
    a line is not a record."""
    records, row = [], 0
    for line in text.decode("utf-8").splitlines()[1:]:  # the first: the decoding's header
        value = json.loads(line)
        if value == _FINISHING:
            continue
        records.append(Record.from_json(value))
        if records[-1].status == "used":
            records[-1].row, row = row, row + 1
    return records


class WorkFiles:
    """The work rows and journal of one decoding (see the module docstring), created or resumed.

    ``records`` are those already done (a prefix of the candidates); ``total`` is the
    :func:`pixel_sum` of the rows of the used ones. Rows are written and read with
    ``pwrite``/``pread``, not through a memory map, so the file's pages stay in the page cache and
    never count in a process's resident memory. :meth:`add` queues a record whose row is written;
    :meth:`commit` syncs the rows to disk, then appends the queued records.
    """

    def __init__(self, base: Path, header: dict, capacity: int, size: int, channels: int):
        self.rows_path = Path(f"{base}.part.npy")
        self.journal_path = Path(f"{base}.part.jsonl")
        self.header = header
        self.records: list[Record] = []
        self.queued: list[Record] = []
        self.shape = (max(capacity, 1), channels, size, size)
        self.channels, self.row_bytes = channels, channels * size * size
        self.total = np.zeros(self.shape[1:], np.int64)
        self.offset = HEADER_BYTES
        self.fd = -1
        if not self._resume():
            self._create()
        self.fd = os.open(self.rows_path, os.O_RDWR | getattr(os, "O_CLOEXEC", 0))
        self.journal = open(self.journal_path, "a", encoding="utf-8")
        if self.records:  # the rows already done: their sum, read back once
            self.total = self._slots_sum([r.row for r in self.records if r.status == "used"])

    @property
    def target(self) -> RowFile:
        return RowFile(str(self.rows_path), self.offset, self.channels, self.shape[-1], os.getpid())

    def _resume(self) -> bool:
        """Reopen the work files of an interrupted decoding of the same files; False (and the
        records empty) if there are none, they do not match, or their rows were being moved."""
        if not (self.rows_path.is_file() and self.journal_path.is_file()):
            return False
        try:
            text = read_bounded(self.journal_path, _LINE_BYTES * (self.shape[0] + 2), "journal")
            lines = text.decode("utf-8", errors="replace").split("\n")
            if json.loads(lines[0]) != self.header:
                return False
            records = []
            for line in lines[1:]:
                try:
                    value = json.loads(line)
                except ValueError:  # a torn last line: the record after it was never committed
                    break
                if value == _FINISHING:
                    return False
                try:
                    records.append(Record.from_json(value))
                except ValueError:
                    break
            shape, dtype, offset = npy_header(self.rows_path, int(np.prod(self.shape)))
        except (OSError, ValueError, DataError):
            return False
        # a used file's row is its slot: its place among the candidates
        if (shape != self.shape or dtype != np.uint8 or offset != HEADER_BYTES
                or any(r.row != i for i, r in enumerate(records) if r.status == "used")):
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
                f.write(npy_header_bytes(self.shape))
                end = self.offset + int(np.prod(self.shape))
                if hasattr(os, "posix_fallocate"):  # the space now: a full disk is an OSError
                    os.posix_fallocate(f.fileno(), 0, end)
                else:
                    f.truncate(end)
            self.journal_path.write_text(json.dumps(self.header) + "\n", encoding="utf-8")

    def write_row(self, slot: int, rows: np.ndarray) -> None:
        """Slot ``slot`` = ``rows`` (uint8 ``[C, S, S]``, in the work file's channels), from this
        process (the decoding processes write theirs with a :class:`RowWriter`)."""
        row = np.ascontiguousarray(rows, np.uint8)
        with writing(self.rows_path):
            pwrite_all(self.fd, row.data, self.offset + slot * self.row_bytes)
        self.total += pixel_sum(row[None])

    def add_sum(self, total: np.ndarray) -> None:
        """Add the :func:`pixel_sum` of rows a decoding process wrote."""
        self.total += total

    def forget_row(self, slot: int) -> None:
        """Slot ``slot`` was written but is not used (a duplicate): its pixels leave the sum."""
        self.total -= pixel_sum(self.read_rows(slot, slot + 1))

    def read_rows(self, start: int, stop: int) -> np.ndarray:
        """Rows ``start:stop`` (uint8 ``[stop - start, C, S, S]``)."""
        data = os.pread(self.fd, (stop - start) * self.row_bytes,
                        self.offset + start * self.row_bytes)
        return np.frombuffer(data, np.uint8).reshape(stop - start, *self.shape[1:])

    def _read_slots(self, slots: list[int], start: int, stop: int) -> np.ndarray:
        """The rows of ``slots[start:stop]`` (increasing), one read per run of adjacent slots."""
        parts, i = [], start
        while i < stop:
            j = i + 1
            while j < stop and slots[j] == slots[j - 1] + 1:
                j += 1
            parts.append(self.read_rows(slots[i], slots[j - 1] + 1))
            i = j
        return np.concatenate(parts) if len(parts) > 1 else parts[0]

    def _slots_sum(self, slots: list[int]) -> np.ndarray:
        total = np.zeros(self.shape[1:], np.int64)
        step = max(1, CHUNK_BYTES // self.row_bytes)
        for start in range(0, len(slots), step):
            total += pixel_sum(self._read_slots(slots, start, min(len(slots), start + step)))
        return total

    def add(self, record: Record) -> None:
        self.queued.append(record)

    def commit(self) -> None:
        """Sync the rows to the disk, then record the files they belong to (in that order, so a
        record never names a row that was not written, even after a power cut). The decoding
        processes' writes are synced too: they are the same file's pages."""
        if not self.queued:
            return
        with writing(self.rows_path):
            os.fdatasync(self.fd) if hasattr(os, "fdatasync") else os.fsync(self.fd)
        with writing(self.journal_path):
            self.journal.writelines(json.dumps(r.to_json()) + "\n" for r in self.queued)
            self.journal.flush()
        self.records += self.queued
        self.queued = []

    def finish(self, slots: list[int], gray: bool) -> np.ndarray:
        """Make the work file the cache's pixel file ``[n, C, S, S]`` in place (see the module
        docstring): the rows of ``slots`` (the used files' slots, in order) become rows
        ``0..n-1``, grey if ``gray``. Returns the mean example (float64 ``[1, C, S, S]``). Moving
        rows is announced in the journal first: a decoding killed meanwhile starts again."""
        self.commit()
        n, convert = len(slots), gray and self.channels == 3
        channels = 1 if gray else self.channels
        if convert or n != self.shape[0]:  # else every slot is used: nothing moves
            with writing(self.journal_path):
                self.journal.write(json.dumps(_FINISHING) + "\n")
                self.journal.flush()
                os.fsync(self.journal.fileno())
            self._compact(slots, convert)
            with writing(self.rows_path):
                pwrite_all(self.fd, npy_header_bytes((n, channels, *self.shape[2:])), 0)
                os.ftruncate(self.fd, self.offset + n * channels * self.shape[2] * self.shape[3])
                os.fdatasync(self.fd) if hasattr(os, "fdatasync") else os.fsync(self.fd)
        return mean_of(self.total, n)

    def _compact(self, slots: list[int], convert: bool) -> None:
        """Rows ``slots`` moved down to ``0..n-1`` (made grey if ``convert``; the sum is then the
        grey rows'), a chunk at a time: a chunk is read whole before it is written, and lands
        below every slot still to be read (slot >= row, and grey rows are smaller)."""
        n = len(slots)
        out_bytes = self.row_bytes // 3 if convert else self.row_bytes
        step = max(1, CHUNK_BYTES // self.row_bytes)
        if convert:
            self.total = np.zeros((1, *self.shape[2:]), np.int64)
        for start in range(0, n, step):
            stop = min(n, start + step)
            if not convert and slots[stop - 1] == stop - 1:  # this chunk is already in place
                continue
            rows = self._read_slots(slots, start, stop)
            if convert:
                rows = to_gray(rows)
                self.total += pixel_sum(rows)
            with writing(self.rows_path):
                pwrite_all(self.fd, np.ascontiguousarray(rows).data, self.offset + start * out_bytes)

    def close(self, remove: bool = False) -> None:
        self.journal.close()
        os.close(self.fd)
        if remove:
            self.rows_path.unlink(missing_ok=True)
            self.journal_path.unlink(missing_ok=True)


class MemoryWork:
    """:class:`WorkFiles`' stand-in when the cache folder cannot be written: the rows in memory,
    nothing kept for a resumed or later run (the mean example is left to the dataset)."""

    target = None  # the decoding processes send their rows back

    def __init__(self, capacity: int, size: int, channels: int):
        self.rows = np.empty((max(capacity, 1), channels, size, size), np.uint8)
        self.channels = channels
        self.records: list[Record] = []

    def write_row(self, slot: int, rows: np.ndarray) -> None:
        self.rows[slot] = rows

    def add_sum(self, total: np.ndarray) -> None:
        pass

    def forget_row(self, slot: int) -> None:
        pass

    def add(self, record: Record) -> None:
        self.records.append(record)

    def commit(self) -> None:
        pass

    def pixels(self, slots: list[int], gray: bool) -> np.ndarray:
        """The used rows ``[n, C, S, S]``, grey if ``gray``."""
        rows = self.rows[slots]
        return to_gray(rows) if gray and self.channels == 3 else rows

    def close(self, remove: bool = False) -> None:
        pass
