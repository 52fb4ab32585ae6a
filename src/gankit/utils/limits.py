"""Bounded reads of files a user hands gankit: what a file may expand to is checked before anything
is allocated, and only regular files are opened.

Every reader of user files goes through these helpers:

- :func:`open_regular` opens without blocking (``O_NONBLOCK``: a FIFO named like a data file
  cannot hang the open) and refuses anything that is not a regular file (FIFO, socket, device,
  folder), checked on the opened descriptor, so a file swapped after a listing is caught too;
- :func:`read_bounded` refuses a file larger than a limit before reading it;
- :func:`gunzip_bounded` decompresses in a stream and stops as soon as the output would pass a
  limit (a 17 MB gzip bomb expands to 4 GB; it is stopped at the limit);
- :func:`load_npy` reads a ``.npy`` header first and checks that its shape times its item size
  (Python integers: no wrap-around) is exactly the data the file holds, and under a limit, before
  NumPy allocates the array; it never unpickles. :func:`map_npy` makes the same checks and maps
  the data instead of reading it (arrays larger than memory).

They raise :class:`gankit.errors.DataError` with one line naming the file, the problem and what to
do (``hint``).
"""

from __future__ import annotations

import math
import os
import stat
import zlib
from pathlib import Path
from typing import BinaryIO

import numpy as np

from gankit.errors import DataError

_GZIP_MAGIC = b"\x1f\x8b"


def human_bytes(n: int) -> str:
    """``1536`` -> ``'1.5 KB'`` (powers of 1000, as file managers show sizes)."""
    for unit in ("bytes", "KB", "MB", "GB", "TB", "PB"):
        if n < 1000 or unit == "PB":
            return (f"{n} byte{'' if n == 1 else 's'}" if unit == "bytes" else f"{n:.1f} {unit}")
        n /= 1000
    raise AssertionError  # unreachable


def file_kind(mode: int) -> str:
    """What a ``st_mode`` is, in words: ``'a regular file'``, ``'a FIFO (named pipe)'``, ..."""
    for test, name in ((stat.S_ISREG, "a regular file"), (stat.S_ISDIR, "a folder"),
                       (stat.S_ISFIFO, "a FIFO (named pipe)"), (stat.S_ISSOCK, "a socket"),
                       (stat.S_ISCHR, "a character device"), (stat.S_ISBLK, "a block device")):
        if test(mode):
            return name
    return "not a regular file"


def not_regular(path: str | Path) -> str | None:
    """``None`` if ``path`` is (or links to) a regular file, else why not (e.g. ``'a FIFO (named
    pipe)'``, ``'a dangling link'``); never opens the path, so it cannot block."""
    try:
        st = os.stat(path)
    except FileNotFoundError:
        return "a dangling link" if os.path.islink(path) else "missing"
    except OSError as e:
        return f"unreadable ({e.strerror or e})"
    return None if stat.S_ISREG(st.st_mode) else file_kind(st.st_mode)


def open_regular(path: str | Path, hint: str = "") -> BinaryIO:
    """Open ``path`` for binary reading if it is a regular file (links followed); a DataError
    otherwise. The open cannot block: a FIFO is opened non-blocking and then refused."""
    flags = os.O_RDONLY | getattr(os, "O_NONBLOCK", 0) | getattr(os, "O_CLOEXEC", 0)
    tail = f"; {hint}" if hint else ""
    try:
        fd = os.open(path, flags)
    except FileNotFoundError:
        raise DataError(f"{path} does not exist{tail}") from None
    except OSError as e:
        raise DataError(f"cannot read {path} ({e.strerror or e}){tail}") from None
    try:
        mode = os.fstat(fd).st_mode
        if not stat.S_ISREG(mode):
            raise DataError(f"{path} is {file_kind(mode)}, not a regular file; gankit reads only "
                            f"regular files{tail}")
        if hasattr(os, "set_blocking"):
            os.set_blocking(fd, True)
        return os.fdopen(fd, "rb")
    except BaseException:
        os.close(fd)
        raise


