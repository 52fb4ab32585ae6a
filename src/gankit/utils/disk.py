"""Writing files when the disk says no: a full disk, a quota, a read-only file system, a folder
without write permission. Every writer of gankit (checkpoints, sample grids, figures, logs, reports)
turns such a failure into one :class:`WriteFailed` line naming the file, the cause and what to do.

safetensors reports its I/O errors as ``SafetensorError`` (not ``OSError``), with the OS error code
only in its message ("I/O error: No space left on device (os error 28)", or "Os { code: 28, ...
}"); :func:`write_failure` reads it from there.
"""

from __future__ import annotations

import contextlib
import errno
import os
import re
from pathlib import Path
from typing import Iterator

from safetensors import SafetensorError

from gankit.errors import GankitError

#: errno -> what to do (the cause is the OS's own words, os.strerror). Other OS errors get their own strerror and a generic hint.
CAUSES = {
    errno.ENOSPC: "free disk space or write elsewhere",
    errno.EDQUOT: "free space within your quota or write elsewhere",
    errno.EROFS: "the file system is read-only: write to a writable folder instead",
    errno.EACCES: "fix the folder's permissions or write elsewhere",
    errno.EPERM: "fix the folder's permissions or write elsewhere",
}
#: The errors that are the environment's, not gankit's: translated wherever they surface.
DISK_ERRNOS = frozenset(CAUSES)

_OS_CODE = re.compile(r"(?:code:\s*|os error\s+)(\d+)")


class WriteFailed(GankitError):
    """A file could not be written (disk full, read-only, no permission). ``path`` is the file."""

    def __init__(self, message: str, path: Path | None = None, errno_: int | None = None):
        super().__init__(message)
        self.path, self.errno = path, errno_


def error_code(exc: BaseException) -> int | None:
    """The OS error number of an ``OSError`` or of a ``SafetensorError`` that wraps one."""
    if isinstance(exc, OSError):
        return exc.errno
    if isinstance(exc, SafetensorError):
        m = _OS_CODE.search(str(exc))
        return int(m.group(1)) if m else None
    return None


def write_failure(exc: BaseException, path: str | Path | None = None) -> WriteFailed | None:
    """The one-line error for ``exc`` raised while writing ``path``; None if ``exc`` is not an I/O
    failure (a bug keeps its traceback)."""
    if not isinstance(exc, (OSError, SafetensorError)):
        return None
    code = error_code(exc)
    if path is None and isinstance(exc, OSError) and exc.filename:
        path = exc.filename
    if code in CAUSES:
        cause, todo = os.strerror(code), CAUSES[code]
    elif isinstance(exc, OSError):
        cause, todo = (exc.strerror or str(exc)), "check the folder is writable and the disk has space"
    else:
        cause = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        todo = "check the folder is writable and the disk has space"
    where = f" {path}" if path else " a file"
    return WriteFailed(f"cannot write{where} ({cause}); {todo}", Path(path) if path else None, code)


@contextlib.contextmanager
def writing(path: str | Path) -> Iterator[None]:
    """Run a block that writes ``path``: an OS or safetensors I/O error becomes :class:`WriteFailed`."""
    try:
        yield
    except (OSError, SafetensorError) as e:
        failure = write_failure(e, path)
        if failure is None:  # pragma: no cover - write_failure handles both types
            raise
        raise failure from None


__all__ = ["CAUSES", "DISK_ERRNOS", "WriteFailed", "error_code", "write_failure", "writing"]
