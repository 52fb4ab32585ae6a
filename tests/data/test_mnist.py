"""MNIST loading from IDX files: reading, the paper's split, bad input, the CLI and the download.

Everything runs on small synthetic IDX files written to ``tmp_path`` and, for the download, a local
HTTP server on 127.0.0.1: no internet and no real MNIST needed.
"""

from __future__ import annotations

import functools
import gzip
import hashlib
import http.server
import os
import socket
import struct
import threading
from pathlib import Path

import numpy as np
import pytest
import torch

import gankit.data.mnist as mnist
from gankit.cli import main
from gankit.data import load_dataset
from gankit.data.mnist import FILES, load_mnist
from gankit.errors import DataError

N_TRAIN, N_TEST = 120, 30
N_VAL = N_TRAIN // 6  # small files keep one sixth of the training images for validation


# --- synthetic IDX files --------------------------------------------------------------------------

def idx_bytes(array: np.ndarray, magic: int | None = None) -> bytes:
    """IDX encoding of a uint8 array: big-endian magic (2051 images, 2049 labels), dims, data."""
    if magic is None:
        magic = {3: 2051, 1: 2049}[array.ndim]
    header = struct.pack(">I", magic) + struct.pack(f">{array.ndim}I", *array.shape)
    return header + np.ascontiguousarray(array, dtype=np.uint8).tobytes()


def make_arrays(seed: int = 0, n_train: int = N_TRAIN,
                n_test: int = N_TEST) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    arrays = {
        "train_images": rng.integers(0, 256, (n_train, 28, 28), dtype=np.uint8),
        "train_labels": rng.integers(0, 10, n_train, dtype=np.uint8),
        "test_images": rng.integers(0, 256, (n_test, 28, 28), dtype=np.uint8),
        "test_labels": rng.integers(0, 10, n_test, dtype=np.uint8),
    }
    # Every pixel value 0..255 occurs (the extremes must map to exactly 0.0 and 1.0).
    arrays["train_images"][0].flat[:256] = np.arange(256, dtype=np.uint8)
    return arrays


def encode(arrays: dict[str, np.ndarray]) -> dict[str, bytes]:
    """File name -> uncompressed IDX bytes."""
    return {FILES[key]: idx_bytes(a) for key, a in arrays.items()}


def write_mnist(folder: Path, arrays: dict[str, np.ndarray], gz: bool = False) -> dict[str, Path]:
    """Write the four files into ``folder`` (gzipped as NAME.gz if ``gz``); key -> path."""
    folder.mkdir(parents=True, exist_ok=True)
    paths = {}
    for key, a in arrays.items():
        raw = idx_bytes(a)
        path = folder / (FILES[key] + (".gz" if gz else ""))
        path.write_bytes(gzip.compress(raw) if gz else raw)
        paths[key] = path
    return paths


def scaled(a: np.ndarray) -> torch.Tensor:
    """The expected tensor: array/255 as float32, with the channel axis."""
    return torch.from_numpy((a / 255.0).astype(np.float32)).unsqueeze(1)


def exact(actual: torch.Tensor, expected: torch.Tensor) -> None:
    torch.testing.assert_close(actual, expected, rtol=0, atol=0)


def check_dataset(ds, arrays: dict[str, np.ndarray], n_val: int) -> None:
    n_train = len(arrays["train_images"]) - n_val
    n_test = len(arrays["test_images"])
    assert ds.name == "mnist" and ds.unit_range and ds.is_image
    assert ds.train.shape == (n_train, 1, 28, 28)
    assert ds.val.shape == (n_val, 1, 28, 28)
    assert ds.test.shape == (n_test, 1, 28, 28)
    assert ds.train.dtype == ds.val.dtype == ds.test.dtype == torch.float32
    exact(ds.train, scaled(arrays["train_images"][:n_train]))
    exact(ds.val, scaled(arrays["train_images"][n_train:]))
    exact(ds.test, scaled(arrays["test_images"]))
    assert set(ds.labels) == {"train", "val", "test"}
    exact(ds.labels["train"], torch.from_numpy(arrays["train_labels"][:n_train].astype(np.int64)))
    exact(ds.labels["val"], torch.from_numpy(arrays["train_labels"][n_train:].astype(np.int64)))
    exact(ds.labels["test"], torch.from_numpy(arrays["test_labels"].astype(np.int64)))


