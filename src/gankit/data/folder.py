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
  RGBA); JPEGs are decoded at a reduced scale first. The threads that decode share a budget of
  ``PIXEL_BUDGET`` pixels in flight, so the peak memory does not grow with the images' size.

Decoding happens once. The pixels are cached as a uint8 ``.npy`` (never a pickle) with a JSON
report beside it and the full list of used, skipped and duplicate files (``KEY.files.tsv``, its path
printed), under ``$GANKIT_DATA/folders/`` (the cache that also holds MNIST), keyed by a hash of the
folder's path, every file's relative path, size, mtime, type and link target, the resolution, the
colour mode and the alpha policy: editing, adding or removing a file, or changing the options,
decodes again. The cache is not written into the image folder itself, which may be read-only,
shared or under version control, and whose next scan would then have to skip it. Older cache
entries for the same folder and options are deleted when a new one is written.
"""

from __future__ import annotations

import hashlib
import json
import math
import os
import stat
import sys
import threading
import warnings
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from gankit.errors import DataError
from gankit.data.base import Dataset
from gankit.utils.cache import cache_dir
from gankit.utils.atomic import atomic_path
from gankit.utils.limits import file_kind, load_npy, open_regular, read_bounded

#: File endings read as images; anything else is reported as "not an image".
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp")
#: Formats Pillow may report for those files (MPO: the multi-picture JPEG of many cameras).
FORMATS = ("PNG", "JPEG", "MPO", "WEBP")
CHANNELS = ("auto", "gray", "rgb")
#: What transparent pixels become: composited over white or black, or the image is left out.
ALPHA = ("white", "black", "skip")
CACHE_VERSION = 2  # bump when the decoding below changes, so old caches are not reused
MAX_PIXELS = 4096 * 4096       # decoded pixels per image (after a JPEG's reduced-scale decoding)
PIXEL_BUDGET = MAX_PIXELS      # decoded pixels in flight across the decoding threads (one image at the limit runs alone)
MAX_FILE_BYTES = 256_000_000   # a larger file is skipped unread (hashing it would take long)
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
    """A :class:`Dataset` of a folder's images, with the report of what was used and skipped."""

    report: FolderReport | None = None


def load_folder(data_dir: str | None, image_size: int = 32, image_channels: str = "auto",
                image_alpha: str = "white", quiet: bool = False) -> FolderDataset:
    """Images ``[N, C, image_size, image_size]`` in [0, 1] from every usable image under
    ``data_dir`` (sorted by relative path). Raises :class:`DataError` for a missing or empty folder
    or one without a usable image. The report is printed to stderr unless ``quiet``."""
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
    files = _list_files(root)
    if not files:
        raise DataError(f"image folder {root} holds no files; put PNG/JPEG/WebP images in it "
                        f"(subfolders are searched too)")
    key = _cache_key(root, files, image_size, image_channels, image_alpha)
    cached = _read_cache(key)
    if cached is not None:
        pixels, report = cached
    else:
        pixels, report = _decode_all(root, files, image_size, image_channels, image_alpha)
        _write_cache(key, pixels, report)
    if not quiet:
        print(report.summary(), file=sys.stderr)
    train = torch.from_numpy(pixels).float().div_(255.0)  # [N, C, H, W] uint8 -> [0, 1]
    return FolderDataset("folder", train=train, unit_range=True, report=report)


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
    mention. Folders are not followed through links (no loops)."""
    out = []
    for folder, dirs, names in os.walk(root, followlinks=False):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        for name in names:
            if name.startswith("."):
                continue
            path = Path(folder) / name
            rel = path.relative_to(root).as_posix()
            link = path.is_symlink()
            try:
                st = path.stat()
                kind = "file" if stat.S_ISREG(st.st_mode) else file_kind(st.st_mode)
                size, mtime = st.st_size, st.st_mtime_ns
            except OSError as e:
                kind = "a dangling link" if link else f"unreadable ({e.strerror or e})"
                size = mtime = -1
            out.append(_Entry(rel, size, mtime, kind, os.path.realpath(path), link))
    return sorted(out, key=lambda e: e.rel)


class _PixelBudget:
    """Decoded pixels in flight across threads: a thread waits until its image fits (one image
    alone always may), so the peak memory is bounded whatever the images' sizes."""

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


