"""Atomic file writes: a file is either its old self or complete, never half-written."""

from __future__ import annotations

import contextlib
import os
import stat
from pathlib import Path
from typing import Iterator

from gankit.errors import GankitError


@contextlib.contextmanager
def atomic_path(path: str | Path) -> Iterator[Path]:
    """Yield a temporary path beside ``path`` (same suffix, so writers keep their format); when
    the block succeeds it replaces ``path`` with one rename, otherwise it is removed."""
    path = Path(path)
    tmp = path.with_name(f".{path.stem}.tmp-{os.getpid()}{path.suffix}")
    try:
        yield tmp
        _set_mode(tmp, path)
        os.replace(tmp, path)
    finally:
        tmp.unlink(missing_ok=True)


def _set_mode(tmp: Path, path: Path) -> None:
    """Give the new file the permissions open() would: those of the file it replaces, else
    0o666 minus the umask. (Some writers, safetensors among them, create files mode 0600.)"""
    try:
        mode = stat.S_IMODE(path.stat().st_mode)
    except OSError:
        mode = 0o666 & ~current_umask()
    try:
        os.chmod(tmp, mode)
    except FileNotFoundError:
        pass  # the block wrote nothing: os.replace reports it


def current_umask() -> int:
    """The process's umask, read without changing it where Linux shows it (/proc/self/status)."""
    try:
        with open("/proc/self/status", encoding="ascii") as f:
            for line in f:
                if line.startswith("Umask:"):
                    return int(line.split()[1], 8)
    except (OSError, ValueError):
        pass
    mask = os.umask(0o022)  # elsewhere: read it by setting it, and put it back at once
    os.umask(mask)
    return mask


def write_text_atomic(path: str | Path, text: str) -> None:
    """Write a small text file atomically; an OSError becomes one clear GankitError line."""
    try:
        with atomic_path(path) as tmp:
            tmp.write_text(text, encoding="utf-8")
    except OSError as e:
        raise GankitError(f"cannot write {path} ({e.strerror or e}); check the folder is writable "
                          f"and the disk has space") from None