@pytest.fixture
def arrays() -> dict[str, np.ndarray]:
    return make_arrays()


@pytest.fixture
def mnist_dir(tmp_path, arrays) -> Path:
    """A flat folder holding the four uncompressed synthetic files."""
    folder = tmp_path / "mnist"
    write_mnist(folder, arrays)
    return folder


# --- reading --------------------------------------------------------------------------------------

@pytest.mark.parametrize("gz", [False, True], ids=["plain", "gzip"])
@pytest.mark.parametrize("layout", ["", "raw", "MNIST/raw"], ids=["flat", "raw", "torchvision"])
def test_reads_every_layout(tmp_path, arrays, layout, gz):
    root = tmp_path / "data"
    write_mnist(root / layout if layout else root, arrays, gz=gz)
    ds = load_mnist(str(root))
    check_dataset(ds, arrays, N_VAL)


def test_values_scaled_exactly_to_unit_range(mnist_dir, arrays):
    ds = load_mnist(str(mnist_dir))
    first = ds.train[0, 0].flatten()[:256]
    exact(first, torch.arange(256, dtype=torch.float32) / 255)
    assert first[0].item() == 0.0 and first[255].item() == 1.0
    for split in (ds.train, ds.val, ds.test):
        assert split.min().item() >= 0.0 and split.max().item() <= 1.0


def test_split_and_label_alignment(mnist_dir, arrays):
    ds = load_mnist(str(mnist_dir))
    assert len(ds.train) == N_TRAIN - N_VAL == 100 and len(ds.val) == N_VAL == 20
    # The validation set is the *last* N//6 training images, in file order, with their labels.
    for i in range(N_VAL):
        j = N_TRAIN - N_VAL + i
        exact(ds.val[i, 0], torch.from_numpy(arrays["train_images"][j] / 255.0).float())
        assert ds.labels["val"][i].item() == int(arrays["train_labels"][j])
    for i in (0, 57, N_TRAIN - N_VAL - 1):
        exact(ds.train[i, 0], torch.from_numpy(arrays["train_images"][i] / 255.0).float())
        assert ds.labels["train"][i].item() == int(arrays["train_labels"][i])
    assert ds.labels["train"].dtype == torch.int64


def test_paper_split_for_full_size_training_file(tmp_path):
    """20,000 or more training images: the last 10,000 are validation (the paper's split)."""
    arrays = make_arrays(n_train=20_000, n_test=5)
    write_mnist(tmp_path, arrays)
    ds = load_mnist(str(tmp_path))
    check_dataset(ds, arrays, n_val=10_000)


def test_gzip_recognised_by_content_and_mixed_files(tmp_path, arrays):
    paths = write_mnist(tmp_path, arrays)
    # gzipped bytes under the plain name, and one file gzipped under NAME.gz
    paths["train_images"].write_bytes(gzip.compress(paths["train_images"].read_bytes()))
    raw = paths["test_labels"].read_bytes()
    paths["test_labels"].unlink()
    (tmp_path / (FILES["test_labels"] + ".gz")).write_bytes(gzip.compress(raw))
    check_dataset(load_mnist(str(tmp_path)), arrays, N_VAL)


def test_registry_loads_mnist(mnist_dir, arrays):
    check_dataset(load_dataset("mnist", str(mnist_dir)), arrays, N_VAL)


# --- bad input ------------------------------------------------------------------------------------

def error_of(data_dir) -> str:
    with pytest.raises(DataError) as info:
        load_mnist(str(data_dir))
    message = str(info.value)
    assert "\n" not in message
    return message


@pytest.mark.parametrize("key", list(FILES))
def test_wrong_magic_number(mnist_dir, arrays, key):
    path = mnist_dir / FILES[key]
    wrong = 2049 if key.endswith("images") else 2051
    path.write_bytes(idx_bytes(arrays[key], magic=wrong))
    message = error_of(mnist_dir)
    assert str(path) in message
    assert f"magic number {wrong}" in message


def test_wrong_magic_number_gzipped(tmp_path, arrays):
    paths = write_mnist(tmp_path, arrays, gz=True)
    paths["train_images"].write_bytes(gzip.compress(idx_bytes(arrays["train_labels"])))
    message = error_of(tmp_path)
    assert str(paths["train_images"]) in message and "magic number 2049" in message


