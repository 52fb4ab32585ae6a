"""Your own images: any folder (searched recursively) of PNG, JPEG or WebP files.

Each image is centre-cropped to a square and resized to ``image_size`` pixels (the same as resizing
its shorter side to ``image_size`` and cropping the centre, so originals of any size and aspect
ratio work), then made grayscale or RGB (``image_channels``: ``auto`` picks what most images are).
Files that cannot be used are skipped and listed, with the reason, on stderr and in
``dataset.report``.

Decoding happens once. The pixels are cached as a uint8 ``.npy`` (never a pickle) with a JSON
report beside it, under ``$GANKIT_DATA/folders/`` (the cache that also holds MNIST), keyed by a
hash of the folder's path, every file's relative path, size and mtime, the resolution and the
colour mode: editing, adding or removing a file, or changing the options, decodes again. The
cache is not written into the image folder itself, which may be read-only, shared or under version
control, and whose next scan would then have to skip it. Older cache entries for the same folder and
options are deleted when a new one is written.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
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

#: File endings read as images; anything else is reported as "not an image".
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".webp")
#: Formats Pillow may report for those files (MPO: the multi-picture JPEG of many cameras).
FORMATS = ("PNG", "JPEG", "MPO", "WEBP")
CHANNELS = ("auto", "gray", "rgb")
CACHE_VERSION = 1  # bump when the decoding below changes, so old caches are not reused
_MAX_LISTED = 20   # skipped files printed one per line; the rest are counted


@dataclass
class FolderReport:
    """What :func:`load_folder` used and skipped (paths relative to the folder)."""

    root: str
    used: list[str] = field(default_factory=list)
    skipped: list[tuple[str, str]] = field(default_factory=list)  # (file, reason)
    channels: str = "gray"
    image_size: int = 32
    cache_file: str | None = None
    from_cache: bool = False

    def summary(self) -> str:
        """A few lines for stderr: counts, then each skipped file and why."""
        mode = "grayscale" if self.channels == "gray" else "RGB"
        source = f" (cached in {self.cache_file})" if self.from_cache else ""
        lines = [f"gankit: folder {self.root}: {len(self.used)} images as {mode} "
                 f"{self.image_size}x{self.image_size}{source}; {len(self.skipped)} files skipped"
                 + (":" if self.skipped else "")]
        lines += [f"  skipped {name}: {why}" for name, why in self.skipped[:_MAX_LISTED]]
        if len(self.skipped) > _MAX_LISTED:
            lines.append(f"  ... and {len(self.skipped) - _MAX_LISTED} more")
        return "\n".join(lines)


@dataclass
class FolderDataset(Dataset):
    """A :class:`Dataset` of a folder's images, with the report of what was used and skipped."""

    report: FolderReport | None = None


def load_folder(data_dir: str | None, image_size: int = 32, image_channels: str = "auto",
                quiet: bool = False) -> FolderDataset:
    """Images ``[N, C, image_size, image_size]`` in [0, 1] from every usable image under
    ``data_dir`` (sorted by relative path). Raises :class:`DataError` for a missing or empty folder
    or one without a usable image. The report is printed to stderr unless ``quiet``."""
    if image_channels not in CHANNELS:
        raise DataError(f"image_channels must be one of {', '.join(CHANNELS)} (got {image_channels!r})")
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
    key = _cache_key(root, files, image_size, image_channels)
    cached = _read_cache(key)
    if cached is not None:
        pixels, report = cached
    else:
        pixels, report = _decode_all(root, files, image_size, image_channels)
        _write_cache(key, pixels, report)
    if not quiet:
        print(report.summary(), file=sys.stderr)
    train = torch.from_numpy(pixels).float().div_(255.0)  # [N, C, H, W] uint8 -> [0, 1]
    return FolderDataset("folder", train=train, unit_range=True, report=report)


# --- finding and decoding ----------------------------------------------------------------------------

def _list_files(root: Path) -> list[tuple[str, int, int]]:
    """(relative posix path, size, mtime_ns) of every file under ``root``, sorted; hidden files
    and folders (``.git``, ``.DS_Store``, ...) are left out without a mention."""
    out = []
    for folder, dirs, names in os.walk(root, followlinks=False):
        dirs[:] = [d for d in dirs if not d.startswith(".")]
        for name in names:
            if name.startswith("."):
                continue
            path = Path(folder) / name
            try:
                st = path.stat()
            except OSError:  # a dangling link: reported as unreadable when decoded
                st = None
            rel = path.relative_to(root).as_posix()
            out.append((rel, st.st_size if st else -1, st.st_mtime_ns if st else -1))
    return sorted(out)


def _decode_all(root: Path, files: list[tuple[str, int, int]], size: int, channels: str
                ) -> tuple[np.ndarray, FolderReport]:
    """Decode every image to RGB ``[size, size, 3]`` uint8, then settle the colour mode."""
    report = FolderReport(str(root), image_size=size)
    candidates = []
    for rel, _, _ in files:
        suffix = Path(rel).suffix.lower()
        if suffix in IMAGE_SUFFIXES:
            candidates.append(rel)
        else:
            report.skipped.append((rel, f"not an image ({suffix or 'no file ending'}; only "
                                        f"{'/'.join(IMAGE_SUFFIXES)} are read)"))
    # Pillow releases the GIL while it decodes and resizes, so threads help on several cores.
    workers = max(1, min(4, os.cpu_count() or 1))
    with ThreadPoolExecutor(workers) as pool:
        results = list(pool.map(lambda rel: _decode_one(root / rel, size), candidates))
    decoded, is_gray = [], []
    for rel, result in zip(candidates, results):
        if isinstance(result, str):
            report.skipped.append((rel, result))
        else:
            report.used.append(rel)
            decoded.append(result[0])
            is_gray.append(result[1])
    report.skipped.sort()
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