def _decode_all(root: Path, files: list[_Entry], size: int, channels: str, alpha: str = "white"
                ) -> tuple[np.ndarray, FolderReport]:
    """Decode every image to RGB ``[size, size, 3]`` uint8, leave out duplicates, then settle the
    colour mode."""
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
            candidates.append(e.rel)
    candidates.sort()
    budget = _PixelBudget(PIXEL_BUDGET)
    # Pillow releases the GIL while it decodes and resizes, so threads help on several cores.
    workers = max(1, min(4, os.cpu_count() or 1))
    with ThreadPoolExecutor(workers) as pool:
        results = list(pool.map(lambda rel: _decode_one(root / rel, size, alpha, budget),
                                candidates))
    decoded, is_gray, first_of_digest = [], [], {}
    for rel, result in zip(candidates, results):
        if isinstance(result, str):
            report.skipped.append((rel, result))
        elif result.digest in first_of_digest:
            report.duplicates.append((rel, f"same bytes as {first_of_digest[result.digest]}"))
        else:
            first_of_digest[result.digest] = rel
            report.used.append(rel)
            decoded.append(result.pixels)
            is_gray.append(result.gray)
            if result.upscaled:
                report.upscaled.append(rel)
            if result.transparent:
                report.transparent.append(rel)
    report.skipped.sort()
    report.duplicates.sort()
    if not decoded:
        reasons = "; ".join(f"{n}: {w}" for n, w in report.skipped[:3])
        raise DataError(f"none of the {len(files)} files in {root} is a usable PNG/JPEG/WebP image "
                        f"({reasons}{'; ...' if len(report.skipped) > 3 else ''})")
    if channels == "auto":  # the majority decides; a tie goes to RGB, which loses nothing
        channels = "gray" if 2 * sum(is_gray) > len(is_gray) else "rgb"
    report.channels = channels
    rgb = np.stack(decoded)  # [N, H, W, 3]
    if channels == "gray":
        # ITU-R 601-2 luma, Pillow's convert("L"): grey sources (equal channels) are unchanged
        luma = rgb.astype(np.float32) @ np.array([0.299, 0.587, 0.114], dtype=np.float32)
        pixels = np.clip(np.rint(luma), 0, 255).astype(np.uint8)[:, None]  # [N, 1, H, W]
    else:
        pixels = np.ascontiguousarray(rgb.transpose(0, 3, 1, 2))  # [N, 3, H, W]
    return pixels, report


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


# --- the cache -----------------------------------------------------------------------------------------

def _cache_root() -> Path:
    return cache_dir() / "folders"


def _cache_key(root: Path, files: list[_Entry], size: int, channels: str, alpha: str = "white"
               ) -> str:
    """``<folder name>-<hash of path and options>-<hash of the file list>``; the file list covers
    each file's size, mtime, type and link target (what decides duplicates and skips)."""
    where = hashlib.sha256(json.dumps([str(root), size, channels, alpha, CACHE_VERSION]).encode())
    what = hashlib.sha256(json.dumps([[e.rel, e.size, e.mtime, e.kind, e.target, e.link]
                                      for e in files]).encode())
    name = "".join(c if c.isalnum() or c in "-_" else "_" for c in root.name)[:40] or "root"
    return f"{name}-{where.hexdigest()[:12]}-{what.hexdigest()[:16]}"


def _read_cache(key: str) -> tuple[np.ndarray, FolderReport] | None:
    """The cached pixels and report, or None (absent, partly written, corrupt or inconsistent:
    decode again). The .npy header is checked against the report before anything is allocated."""
    base = _cache_root() / key
    try:
        info = json.loads(read_bounded(base.with_suffix(".json"), 256_000_000, "cache report"))
        report = FolderReport(
            info["root"], used=list(info["used"]), skipped=[tuple(s) for s in info["skipped"]],
            duplicates=[tuple(s) for s in info["duplicates"]], upscaled=list(info["upscaled"]),
            transparent=list(info["transparent"]), channels=info["channels"],
            image_size=int(info["image_size"]), alpha=info["alpha"],
            cache_file=str(base.with_suffix(".npy")), from_cache=True)
        c = 1 if report.channels == "gray" else 3
        shape = (len(report.used), c, report.image_size, report.image_size)
        pixels = load_npy(base.with_suffix(".npy"), int(np.prod(shape, dtype=object)))
    except (OSError, ValueError, KeyError, TypeError, DataError):
        return None
    if pixels.dtype != np.uint8 or pixels.shape != shape:
        return None
    listed = Path(str(base) + ".files.tsv")
    report.list_file = str(listed) if listed.is_file() else None
    return pixels, report


def _write_cache(key: str, pixels: np.ndarray, report: FolderReport) -> None:
    """Write ``key.npy``, ``key.files.tsv`` (the full list), then ``key.json`` atomically; a
    failure only costs a decode next time (and the list file is then not written)."""
    folder = _cache_root()
    base = folder / key
    listed = Path(str(base) + ".files.tsv")
    info = {"root": report.root, "used": report.used, "skipped": report.skipped,
            "duplicates": report.duplicates, "upscaled": report.upscaled,
            "transparent": report.transparent, "channels": report.channels,
            "image_size": report.image_size, "alpha": report.alpha, "version": CACHE_VERSION}
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with atomic_path(base.with_suffix(".npy")) as tmp:
            np.save(tmp, pixels, allow_pickle=False)
        with atomic_path(listed) as tmp:
            tmp.write_text(report.table(), encoding="utf-8")
        with atomic_path(base.with_suffix(".json")) as tmp:  # last: the entry is complete
            tmp.write_text(json.dumps(info), encoding="utf-8")
        report.cache_file = str(base.with_suffix(".npy"))
        report.list_file = str(listed)
    except OSError as e:
        print(f"gankit: warning: cannot cache decoded images in {folder} ({e.strerror or e}); "
              f"set $GANKIT_DATA to a writable folder to load faster next time (and to keep the "
              f"full list of skipped files)", file=sys.stderr)
        return
    stem = key.rsplit("-", 1)[0] + "-"  # same folder and options, older file list: stale
    for old in folder.glob(stem + "*"):
        if not old.name.startswith(key):
            old.unlink(missing_ok=True)
