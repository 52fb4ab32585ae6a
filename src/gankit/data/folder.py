"""Your own images: any folder (searched recursively) of PNG, JPEG or WebP files.

Each image is centre-cropped to a square and resized to ``image_size`` pixels (the same as resizing
its shorter side to ``image_size`` and cropping the centre, so originals of any size and aspect
ratio work), then made grayscale or RGB (``image_channels``: ``auto`` picks what most images are).
Transparent pixels follow ``image_alpha``: composited over ``white`` (the default) or ``black``, or
the image is left out (``skip``). Files that cannot be used are skipped and listed, with the
reason, on stderr and in ``dataset.report``.

What is read, and what is said about it:

- only regular files (links followed): a FIFO named ``pipe.png`` would block the read for ever, so
  it is skipped, as are sockets, devices and dangling links, each with its reason;
- each image once: paths that resolve to the same file (links) and files with the same bytes (a
  SHA-256 of the content) are left out as duplicates of the first, and counted;
- images smaller than ``image_size`` are upscaled, and counted (they come out blurry);
- an image's size is read from its header before it is decoded, and one that would decode to more
  than ``MAX_PIXELS`` pixels is skipped (:mod:`gankit.data.decode`), so the peak memory does not
  grow with the images' size.

Decoding happens once, in a pool of processes (:func:`decode_workers`, one per core), each writing
its images' rows straight into a work file, so the memory it takes does not grow with the folder
either; what is done is recorded every few seconds, and an interrupted decoding resumes where it
stopped (:mod:`gankit.data.image_cache`). The work file then becomes the cache entry's uint8
``.npy`` (never a pickle), beside a JSON report and the full list of used, skipped and duplicate
files (``KEY.files.tsv``, its path printed), under ``$GANKIT_DATA/folders/`` (the cache that also
holds MNIST; :mod:`gankit.data.folder_cache`). Changing an option decodes again; adding, removing
or editing files decodes only those (the others' pixels are copied from the older entry, which is
then deleted). The cache is not written into the image folder itself, which may be read-only,
shared or under version control, and whose next scan would then have to skip it. A large folder
is not loaded but memory-mapped from the cache (``IN_MEMORY_BYTES``).
"""

from __future__ import annotations

import errno
import os
import stat
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from gankit.errors import DataError, GankitError
from gankit.data.base import Dataset
from gankit.data.decode import Decoded, decode_workers, decoded_in_order, start_pool_early
from gankit.data.folder_cache import (CACHE_FORMAT, CACHE_VERSION, CacheEntry, ListedFile,
                                      cache_key, cache_root, cache_stem, decoding_lock,
                                      previous_entry, read_entry, write_entry)
from gankit.data.folder_report import FolderReport
from gankit.data.image_cache import MemoryWork, Record, WorkFiles
from gankit.data.pixel_rows import map_pixels, to_channels
from gankit.utils.limits import file_kind, human_bytes

#: File endings read as images; anything else is reported as "not an image".
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp")
CHANNELS = ("auto", "gray", "rgb")
#: What transparent pixels become: composited over white or black, or the image is left out.
ALPHA = ("white", "black", "skip")
#: A folder whose pixels take at most this as float32 is held in memory as float32, as the small
#: built-in sets are; a larger one stays uint8, memory-mapped from its cache file (Dataset).
IN_MEMORY_BYTES = 64 * 2**20
_COMMIT_SECONDS = 2.0  # decoded rows are flushed and recorded this often: what a kill can lose
_PROGRESS_MIN_FILES = 200  # fewer files to decode: no progress bar


@dataclass
class FolderDataset(Dataset):
    """A :class:`Dataset` of a folder's images, with the report of what was used and skipped,
    and the mean example computed when the cache was written (a run does not read the whole
    cache again to find it)."""

    report: FolderReport | None = None
    mean: torch.Tensor | None = None  # [1, C, S, S] float64

    def mean_example(self, chunk_bytes: int = 32 << 20) -> torch.Tensor:
        if self.mean is not None and tuple(self.mean.shape[1:]) == self.sample_shape:
            return self.mean.clone()
        return super().mean_example(chunk_bytes)


