"""Safe extraction of downloaded archives: nothing may land outside the target folder."""

from __future__ import annotations

import tarfile
import zipfile
from pathlib import Path

from gankit.errors import DataError


def _inside(root: Path, name: str) -> Path:
    target = (root / name).resolve()
    if target != root and root not in target.parents:
        raise DataError(f"archive member '{name}' would be written outside {root}; the archive is "
                        f"malicious or broken, so nothing was extracted")
    return target


def safe_extract(archive: str | Path, target: str | Path) -> list[Path]:
    """Extract a .tar(.gz/.bz2/.xz) or .zip into ``target``; refuse path escapes and links.

    Every member is checked before anything is written, so a bad archive leaves ``target``
    untouched.
    """
    archive, root = Path(archive), Path(target).resolve()
    root.mkdir(parents=True, exist_ok=True)
    try:
        if zipfile.is_zipfile(archive):
            with zipfile.ZipFile(archive) as z:
                members = z.infolist()
                for m in members:
                    _inside(root, m.filename)
                z.extractall(root)
                return [root / m.filename for m in members if not m.is_dir()]
        with tarfile.open(archive) as t:
            members = t.getmembers()
            for m in members:
                _inside(root, m.name)
                if not (m.isfile() or m.isdir()):
                    raise DataError(f"archive member '{m.name}' is a link or device; refusing to "
                                    f"extract {archive}")
            t.extractall(root, members=members, filter="data")
            return [root / m.name for m in members if m.isfile()]
    except (tarfile.TarError, zipfile.BadZipFile, EOFError, OSError) as e:
        raise DataError(f"cannot extract {archive} ({e}); delete it and download it again") from None
