"""One process trains in a run folder at a time: an advisory lock on the folder itself.

``fcntl.flock`` on the run folder's directory descriptor (no lock file to create or clean up, so it
also works on a folder gankit may not write to). The kernel drops the lock when the process ends,
however it ends (SIGKILL included): a lock is never stale. Where the file system cannot lock (some
network file systems) or the platform has no ``fcntl``, training goes on unlocked.
"""

from __future__ import annotations

import errno
import os
from pathlib import Path
from typing import Any

from gankit.errors import GankitError

try:
    import fcntl
except ImportError:  # pragma: no cover - not POSIX
    fcntl = None  # type: ignore[assignment]


class RunLocked(GankitError):
    """Another process is training in this run folder."""


class RunLock:
    """``with RunLock(run_dir):`` holds the folder's lock, or raises :class:`RunLocked` at once."""

    def __init__(self, folder: str | Path | None):
        self.folder = None if folder is None else Path(folder)
        self._fd: int | None = None

    def acquire(self) -> "RunLock":
        if self.folder is None or fcntl is None or self._fd is not None:
            return self
        try:
            fd = os.open(self.folder, os.O_RDONLY | getattr(os, "O_DIRECTORY", 0))
        except OSError as e:
            raise GankitError(f"cannot open the run folder {self.folder} ({e.strerror or e}); pass "
                              f"a run folder such as runs/00001-digits-ns-k1") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError as e:
            os.close(fd)
            if e.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
                raise RunLocked(f"{self.folder} is in use: another gankit process is training in "
                                f"it; wait for that one to finish (or stop it with Ctrl-C), then "
                                f"resume") from None
            return self  # the file system cannot lock: go on, as before locks existed
        self._fd = fd
        return self

    def release(self) -> None:
        if self._fd is not None:
            try:
                fcntl.flock(self._fd, fcntl.LOCK_UN)
            finally:
                os.close(self._fd)
                self._fd = None

    @property
    def held(self) -> bool:
        return self._fd is not None

    def __enter__(self) -> "RunLock":
        return self.acquire()

    def __exit__(self, *exc: Any) -> None:
        self.release()


__all__ = ["RunLock", "RunLocked"]
