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
  than ``MAX_PIXELS`` pixels is skipped (a 531 KB PNG may declare 13000x13000 pixels, 676 MB as
  RGBA); JPEGs are decoded at a reduced scale first. A decoding process holds one image at a time
  (within a budget of ``PIXEL_BUDGET`` pixels in flight), so the peak memory does not grow with the
  images' size.

Decoding happens once, in a pool of processes (:func:`decode_workers`, one per core), straight
into a memory-mapped work file, so the memory it takes does not grow with the folder either; what
is done is recorded every few seconds, and an interrupted decoding resumes where it stopped
(:mod:`gankit.data.image_cache`). The pixels are cached as a uint8 ``.npy`` (never a pickle) with
a JSON report beside it and the full list of used, skipped and duplicate files
(``KEY.files.tsv``, its path printed), under ``$GANKIT_DATA/folders/`` (the cache that also holds
MNIST), keyed by a hash of the folder's path, every file's relative path, size, mtime, type and
link target, the resolution, the colour mode and the alpha policy. Changing an option decodes
again; adding, removing or editing files decodes only those (the others' pixels are copied from
the older entry, which is then deleted). The cache is not written into the image folder itself,
which may be read-only, shared or under version control, and whose next scan would then have to
skip it. A large folder is not loaded but memory-mapped from the cache (``IN_MEMORY_BYTES``).
"""

from __future__ import annotations

import contextlib
import errno
import hashlib
import itertools
import json
import math
import multiprocessing
import os
import signal
import stat
import sys
import threading
import time
import warnings
from collections import deque
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Iterator

import numpy as np
import torch
from tqdm import tqdm

from gankit.errors import DataError, GankitError
from gankit.data.base import Dataset
from gankit.data.image_cache import MemoryWork, Record, WorkFiles, map_pixels, to_gray, write_pixels
from gankit.utils.cache import cache_dir
from gankit.utils.atomic import atomic_path
from gankit.utils.disk import writing
from gankit.utils.limits import file_kind, human_bytes, open_regular, read_bounded

#: File endings read as images; anything else is reported as "not an image".
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp")
#: Formats Pillow may report for those files (MPO: the multi-picture JPEG of many cameras).
FORMATS = ("PNG", "JPEG", "MPO", "WEBP")
CHANNELS = ("auto", "gray", "rgb")
#: What transparent pixels become: composited over white or black, or the image is left out.
ALPHA = ("white", "black", "skip")
CACHE_VERSION = 2  # bump when the decoding below changes, so old caches are not reused
CACHE_FORMAT = 3   # of the cache entry's files (3: per-file records and the mean example)
MAX_PIXELS = 4096 * 4096       # decoded pixels per image (after a JPEG's reduced-scale decoding)
PIXEL_BUDGET = MAX_PIXELS      # decoded pixels in flight in one decoding process (one image at the limit runs alone)
MAX_FILE_BYTES = 256_000_000   # a larger file is skipped unread (hashing it would take long)
#: A folder whose pixels take at most this as float32 is held in memory as float32, as the small
#: built-in sets are; a larger one stays uint8, memory-mapped from its cache file (Dataset).
IN_MEMORY_BYTES = 64 * 2**20
POOL_MIN_FILES = 256  # fewer files to decode: in this process (a pool takes about a second to start)
_POOL_BATCH = 16      # files per task sent to a worker (~0.1 s of work: few messages)
_COMMIT_SECONDS = 2.0  # decoded rows are flushed and recorded this often: what a kill can lose
_PROGRESS_MIN_FILES = 200  # fewer files to decode: no progress bar
_MAX_LISTED = 20   # skipped files printed one per line; the rest are counted (all are in the list file)
_GRAY_MODES = ("1", "L", "LA", "I", "I;16", "I;16B", "I;16L", "F")


@dataclass
class FolderReport:
    """What :func:`load_folder` used, skipped and left out as duplicates (paths relative to the
    folder), how many images were upscaled or had transparency, and where the full list is."""

    root: str
    used: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (file, reason)
    duplicates: list[tuple[str, str]] = field(default_factory=list)  # (file, "same ... as X")
    upscaled: list[str] = field(default_factory=list)  # used images smaller than image_size
    transparent: list[str] = field(default_factory=list)  # used images with transparent pixels
    channels: str = "gray"
    image_size: int = 32
    alpha: str = "white"
    cache_file: str | None = None
    list_file: str | None = None
    from_cache: bool = False

    def summary(self) -> str:
        """A few lines for stderr: counts, each skipped file and why (the first 20), duplicates,
        upscaling, the alpha policy, and where the full list is."""
        mode = "grayscale" if self.channels == "gray" else "RGB"
        source = f" (cached in {self.cache_file})" if self.from_cache else ""
        lines = [f"gankit: folder {self.root}: {len(self.used)} images as {mode} "
                 f"{self.image_size}x{self.image_size}{source}; {len(self.skipped)} files skipped"
                 + (":" if self.skipped else "")]
        lines += [f"  skipped {name}: {why}" for name, why in self.skipped[:_MAX_LISTED]]
        if len(self.skipped) > _MAX_LISTED:
            lines.append(f"  ... and {len(self.skipped) - _MAX_LISTED} more (all in the list "
                         f"file below)")
        if self.duplicates:
            links = sum(why.startswith("same file") for _, why in self.duplicates)
            lines.append(f"gankit: folder: {len(self.duplicates)} duplicates left out ({links} "
                         f"paths to a file already used, e.g. links; "
                         f"{len(self.duplicates) - links} files with the same bytes as another)")
        if self.upscaled:
            lines.append(f"gankit: folder: {len(self.upscaled)} of {len(self.used)} images are "
                         f"smaller than {self.image_size}x{self.image_size} and were upscaled "
                         f"(blurry); a smaller --image-size avoids it")
        if self.transparent:
            what = {"white": "composited over white", "black": "composited over black"}
            lines.append(f"gankit: folder: {len(self.transparent)} images have transparent "
                         f"pixels, {what.get(self.alpha, 'left out')} (--image-alpha "
                         f"{self.alpha}; choose white, black or skip)")
        elif self.alpha == "skip":
            n = sum(why.startswith("has transparent") for _, why in self.skipped)
            if n:
                lines.append(f"gankit: folder: {n} images with transparent pixels left out "
                             f"(--image-alpha skip)")
        if self.list_file:
            lines.append(f"gankit: folder: full list of used, skipped and duplicate files: "
                         f"{self.list_file}")
        return "\n".join(lines)

    def table(self) -> str:
        """The full list, one file a line: ``status<TAB>path<TAB>detail`` (tab-separated)."""
        up, clear = set(self.upscaled), set(self.transparent)
        rows = [f"# gankit image folder {self.root}: {len(self.used)} used, {len(self.skipped)} "
                f"skipped, {len(self.duplicates)} duplicates; {len(self.upscaled)} upscaled to "
                f"{self.image_size}x{self.image_size}; {len(self.transparent)} with transparency "
                f"(image_alpha {self.alpha})", "# status\tfile\tdetail"]
        for name in self.used:
            notes = (["upscaled"] if name in up else []) + (
                [f"transparency: {self.alpha}"] if name in clear else [])
            rows.append(f"used\t{_tsv(name)}\t{'; '.join(notes)}")
        rows += [f"skipped\t{_tsv(name)}\t{_tsv(why)}" for name, why in self.skipped]
        rows += [f"duplicate\t{_tsv(name)}\t{_tsv(why)}" for name, why in self.duplicates]
        return "\n".join(rows) + "\n"


def _tsv(text: str) -> str:
    return text.replace("\t", " ").replace("\n", " ").replace("\r", " ")


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
    if workers > 1 and not any(_cache_root().glob(
            _cache_stem(root, image_size, image_channels, image_alpha) + "-*.json")):
        _start_pool_early()  # a first decoding: the pool starts while the files are listed
    files = _list_files(root)
    if not files:
        raise DataError(f"image folder {root} holds no files; put PNG/JPEG/WebP images in it "
                        f"(subfolders are searched too)")
    key = _cache_key(root, files, image_size, image_channels, image_alpha)
    entry = _read_entry(key)
    if entry is None:
        with _decoding_lock(key):  # the ranks of a distributed run: one decodes, the others wait
            entry = _read_entry(key, quiet=True) or _build(
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


# --- finding and decoding ----------------------------------------------------------------------------

@dataclass(frozen=True)
class _Entry:
    rel: str      # relative posix path
    size: int     # of the file (a link: of its target); -1 if it cannot be stat'ed
    mtime: int    # ns
    kind: str     # "file", or what else it is ("a FIFO (named pipe)", "a dangling link", ...)
    target: str   # the resolved path (links followed)
    link: bool    # the path itself is a symbolic link


def _list_files(root: Path) -> list[_Entry]:
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
            out.append(_Entry(rel, size, mtime, kind,
                              os.path.realpath(entry.path) if link else entry.path, link))
    return sorted(out, key=lambda e: e.rel)


class _PixelBudget:
    """Decoded pixels in flight across the threads of a process: a thread waits until its image
    fits (one image alone always may), so the peak memory is bounded whatever the images' sizes."""

    def __init__(self, total: int):
        self.total, self.used = total, 0
        self.cond = threading.Condition()

    def acquire(self, n: int) -> None:
        with self.cond:
            self.cond.wait_for(lambda: self.used == 0 or self.used + n <= self.total)
            self.used += n

    def release(self, n: int) -> None:
        with self.cond:
            self.used -= n
            self.cond.notify_all()