def load_folder(data_dir: str | None, image_size: int = 32, image_channels: str = "auto",
                image_alpha: str = "white", quiet: bool = False, workers: int | None = None
                ) -> FolderDataset:
    """Images ``[N, C, image_size, image_size]`` from every usable image under ``data_dir``
    (sorted by relative path): float32 in [0, 1] for a small folder, uint8 memory-mapped from the
    cache for a large one (see :class:`Dataset`). Decoding runs in ``workers`` processes (default:
    :func:`decode_workers`). Raises :class:`DataError` for a missing or empty folder or one
    without a usable image. The report (and a progress bar) go to stderr unless ``quiet``."""
    if image_channels not in CHANNELS:
        raise DataError(f"image_channels must be one of {', '.join(CHANNELS)} (got {image_channels!r})")
    if image_alpha not in ALPHA:
        raise DataError(f"image_alpha must be one of {', '.join(ALPHA)} (got {image_alpha!r})")
    if not data_dir:
        raise DataError("--dataset folder needs --data-dir DIR, the folder holding your images")
    root = Path(data_dir).expanduser()
    if not root.is_dir():
        what = "is a file, not a folder" if root.exists() else "does not exist"
        raise DataError(f"image folder {root} {what}; pass --data-dir with a folder of PNG/JPEG/WebP "
                        f"images")
    root = root.resolve()
    workers = workers or decode_workers()
    if workers > 1 and not any(cache_root().glob(
            cache_stem(root, image_size, image_channels, image_alpha) + "-*.json")):
        start_pool_early()  # a first decoding: the pool starts while the files are listed
    files = _list_files(root)
    if not files:
        raise DataError(f"image folder {root} holds no files; put PNG/JPEG/WebP images in it "
                        f"(subfolders are searched too)")
    key = cache_key(root, files, image_size, image_channels, image_alpha)
    entry = read_entry(key)
    if entry is None:
        with decoding_lock(key):  # the ranks of a distributed run: one decodes, the others wait
            entry = read_entry(key, quiet=True) or _build(
                root, files, key, image_size, image_channels, image_alpha, workers, quiet)
    if not quiet:
        print(entry.report.summary(), file=sys.stderr)
    mean = None if entry.mean is None else torch.from_numpy(entry.mean)
    return FolderDataset("folder", train=_as_tensor(entry.pixels), unit_range=True,
                         report=entry.report, mean=mean)


def _as_tensor(pixels: np.ndarray) -> torch.Tensor:
    """A small folder in memory as float32 in [0, 1], as the built-in sets are; a larger one
    (over IN_MEMORY_BYTES as float32) as its uint8 pixels, memory-mapped (no copy)."""
    if pixels.size * 4 <= IN_MEMORY_BYTES:
        return torch.from_numpy(np.array(pixels)).float().div_(255.0)  # [N, C, H, W] -> [0, 1]
    return torch.from_numpy(pixels)


# --- finding the files ----------------------------------------------------------------------------

def _list_files(root: Path) -> list[ListedFile]:
    """Every file under ``root``, sorted by relative path, without opening any (a FIFO cannot
    block here); hidden files and folders (``.git``, ``.DS_Store``, ...) are left out without a
    mention. Folders are not followed through links (no loops), so only a link's path can differ
    from its resolved target: the others' targets are their paths (``root`` is resolved). One
    ``stat`` a file (``os.scandir`` gives the rest): 200,000 files are listed in seconds."""
    out, folders = [], [(str(root), "")]
    while folders:
        folder, prefix = folders.pop()
        try:
            with os.scandir(folder) as it:
                entries = list(it)
        except OSError:  # an unreadable subfolder is passed over, as os.walk does
            continue
        for entry in entries:
            if entry.name.startswith("."):
                continue
            rel = prefix + entry.name
            link = entry.is_symlink()
            try:
                if entry.is_dir():  # follows links: a linked folder is listed nowhere
                    if not link:
                        folders.append((entry.path, rel + "/"))
                    continue
            except OSError:
                pass
            try:
                st = entry.stat()  # links followed
                kind = "file" if stat.S_ISREG(st.st_mode) else file_kind(st.st_mode)
                size, mtime = st.st_size, st.st_mtime_ns
            except OSError as e:
                kind = "a dangling link" if link else f"unreadable ({e.strerror or e})"
                size = mtime = -1
            out.append(ListedFile(rel, size, mtime, kind,
                              os.path.realpath(entry.path) if link else entry.path, link))
    return sorted(out, key=lambda e: e.rel)


