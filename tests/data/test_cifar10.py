"""CIFAR-10 binary version (data/cifar10.py) on small synthetic files: layout, archive, download.

No real CIFAR-10 and no internet: the archive is built in ``tmp_path`` and served from 127.0.0.1.
"""

from __future__ import annotations

import functools
import hashlib
import http.server
import io
import tarfile
import threading
from pathlib import Path

import numpy as np
import pytest
import torch
from torch.testing import assert_close

import gankit.data.cifar10 as cifar10
from gankit.config import resolve_config
from gankit.data import load_dataset
from gankit.errors import DataError

N = 6  # records per synthetic batch file


def make_batches(seed: int = 0) -> dict[str, tuple[np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(seed)
    names = cifar10.TRAIN_FILES + (cifar10.TEST_FILE,)
    return {n: (rng.integers(0, 256, (N, 3, 32, 32), dtype=np.uint8),
                rng.integers(0, 10, N, dtype=np.uint8)) for n in names}


def encode(images: np.ndarray, labels: np.ndarray) -> bytes:
    """The documented record: label byte, then 1024 red, 1024 green, 1024 blue bytes."""
    return b"".join(bytes([int(y)]) + x.reshape(-1).tobytes() for x, y in zip(images, labels))


def write_bins(folder: Path, batches) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, (x, y) in batches.items():
        (folder / name).write_bytes(encode(x, y))


def make_archive(path: Path, batches) -> bytes:
    buf = io.BytesIO()
    with tarfile.open(fileobj=buf, mode="w:gz") as tar:
        for name, (x, y) in batches.items():
            raw = encode(x, y)
            info = tarfile.TarInfo(f"{cifar10.FOLDER}/{name}")
            info.size = len(raw)
            tar.addfile(info, io.BytesIO(raw))
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(buf.getvalue())
    return buf.getvalue()


@pytest.fixture(autouse=True)
def cache(tmp_path, monkeypatch):
    monkeypatch.setenv("GANKIT_DATA", str(tmp_path / "cache"))
    return tmp_path / "cache"


def check(ds, batches):
    train = [batches[n] for n in cifar10.TRAIN_FILES]
    expect = torch.from_numpy(np.concatenate([x for x, _ in train])).float() / 255
    assert ds.train.shape == (5 * N, 3, 32, 32) and ds.test.shape == (N, 3, 32, 32)
    assert_close(ds.train, expect)
    assert ds.labels["train"].tolist() == np.concatenate([y for _, y in train]).tolist()
    assert ds.labels["test"].tolist() == batches[cifar10.TEST_FILE][1].tolist()


def test_record_layout_is_label_then_red_green_blue_planes():
    x = np.zeros((1, 3, 32, 32), np.uint8)
    x[0, 0, 0, 1], x[0, 1, 2, 0], x[0, 2, 31, 31] = 10, 20, 30
    raw = encode(x, np.array([7]))
    assert raw[0] == 7 and raw[1 + 1] == 10 and raw[1 + 1024 + 64] == 20 and raw[-1] == 30
    images, labels = cifar10.parse_records(raw, "t")
    assert labels.tolist() == [7] and (images == x).all()


@pytest.mark.parametrize("layout", ["flat", "nested", "archive"])
def test_data_dir_layouts(tmp_path, monkeypatch, layout):
    batches = make_batches()
    root = tmp_path / "data"
    if layout == "flat":
        write_bins(root, batches)
    elif layout == "nested":
        write_bins(root / cifar10.FOLDER, batches)
    else:
        raw = make_archive(root / cifar10.ARCHIVE, batches)
        monkeypatch.setattr(cifar10, "ARCHIVE_MD5", hashlib.md5(raw).hexdigest())
    check(load_dataset("cifar10", str(root)), batches)
    check(load_dataset("cifar10", str(root)), batches)  # again: the unpacked copy is reused
    if layout == "archive":  # unpacked into the cache, not into the user's folder
        assert sorted(p.name for p in root.iterdir()) == [cifar10.ARCHIVE]


def test_archive_with_the_wrong_checksum_is_refused(tmp_path):
    make_archive(tmp_path / "data" / cifar10.ARCHIVE, make_batches())
    with pytest.raises(DataError, match="not the published"):
        load_dataset("cifar10", str(tmp_path / "data"))


@pytest.mark.parametrize("damage, message", [
    (lambda b: b[:-5], "not a whole number"),
    (lambda b: b"", "not a whole number"),
    (lambda b: bytes([12]) + b[1:], "label 12"),
])
def test_bad_files_raise_data_errors(tmp_path, damage, message):
    write_bins(tmp_path, make_batches())
    path = tmp_path / cifar10.TRAIN_FILES[2]
    path.write_bytes(damage(path.read_bytes()))
    with pytest.raises(DataError, match=message):
        load_dataset("cifar10", str(tmp_path))


def test_missing_files_and_folders(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        load_dataset("cifar10", str(tmp_path / "nope"))
    (tmp_path / "data_batch_1.bin").write_bytes(b"")
    with pytest.raises(DataError, match="pickled"):
        load_dataset("cifar10", str(tmp_path))


@pytest.fixture
def mirror(tmp_path, monkeypatch):
    """Serves a synthetic archive under /good/ with the MD5 patched to match it."""
    batches = make_batches(1)
    raw = make_archive(tmp_path / "www" / "good" / cifar10.ARCHIVE, batches)
    (tmp_path / "www" / "bad").mkdir()
    (tmp_path / "www" / "bad" / cifar10.ARCHIVE).write_bytes(raw[:-10])  # truncated
    monkeypatch.setattr(cifar10, "ARCHIVE_MD5", hashlib.md5(raw).hexdigest())
    for var in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("no_proxy", "*")
    requests = []

    class Handler(http.server.SimpleHTTPRequestHandler):
        def do_GET(self):  # noqa: N802
            requests.append(self.path)
            super().do_GET()

        def log_message(self, *args):
            pass

    server = http.server.ThreadingHTTPServer(
        ("127.0.0.1", 0), functools.partial(Handler, directory=str(tmp_path / "www")))
    thread = threading.Thread(target=server.serve_forever, args=(0.02,), daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{server.server_address[1]}/", batches, requests
    server.shutdown()
    server.server_close()
    thread.join(timeout=5)


def test_download_checks_md5_falls_back_and_caches(mirror, cache, monkeypatch):
    url, batches, requests = mirror
    monkeypatch.setenv("GANKIT_CIFAR10_MIRRORS", f"{url}bad,{url}good")
    check(load_dataset("cifar10"), batches)
    assert requests == [f"/bad/{cifar10.ARCHIVE}", f"/good/{cifar10.ARCHIVE}"]
    assert not (cache / "cifar10" / cifar10.ARCHIVE).exists()  # unpacked, then removed
    check(load_dataset("cifar10"), batches)
    assert len(requests) == 2  # the second load reads the cache


def test_download_failure_names_every_mirror(mirror, monkeypatch):
    url, _, _ = mirror
    monkeypatch.setenv("GANKIT_CIFAR10_MIRRORS", f"{url}bad,{url}missing")
    with pytest.raises(DataError, match=r"(?i)checksum mismatch.*/missing/\S+: file not found"):
        load_dataset("cifar10")


def test_dcgan_cifar10_preset():
    cfg = resolve_config("dcgan-cifar10")
    assert (cfg.dataset, cfg.arch, cfg.z_dist, cfg.lr_g, cfg.adam_beta1) == (
        "cifar10", "conv", "normal", 2e-4, 0.5)


# --- issue 18: only regular files, bounded reads, a deadline for the download ---------------------

def test_fifo_and_oversized_batch_files_are_refused_unread(tmp_path, no_hang):
    import os

    write_bins(tmp_path, make_batches())
    path = tmp_path / cifar10.TRAIN_FILES[2]
    with open(path, "r+b") as f:  # sparse: 1 GB on paper, nothing on disk
        f.truncate(1_000_000_000)
    with pytest.raises(DataError, match="more than a CIFAR-10 batch file"):
        load_dataset("cifar10", str(tmp_path))
    path.unlink()
    os.mkfifo(path)
    with pytest.raises(DataError, match="is a FIFO .named pipe., not a regular file"):
        no_hang(load_dataset, "cifar10", str(tmp_path), fifo=path)


def test_stalled_download_stops_at_the_deadline(tmp_path, monkeypatch, dribble, no_hang, no_proxy):
    slow = dribble(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n", bytes(100_000), 0.2)
    monkeypatch.setenv("GANKIT_CIFAR10_MIRRORS", slow.url)
    monkeypatch.setenv("GANKIT_DOWNLOAD_DEADLINE", "0.5")
    with pytest.raises(DataError) as info:
        no_hang(load_dataset, "cifar10", None, limit=20)
    assert slow.url in str(info.value) and "not complete after 0.5 s" in str(info.value)
    assert not list((tmp_path / "cache").rglob("*.part"))
