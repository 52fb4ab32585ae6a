"""Decoding an image folder's files: one image (bounded in size and memory, hostile files turned
into a reason) and the pool of processes that decodes a folder.

Each image is hashed (SHA-256 of its bytes, for duplicates), its size read from its header before
it is decoded (one that would decode to more than ``MAX_PIXELS`` pixels is skipped; JPEGs are
decoded at a reduced scale first), then centre-cropped to a square and resized to ``size`` in its
own mode, its transparency composited over white or black (or the image refused), and made RGB.

Whoever decodes an image writes its row straight into its slot of the work file
(:class:`gankit.data.image_cache.RowWriter`) and keeps only a small :class:`Decoded` (flags and the
digest) and the exact sum of the pixels written: the pool's workers send back those, never pixels,
so the parent's share of the work per image is a record, not a copy of the image.
"""

from __future__ import annotations

import hashlib
import math
import multiprocessing
import os
import signal
import threading
import time
import warnings
from collections import deque
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterator

import numpy as np

from gankit.errors import DataError
from gankit.data.pixel_rows import RowFile, RowWriter
from gankit.utils.limits import open_regular

#: Formats Pillow may report for those files (MPO: the multi-picture JPEG of many cameras).
FORMATS = ("PNG", "JPEG", "MPO", "WEBP")
MAX_PIXELS = 4096 * 4096       # decoded pixels per image (after a JPEG's reduced-scale decoding)
PIXEL_BUDGET = MAX_PIXELS      # decoded pixels in flight in one decoding process (one image at the limit runs alone)
MAX_FILE_BYTES = 256_000_000   # a larger file is skipped unread (hashing it would take long)
POOL_MIN_FILES = 256  # fewer files to decode: in this process (a pool takes about a second to start)
#: Files per task sent to a worker (~50 ms of work at 64 px): each task costs the parent pickling
#: and the pool's threads' time, and its results carry no pixels, so tasks are not small.
_POOL_BATCH = 64
_GRAY_MODES = ("1", "L", "LA", "I", "I;16", "I;16B", "I;16L", "F")


@dataclass
class Decoded:
    """What decoding one image gives besides its row. ``pixels`` is RGB uint8: ``[S, S, 3]`` from
    :func:`_decode_one`; after :func:`decode_into`, None if the row went to the work file, else
    ``[3, S, S]`` for the caller to keep (a cache held in memory)."""

    pixels: np.ndarray | None
    gray: bool          # the source is grey
    digest: str         # SHA-256 of the file's bytes
    upscaled: bool      # its shorter side was smaller than size
    transparent: bool   # it has transparent pixels (composited by the alpha policy)


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


# --- a folder, in this process or a pool ----------------------------------------------------------

def decode_into(path: Path, slot: int, size: int, alpha: str, budget: _PixelBudget,
                writer: RowWriter | None) -> Decoded | str:
    """:func:`_decode_one`, its row written to ``slot`` by ``writer`` (or kept in the result if
    there is none)."""
    result = _decode_one(path, size, alpha, budget)
    if isinstance(result, Decoded):
        rgb = result.pixels.transpose(2, 0, 1)  # [S, S, 3] -> [3, S, S]
        if writer is None:
            result.pixels = np.ascontiguousarray(rgb)
        else:
            writer.write(slot, rgb)
            result.pixels = None
    return result


def _decode_batch(root: str, rels: list[str], slots: list[int], size: int, alpha: str,
                  rows: RowFile | None) -> tuple[list[tuple | str], np.ndarray | None]:
    """A worker's task: a few files decoded one after the other (one image in memory at a time,
    so the pool holds at most ``workers`` images of at most MAX_PIXELS), their rows written; the
    results (a :class:`Decoded`'s fields as a tuple: the cheapest to send), and the pixel sum of
    the rows written."""
    budget = _PixelBudget(PIXEL_BUDGET)
    writer = RowWriter(rows) if rows is not None else None
    try:
        out = [decode_into(Path(root) / rel, slot, size, alpha, budget, writer)
               for rel, slot in zip(rels, slots)]
        out = [r if isinstance(r, str) else (r.pixels, r.gray, r.digest, r.upscaled,
                                             r.transparent) for r in out]
        return out, (writer.take_sum() if writer is not None else None)
    finally:
        if writer is not None:
            writer.close()


