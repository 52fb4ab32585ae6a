"""The one folder where gankit keeps downloads and derived files (datasets, classifiers, Parzen
references): ``$GANKIT_DATA``, else ``$XDG_CACHE_HOME/gankit``, else ``~/.cache/gankit``."""

from __future__ import annotations

import os
from pathlib import Path


def cache_dir() -> Path:
    """Where downloads go: $GANKIT_DATA, else $XDG_CACHE_HOME/gankit, else ~/.cache/gankit."""
    if os.environ.get("GANKIT_DATA"):
        return Path(os.environ["GANKIT_DATA"])
    base = os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache"
    return Path(base) / "gankit"