def read_bounded(path: str | Path, limit: int, what: str = "file", hint: str = "") -> bytes:
    """The bytes of the regular file ``path``, refused (before reading) if over ``limit`` bytes."""
    tail = f"; {hint}" if hint else ""
    with open_regular(path, hint) as f:
        size = os.fstat(f.fileno()).st_size
        if size > limit:
            raise DataError(f"{path} holds {human_bytes(size)}, more than a {what} can "
                            f"({human_bytes(limit)}){tail}")
        data = f.read(size + 1)  # not limit + 1: read(n) allocates n bytes up front
    if len(data) > size:  # it grew since fstat: still bounded, but not what was checked
        raise DataError(f"{path} changed while being read{tail}")
    return data


def gunzip_bounded(raw: bytes | bytearray, limit: int, source: str, hint: str = "") -> bytearray:
    """Decompress gzip ``raw`` (one or more members) in a stream, refusing (as soon as it is
    reached) an output of more than ``limit`` bytes, so a decompression bomb never allocates more
    than ``limit``. Corrupt or truncated data raise a DataError as well."""
    tail = f"; {hint}" if hint else ""
    out = bytearray()
    data = memoryview(raw)
    while True:
        d = zlib.decompressobj(16 + zlib.MAX_WBITS)  # gzip wrapper
        try:
            # max_length: at most one byte past the limit (never 0, which would mean "no limit")
            out += d.decompress(data, limit + 1 - len(out))
        except zlib.error as e:
            raise DataError(f"{source} is a corrupt or truncated gzip file ({e}){tail}") from None
        if len(out) > limit:
            raise DataError(f"{source} decompresses to more than {human_bytes(limit)}, the most "
                            f"this file can hold (a corrupt file or a decompression bomb){tail}")
        if not d.eof:
            raise DataError(f"{source} is a corrupt or truncated gzip file (it ends inside the "
                            f"compressed stream){tail}")
        data = memoryview(d.unused_data)
        if not data or not bytes(data[:2]) == _GZIP_MAGIC:
            if any(bytes(data)):  # trailing zero padding is tolerated, as by gzip itself
                raise DataError(f"{source} is a corrupt gzip file (trailing garbage after the "
                                f"compressed data){tail}")
            return out