@dataclass
class _Decoded:
    pixels: np.ndarray  # RGB uint8 [size, size, 3]
    gray: bool          # the source is grey
    digest: str         # SHA-256 of the file's bytes
    upscaled: bool      # its shorter side was smaller than size
    transparent: bool   # it has transparent pixels (composited by the alpha policy)


def _sort_out(root: Path, files: list[_Entry], size: int, alpha: str
              ) -> tuple[FolderReport, list[_Entry]]:
    """The report of what the listing alone decides (not regular files, not images, links to a
    file already seen), and the candidate files to decode, sorted by relative path."""
    report = FolderReport(str(root), image_size=size, alpha=alpha)
    candidates, first_of_target = [], {}
    # a path that resolves to a file already seen is a duplicate; the real file (not a link) is
    # preferred as the one kept, then the first in sorted order
    for e in sorted(files, key=lambda e: (e.link, e.rel)):
        suffix = Path(e.rel).suffix.lower()
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


def decode_workers() -> int:
    """Processes that decode an image folder: ``$GANKIT_DECODE_WORKERS``, else every core this
    process may run on."""
    env = os.environ.get("GANKIT_DECODE_WORKERS", "").strip()
    if env:
        if not env.isdigit() or int(env) < 1:
            raise DataError(f"GANKIT_DECODE_WORKERS must be a number of processes, 1 or more "
                            f"(got {env!r})")
        return int(env)
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # not Linux
        return os.cpu_count() or 1


