"""The entries of the image folder cache, under ``$GANKIT_DATA/folders/``: one per folder, set of
files and options, keyed by a hash of the folder's path, every file's relative path, size, mtime,
type and link target, the resolution, the colour mode and the alpha policy.

An entry ``KEY`` is ``KEY.npy`` (the uint8 pixels ``[N, C, S, S]``, memory-mapped, never a
pickle), ``KEY.files.tsv`` (every used, skipped and duplicate file), ``KEY.records.jsonl`` (each
file's :class:`Record`: the decoding's journal, read only to update the entry when the folder
changes) and ``KEY.json``
(the report and the mean example), written last and atomically: an entry without it is
incomplete and never read. A damaged or foreign entry is reported and decoded again.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Iterator

import numpy as np

from gankit.errors import DataError
from gankit.data.folder_report import FolderReport
from gankit.data.image_cache import Record, WorkFiles, finished_records
from gankit.data.pixel_rows import map_pixels
from gankit.utils.atomic import atomic_path
from gankit.utils.cache import cache_dir
from gankit.utils.disk import writing
from gankit.utils.limits import read_bounded

CACHE_VERSION = 2  # bump when the decoding changes, so old caches are not reused
#: Of the cache entry's files (3: per-file records and the mean example; 4: KEY.npy is the work
#: file itself, with a 128-byte header, and KEY.records.jsonl the decoding's journal).
CACHE_FORMAT = 4


@dataclass(frozen=True)
class ListedFile:
    """One file as the listing saw it, without opening it: what the cache key covers."""

    rel: str      # relative posix path
    size: int     # of the file (a link: of its target); -1 if it cannot be stat'ed
    mtime: int    # ns
    kind: str     # "file", or what else it is ("a FIFO (named pipe)", "a dangling link", ...)
    target: str   # the resolved path (links followed)
    link: bool    # the path itself is a symbolic link


def cache_root() -> Path:
    return cache_dir() / "folders"


def cache_key(root: Path, files: list[ListedFile], size: int, channels: str, alpha: str = "white"
               ) -> str:
    """``<folder name>-<hash of path and options>-<hash of the file list>``; the file list covers
    each file's size, mtime, type and link target (what decides duplicates and skips)."""
    what = hashlib.sha256(json.dumps([[e.rel, e.size, e.mtime, e.kind, e.target, e.link]
                                      for e in files]).encode())
    return f"{cache_stem(root, size, channels, alpha)}-{what.hexdigest()[:16]}"


def cache_stem(root: Path, size: int, channels: str, alpha: str) -> str:
    """``<folder name>-<hash of path and options>``: what every entry of this folder and these
    options starts with, whatever its files."""
    where = hashlib.sha256(json.dumps([str(root), size, channels, alpha, CACHE_VERSION]).encode())
    name = "".join(c if c.isalnum() or c in "-_" else "_" for c in root.name)[:40] or "root"
    return f"{name}-{where.hexdigest()[:12]}"


@dataclass
class CacheEntry:
    """A complete cache entry: its report, the record of every candidate file (read only to update
    the entry: 200,000 of them take ~100 MB as Python objects), and its pixels (uint8
    ``[N, C, S, S]``, memory-mapped)."""

    report: FolderReport
    records: list[Record] | None
    pixels: np.ndarray
    mean: np.ndarray | None  # the mean example [1, C, S, S], float64 (None: not known)


