"""The environment record (``environment.json``) shared by runs and reproductions: versions,
machine, threads, device and the gankit commit, so a result can be explained later."""

from __future__ import annotations

import os
import platform
import subprocess
import time
from pathlib import Path
from typing import Any

import numpy
import torch

from gankit.version import __version__


def environment(device: torch.device | str = "cpu", **extra: Any) -> dict[str, Any]:
    """Versions, platform, processor, threads, device and git commit, plus ``extra`` facts."""
    device = torch.device(device)
    return {"gankit": __version__, "torch": torch.__version__, "numpy": numpy.__version__,
            "python": platform.python_version(), "platform": platform.platform(),
            "processor": cpu_name(), "cpu_count": os.cpu_count(),
            "threads": torch.get_num_threads(), "device": str(device),
            "cuda": torch.cuda.get_device_name(device) if device.type == "cuda" else None,
            "git_commit": git_commit(), "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"), **extra}


def cpu_name() -> str:
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or "unknown"


def git_commit() -> str | None:
    """The commit of the gankit checkout (with ``-dirty`` if files changed), or None outside git."""
    here = Path(__file__).resolve().parent
    try:
        commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=here, capture_output=True,
                                text=True, timeout=10)
        if commit.returncode != 0:
            return None
        dirty = subprocess.run(["git", "status", "--porcelain", "--untracked-files=no"], cwd=here,
                               capture_output=True, text=True, timeout=10)
        return commit.stdout.strip() + ("-dirty" if dirty.stdout.strip() else "")
    except (OSError, subprocess.SubprocessError):
        return None