def _ignore_sigint() -> None:
    """In a decoding worker: Ctrl-C is the parent's to handle (it records what is done and stops
    the pool); the workers would otherwise each print a traceback."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)


def _decode_batch(root: str, rels: list[str], size: int, alpha: str) -> list[_Decoded | str]:
    """A worker's task: a few files decoded one after the other (one image in memory at a time,
    so the pool holds at most ``workers`` images of at most MAX_PIXELS)."""
    budget = _PixelBudget(PIXEL_BUDGET)
    return [_decode_one(Path(root) / rel, size, alpha, budget) for rel in rels]


def _pool_context():
    """forkserver where there is one (Linux, macOS): a fresh single-threaded server process, which
    imports this module once, forks the workers. Not fork: this process has imported torch and
    may run its OpenMP and intra-op threads, and forking a threaded process can copy a lock held
    by another thread into the child, which then deadlocks. Not spawn: every worker would import
    gankit (and torch) again, a second or more each."""
    methods = multiprocessing.get_all_start_methods()
    if "forkserver" in methods:
        ctx = multiprocessing.get_context("forkserver")
        ctx.set_forkserver_preload([__name__])
        return ctx
    return multiprocessing.get_context("spawn")


def _start_pool_early() -> None:
    """Start the forkserver now (it imports gankit and torch, a second or two, in its own
    process): the pool's workers are forked from it as soon as there is work."""
    if _pool_context().get_start_method() == "forkserver":
        from multiprocessing import forkserver

        forkserver.ensure_running()