def _sort_out(root: Path, files: list[ListedFile], size: int, alpha: str
              ) -> tuple[FolderReport, list[ListedFile]]:
    """The report of what the listing alone decides (not regular files, not images, links to a
    file already seen), and the candidate files to decode, sorted by relative path."""
    report = FolderReport(str(root), image_size=size, alpha=alpha)
    candidates, first_of_target = [], {}
    # a path that resolves to a file already seen is a duplicate; the real file (not a link) is
    # preferred as the one kept, then the first in sorted order
    for e in sorted(files, key=lambda e: (e.link, e.rel)):
        suffix = _suffix(e.rel)
        if e.kind != "file":
            report.skipped.append((e.rel, f"{e.kind}, not a regular file (only regular files are "
                                          f"read)"))
        elif suffix not in IMAGE_SUFFIXES:
            report.skipped.append((e.rel, f"not an image ({suffix or 'no file ending'}; only "
                                          f"{'/'.join(IMAGE_SUFFIXES)} are read)"))
        elif e.target in first_of_target:
            report.duplicates.append((e.rel, f"same file as {first_of_target[e.target]} (a link)"))
        else:
            first_of_target[e.target] = e.rel
            candidates.append(e)
    return report, sorted(candidates, key=lambda e: e.rel)


def _suffix(rel: str) -> str:
    """``PurePath(rel).suffix.lower()``, without building a path (200,000 of them take seconds)."""
    name = rel.rpartition("/")[2]
    i = name.rfind(".")
    return name[i:].lower() if 0 < i < len(name) - 1 else ""


# --- decoding a folder into its cache ------------------------------------------------------------------

def _build(root: Path, files: list[ListedFile], key: str, size: int, channels: str, alpha: str,
           workers: int, quiet: bool) -> CacheEntry:
    """Decode the folder's candidate files in order into their slots of the work file (resuming an
    interrupted decoding of the same files, and reusing the images of an older entry for files
    that have not changed), settle duplicates and the colour mode, then make the work file the
    cache entry."""
    report, candidates = _sort_out(root, files, size, alpha)
    folder = cache_root()
    c = 1 if channels == "gray" else 3  # auto: RGB, made grey at the end if most images are
    header = {"key": key, "files": len(candidates), "size": size, "channels": c,
              "version": CACHE_VERSION, "format": CACHE_FORMAT}
    try:
        folder.mkdir(parents=True, exist_ok=True)
        work = WorkFiles(folder / key, header, len(candidates), size, c)
    except (OSError, GankitError) as e:
        if getattr(e, "errno", None) in (errno.ENOSPC, errno.EDQUOT):  # held in memory instead,
            # a large folder would exhaust it: say what the disk must hold
            raise DataError(f"cannot reserve {human_bytes(c * size * size * len(candidates))} in "
                            f"{folder} to decode {len(candidates):,} images "
                            f"({os.strerror(e.errno)}); free disk space, or set $GANKIT_DATA to "
                            f"a folder on a disk with room") from None
        why = getattr(e, "strerror", None) or str(e).split("; ")[0]
        print(f"gankit: warning: cannot cache decoded images in {folder} ({why}); they are held "
              f"in memory; set $GANKIT_DATA to a writable folder to load faster next time, with "
              f"bounded memory (and to keep the full list of skipped files)", file=sys.stderr)
        work = MemoryWork(len(candidates), size, c)
    try:
        _decode_into(work, root, candidates, size, alpha, workers, previous_entry(key), quiet)
    except KeyboardInterrupt:
        work.commit()
        work.close()
        if isinstance(work, MemoryWork):  # nothing was kept
            raise
        raise KeyboardInterrupt(f"decoding {root} interrupted with {len(work.records):,} of "
                                f"{len(candidates):,} files done (kept in {folder}); run the same "
                                f"command again to go on from there") from None
    except BaseException:
        work.close()
        raise
    for r in work.records:
        if r.status == "used":
            report.used.append(r.rel)
            if "u" in r.flags:
                report.upscaled.append(r.rel)
            if "t" in r.flags:
                report.transparent.append(r.rel)
        else:
            (report.skipped if r.status == "skipped" else report.duplicates).append((r.rel, r.detail))
    report.skipped.sort()
    report.duplicates.sort()
    if not report.used:
        work.close(remove=True)
        reasons = "; ".join(f"{n}: {w}" for n, w in report.skipped[:3])
        raise DataError(f"none of the {len(files)} files in {root} is a usable PNG/JPEG/WebP image "
                        f"({reasons}{'; ...' if len(report.skipped) > 3 else ''})")
    if channels == "auto":  # the majority decides; a tie goes to RGB, which loses nothing
        grey = sum("g" in r.flags for r in work.records if r.status == "used")
        channels = "gray" if 2 * grey > len(report.used) else "rgb"
    report.channels = channels
    n, c = len(report.used), (1 if channels == "gray" else 3)
    if isinstance(work, MemoryWork):
        slots = [r.row for r in work.records if r.status == "used"]
        return CacheEntry(report, work.records, work.pixels(slots, c == 1), None)
    try:
        mean = write_entry(key, work, report)
    except BaseException:
        work.close()  # the work files stay: unless its rows were being moved, nothing is lost
        raise
    work.close(remove=True)
    pixels = map_pixels(folder / f"{key}.npy", (n, c, size, size))
    return CacheEntry(report, None, pixels, mean)