def _decode_one(path: Path, size: int) -> tuple[np.ndarray, bool] | str:
    """``(RGB uint8 [size, size, 3], source is grey)`` or the reason the file was skipped."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # e.g. Pillow's palette-transparency notices
            with Image.open(path) as img:
                if img.format not in FORMATS:
                    return f"unsupported image format {img.format} (use PNG, JPEG or WebP)"
                if img.format in ("JPEG", "MPO"):
                    img.draft("RGB", (size, size))  # decode at a reduced scale, still >= size
                img.load()
                img = ImageOps.exif_transpose(img)  # camera orientation
                gray_mode = img.mode in ("1", "L", "LA", "I", "I;16", "I;16B", "I;16L", "F")
                rgb = _to_rgb(img)
    except Image.DecompressionBombError:
        return "too many pixels (Pillow's decompression-bomb limit)"
    except UnidentifiedImageError:
        return "broken or not really an image (Pillow cannot identify it)"
    except PermissionError:
        return "unreadable (permission denied)"
    except (OSError, SyntaxError, ValueError) as e:  # truncated data, bad chunks, I/O errors
        msg = str(e).splitlines()[0] if str(e) else type(e).__name__
        return f"broken or unreadable ({msg})"
    w, h = rgb.size
    side = min(w, h)
    left, top = (w - side) // 2, (h - side) // 2
    # The central square, resized in one resampling (= shorter side to `size`, then centre crop)
    box = (left, top, left + side, top + side)
    arr = np.asarray(rgb.resize((size, size), Image.Resampling.LANCZOS, box=box), np.uint8)
    same = (arr[..., 0] == arr[..., 1]).all() and (arr[..., 1] == arr[..., 2]).all()
    return arr, gray_mode or bool(same)  # [size, size, 3], grey source


def _to_rgb(img):
    """RGB of any Pillow mode: transparency is composited over white, 16-bit grey scaled to 8 bits."""
    from PIL import Image

    if img.mode in ("I;16", "I;16B", "I;16L", "I", "F"):  # 16-bit PNG grey: 0..65535
        arr = np.asarray(img, dtype=np.float64)
        scale = 255.0 / 65535.0 if img.mode != "F" else 255.0 / max(float(arr.max()), 1e-12)
        img = Image.fromarray(np.clip(np.rint(arr * scale), 0, 255).astype(np.uint8), "L")
    if img.mode == "P" or img.mode == "PA":
        img = img.convert("RGBA")
    if img.mode in ("RGBA", "LA", "La", "RGBa"):
        rgba = img.convert("RGBA")
        background = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return Image.alpha_composite(background, rgba).convert("RGB")
    return img.convert("RGB")


# --- the cache -----------------------------------------------------------------------------------------

def _cache_root() -> Path:

    return cache_dir() / "folders"


def _cache_key(root: Path, files: list[tuple[str, int, int]], size: int, channels: str) -> str:
    """``<folder name>-<hash of path and options>-<hash of the file list>``."""
    where = hashlib.sha256(json.dumps([str(root), size, channels, CACHE_VERSION]).encode())
    what = hashlib.sha256(json.dumps(files).encode())
    name = "".join(c if c.isalnum() or c in "-_" else "_" for c in root.name)[:40] or "root"
    return f"{name}-{where.hexdigest()[:12]}-{what.hexdigest()[:16]}"


def _read_cache(key: str) -> tuple[np.ndarray, FolderReport] | None:
    base = _cache_root() / key
    try:
        info = json.loads(base.with_suffix(".json").read_text(encoding="utf-8"))
        pixels = np.load(base.with_suffix(".npy"), allow_pickle=False)  # arrays only, never objects
    except (OSError, ValueError):
        return None  # absent, partly written or corrupt: decode again
    report = FolderReport(info.get("root", ""), used=list(info.get("used", [])),
                          skipped=[tuple(s) for s in info.get("skipped", [])],
                          channels=info.get("channels", "gray"),
                          image_size=int(info.get("image_size", 0)),
                          cache_file=str(base.with_suffix(".npy")), from_cache=True)
    c = 1 if report.channels == "gray" else 3
    if (pixels.dtype != np.uint8 or
            pixels.shape != (len(report.used), c, report.image_size, report.image_size)):
        return None
    return pixels, report


def _write_cache(key: str, pixels: np.ndarray, report: FolderReport) -> None:
    """Write ``key.npy`` then ``key.json`` atomically; a failure only costs a decode next time."""
    folder = _cache_root()
    base = folder / key
    info = {"root": report.root, "used": report.used, "skipped": report.skipped,
            "channels": report.channels, "image_size": report.image_size,
            "version": CACHE_VERSION}
    try:
        folder.mkdir(parents=True, exist_ok=True)
        with atomic_path(base.with_suffix(".npy")) as tmp:
            np.save(tmp, pixels, allow_pickle=False)
        with atomic_path(base.with_suffix(".json")) as tmp:  # last: the entry is complete
            tmp.write_text(json.dumps(info), encoding="utf-8")
        report.cache_file = str(base.with_suffix(".npy"))
    except OSError as e:
        print(f"gankit: warning: cannot cache decoded images in {folder} ({e.strerror or e}); "
              f"set $GANKIT_DATA to a writable folder to load faster next time", file=sys.stderr)
        return
    stem = key.rsplit("-", 1)[0] + "-"  # same folder and options, older file list: stale
    for old in folder.glob(stem + "*"):
        if not old.name.startswith(key):
            old.unlink(missing_ok=True)