def _decoded_in_order(root: Path, rels: list[str], size: int, alpha: str, workers: int
                      ) -> Iterator[_Decoded | str]:
    """``_decode_one`` of each file, in order: in this process for one worker or a few files,
    else in a pool of ``workers`` processes with a bounded number of tasks in flight (the memory
    of the results waiting does not grow with the folder)."""
    if workers <= 1 or len(rels) < POOL_MIN_FILES:
        budget = _PixelBudget(PIXEL_BUDGET)
        for rel in rels:
            yield _decode_one(root / rel, size, alpha, budget)
        return
    batches = (rels[i:i + _POOL_BATCH] for i in range(0, len(rels), _POOL_BATCH))
    pool = ProcessPoolExecutor(workers, mp_context=_pool_context(), initializer=_ignore_sigint)
    try:
        pending = deque(pool.submit(_decode_batch, str(root), b, size, alpha)
                        for b in itertools.islice(batches, 4 * workers))
        while pending:
            done = pending.popleft().result()
            for b in itertools.islice(batches, 1):
                pending.append(pool.submit(_decode_batch, str(root), b, size, alpha))
            yield from done
    finally:  # finished, interrupted or failed: the queued tasks are dropped, running ones end
        pool.shutdown(wait=True, cancel_futures=True)


def _too_large(w: int, h: int) -> str:
    side = math.isqrt(MAX_PIXELS)
    return (f"too large to decode ({w}x{h} = {w * h:,} pixels; at most {MAX_PIXELS:,} per image, "
            f"{side}x{side}): shrink it, or leave it out")


