"""utils/limits.map_npy and npy_header: a .npy mapped (never unpickled) only after its header is
checked against the file's length."""

from __future__ import annotations

import numpy as np
import pytest

from gankit.errors import DataError
from gankit.utils.limits import map_npy, npy_header


def test_a_good_file_is_mapped_copy_on_write(tmp_path):
    path = tmp_path / "a.npy"
    np.save(path, np.arange(24, dtype=np.uint8).reshape(2, 3, 4))
    mapped = map_npy(path, 24)
    assert mapped.shape == (2, 3, 4) and mapped.dtype == np.uint8 and int(mapped[1, 2, 3]) == 23
    mapped[0, 0, 0] = 99  # private to the process: the file is never written
    assert np.load(path)[0, 0, 0] == 0
    assert npy_header(path, 24)[:2] == ((2, 3, 4), np.dtype(np.uint8))


@pytest.mark.parametrize("case", ["truncated", "forged", "too large", "objects", "fortran"])
def test_bad_files_are_refused_before_mapping(tmp_path, case):
    path = tmp_path / "a.npy"
    if case == "objects":
        np.save(path, np.array([{"a": 1}], dtype=object), allow_pickle=True)
    elif case == "fortran":
        np.save(path, np.asfortranarray(np.zeros((3, 4), np.uint8)))
    else:
        np.save(path, np.zeros((100, 8), np.uint8))
        if case == "truncated":
            path.write_bytes(path.read_bytes()[:-10])
        elif case == "forged":
            with open(path, "r+b") as f:
                np.lib.format.write_array_header_1_0(
                    f, {"descr": "|u1", "fortran_order": False, "shape": (2 ** 40, 8)})
    with pytest.raises(DataError) as e:
        map_npy(path, 10_000 if case != "too large" else 100)
    assert str(path) in str(e.value) and "\n" not in str(e.value)
