"""Image folders at scale (issue 23): the memory-mapped uint8 cache, resumable and incremental
decoding, the process pool, damaged caches. Tiny folders; the cache goes to ``tmp_path / "cache"``.
"""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

import gankit
import gankit.data.decode as decode
import gankit.data.folder as folder
import gankit.data.folder_cache as folder_cache
from gankit.data import MinibatchStream
from gankit.data.folder import load_folder
from gankit.errors import DataError

_decode_one = decode._decode_one  # the real one, whatever a test patches in


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("GANKIT_DATA", str(tmp_path / "cache"))


def write_images(d, n, start=0):
    """n small images of varied size and mode (every 4th grey, every 5th RGBA)."""
    d.mkdir(parents=True, exist_ok=True)
    for i in range(start, start + n):
        rng = np.random.default_rng(i)
        h, w = 8 + i % 7, 9 + i % 5
        if i % 4 == 0:
            img = Image.fromarray(rng.integers(0, 256, (h, w), dtype=np.uint8), "L")
        elif i % 5 == 0:
            img = Image.fromarray(rng.integers(0, 256, (h, w, 4), dtype=np.uint8), "RGBA")
        else:
            img = Image.fromarray(rng.integers(0, 256, (h, w, 3), dtype=np.uint8))
        img.save(d / f"img{i:03d}.png")


def count_decodes(monkeypatch, fail_after=None):
    """Count this process's decodes; with ``fail_after``, Ctrl-C arrives at that decode."""
    calls = []

    def counting(*args, **kwargs):
        if fail_after is not None and len(calls) == fail_after:
            raise KeyboardInterrupt
        calls.append(args[0].name)
        return _decode_one(*args, **kwargs)

    monkeypatch.setattr(decode, "_decode_one", counting)
    return calls


def mapped(monkeypatch):
    """Every folder, however small, kept as memory-mapped uint8."""
    monkeypatch.setattr(folder, "IN_MEMORY_BYTES", 0)


def test_memory_mapped_batches_are_bit_identical_to_the_in_memory_path(tmp_path, monkeypatch):
    write_images(tmp_path / "d", 30)
    small = load_folder(str(tmp_path / "d"), image_size=8, image_channels="rgb", quiet=True)
    mapped(monkeypatch)
    large = load_folder(str(tmp_path / "d"), image_size=8, image_channels="rgb", quiet=True)
    assert small.train.dtype == torch.float32 and large.train.dtype == torch.uint8
    assert isinstance(large.train.numpy().base, np.memmap) or large.report.from_cache
    a, b = (MinibatchStream(x.train, 7, torch.Generator().manual_seed(3)) for x in (small, large))
    for _ in range(10):  # several epochs of 4 batches: the orders and the floats are the same
        assert torch.equal(a.next(), b.next())
    assert (a.epoch, a.position) == (b.epoch, b.position) and a.epoch >= 2
    assert torch.equal(large.head(5), small.train[:5])
    assert torch.equal(large.take(torch.tensor([4, 0])), small.train[[4, 0]])
    torch.testing.assert_close(large.mean_example(chunk_bytes=500),
                               small.train.double().mean(0, keepdim=True))


def test_a_run_from_the_mapped_cache_trains_as_from_memory(tmp_path, monkeypatch):
    write_images(tmp_path / "d", 24)
    kw = dict(dataset="folder", data_dir=str(tmp_path / "d"), image_size=8, image_channels="rgb",
              batch=4, steps=3, log_every=1, snapshot_every=3, progress=False)
    small = gankit.train(runs_dir=str(tmp_path / "a"), **kw)
    mapped(monkeypatch)
    large = gankit.train(runs_dir=str(tmp_path / "b"), **kw)
    rows = [[json.loads(line) for line in (run.path / "stats.jsonl").read_text().splitlines()]
            for run in (small, large)]
    drop = ("time",)
    assert [{k: v for k, v in r.items() if k not in drop} for r in rows[0]] == \
           [{k: v for k, v in r.items() if k not in drop} for r in rows[1]]


def test_an_interrupted_decoding_resumes_without_redoing_finished_images(tmp_path, monkeypatch,
                                                                          capsys):
    write_images(tmp_path / "d", 20)
    count_decodes(monkeypatch, fail_after=12)
    with pytest.raises(KeyboardInterrupt, match="12 of 20 files done.*run the same command"):
        load_folder(str(tmp_path / "d"), image_size=8, workers=1, quiet=True)
    journal = next((tmp_path / "cache" / "folders").glob("*.part.jsonl"))
    with open(journal, "a") as f:
        f.write('["img999.png", 12')  # a line torn by a kill: ignored
    calls = count_decodes(monkeypatch)
    resumed = load_folder(str(tmp_path / "d"), image_size=8, workers=1, quiet=True)
    assert calls == [f"img{i:03d}.png" for i in range(12, 20)]  # only the 8 not yet done
    assert "resuming an interrupted decoding: 12 of 20 files already done" in capsys.readouterr().err
    assert not list((tmp_path / "cache" / "folders").glob("*.part.*"))  # work files removed
    monkeypatch.setenv("GANKIT_DATA", str(tmp_path / "fresh"))
    fresh = load_folder(str(tmp_path / "d"), image_size=8, workers=1, quiet=True)
    assert torch.equal(resumed.train, fresh.train) and resumed.report.used == fresh.report.used
    assert resumed.report.channels == fresh.report.channels
    assert torch.equal(resumed.mean, fresh.mean)  # the rows done before: summed again, exactly