def _decode_one(path: Path, size: int, alpha: str = "white", budget: _PixelBudget | None = None
                ) -> _Decoded | str:
    """The decoded image (``_Decoded``) or the reason the file was skipped."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    budget = budget or _PixelBudget(PIXEL_BUDGET)
    try:
        with open_regular(path) as f:  # regular files only, checked on the open descriptor
            n_bytes = os.fstat(f.fileno()).st_size
            if n_bytes > MAX_FILE_BYTES:
                return f"file too large ({n_bytes:,} bytes; at most {MAX_FILE_BYTES:,})"
            digest = hashlib.sha256()
            while chunk := f.read(1 << 20):
                digest.update(chunk)
            f.seek(0)
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")  # e.g. Pillow's palette-transparency notices
                with Image.open(f) as img:  # reads the header only: the size, not the pixels
                    if img.format not in FORMATS:
                        return f"unsupported image format {img.format} (use PNG, JPEG or WebP)"
                    w0, h0 = img.size
                    if img.format in ("JPEG", "MPO"):
                        img.draft("RGB", (size, size))  # decode at a reduced scale, still >= size
                    w, h = img.size  # what will be decoded
                    if w * h > MAX_PIXELS:
                        return _too_large(w0, h0)
                    budget.acquire(w * h)
                    try:
                        img.load()
                        img = ImageOps.exif_transpose(img)  # camera orientation
                        return _finish(img, size, alpha, digest.hexdigest(), min(w0, h0) < size)
                    finally:
                        budget.release(w * h)
    except Image.DecompressionBombError:
        return "too large to decode (Pillow's decompression-bomb limit): shrink it, or leave it out"
    except UnidentifiedImageError:
        return "broken or not really an image (Pillow cannot identify it)"
    except DataError as e:  # not a regular file after all (swapped since the listing), unreadable
        return str(e).split("; ")[0].replace(f"{path} ", "", 1)
    except PermissionError:
        return "unreadable (permission denied)"
    except (OSError, SyntaxError, ValueError) as e:  # truncated data, bad chunks, I/O errors
        msg = str(e).splitlines()[0] if str(e) else type(e).__name__
        return f"broken or unreadable ({msg})"


def _finish(img, size: int, alpha: str, digest: str, upscaled: bool) -> _Decoded | str:
    """Crop the central square and resize it in the image's own mode (so the full-size image is
    never converted: the peak memory stays near the decoded size), then make it RGB."""
    from PIL import Image

    gray = img.mode in _GRAY_MODES
    if img.mode == "P":  # palette: expand (with its transparency, if any)
        img = img.convert("RGBA" if "transparency" in img.info else "RGB")
    elif img.mode in ("1", "PA", "CMYK", "YCbCr", "LAB", "HSV", "RGBX"):
        img = img.convert({"1": "L", "PA": "RGBA"}.get(img.mode, "RGB"))
    transparent = img.mode in ("RGBA", "LA") and img.getextrema()[-1][0] < 255
    if transparent and alpha == "skip":
        return "has transparent pixels (--image-alpha skip leaves such images out)"
    w, h = img.size
    side = min(w, h)
    left, top = (w - side) // 2, (h - side) // 2
    # The central square, resized in one resampling (= shorter side to `size`, then centre crop);
    # RGBA/LA are resampled premultiplied by Pillow, so transparent pixels do not bleed colour
    small = img.resize((size, size), Image.Resampling.LANCZOS,
                       box=(left, top, left + side, top + side))
    arr = np.asarray(_to_rgb(small, "black" if alpha == "black" else "white"), np.uint8)
    same = (arr[..., 0] == arr[..., 1]).all() and (arr[..., 1] == arr[..., 2]).all()
    return _Decoded(arr, gray or bool(same), digest, upscaled, transparent)


def _to_rgb(img, background: str = "white"):
    """RGB of any Pillow mode: transparency is composited over ``background`` (white or black),
    16-bit grey scaled to 8 bits. Called on the resized image, so its arrays are small."""
    from PIL import Image

    if img.mode in ("I;16", "I;16B", "I;16L", "I", "F"):  # 16-bit PNG grey: 0..65535
        arr = np.asarray(img, dtype=np.float64)
        scale = 255.0 / 65535.0 if img.mode != "F" else 255.0 / max(float(arr.max()), 1e-12)
        img = Image.fromarray(np.clip(np.rint(arr * scale), 0, 255).astype(np.uint8), "L")
    if img.mode == "P" or img.mode == "PA":
        img = img.convert("RGBA")
    if img.mode in ("RGBA", "LA", "La", "RGBa"):
        rgba = img.convert("RGBA")
        fill = (255, 255, 255, 255) if background == "white" else (0, 0, 0, 255)
        return Image.alpha_composite(Image.new("RGBA", rgba.size, fill), rgba).convert("RGB")
    return img.convert("RGB")


# --- decoding a folder into its cache ------------------------------------------------------------------

def _build(root: Path, files: list[_Entry], key: str, size: int, channels: str, alpha: str,
           workers: int, quiet: bool) -> _CacheEntry:
    """Decode the folder's candidate files in order into the work rows (resuming an interrupted
    decoding of the same files, and reusing the images of an older entry for files that have not
    changed), settle duplicates and the colour mode, then write the cache entry."""
    report, candidates = _sort_out(root, files, size, alpha)
    folder = _cache_root()
    header = {"key": key, "files": len(candidates), "size": size, "version": CACHE_VERSION}
    try:
        folder.mkdir(parents=True, exist_ok=True)
        work = WorkFiles(folder / key, header, len(candidates), size)
    except (OSError, GankitError) as e:
        if getattr(e, "errno", None) in (errno.ENOSPC, errno.EDQUOT):  # held in memory instead,
            # a large folder would exhaust it: say what the disk must hold
            raise DataError(f"cannot reserve {human_bytes(3 * size * size * len(candidates))} in "
                            f"{folder} to decode {len(candidates):,} images "
                            f"({os.strerror(e.errno)}); free disk space, or set $GANKIT_DATA to "
                            f"a folder on a disk with room") from None
        why = getattr(e, "strerror", None) or str(e).split("; ")[0]
        print(f"gankit: warning: cannot cache decoded images in {folder} ({why}); they are held "
              f"in memory; set $GANKIT_DATA to a writable folder to load faster next time, with "
              f"bounded memory (and to keep the full list of skipped files)", file=sys.stderr)
        work = MemoryWork(len(candidates), size)
    try:
        _decode_into(work, root, candidates, size, alpha, workers, _previous_entry(key), quiet)
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
        rows = work.rows[:n]
        return _CacheEntry(report, work.records, to_gray(rows) if c == 1 else rows, None)
    try:
        mean = _write_entry(key, work, report, work.records)
    except BaseException:
        work.close()  # the work files stay: the decoding is not lost
        raise
    work.close(remove=True)
    pixels = map_pixels(folder / f"{key}.npy", (n, c, size, size))
    return _CacheEntry(report, work.records, pixels, mean)


def _decode_into(work: WorkFiles | MemoryWork, root: Path, candidates: list[_Entry], size: int,
                 alpha: str, workers: int, previous: _CacheEntry | None, quiet: bool) -> None:
    """Record every candidate not yet in ``work.records`` (in order): its pixels from
    ``previous`` if the same file (path, size, mtime, target) was used there and its RGB pixels
    are exactly recoverable, else decoded. Duplicates of a used file's bytes are left out. Rows
    and records are committed every few seconds and at the end."""
    done = len(work.records)
    todo = candidates[done:]
    if done:
        print(f"gankit: folder: resuming an interrupted decoding: {done:,} of "
              f"{len(candidates):,} files already done", file=sys.stderr)
    reuse: dict[tuple, np.ndarray] = {}
    if previous is not None:  # the folder changed since it was cached: decode only what is new
        grey_cache = previous.report.channels == "gray"
        olds = {(r.rel, r.size, r.mtime, r.target): r for r in previous.records
                if r.status == "used" and (not grey_cache or "g" in r.flags)}
        for e in todo:
            r = olds.get((e.rel, e.size, e.mtime, e.target))
            if r is not None:
                reuse[e.rel] = r
        print(f"gankit: folder: {root} changed since it was cached: decoding "
              f"{len(todo) - len(reuse):,} new or changed files, reusing {len(reuse):,} decoded "
              f"images", file=sys.stderr)
    first_of_digest = {r.digest: r.rel for r in work.records if r.status == "used"}
    row = sum(r.status == "used" for r in work.records)
    decoded = _decoded_in_order(root, [e.rel for e in todo if e.rel not in reuse], size, alpha,
                                workers)
    show = not quiet and len(todo) - len(reuse) >= _PROGRESS_MIN_FILES
    last_commit = time.monotonic()
    with tqdm(total=len(candidates), initial=done, unit="img", desc="gankit: decoding",
              disable=not show, file=sys.stderr, dynamic_ncols=True, smoothing=0.05) as bar:
        for e in todo:
            old = reuse.get(e.rel)
            if old is not None:  # [C, S, S] from the cache; grey rows are exactly R = G = B
                pixels = previous.pixels[old.row]
                result = _Decoded(np.repeat(pixels, 3, 0) if len(pixels) == 1 else pixels,
                                  "g" in old.flags, old.digest, "u" in old.flags, "t" in old.flags)
            else:
                result = next(decoded)
                if isinstance(result, _Decoded):
                    result.pixels = result.pixels.transpose(2, 0, 1)  # [S, S, 3] -> [3, S, S]
            ident = (e.rel, e.size, e.mtime, e.target)
            if isinstance(result, str):
                work.add(Record(*ident, "skipped", result))
            elif result.digest in first_of_digest:
                work.add(Record(*ident, "duplicate", f"same bytes as "
                                f"{first_of_digest[result.digest]}", result.digest))
            else:
                first_of_digest[result.digest] = e.rel
                work.write_row(row, result.pixels)
                flags = "g" * result.gray + "u" * result.upscaled + "t" * result.transparent
                work.add(Record(*ident, "used", "", result.digest, row, flags))
                row += 1
            bar.update()
            if time.monotonic() - last_commit > _COMMIT_SECONDS:
                work.commit()
                last_commit = time.monotonic()
        work.commit()


# --- the cache -----------------------------------------------------------------------------------------

def _cache_root() -> Path:
    return cache_dir() / "folders"


def _cache_key(root: Path, files: list[_Entry], size: int, channels: str, alpha: str = "white"
               ) -> str:
    """``<folder name>-<hash of path and options>-<hash of the file list>``; the file list covers
    each file's size, mtime, type and link target (what decides duplicates and skips)."""
    what = hashlib.sha256(json.dumps([[e.rel, e.size, e.mtime, e.kind, e.target, e.link]
                                      for e in files]).encode())
    return f"{_cache_stem(root, size, channels, alpha)}-{what.hexdigest()[:16]}"