def decoded_in_order(root: Path, rels: list[str], slots: list[int], size: int, alpha: str,
                     workers: int, rows: RowFile | None,
                     add_sum: Callable[[np.ndarray], None]) -> Iterator[Decoded | str]:
    """:func:`decode_into` of each file into its slot, in order: in this process for one worker or
    a few files, else in a pool of ``workers`` processes with a bounded number of tasks in flight
    (the memory of the results waiting does not grow with the folder). The pixel sum of the rows
    written is given to ``add_sum`` before the results of those rows are yielded."""
    if workers <= 1 or not rels or len(rels) < POOL_MIN_FILES:
        yield from _decoded_here(root, rels, slots, size, alpha, rows, add_sum)
        return
    pool = ProcessPoolExecutor(workers, mp_context=_pool_context(), initializer=_worker_start,
                               initargs=(os.getpid(),))
    n, front = len(rels), 0  # files [0, front) are given to the pool or decoded here

    def take() -> tuple[int, int]:
        nonlocal front
        start, front = front, min(n, front + _POOL_BATCH)
        return start, front

    def submit(start: int, stop: int):
        return pool.submit(_decode_batch, str(root), rels[start:stop], slots[start:stop], size,
                           alpha, rows)

    # The first tasks are sent from a thread: forking the first worker waits for the fork server
    # to import gankit (seconds), and this process decodes the next files meanwhile, on a core
    # that would otherwise wait.
    first = [take() for _ in range(4 * workers) if front < n]
    futures, failed = [], []

    def start_pool() -> None:
        try:
            futures.extend(submit(*b) for b in first)
        except BaseException as e:  # noqa: BLE001 (raised again in this process's thread)
            failed.append(e)

    starter = threading.Thread(target=start_pool, name="gankit-decode-pool-start", daemon=True)
    try:
        starter.start()
        here = []
        while starter.is_alive() and front < n:
            here += _decoded_here(root, rels[front:front + 1], slots[front:front + 1], size,
                                  alpha, rows, add_sum)
            front += 1
        starter.join()
        if failed:
            raise failed[0]
        pending = deque([*futures, here])
        while pending:
            item = pending.popleft()
            if isinstance(item, list):  # decoded here while the pool started
                yield from item
                continue
            done, total = item.result()
            if front < n:
                pending.append(submit(*take()))
            if total is not None:
                add_sum(total)
            yield from (r if isinstance(r, str) else Decoded(*r) for r in done)
    finally:  # finished, interrupted or failed: the queued tasks are dropped, running ones end
        if starter.is_alive():
            starter.join()
        pool.shutdown(wait=True, cancel_futures=True)


def _decoded_here(root: Path, rels: list[str], slots: list[int], size: int, alpha: str,
                  rows: RowFile | None, add_sum: Callable[[np.ndarray], None]
                  ) -> Iterator[Decoded | str]:
    """:func:`decode_into` of each file in this process, in order."""
    budget = _PixelBudget(PIXEL_BUDGET)
    writer = RowWriter(rows) if rows is not None else None
    try:
        for i, (rel, slot) in enumerate(zip(rels, slots), start=1):
            result = decode_into(root / rel, slot, size, alpha, budget, writer)
            if writer is not None and (i % _POOL_BATCH == 0 or i == len(rels)):
                add_sum(writer.take_sum())  # (a sum taken per image costs more than its row)
            yield result
    finally:
        if writer is not None:
            writer.close()


def _worker_start(owner: int) -> None:
    """In a decoding worker: Ctrl-C is the parent's to handle (it records what is done and stops
    the pool; the workers would otherwise each print a traceback), and a worker whose parent
    (``owner``) was killed exits: it would otherwise wait for ever to send a result."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)

    def watch() -> None:
        while True:
            time.sleep(1.0)
            try:
                os.kill(owner, 0)
            except (ProcessLookupError, PermissionError):  # gone (its pid reused by another)
                os._exit(1)

    threading.Thread(target=watch, name="gankit-decode-owner-watch", daemon=True).start()


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


def start_pool_early() -> None:
    """Start the forkserver now (it imports gankit and torch, a second or two, in its own
    process): the pool's workers are forked from it as soon as there is work."""
    if _pool_context().get_start_method() == "forkserver":
        from multiprocessing import forkserver

        forkserver.ensure_running()


# --- one image -------------------------------------------------------------------------------------

def _too_large(w: int, h: int) -> str:
    side = math.isqrt(MAX_PIXELS)
    return (f"too large to decode ({w}x{h} = {w * h:,} pixels; at most {MAX_PIXELS:,} per image, "
            f"{side}x{side}): shrink it, or leave it out")


def _decode_one(path: Path, size: int, alpha: str = "white", budget: _PixelBudget | None = None
                ) -> Decoded | str:
    """The decoded image (``Decoded``, pixels ``[S, S, 3]``) or the reason the file was skipped."""
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


def _finish(img, size: int, alpha: str, digest: str, upscaled: bool) -> Decoded | str:
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
    return Decoded(arr, gray or bool(same), digest, upscaled, transparent)


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
