"""Atomic writes: files get the permissions open() would give them (issue 18, item 13)."""

from __future__ import annotations

import os
import stat

import pytest
import torch

from gankit.runs.checkpoint import save_checkpoint
from gankit.utils.atomic import atomic_path, current_umask, write_text_atomic


@pytest.fixture
def umask_027():
    old = os.umask(0o027)
    yield
    os.umask(old)


def mode(path) -> int:
    return stat.S_IMODE(os.stat(path).st_mode)


def test_the_umask_is_read_without_changing_it(umask_027):
    assert current_umask() == 0o027 and current_umask() == 0o027


def test_new_files_respect_the_umask_not_0600(tmp_path, umask_027):
    write_text_atomic(tmp_path / "a.txt", "x")
    ckpt = save_checkpoint(tmp_path / "step-000001.safetensors", {"w": torch.zeros(2)}, {"step": 1})
    assert mode(tmp_path / "a.txt") == 0o640  # 0o666 & ~0o027
    assert mode(ckpt) == 0o640  # safetensors alone creates 0o600


def test_a_replaced_file_keeps_its_permissions(tmp_path, umask_027):
    target = tmp_path / "b.txt"
    target.write_text("old")
    os.chmod(target, 0o604)
    write_text_atomic(target, "new")
    assert target.read_text() == "new" and mode(target) == 0o604


def test_a_failed_block_leaves_the_old_file_and_no_temporary(tmp_path):
    target = tmp_path / "c.txt"
    target.write_text("old")
    with pytest.raises(RuntimeError):
        with atomic_path(target) as tmp:
            tmp.write_text("half")
            raise RuntimeError("killed")
    assert target.read_text() == "old" and sorted(p.name for p in tmp_path.iterdir()) == ["c.txt"]