@pytest.mark.parametrize("key", list(FILES))
def test_truncated_content(mnist_dir, key):
    path = mnist_dir / FILES[key]
    raw = path.read_bytes()
    path.write_bytes(raw[:-5])
    message = error_of(mnist_dir)
    assert str(path) in message
    assert f"holds {len(raw) - 5} bytes" in message and "truncated" in message


def test_too_long_content(mnist_dir):
    path = mnist_dir / FILES["test_images"]
    path.write_bytes(path.read_bytes() + b"\0")
    assert str(path) in error_of(mnist_dir)


@pytest.mark.parametrize("cut", [1, 20, 500])
def test_truncated_gzip(tmp_path, arrays, cut):
    paths = write_mnist(tmp_path, arrays, gz=True)
    path = paths["train_images"]
    path.write_bytes(path.read_bytes()[:-cut])
    message = error_of(tmp_path)
    assert str(path) in message and "gzip" in message


def test_corrupt_gzip_body(tmp_path, arrays):
    paths = write_mnist(tmp_path, arrays, gz=True)
    path = paths["test_images"]
    raw = bytearray(path.read_bytes())
    raw[len(raw) // 2] ^= 0xFF
    path.write_bytes(bytes(raw))
    message = error_of(tmp_path)
    assert str(path) in message


@pytest.mark.parametrize("key", list(FILES))
def test_header_only_file(mnist_dir, arrays, key):
    path = mnist_dir / FILES[key]
    path.write_bytes(idx_bytes(arrays[key])[: 4 + 4 * arrays[key].ndim])
    message = error_of(mnist_dir)
    assert str(path) in message and "truncated" in message


@pytest.mark.parametrize("size", [0, 3, 4, 10], ids=lambda n: f"{n}B")
def test_file_shorter_than_header(mnist_dir, size):
    path = mnist_dir / FILES["train_images"]
    path.write_bytes(path.read_bytes()[:size])
    message = error_of(mnist_dir)
    assert str(path) in message


@pytest.mark.parametrize("split", ["train", "test"])
@pytest.mark.parametrize("shape", [(27, 28), (28, 27), (32, 32)])
def test_wrong_image_size(mnist_dir, arrays, split, shape):
    key = f"{split}_images"
    path = mnist_dir / FILES[key]
    n = len(arrays[key])
    path.write_bytes(idx_bytes(np.zeros((n, *shape), np.uint8)))
    message = error_of(mnist_dir)
    assert str(path) in message and f"{shape[0]}x{shape[1]}" in message and "28x28" in message


@pytest.mark.parametrize("split", ["train", "test"])
def test_image_label_count_mismatch(mnist_dir, arrays, split):
    labels = arrays[f"{split}_labels"]
    (mnist_dir / FILES[f"{split}_labels"]).write_bytes(idx_bytes(labels[:-1]))
    message = error_of(mnist_dir)
    assert str(mnist_dir / FILES[f"{split}_images"]) in message
    assert f"{len(labels)} images" in message and f"has {len(labels) - 1}" in message


@pytest.mark.parametrize("key", list(FILES))
def test_missing_file(mnist_dir, key):
    (mnist_dir / FILES[key]).unlink()
    message = error_of(mnist_dir)
    assert FILES[key] in message and str(mnist_dir) in message


def test_missing_directory(tmp_path):
    missing = tmp_path / "nowhere"
    message = error_of(missing)
    assert str(missing) in message and "does not exist" in message


def test_data_dir_is_a_file(mnist_dir):
    message = error_of(mnist_dir / FILES["train_images"])
    assert str(mnist_dir / FILES["train_images"]) in message


# --- the command line -----------------------------------------------------------------------------

def run_cli(capsys, runs: Path, *extra: str) -> tuple[int, str]:
    code = main(["train", "--preset", "paper-mnist", "--runs-dir", str(runs), "--steps", "1",
                 "--quiet", *extra])
    err = capsys.readouterr().err
    return code, err


def assert_one_error_line(err: str, *fragments: str) -> None:
    lines = err.splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("gankit: error:")
    assert "Traceback" not in err
    for fragment in fragments:
        assert fragment in lines[0]


def assert_no_run_folder(runs: Path) -> None:
    assert not runs.exists() or list(runs.iterdir()) == []


def test_cli_wrong_magic(tmp_path, mnist_dir, arrays, capsys):
    path = mnist_dir / FILES["train_images"]
    path.write_bytes(idx_bytes(arrays["train_images"], magic=2049))
    runs = tmp_path / "runs"
    code, err = run_cli(capsys, runs, "--data-dir", str(mnist_dir))
    assert code == 2
    assert_one_error_line(err, str(path), "magic number")
    assert_no_run_folder(runs)


def test_cli_missing_data_dir(tmp_path, capsys):
    missing = tmp_path / "no-such-dir"
    runs = tmp_path / "runs"
    code, err = run_cli(capsys, runs, "--data-dir", str(missing))
    assert code == 2
    assert_one_error_line(err, str(missing))
    assert_no_run_folder(runs)


# --- downloading ----------------------------------------------------------------------------------

class Mirror:
    """A local HTTP server serving ``root``; ``requests`` lists the paths asked for."""

    def __init__(self, root: Path):
        self.root = root
        self.requests: list[str] = []
        requests = self.requests

        class Handler(http.server.SimpleHTTPRequestHandler):
            def do_GET(self):  # noqa: N802 (http.server's name)
                requests.append(self.path)
                super().do_GET()

            def log_message(self, *args):  # keep the test output clean
                pass

        self.server = http.server.ThreadingHTTPServer(
            ("127.0.0.1", 0), functools.partial(Handler, directory=str(root)))
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/"
        self.thread = threading.Thread(target=self.server.serve_forever, args=(0.02,),
                                       daemon=True)
        self.thread.start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(timeout=5)


def serve_gz(folder: Path, files: dict[str, bytes]) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    for name, raw in files.items():
        (folder / (name + ".gz")).write_bytes(gzip.compress(raw))


def closed_port_url() -> str:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    return f"http://127.0.0.1:{port}/"


@pytest.fixture
def files(arrays) -> dict[str, bytes]:
    return encode(arrays)


@pytest.fixture
def mirror(tmp_path, files, monkeypatch):
    """Serves the synthetic files gzipped under /good/; MD5 patched to their uncompressed bytes."""
    root = tmp_path / "www"
    serve_gz(root / "good", files)
    monkeypatch.setattr(mnist, "MD5", {n: hashlib.md5(raw).hexdigest() for n, raw in files.items()})
    for var in ("http_proxy", "HTTP_PROXY", "https_proxy", "HTTPS_PROXY", "all_proxy", "ALL_PROXY"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("no_proxy", "*")
    monkeypatch.setenv("NO_PROXY", "*")
    server = Mirror(root)
    yield server
    server.close()


@pytest.fixture
def cache(tmp_path, monkeypatch) -> Path:
    folder = tmp_path / "cache"
    monkeypatch.setenv("GANKIT_DATA", str(folder))
    return folder


def use_mirrors(monkeypatch, *urls: str) -> None:
    monkeypatch.setenv("GANKIT_MNIST_MIRRORS", ",".join(urls))


def cached_names(cache: Path) -> list[str]:
    folder = cache / "mnist"
    return sorted(p.name for p in folder.iterdir()) if folder.exists() else []


def test_download_then_cache(mirror, cache, arrays, monkeypatch):
    use_mirrors(monkeypatch, mirror.url + "good")  # no trailing slash: added by gankit
    ds = load_mnist(None)
    check_dataset(ds, arrays, N_VAL)
    assert cached_names(cache) == sorted(n + ".gz" for n in FILES.values())
    assert sorted(mirror.requests) == sorted(f"/good/{n}.gz" for n in FILES.values())
    for name in FILES.values():  # stored as served, checksum of the content verified
        raw = gzip.decompress((cache / "mnist" / (name + ".gz")).read_bytes())
        assert hashlib.md5(raw).hexdigest() == mnist.MD5[name]

    check_dataset(load_mnist(None), arrays, N_VAL)
    assert len(mirror.requests) == len(FILES)  # the second load does not touch the network


def test_download_fetches_only_missing_files(mirror, cache, arrays, monkeypatch):
    use_mirrors(monkeypatch, mirror.url + "good/")
    load_mnist(None)
    (cache / "mnist" / (FILES["test_labels"] + ".gz")).unlink()
    del mirror.requests[:]
    check_dataset(load_dataset("mnist"), arrays, N_VAL)
    assert mirror.requests == [f"/good/{FILES['test_labels']}.gz"]


@pytest.mark.parametrize("dead", ["closed-port", "404", "bad-scheme"])
def test_mirror_fallback(mirror, cache, arrays, monkeypatch, dead):
    first = {"closed-port": closed_port_url(), "404": mirror.url + "missing/",
             "bad-scheme": "nosuchscheme://mirror/"}[dead]
    use_mirrors(monkeypatch, first, mirror.url + "good/")
    check_dataset(load_mnist(None), arrays, N_VAL)
    assert cached_names(cache) == sorted(n + ".gz" for n in FILES.values())
    good = [p for p in mirror.requests if p.startswith("/good/")]
    assert sorted(good) == sorted(f"/good/{n}.gz" for n in FILES.values())


def test_fallback_after_checksum_mismatch(mirror, cache, arrays, monkeypatch):
    """A mirror serving different bytes is skipped for the next one."""
    other = encode(make_arrays(seed=1))
    serve_gz(mirror.root / "stale", other)
    use_mirrors(monkeypatch, mirror.url + "stale/", mirror.url + "good/")
    check_dataset(load_mnist(None), arrays, N_VAL)
    assert cached_names(cache) == sorted(n + ".gz" for n in FILES.values())


def test_uncompressed_file_on_mirror_is_accepted(mirror, cache, files, arrays, monkeypatch):
    """The checksum is of the uncompressed bytes, so a mirror serving them raw also verifies."""
    plain = mirror.root / "plain"
    plain.mkdir()
    for name, raw in files.items():
        (plain / (name + ".gz")).write_bytes(raw)
    use_mirrors(monkeypatch, mirror.url + "plain/")
    check_dataset(load_mnist(None), arrays, N_VAL)


@pytest.mark.parametrize("key", ["train_images", "test_labels"])
def test_checksum_failure(mirror, cache, monkeypatch, key):
    name = FILES[key]
    monkeypatch.setitem(mnist.MD5, name, "0" * 32)
    use_mirrors(monkeypatch, mirror.url + "good/")
    with pytest.raises(DataError) as info:
        load_mnist(None)
    message = str(info.value)
    assert "checksum" in message and name in message and "\n" not in message
    left = cached_names(cache)
    assert not any(n.startswith(name) for n in left), left  # neither NAME.gz nor NAME.gz.part
    assert not any(n.endswith(".part") for n in left), left
    # Files fetched before the failing one were verified and are kept; none after it was tried.
    order = list(FILES.values())
    assert left == sorted(n + ".gz" for n in order[: order.index(name)])


def test_checksum_failure_of_corrupt_gzip(mirror, cache, monkeypatch):
    path = mirror.root / "good" / (FILES["train_labels"] + ".gz")
    path.write_bytes(path.read_bytes()[:-10])  # truncated in transit or on the mirror
    use_mirrors(monkeypatch, mirror.url + "good/")
    with pytest.raises(DataError) as info:
        load_mnist(None)
    assert "checksum" in str(info.value) and FILES["train_labels"] in str(info.value)
    assert not any(n.startswith(FILES["train_labels"]) for n in cached_names(cache))


def test_all_mirrors_fail(mirror, cache, monkeypatch):
    dead = closed_port_url()
    use_mirrors(monkeypatch, dead, mirror.url + "missing/")
    with pytest.raises(DataError) as info:
        load_mnist(None)
    message = str(info.value)
    assert "could not download" in message and FILES["train_images"] in message
    assert dead in message and mirror.url + "missing/" in message and "\n" not in message
    assert cached_names(cache) == []


BROKEN_RESPONSES = {
    # not HTTP at all (e.g. a mirror URL pointing at the wrong port): http.client.BadStatusLine
    "not-http": b"SSH-2.0-OpenSSH_9.6\r\n",
    # a chunked body cut off mid-chunk: http.client.IncompleteRead
    "truncated-chunked": b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n100\r\nabc",
    # a body shorter than its Content-Length: read as short, so the checksum catches it
    "short-body": b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\nabc",
}

@pytest.mark.parametrize("kind", [
    "not-http",
    "truncated-chunked",
    "short-body",
])
def test_broken_mirror_falls_back(mirror, cache, arrays, monkeypatch, kind, dribble):
    broken = dribble(BROKEN_RESPONSES[kind], b"")  # a server answering with these bytes only
    use_mirrors(monkeypatch, broken.url, mirror.url + "good/")
    check_dataset(load_mnist(None), arrays, N_VAL)
    assert cached_names(cache) == sorted(n + ".gz" for n in FILES.values())


@pytest.mark.parametrize("kind", [
    "not-http",
    "truncated-chunked",
    "short-body",
])
def test_broken_only_mirror_is_a_data_error(cache, monkeypatch, kind, dribble):
    broken = dribble(BROKEN_RESPONSES[kind], b"")
    monkeypatch.setenv("no_proxy", "*")
    use_mirrors(monkeypatch, broken.url)
    with pytest.raises(DataError) as info:
        load_mnist(None)
    message = str(info.value)
    assert broken.url in message
    assert "\n" not in message and "\r" not in message  # one line, whatever the server sent
    assert cached_names(cache) == []


def test_cli_checksum_failure(tmp_path, mirror, cache, monkeypatch, capsys):
    monkeypatch.setitem(mnist.MD5, FILES["train_images"], "0" * 32)
    use_mirrors(monkeypatch, mirror.url + "good/")
    runs = tmp_path / "runs"
    code, err = run_cli(capsys, runs)
    assert code == 2
    assert_one_error_line(err, "checksum", FILES["train_images"])
    assert_no_run_folder(runs)
    assert cached_names(cache) == []


# --- issue 18: bounded reads, bombs, stalled mirrors, FIFOs ---------------------------------------

def peak_python_memory(fn, *args):
    """(outcome or the DataError raised, peak bytes allocated by Python meanwhile)."""
    import tracemalloc

    tracemalloc.start()
    try:
        try:
            result = fn(*args)
        except DataError as e:
            result = e
        return result, tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()


def test_gzip_bomb_in_data_dir_is_stopped_at_mnists_size(tmp_path, arrays, gzip_bomb, capsys):
    """A 100 KB gzip expanding to 100 MB as train-images: decompression stops at the official
    47 MB (before: all of it, 4.2 GB for the 17 MB bomb of the issue, then a MemoryError)."""
    paths = write_mnist(tmp_path / "m", arrays, gz=True)
    header = struct.pack(">IIII", 2051, 60_000, 28, 28)
    on_disk = gzip_bomb(paths["train_images"], 100_000_000, head=header)
    assert on_disk < 1_000_000
    error, peak = peak_python_memory(load_mnist, str(tmp_path / "m"))
    assert isinstance(error, DataError)
    message = str(error)
    assert str(paths["train_images"]) in message and "decompresses to more than" in message
    assert "47.0 MB" in message and "\n" not in message
    assert peak < 99_000_000  # the 47 MB limit (and a copy), never the 100 MB
    runs = tmp_path / "runs"
    code, err = run_cli(capsys, runs, "--data-dir", str(tmp_path / "m"))
    assert code == 2
    assert_one_error_line(err, str(paths["train_images"]), "decompression bomb")
    assert_no_run_folder(runs)


def test_uncompressed_file_larger_than_mnists_is_refused_unread(tmp_path, arrays, monkeypatch):
    paths = write_mnist(tmp_path / "m", arrays)
    with open(paths["train_labels"], "r+b") as f:  # sparse: 1 GB on paper, nothing on disk
        f.truncate(1_000_000_000)
    monkeypatch.setattr(Path, "read_bytes", lambda self: pytest.fail("read whole"))
    message = error_of(tmp_path / "m")
    assert str(paths["train_labels"]) in message and "more than a MNIST file can" in message


def test_idx_dims_whose_product_wraps_are_a_data_error(mnist_dir):
    """(2^22, 2^22, 2^20) multiplies to 2^64, which wrapped to 0 in int64: a header-only file
    then passed the length check and reshape raised a traceback."""
    path = mnist_dir / FILES["train_images"]
    path.write_bytes(struct.pack(">IIII", 2051, 2 ** 22, 2 ** 22, 2 ** 20))
    message = error_of(mnist_dir)
    assert str(path) in message and "(4194304, 4194304, 1048576)" in message
    assert str(16 + 2 ** 64) in message


def test_fifo_named_like_an_mnist_file_is_refused_not_read(mnist_dir, no_hang):
    path = mnist_dir / FILES["test_labels"]
    path.unlink()
    os.mkfifo(path)
    with pytest.raises(DataError) as info:
        no_hang(load_mnist, str(mnist_dir), fifo=path)
    assert str(path) in str(info.value) and "FIFO" in str(info.value)


def test_mirror_gzip_bomb_is_stopped_before_the_md5(mirror, cache, monkeypatch, gzip_bomb):
    """A mirror serving a bomb: the download is verified by decompressing only up to the
    official size, so it fails as a checksum that cannot be verified (before: 4.2 GB)."""
    name = FILES["train_labels"]
    gzip_bomb(mirror.root / "good" / (name + ".gz"), 50_000_000)
    use_mirrors(monkeypatch, mirror.url + "good/")
    error, peak = peak_python_memory(load_mnist, None)
    assert isinstance(error, DataError)
    assert "checksum not verified" in str(error) and "decompresses to more than" in str(error)
    assert peak < 10_000_000  # labels: 60,008 bytes at most
    assert not any(n.startswith(name) for n in cached_names(cache))


def test_original_gz_is_verified_by_its_own_md5_without_decompressing(mirror, cache, arrays,
                                                                       monkeypatch):
    served = {n: (mirror.root / "good" / (n + ".gz")).read_bytes() for n in FILES.values()}
    monkeypatch.setattr(mnist, "GZ_MD5", {n: hashlib.md5(b).hexdigest() for n, b in served.items()})
    monkeypatch.setattr(mnist, "read_maybe_gzip", lambda *a, **k: pytest.fail("decompressed"))
    use_mirrors(monkeypatch, mirror.url + "good/")
    files = mnist.download_mnist(cache / "mnist")
    assert sorted(p.name for p in files.values()) == sorted(n + ".gz" for n in FILES.values())


def test_stalled_mirror_hits_the_deadline_and_the_next_one_is_used(mirror, cache, arrays,
                                                                    monkeypatch, dribble, no_hang):
    """One byte every 0.2 s never trips the 30 s per-read timeout; the overall deadline does."""
    slow = dribble(b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n", bytes(100_000), 0.2)
    monkeypatch.setenv("GANKIT_DOWNLOAD_DEADLINE", "0.5")
    use_mirrors(monkeypatch, slow.url, mirror.url + "good/")
    check_dataset(no_hang(load_mnist, None), arrays, N_VAL)
    assert cached_names(cache) == sorted(n + ".gz" for n in FILES.values())  # no .part left


@pytest.mark.parametrize("head", [
    b"HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n",  # the body dribbles
    b"",                                                    # even the headers dribble
])
def test_stalled_only_mirror_is_one_line_naming_it_and_the_deadline(cache, monkeypatch, dribble,
                                                                    no_hang, no_proxy, head):
    slow = dribble(head, b"HTTP/1.1 200 OK\r\nX: " + bytes(100_000), 0.2)
    monkeypatch.setenv("GANKIT_DOWNLOAD_DEADLINE", "1")
    use_mirrors(monkeypatch, slow.url)
    with pytest.raises(DataError) as info:
        no_hang(load_mnist, None, limit=20)
    message = str(info.value)
    assert slow.url in message and "not complete after 1 s" in message
    assert "GANKIT_DOWNLOAD_DEADLINE" in message and "\n" not in message
    assert cached_names(cache) == []


def test_download_size_is_bounded(mirror, cache, monkeypatch, dribble, no_proxy):
    name = FILES["train_images"]
    monkeypatch.setitem(mnist.SIZES, name, 1000)  # what the mirror serves is larger
    use_mirrors(monkeypatch, mirror.url + "good/")
    with pytest.raises(DataError, match="the 2.0 KB this file can be"):
        load_mnist(None)
    liar = dribble(b"HTTP/1.1 200 OK\r\nContent-Length: 99999999999\r\n\r\n", b"", 0.01)
    use_mirrors(monkeypatch, liar.url)
    with pytest.raises(DataError, match="server announces 100.0 GB"):
        load_mnist(None)
    assert not any(n.endswith(".part") for n in cached_names(cache))


@pytest.mark.parametrize("value", ["0", "-5", "soon", "inf"])
def test_bad_deadline_setting_is_a_data_error(cache, monkeypatch, value):
    monkeypatch.setenv("GANKIT_DOWNLOAD_DEADLINE", value)
    with pytest.raises(DataError, match="GANKIT_DOWNLOAD_DEADLINE must be a number of seconds"):
        load_mnist(None)
