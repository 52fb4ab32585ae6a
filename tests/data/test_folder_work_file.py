"""The work file becomes the cache (issue 23): the decoding processes write their rows into their
slots themselves, the used rows are moved down over skipped and duplicate files' slots (or made
grey) in place, the mean example comes from exact sums, and a decoding killed while its rows are
moved starts again. Tiny folders; the cache goes to ``tmp_path / "cache"``.
"""

from __future__ import annotations

import json
import os

import numpy as np
import pytest
import torch
from PIL import Image

import gankit.data.decode as decode
import gankit.data.folder as folder
from gankit.data.folder import load_folder
from gankit.data.image_cache import WorkFiles
from gankit.data.pixel_rows import HEADER_BYTES, to_gray


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("GANKIT_DATA", str(tmp_path / "cache"))
    monkeypatch.setattr(folder, "IN_MEMORY_BYTES", 0)  # every folder memory-mapped from its cache


def write_folder(d, n, grey_every=4, start=0):
    """n small images (every ``grey_every``-th grey), a broken one and a copy: slots left unused
    near the start, so the rows after them must move."""
    d.mkdir(parents=True, exist_ok=True)
    (d / "a_broken.png").write_bytes(b"not a png")
    for i in range(start, start + n):
        rng = np.random.default_rng(i)
        h, w = 8 + i % 7, 9 + i % 5
        if i % grey_every == 0:
            img = Image.fromarray(rng.integers(0, 256, (h, w), dtype=np.uint8), "L")
        else:
            img = Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8))
        img.save(d / f"img{i:03d}.png")
    (d / "b_copy.png").write_bytes((d / f"img{start + 2:03d}.png").read_bytes())


def exact_mean(pixels: np.ndarray) -> np.ndarray:
    """What the mean example was before (and what Dataset.mean_example sums): float32 / 255."""
    return ((pixels.astype(np.float32) / np.float32(255)).sum(0, dtype=np.float64)
            / len(pixels))[None]


def in_memory(tmp_path, monkeypatch, d, **kw):
    """The folder decoded in one process with the cache unwritable (held in memory)."""
    (tmp_path / "not-a-folder").write_text("x")
    monkeypatch.setenv("GANKIT_DATA", str(tmp_path / "not-a-folder"))
    try:
        return load_folder(str(d), image_size=8, workers=1, quiet=True, **kw)
    finally:
        monkeypatch.setenv("GANKIT_DATA", str(tmp_path / "cache"))


@pytest.mark.parametrize("channels", ["rgb", "auto-gray", "gray"])
def test_the_cache_is_the_work_file_with_exact_pixels_and_mean(tmp_path, monkeypatch, channels):
    d = tmp_path / "d"
    write_folder(d, 12, grey_every=1 if channels == "auto-gray" else 4)
    kw = {"image_channels": channels.split("-")[0]}
    inodes = []
    real_finish = WorkFiles.finish

    def finish(self, slots, gray):
        inodes.append(os.stat(self.rows_path).st_ino)
        return real_finish(self, slots, gray)

    monkeypatch.setattr(WorkFiles, "finish", finish)
    data = load_folder(str(d), image_size=8, workers=1, quiet=True, **kw)
    report = data.report
    assert report.channels == ("rgb" if channels == "rgb" else "gray")
    assert "a_broken.png" in dict(report.skipped) and "img002.png" in dict(report.duplicates)
    npy = folder.cache_root() / report.cache_file.rsplit("/", 1)[1]
    assert os.stat(npy).st_ino == inodes[0]  # renamed, not copied
    assert open(npy, "rb").read(HEADER_BYTES).endswith(b"\n")
    pixels = data.train.numpy()
    assert np.array_equal(data.mean.numpy(), exact_mean(pixels))
    expect = in_memory(tmp_path, monkeypatch, d, **kw)  # decoded the plain way, never moved
    assert report.used == expect.report.used
    assert np.array_equal(pixels, expect.train.numpy())
    if channels != "rgb":  # grey: Pillow's luma of the RGB decoding
        rgb = in_memory(tmp_path, monkeypatch, d, image_channels="rgb")
        assert np.array_equal(pixels, to_gray(rgb.train.numpy()))
    cached = load_folder(str(d), image_size=8, quiet=True, **kw)
    assert cached.report.from_cache and torch.equal(cached.train, data.train)
    assert torch.equal(cached.mean, data.mean)


def test_pool_workers_send_back_records_not_pixels(tmp_path, monkeypatch):
    d = tmp_path / "d"
    write_folder(d, 40)
    one = load_folder(str(d), image_size=8, workers=1, quiet=True)
    monkeypatch.setenv("GANKIT_DATA", str(tmp_path / "pool"))
    monkeypatch.setattr(decode, "POOL_MIN_FILES", 0)
    seen = []
    real = folder.decoded_in_order

    def watching(*args, **kwargs):
        for result in real(*args, **kwargs):
            seen.append(result)
            yield result

    monkeypatch.setattr(folder, "decoded_in_order", watching)
    pool = load_folder(str(d), image_size=8, workers=2, quiet=True)
    assert len(seen) == 42 and all(isinstance(r, str) or r.pixels is None for r in seen)
    assert torch.equal(pool.train, one.train) and torch.equal(pool.mean, one.mean)
    assert (pool.report.used, pool.report.duplicates, pool.report.skipped) == (
        one.report.used, one.report.duplicates, one.report.skipped)
    memory = in_memory(tmp_path, monkeypatch, d)  # the pool sends pixels back instead
    assert torch.equal(memory.train, one.train)