@contextlib.contextmanager
def decoding_lock(key: str) -> Iterator[None]:
    """Hold ``KEY.lock`` (an advisory lock, released if the process dies) while decoding, so two
    processes never write the same work files; the second waits, then finds the cache written."""
    try:
        import fcntl
    except ImportError:  # not POSIX: no lock
        yield
        return
    folder = cache_root()
    try:
        folder.mkdir(parents=True, exist_ok=True)
        f = open(folder / f"{key}.lock", "a")
    except OSError:  # an unwritable cache: decoded in memory, nothing shared to guard
        yield
        return
    with f:
        try:
            fcntl.flock(f, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            print(f"gankit: folder: another process is decoding this folder into {folder}; "
                  f"waiting for it", file=sys.stderr)
            fcntl.flock(f, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(f, fcntl.LOCK_UN)


def read_entry(key: str, quiet: bool = False, records: bool = False) -> CacheEntry | None:
    """The cache entry ``key``, or None if there is none; a damaged one (truncated, foreign,
    inconsistent) is reported on stderr and None returned: it is decoded again, never trusted.
    The .npy header is checked against the report before anything is mapped."""
    base = cache_root() / key
    if not base.with_suffix(".json").exists():
        return None
    try:
        info = json.loads(read_bounded(base.with_suffix(".json"), 1 << 30, "cache report"))
        if info.get("format") != CACHE_FORMAT:
            print(f"gankit: folder: the cache entry {base.with_suffix('.npy')} was written by an "
                  f"older gankit; decoding the images again (into a cache that is memory-mapped "
                  f"and updated file by file)", file=sys.stderr)
            return None
        report = FolderReport(
            info["root"], used=list(info["used"]), skipped=[tuple(s) for s in info["skipped"]],
            duplicates=[tuple(s) for s in info["duplicates"]], upscaled=list(info["upscaled"]),
            transparent=list(info["transparent"]), channels=info["channels"],
            image_size=int(info["image_size"]), alpha=info["alpha"],
            cache_file=str(base.with_suffix(".npy")), from_cache=True)
        c = 1 if report.channels == "gray" else 3
        shape = (len(report.used), c, report.image_size, report.image_size)
        pixels = map_pixels(base.with_suffix(".npy"), shape)
        mean = np.asarray(info["mean"], np.float64).reshape(1, *shape[1:])
        if not np.isfinite(mean).all():
            raise ValueError("its mean image is not finite")
        if records:
            records = finished_records(read_bounded(Path(f"{base}.records.jsonl"), 1 << 31,
                                                    "cache records"))
        else:
            records = None
    except (OSError, ValueError, KeyError, TypeError, AttributeError, DataError) as e:
        why = str(e).split("; ")[0] if str(e) else type(e).__name__
        if not quiet:
            print(f"gankit: folder: the cache entry {base.with_suffix('.npy')} is damaged or "
                  f"foreign ({why}); decoding the images again", file=sys.stderr)
        return None
    listed = Path(str(base) + ".files.tsv")
    report.list_file = str(listed) if listed.is_file() else None
    return CacheEntry(report, records, pixels, mean)


def previous_entry(key: str) -> CacheEntry | None:
    """The newest complete entry for the same folder and options but another file list (the
    folder changed since), whose decoded images can be reused."""
    stem = key.rsplit("-", 1)[0] + "-"  # = cache_stem(...) + "-"
    olds = sorted(cache_root().glob(stem + "*.json"), key=lambda p: p.stat().st_mtime,
                  reverse=True)
    for old in olds:
        if old.stem != key:
            return read_entry(old.stem, records=True)
    return None


def write_entry(key: str, work: WorkFiles, report: FolderReport) -> np.ndarray:
    """Make the work file ``key.npy`` and the journal ``key.records.jsonl``
    (:meth:`WorkFiles.finish` in place, then renames: the pixels are never copied), write
    ``key.files.tsv`` (the full list), then ``key.json`` atomically (last: the entry is complete),
    and delete older entries for the same folder and options. Returns the mean example (also kept
    in ``key.json``)."""
    folder = cache_root()
    base = folder / key
    listed = Path(str(base) + ".files.tsv")
    slots = [r.row for r in work.records if r.status == "used"]
    mean = work.finish(slots, report.channels == "gray")
    info = {"root": report.root, "used": report.used, "skipped": report.skipped,
            "duplicates": report.duplicates, "upscaled": report.upscaled,
            "transparent": report.transparent, "channels": report.channels,
            "image_size": report.image_size, "alpha": report.alpha, "version": CACHE_VERSION,
            "format": CACHE_FORMAT, "mean": mean.ravel().tolist()}  # floats round-trip in JSON
    with writing(listed), atomic_path(listed) as tmp:
        tmp.write_text(report.table(), encoding="utf-8")
    for path, name in ((work.journal_path, f"{base}.records.jsonl"),
                       (work.rows_path, base.with_suffix(".npy"))):
        with writing(name):
            os.replace(path, name)
    with writing(base.with_suffix(".json")), atomic_path(base.with_suffix(".json")) as tmp:
        tmp.write_text(json.dumps(info), encoding="utf-8")
    report.cache_file = str(base.with_suffix(".npy"))
    report.list_file = str(listed)
    stem = key.rsplit("-", 1)[0] + "-"  # same folder and options, older file list: stale
    for old in folder.glob(stem + "*"):
        if not old.name.startswith(key):
            old.unlink(missing_ok=True)
    return mean
