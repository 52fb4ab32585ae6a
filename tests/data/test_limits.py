"""The bounded-read helpers every data reader uses (gankit/utils/limits.py; issue 18)."""

from __future__ import annotations

import gzip
import os

import numpy as np
import pytest

from gankit.errors import DataError
from gankit.utils.limits import (gunzip_bounded, human_bytes, load_npy, not_regular, open_regular,
                                 read_bounded, read_maybe_gzip)


def test_gunzip_bounded_is_exact_at_the_limit_and_refuses_one_byte_more():
    data = bytes(range(256)) * 40  # 10,240 bytes
    packed = gzip.compress(data)
    assert gunzip_bounded(packed, len(data), "x") == data
    with pytest.raises(DataError, match="x decompresses to more than 10.2 KB"):
        gunzip_bounded(packed, len(data) - 1, "x")


def test_gunzip_bounded_reads_several_members_and_bounds_them_together():
    a, b = b"a" * 1000, b"b" * 1000
    packed = gzip.compress(a) + gzip.compress(b)
    assert gunzip_bounded(packed, 2000, "x") == a + b
    assert gunzip_bounded(packed + bytes(8), 2000, "x") == a + b  # zero padding, as gzip allows
    with pytest.raises(DataError, match="x decompresses to more than 2.0 KB"):  # 1,999 bytes
        gunzip_bounded(packed, 1999, "x")


@pytest.mark.parametrize("damage, words", [
    (lambda p: p[:-12], "truncated"),
    (lambda p: p + b"junk", "trailing garbage"),
    (lambda p: p[:10] + bytes(len(p) - 10), "corrupt"),
])
def test_gunzip_bounded_damaged_input_is_a_data_error(damage, words):
    packed = gzip.compress(os.urandom(5000))
    with pytest.raises(DataError, match=words):
        gunzip_bounded(damage(packed), 10_000, "x")


def test_read_bounded_refuses_before_reading(tmp_path):
    path = tmp_path / "f"
    path.write_bytes(b"12345")
    assert read_bounded(path, 5) == b"12345"
    with pytest.raises(DataError, match="holds 5 bytes, more than a thing can .4 bytes.; do X"):
        read_bounded(path, 4, "thing", "do X")
    assert read_maybe_gzip(path, 5) == b"12345"
    path.write_bytes(gzip.compress(b"123456"))
    with pytest.raises(DataError, match="decompresses to more than 5 bytes"):
        read_maybe_gzip(path, 5)


def test_only_regular_files_are_opened_and_a_fifo_does_not_block(tmp_path, no_hang):
    (tmp_path / "dir").mkdir()
    with pytest.raises(DataError, match="is a folder, not a regular file"):
        open_regular(tmp_path / "dir")
    with pytest.raises(DataError, match="does not exist"):
        open_regular(tmp_path / "nope")
    assert not_regular(tmp_path / "nope") == "missing"
    os.symlink(tmp_path / "nope", tmp_path / "dangling")
    assert not_regular(tmp_path / "dangling") == "a dangling link"
    if hasattr(os, "mkfifo"):
        os.mkfifo(tmp_path / "pipe")
        assert not_regular(tmp_path / "pipe") == "a FIFO (named pipe)"
        with pytest.raises(DataError, match="is a FIFO"):
            no_hang(open_regular, tmp_path / "pipe", fifo=tmp_path / "pipe")
    (tmp_path / "file").write_bytes(b"x")
    os.symlink(tmp_path / "file", tmp_path / "link")
    assert not_regular(tmp_path / "link") is None
    with open_regular(tmp_path / "link") as f:
        assert f.read() == b"x"


def npy_with_header(path, shape, descr="<f4", data=b""):
    with open(path, "wb") as f:
        np.lib.format.write_array_header_1_0(f, {"descr": descr, "fortran_order": False,
                                                 "shape": shape})
        f.write(data)


@pytest.mark.parametrize("shape", [(2 ** 40, 784), (2 ** 32, 2 ** 32), (2 ** 62, 2 ** 62, 16)])
def test_load_npy_checks_the_declared_size_against_the_file(tmp_path, shape):
    """(2^32, 2^32) and (2^62, 2^62, 16) multiply to multiples of 2^64: they wrap to 0 in int64."""
    npy_with_header(tmp_path / "x.npy", shape)
    with pytest.raises(DataError, match=r"declares shape .* but the file holds 0 bytes"):
        load_npy(tmp_path / "x.npy", 10 ** 30)


def test_load_npy_reads_good_arrays_and_bounds_them(tmp_path):
    x = np.arange(12, dtype=np.float64).reshape(3, 4)
    np.save(tmp_path / "x.npy", x)
    np.testing.assert_array_equal(load_npy(tmp_path / "x.npy", x.nbytes), x)
    np.save(tmp_path / "f.npy", np.asfortranarray(x))
    np.testing.assert_array_equal(load_npy(tmp_path / "f.npy", x.nbytes), x)
    with pytest.raises(DataError, match=r"shape \(3, 4\) \(96 bytes\), more than the 95 bytes"):
        load_npy(tmp_path / "x.npy", x.nbytes - 1)
    np.save(tmp_path / "o.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    with pytest.raises(DataError, match="never unpickles"):
        load_npy(tmp_path / "o.npy", 10 ** 9)
    (tmp_path / "t.npy").write_bytes(b"\x93NUMPY\x01\x00" + b"\xff" * 4)
    with pytest.raises(DataError, match="cannot read .* as a .npy array"):
        load_npy(tmp_path / "t.npy", 10 ** 9)


def test_human_bytes():
    assert [human_bytes(n) for n in (999, 1000, 47_040_016, 3 * 10 ** 15, 10 ** 20)] == [
        "999 bytes", "1.0 KB", "47.0 MB", "3.0 PB", "100000.0 PB"]