def _decode_into(work: WorkFiles | MemoryWork, root: Path, candidates: list[ListedFile],
                 size: int, alpha: str, workers: int, previous: CacheEntry | None,
                 quiet: bool) -> None:
    """Record every candidate not yet in ``work.records`` (in order), its row in its slot (the
    candidate's index): its pixels from ``previous`` if the same file (path, size, mtime, target)
    was used there and its pixels in the work's channels are exactly recoverable, else decoded
    (the decoding processes write the rows). Duplicates of a used file's bytes are left out.
    Rows and records are committed every few seconds and at the end."""
    done = len(work.records)
    todo = candidates[done:]
    if done:
        print(f"gankit: folder: resuming an interrupted decoding: {done:,} of "
              f"{len(candidates):,} files already done", file=sys.stderr)
    reuse: dict[str, Record] = {}
    if previous is not None:  # the folder changed since it was cached: decode only what is new
        # grey is made from any row; RGB from an RGB cache's, or a grey source's (R = G = B)
        rgb_known = work.channels == 1 or previous.report.channels != "gray"
        olds = {(r.rel, r.size, r.mtime, r.target): r for r in previous.records
                if r.status == "used" and (rgb_known or "g" in r.flags)}
        for e in todo:
            r = olds.get((e.rel, e.size, e.mtime, e.target))
            if r is not None:
                reuse[e.rel] = r
        print(f"gankit: folder: {root} changed since it was cached: decoding "
              f"{len(todo) - len(reuse):,} new or changed files, reusing {len(reuse):,} decoded "
              f"images", file=sys.stderr)
    first_of_digest = {r.digest: r.rel for r in work.records if r.status == "used"}
    fresh = [(slot, e.rel) for slot, e in enumerate(todo, start=done) if e.rel not in reuse]
    decoded = decoded_in_order(root, [rel for _, rel in fresh], [slot for slot, _ in fresh], size,
                               alpha, workers, work.target, work.add_sum)
    show = not quiet and len(fresh) >= _PROGRESS_MIN_FILES
    last_commit = time.monotonic()
    with tqdm(total=len(candidates), initial=done, unit="img", desc="gankit: decoding",
              disable=not show, file=sys.stderr, dynamic_ncols=True, smoothing=0.05) as bar:
        for slot, e in enumerate(todo, start=done):
            old = reuse.get(e.rel)
            if old is not None:  # [C, S, S] from the cache
                work.write_row(slot, to_channels(previous.pixels[old.row], work.channels))
                result = Decoded(None, "g" in old.flags, old.digest, "u" in old.flags,
                                 "t" in old.flags)
            else:
                result = next(decoded)
                if isinstance(result, Decoded) and result.pixels is not None:  # held in memory
                    work.write_row(slot, to_channels(result.pixels, work.channels))
            ident = (e.rel, e.size, e.mtime, e.target)
            if isinstance(result, str):
                work.add(Record(*ident, "skipped", result))
            elif result.digest in first_of_digest:
                work.forget_row(slot)
                work.add(Record(*ident, "duplicate", f"same bytes as "
                                f"{first_of_digest[result.digest]}", result.digest))
            else:
                first_of_digest[result.digest] = e.rel
                flags = "g" * result.gray + "u" * result.upscaled + "t" * result.transparent
                work.add(Record(*ident, "used", "", result.digest, slot, flags))
            bar.update()
            if time.monotonic() - last_commit > _COMMIT_SECONDS:
                work.commit()
                last_commit = time.monotonic()
        work.commit()