def test_added_and_removed_files_are_detected_and_only_new_files_decoded(tmp_path, monkeypatch,
                                                                         capsys):
    d = tmp_path / "d"
    write_images(d, 16)
    load_folder(str(d), image_size=8, image_channels="rgb", quiet=True)
    write_images(d, 2, start=100)
    (d / "img005.png").unlink()
    (d / "copy.png").write_bytes((d / "img007.png").read_bytes())  # same bytes: a duplicate
    calls = count_decodes(monkeypatch)
    again = load_folder(str(d), image_size=8, image_channels="rgb", quiet=True)
    assert sorted(calls) == ["copy.png", "img100.png", "img101.png"]
    assert "decoding 3 new or changed files, reusing 15 decoded images" in capsys.readouterr().err
    assert dict(again.report.duplicates) == {"img007.png": "same bytes as copy.png"}
    assert len(list((tmp_path / "cache" / "folders").glob("*.npy"))) == 1  # the old one deleted
    monkeypatch.setenv("GANKIT_DATA", str(tmp_path / "fresh"))
    fresh = load_folder(str(d), image_size=8, image_channels="rgb", quiet=True)
    assert torch.equal(again.train, fresh.train) and torch.equal(again.mean, fresh.mean)
    assert (again.report.used, again.report.transparent) == (fresh.report.used,
                                                              fresh.report.transparent)


@pytest.mark.parametrize("damage", ["truncate", "foreign"])
def test_a_damaged_cache_is_rebuilt_with_a_message(tmp_path, monkeypatch, capsys, damage):
    write_images(tmp_path / "d", 10)
    mapped(monkeypatch)
    first = load_folder(str(tmp_path / "d"), image_size=8, quiet=True)
    expect = first.train.clone()
    del first
    npy = next((tmp_path / "cache" / "folders").glob("*.npy"))
    if damage == "truncate":
        npy.write_bytes(npy.read_bytes()[:-100])
    else:  # a valid .npy of another shape and dtype
        np.save(npy, np.zeros((10, 3, 8, 8), np.float32))
    again = load_folder(str(tmp_path / "d"), image_size=8, quiet=True)
    err = capsys.readouterr().err
    assert "is damaged or foreign" in err and "decoding the images again" in err
    assert not again.report.from_cache and torch.equal(again.train, expect)
    assert load_folder(str(tmp_path / "d"), image_size=8, quiet=True).report.from_cache


def test_the_process_pool_decodes_the_same_as_one_worker(tmp_path, monkeypatch):
    write_images(tmp_path / "d", 40)
    one = load_folder(str(tmp_path / "d"), image_size=8, workers=1, quiet=True)
    monkeypatch.setenv("GANKIT_DATA", str(tmp_path / "pool"))
    monkeypatch.setattr(decode, "POOL_MIN_FILES", 0)
    calls = count_decodes(monkeypatch)
    pool = load_folder(str(tmp_path / "d"), image_size=8, workers=2, quiet=True)
    assert calls == []  # every image was decoded in the worker processes
    assert torch.equal(pool.train, one.train)
    assert (pool.report.used, pool.report.channels, pool.report.transparent) == (
        one.report.used, one.report.channels, one.report.transparent)


def test_decode_workers_come_from_the_environment(monkeypatch):
    monkeypatch.setenv("GANKIT_DECODE_WORKERS", "3")
    assert decode.decode_workers() == 3
    monkeypatch.setenv("GANKIT_DECODE_WORKERS", "all")
    with pytest.raises(DataError, match="GANKIT_DECODE_WORKERS must be a number"):
        decode.decode_workers()
    monkeypatch.delenv("GANKIT_DECODE_WORKERS")
    assert decode.decode_workers() >= 1


def test_a_second_process_waits_for_the_one_decoding(tmp_path, capsys):
    """Two processes (the ranks of a distributed run) loading the same new folder: one decodes,
    the other waits on KEY.lock, then maps what the first wrote."""
    import fcntl
    import threading

    write_images(tmp_path / "d", 6)
    root = (tmp_path / "d").resolve()
    key = folder_cache.cache_key(root, folder._list_files(root), 8, "auto", "white")
    (tmp_path / "cache" / "folders").mkdir(parents=True)
    holder = open(tmp_path / "cache" / "folders" / f"{key}.lock", "a")
    fcntl.flock(holder, fcntl.LOCK_EX)  # "another process" (another open file: flock conflicts)
    threading.Timer(0.3, lambda: fcntl.flock(holder, fcntl.LOCK_UN)).start()
    data = load_folder(str(root), image_size=8, quiet=True)
    holder.close()
    assert "another process is decoding this folder" in capsys.readouterr().err
    assert len(data.train) == 6
