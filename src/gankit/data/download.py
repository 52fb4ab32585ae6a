"""Verified downloads: try each mirror in turn; a file is published only once its checksum matches.

Each attempt has an overall deadline (``$GANKIT_DOWNLOAD_DEADLINE`` seconds, else the caller's
default), not only a per-read timeout: a mirror that sends one byte every few seconds never trips a
per-read timeout, so the transfer runs in a worker thread and is abandoned when the deadline passes.
Each attempt is also bounded in size (``max_bytes``, from the Content-Length header when the server
sends one, and from the bytes actually received), so a mirror cannot fill the disk.
"""

from __future__ import annotations

import http.client
import os
import threading
import urllib.error
import urllib.request
from pathlib import Path
from typing import Callable

from gankit.errors import DataError
from gankit.utils.limits import human_bytes

DEADLINE_ENV = "GANKIT_DOWNLOAD_DEADLINE"
_CHUNK = 1 << 16
_attempts = iter(range(1 << 62))  # unique .part names within this process


class _TooLarge(Exception):
    pass


def download_deadline(default: float) -> float:
    """Seconds one download attempt may take: ``$GANKIT_DOWNLOAD_DEADLINE``, else ``default``."""
    value = os.environ.get(DEADLINE_ENV)
    if not value:
        return default
    try:
        seconds = float(value)
    except ValueError:
        seconds = float("nan")
    if not seconds > 0 or seconds == float("inf"):
        raise DataError(f"${DEADLINE_ENV} must be a number of seconds > 0 (got {value!r}); set it "
                        f"to e.g. 3600 on a slow connection, or unset it")
    return seconds


def _fetch(url: str, part: Path, timeout: float, max_bytes: int, cancel: threading.Event,
           state: dict) -> None:
    """The transfer itself (in a worker thread): ``url`` into ``part``; the outcome in ``state``."""
    try:
        with urllib.request.urlopen(url, timeout=timeout) as response:
            length = response.headers.get("Content-Length", "")
            if length.strip().isdigit() and int(length) > max_bytes:
                raise _TooLarge(f"the server announces {human_bytes(int(length))}, more than the "
                                f"{human_bytes(max_bytes)} this file can be")
            # read1: return what has arrived (HTTPResponse.read(n) would wait for all n bytes)
            read = getattr(response, "read1", response.read)
            if cancel.is_set():
                return
            with open(part, "wb") as out:
                while chunk := read(_CHUNK):
                    if cancel.is_set():
                        return
                    state["received"] += len(chunk)
                    if state["received"] > max_bytes:
                        raise _TooLarge(f"more than {human_bytes(max_bytes)} sent, more than "
                                        f"this file can be")
                    out.write(chunk)
        state["done"] = True
    except BaseException as e:  # noqa: BLE001 (handed to the caller's thread)
        state["error"] = e
    finally:
        if cancel.is_set():  # abandoned: the caller has moved on; leave nothing behind
            part.unlink(missing_ok=True)


def download_verified(urls: list[str], final: Path, expected_md5: str,
                      md5_of: Callable[[Path], str], timeout: float, hint: str,
                      max_bytes: int, deadline: float) -> None:
    """Fetch ``final`` from the first of ``urls`` whose bytes pass ``md5_of(part) == expected_md5``.

    The download lands in a ``.part`` file (never read as data) and is renamed only once verified,
    so a partial or corrupt download is never used. Each attempt may take ``deadline`` seconds in
    all (overridden by ``$GANKIT_DOWNLOAD_DEADLINE``) and receive ``max_bytes``; ``timeout`` bounds
    each connect and read. ``md5_of`` may raise a DataError for a file it refuses to check (e.g. a
    decompression bomb). ``hint`` ends the error when every mirror fails.
    """
    deadline = download_deadline(deadline)
    errors, stalled = [], False
    for url in urls:
        part = final.with_name(f"{final.name}.{os.getpid()}-{next(_attempts)}.part")
        cancel, state = threading.Event(), {"received": 0, "done": False, "error": None}
        worker = threading.Thread(target=_fetch, name=f"gankit-download {final.name}", daemon=True,
                                  args=(url, part, min(timeout, deadline), max_bytes, cancel, state))
        try:
            worker.start()
            worker.join(deadline)
            if worker.is_alive():  # stalled or very slow: abandon it (it stops at its next read)
                cancel.set()
                stalled = True
                errors.append(f"{url}: not complete after {deadline:g} s "
                              f"({human_bytes(state['received'])} received; the mirror is "
                              f"stalled or too slow)")
                continue
            if state["error"] is not None:
                raise state["error"]
            try:
                digest = md5_of(part)
            except DataError as e:
                errors.append(f"{url}: checksum not verified ({e})")
                continue
            if digest != expected_md5:
                errors.append(f"{url}: checksum mismatch (md5 {digest}, expected {expected_md5})")
                continue
            os.replace(part, final)
            return
        except _TooLarge as e:
            errors.append(f"{url}: {e}")
        except (urllib.error.URLError, http.client.HTTPException, OSError, ValueError) as e:
            reason = " ".join(str(getattr(e, "reason", e)).split()) or type(e).__name__
            errors.append(f"{url}: {reason}")
        finally:
            if not worker.is_alive() or cancel.is_set():
                part.unlink(missing_ok=True)
    more = (f"; on a slow connection set ${DEADLINE_ENV} to more seconds (now {deadline:g})"
            if stalled else "")
    raise DataError(f"could not download {final.name} ({'; '.join(errors)}); {hint}{more}")