def _cache_stem(root: Path, size: int, channels: str, alpha: str) -> str:
    """``<folder name>-<hash of path and options>``: what every entry of this folder and these
    options starts with, whatever its files."""
    where = hashlib.sha256(json.dumps([str(root), size, channels, alpha, CACHE_VERSION]).encode())
    name = "".join(c if c.isalnum() or c in "-_" else "_" for c in root.name)[:40] or "root"
    return f"{name}-{where.hexdigest()[:12]}"


@dataclass
class _CacheEntry:
    """A complete cache entry: its report, the record of every candidate file (read only to update
    the entry: 200,000 of them take ~100 MB as Python objects), and its pixels (uint8
    ``[N, C, S, S]``, memory-mapped)."""

    report: FolderReport
    records: list[Record] | None
    pixels: np.ndarray
    mean: np.ndarray | None  # the mean example [1, C, S, S], float64 (None: not known)


@contextlib.contextmanager
def _decoding_lock(key: str) -> Iterator[None]:
    """Hold ``KEY.lock`` (an advisory lock, released if the process dies) while decoding, so two
    processes never write the same work files; the second waits, then finds the cache written."""
    try:
        import fcntl
    except ImportError:  # not POSIX: no lock
        yield
        return
    folder = _cache_root()
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


def _read_entry(key: str, quiet: bool = False, records: bool = False) -> _CacheEntry | None:
    """The cache entry ``key``, or None if there is none; a damaged one (truncated, foreign,
    inconsistent) is reported on stderr and None returned: it is decoded again, never trusted.
    The .npy header is checked against the report before anything is mapped."""
    base = _cache_root() / key
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
            text = read_bounded(Path(f"{base}.records.jsonl"), 1 << 31, "cache records")
            records = [Record.from_json(json.loads(line)) for line in text.splitlines()]
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
    return _CacheEntry(report, records, pixels, mean)