def read_maybe_gzip(path: str | Path, limit: int, what: str = "file", hint: str = "",
                    source: str | None = None) -> bytes | bytearray:
    """The uncompressed bytes of ``path`` (gzip recognised by its magic number, not its name), at
    most ``limit`` bytes: the file is refused before reading if it is larger than any gzip of
    ``limit`` bytes can be, and its decompression is stopped at the limit. ``source`` names the
    file in errors (default: its path)."""
    source = source or str(path)
    # deflate's worst case (stored blocks): 5 bytes per 16 KB block, plus the gzip header/trailer
    raw = read_bounded(path, limit + limit // 3000 + 1024, what, hint)
    if raw[:2] == _GZIP_MAGIC:
        return gunzip_bounded(raw, limit, source, hint)
    if len(raw) > limit:
        raise DataError(f"{source} holds {human_bytes(len(raw))}, more than a {what} can "
                        f"({human_bytes(limit)}){'; ' + hint if hint else ''}")
    return raw


def _npy_header(f: BinaryIO, path: str | Path, max_bytes: int, hint: str
                ) -> tuple[tuple[int, ...], bool, np.dtype, int]:
    """(shape, fortran order, dtype, data offset) of the open ``.npy`` file ``f``, checked: a
    header NumPy can parse, no Python objects, and shape x item size (Python ints: no wrap-around)
    equal to the data the file holds and at most ``max_bytes``. A one-line DataError otherwise."""
    fmt = np.lib.format
    size = os.fstat(f.fileno()).st_size
    try:
        version = fmt.read_magic(f)
        if version == (1, 0):
            shape, fortran, dtype = fmt.read_array_header_1_0(f)
        elif version == (2, 0):
            shape, fortran, dtype = fmt.read_array_header_2_0(f)
        elif version == (3, 0) and hasattr(fmt, "_read_array_header"):  # utf-8 field names
            shape, fortran, dtype = fmt._read_array_header(f, version)
        else:
            raise ValueError(f"unsupported .npy format version {version}")
    except (ValueError, OSError, EOFError, SyntaxError, TypeError) as e:
        reason = " ".join(str(e).split()) or type(e).__name__
        raise DataError(f"cannot read {path} as a .npy array ({reason}); {hint}") from None
    if dtype.hasobject:
        raise DataError(f"{path} holds Python objects (dtype {dtype}), which gankit never "
                        f"unpickles (allow_pickle=False); {hint} from a numeric array")
    need = math.prod(int(n) for n in shape) * dtype.itemsize  # Python ints: cannot wrap
    held = size - f.tell()
    if need != held:
        raise DataError(f"cannot read {path} as a .npy array (its header declares shape "
                        f"{tuple(shape)} of {dtype}, {human_bytes(need)}, but the file holds "
                        f"{human_bytes(max(held, 0))} of data: truncated or forged); {hint}")
    if need > max_bytes:
        raise DataError(f"{path} holds an array of shape {tuple(shape)} ({human_bytes(need)}), "
                        f"more than the {human_bytes(max_bytes)} gankit reads here; use a "
                        f"smaller array")
    return tuple(int(n) for n in shape), bool(fortran), dtype, f.tell()


def load_npy(path: str | Path, max_bytes: int, hint: str = "save the array with numpy.save"
             ) -> np.ndarray:
    """A ``.npy`` array, read safely: a regular file; its header parsed first; its shape x item
    size (Python ints) equal to the data the file holds and at most ``max_bytes``; never
    unpickled (object arrays are refused). Any problem is a one-line DataError ending in ``hint``."""
    with open_regular(path, hint) as f:
        _npy_header(f, path, max_bytes, hint)
        f.seek(0)
        try:
            return np.load(f, allow_pickle=False)
        except (ValueError, OSError, EOFError) as e:
            reason = " ".join(str(e).split()) or type(e).__name__
            raise DataError(f"cannot read {path} as a .npy array ({reason}); {hint}") from None


def npy_header(path: str | Path, max_bytes: int, hint: str = "save the array with numpy.save"
               ) -> tuple[tuple[int, ...], np.dtype, int]:
    """(shape, dtype, data offset) of a C-order ``.npy`` file, checked as :func:`load_npy` checks
    it; nothing but the header is read."""
    with open_regular(path, hint) as f:
        shape, fortran, dtype, offset = _npy_header(f, path, max_bytes, hint)
    if fortran:
        raise DataError(f"cannot use {path}: its array is in Fortran order; {hint}")
    return shape, dtype, offset


def map_npy(path: str | Path, max_bytes: int, hint: str = "save the array with numpy.save"
            ) -> np.memmap:
    """A ``.npy`` array memory-mapped, not read: the same checks as :func:`load_npy` on its header
    (C order only), then a copy-on-write map of the data (writes stay private to the process; the
    file is never changed). Pages are read from disk when first touched, so the memory it costs
    is the page cache's, which the system reclaims."""
    with open_regular(path, hint) as f:
        shape, fortran, dtype, offset = _npy_header(f, path, max_bytes, hint)
        if fortran:
            raise DataError(f"cannot map {path}: its array is in Fortran order; {hint}")
        if math.prod(shape) == 0:  # mmap cannot map 0 bytes
            return np.zeros(shape, dtype)
        return np.memmap(f, dtype=dtype, mode="c", offset=offset, shape=shape)