def test_killed_while_rows_move_decodes_again(tmp_path, monkeypatch):
    d = tmp_path / "d"
    write_folder(d, 10)

    def killed(self, slots, convert):
        self.write_row(0, np.zeros(self.shape[1:], np.uint8))  # a row moved, then the kill
        raise KeyboardInterrupt

    monkeypatch.setattr(WorkFiles, "_compact", killed)
    with pytest.raises(KeyboardInterrupt):
        load_folder(str(d), image_size=8, workers=1, quiet=True)
    journal = next((tmp_path / "cache" / "folders").glob("*.part.jsonl"))
    assert json.loads(journal.read_text().splitlines()[-1]) == {"finishing": True}
    monkeypatch.undo()
    monkeypatch.setenv("GANKIT_DATA", str(tmp_path / "cache"))
    monkeypatch.setattr(folder, "IN_MEMORY_BYTES", 0)
    calls = []
    real = decode._decode_one
    monkeypatch.setattr(decode, "_decode_one", lambda *a, **k: (calls.append(1), real(*a, **k))[1])
    again = load_folder(str(d), image_size=8, workers=1, quiet=True)
    assert len(calls) == 12  # every file decoded again: the moved rows were not trusted
    assert np.array_equal(again.train.numpy(), in_memory(tmp_path, monkeypatch, d).train.numpy())
    assert not list((tmp_path / "cache" / "folders").glob("*.part.*"))


def test_a_cache_of_the_older_format_is_decoded_again(tmp_path, capsys):
    d = tmp_path / "d"
    write_folder(d, 6)
    first = load_folder(str(d), image_size=8, quiet=True)
    info_path = next((tmp_path / "cache" / "folders").glob("*.json"))
    info = json.loads(info_path.read_text())
    info_path.write_text(json.dumps({**info, "format": 3}))
    again = load_folder(str(d), image_size=8, quiet=True)
    assert "written by an older gankit" in capsys.readouterr().err
    assert not again.report.from_cache and torch.equal(again.train, first.train)


def test_an_entry_whose_rows_moved_is_updated_file_by_file(tmp_path, monkeypatch, capsys):
    d = tmp_path / "d"
    write_folder(d, 8)
    load_folder(str(d), image_size=8, image_channels="rgb", quiet=True)  # rows moved: a gap
    write_folder(d / "new", 3, start=50)
    again = load_folder(str(d), image_size=8, image_channels="rgb", quiet=True)
    assert "decoding 7 new or changed files, reusing 8 decoded images" in capsys.readouterr().err
    monkeypatch.setenv("GANKIT_DATA", str(tmp_path / "fresh"))
    fresh = load_folder(str(d), image_size=8, image_channels="rgb", quiet=True)
    assert again.report.used == fresh.report.used and torch.equal(again.train, fresh.train)
    assert torch.equal(again.mean, fresh.mean)


def test_this_process_decodes_while_the_pool_starts(tmp_path, monkeypatch):
    """Forking the first worker waits for the fork server (it imports gankit): the files after the
    first tasks are decoded here meanwhile, and the order and pixels are the same."""
    import time

    d = tmp_path / "d"
    write_folder(d, 60)
    one = load_folder(str(d), image_size=8, workers=1, quiet=True)
    monkeypatch.setenv("GANKIT_DATA", str(tmp_path / "pool"))
    monkeypatch.setattr(decode, "POOL_MIN_FILES", 0)
    monkeypatch.setattr(decode, "_POOL_BATCH", 2)  # 4 x 2 tasks of 2 files: 16 for the pool first

    class SlowToStart(decode.ProcessPoolExecutor):
        def submit(self, *args, **kwargs):
            if not getattr(self, "started", False):
                time.sleep(1.0)  # a fork server still importing
                self.started = True
            return super().submit(*args, **kwargs)

    monkeypatch.setattr(decode, "ProcessPoolExecutor", SlowToStart)
    calls = []
    real = decode._decode_one
    monkeypatch.setattr(decode, "_decode_one", lambda *a, **k: (calls.append(1), real(*a, **k))[1])
    pool = load_folder(str(d), image_size=8, workers=2, quiet=True)
    assert 0 < len(calls) <= 62 - 16  # some decoded here, none of the pool's first tasks
    assert torch.equal(pool.train, one.train) and torch.equal(pool.mean, one.mean)
    assert (pool.report.used, pool.report.duplicates, pool.report.skipped) == (
        one.report.used, one.report.duplicates, one.report.skipped)