def _previous_entry(key: str) -> _CacheEntry | None:
    """The newest complete entry for the same folder and options but another file list (the
    folder changed since), whose decoded images can be reused."""
    stem = key.rsplit("-", 1)[0] + "-"  # = _cache_stem(...) + "-"
    olds = sorted(_cache_root().glob(stem + "*.json"), key=lambda p: p.stat().st_mtime,
                  reverse=True)
    for old in olds:
        if old.stem != key:
            return _read_entry(old.stem, records=True)
    return None


def _write_entry(key: str, work: WorkFiles, report: FolderReport, records: list[Record]
                 ) -> np.ndarray:
    """Write ``key.npy`` (from the RGB work rows), ``key.files.tsv`` (the full list),
    ``key.records.jsonl`` (each file's :class:`Record`, to update the entry later), then
    ``key.json`` atomically (last: the entry is complete), and delete older entries for the same
    folder and options. Returns the mean example (also kept in ``key.json``)."""
    folder = _cache_root()
    base = folder / key
    listed = Path(str(base) + ".files.tsv")
    info = {"root": report.root, "used": report.used, "skipped": report.skipped,
            "duplicates": report.duplicates, "upscaled": report.upscaled,
            "transparent": report.transparent, "channels": report.channels,
            "image_size": report.image_size, "alpha": report.alpha, "version": CACHE_VERSION,
            "format": CACHE_FORMAT}
    with writing(base.with_suffix(".npy")), atomic_path(base.with_suffix(".npy")) as tmp:
        mean = write_pixels(tmp, work, len(report.used), report.channels == "gray")
    info["mean"] = mean.ravel().tolist()  # floats round-trip exactly through JSON
    with writing(listed), atomic_path(listed) as tmp:
        tmp.write_text(report.table(), encoding="utf-8")
    kept = Path(f"{base}.records.jsonl")
    with writing(kept), atomic_path(kept) as tmp, open(tmp, "w", encoding="utf-8") as f:
        f.writelines(json.dumps(r.to_json()) + "\n" for r in records)
    with writing(base.with_suffix(".json")), atomic_path(base.with_suffix(".json")) as tmp:
        tmp.write_text(json.dumps(info), encoding="utf-8")
    report.cache_file = str(base.with_suffix(".npy"))
    report.list_file = str(listed)
    stem = key.rsplit("-", 1)[0] + "-"  # same folder and options, older file list: stale
    for old in folder.glob(stem + "*"):
        if not old.name.startswith(key):
            old.unlink(missing_ok=True)
    return mean
