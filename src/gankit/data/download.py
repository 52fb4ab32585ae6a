"""Verified downloads: try each mirror in turn; a file is published only once its checksum matches."""

from __future__ import annotations

import http.client
import os
import urllib.error
import urllib.request
from pathlib import Path
from typing import Callable

from gankit.errors import DataError


def download_verified(urls: list[str], final: Path, expected_md5: str,
                      md5_of: Callable[[Path], str], timeout: float, hint: str) -> None:
    """Fetch ``final`` from the first of ``urls`` whose bytes pass ``md5_of(part) == expected_md5``.

    The download lands in ``final.part`` (never read as data) and is renamed only once verified,
    so a partial or corrupt download is never used. ``hint`` ends the error when every mirror fails.
    """
    errors = []
    part = final.with_name(final.name + ".part")
    for url in urls:
        try:
            with urllib.request.urlopen(url, timeout=timeout) as response, open(part, "wb") as out:
                while chunk := response.read(1 << 20):
                    out.write(chunk)
            digest = md5_of(part)
            if digest != expected_md5:
                errors.append(f"{url}: checksum mismatch (md5 {digest}, expected {expected_md5})")
                continue
            os.replace(part, final)
            return
        except (urllib.error.URLError, http.client.HTTPException, OSError, ValueError) as e:
            reason = " ".join(str(getattr(e, "reason", e)).split()) or type(e).__name__
            errors.append(f"{url}: {reason}")
        finally:
            part.unlink(missing_ok=True)
    raise DataError(f"could not download {final.name} ({'; '.join(errors)}); {hint}")
