"""TFD 48x48 (data/tfd.py) on small .mat files that the tests write with scipy.io.savemat."""

from pathlib import Path

import numpy as np
import pytest
import scipy.io
import torch
from torch.testing import assert_close

from gankit.cli import main
from gankit.config import resolve_config
from gankit.data import DATASETS, load_dataset
from gankit.errors import DataError

# fold 0's column: 0 unlabeled, 1 train, 2 valid, 3 test; fold 1's column is different, to show
# that fold 0 is the one used
FOLD0 = np.array([0, 0, 1, 1, 1, 2, 2, 3, 0, 3])
FOLD1 = np.array([0, 0, 3, 2, 1, 1, 1, 1, 0, 2])


def write_tfd(path: Path, **arrays) -> dict:
    rng = np.random.default_rng(0)
    data = {"images": rng.integers(0, 256, (len(FOLD0), 48, 48), dtype=np.uint8),
            "folds": np.stack([FOLD0, FOLD1, FOLD0, FOLD0, FOLD0], axis=1),
            "labs_ex": np.zeros((len(FOLD0), 1)), "labs_id": np.zeros((len(FOLD0), 1))}
    data.update(arrays)
    data = {k: v for k, v in data.items() if v is not None}
    path.parent.mkdir(parents=True, exist_ok=True)
    scipy.io.savemat(str(path), data)
    return data


def test_fold_0_split_and_pixel_scale(tmp_path):
    data = write_tfd(tmp_path / "tfd" / "TFD_48x48.mat")
    assert "tfd" in DATASETS
    for where in (tmp_path / "tfd", tmp_path / "tfd" / "TFD_48x48.mat"):  # folder or the file
        ds = load_dataset("tfd", str(where))
        px = torch.from_numpy(data["images"]).float().div(255).unsqueeze(1)
        assert ds.name == "tfd" and ds.unit_range and ds.sample_shape == (1, 48, 48)
        assert_close(ds.train, px[np.isin(FOLD0, (0, 1))])  # unlabeled + train
        assert_close(ds.val, px[FOLD0 == 2])
        assert_close(ds.test, px[FOLD0 == 3])


def test_paper_tfd_preset_uses_it(tmp_path):
    write_tfd(tmp_path / "TFD_48x48.mat")
    cfg = resolve_config("paper-tfd", data_dir=str(tmp_path))
    assert cfg.dataset == "tfd" and load_dataset(cfg.dataset, cfg.data_dir).train.shape[0] == 6


def test_missing_file_says_tfd_is_not_downloadable(tmp_path):
    for where in (None, str(tmp_path), str(tmp_path / "nope"), str(tmp_path / "x.mat")):
        with pytest.raises(DataError, match="TFD is not publicly downloadable") as e:
            load_dataset("tfd", where)
        assert "\n" not in str(e.value) and "TFD_48x48.mat" in str(e.value)


@pytest.mark.parametrize("arrays, words", [
    (dict(images=None), "has no 'images' array"),
    (dict(folds=None), "has no 'folds' array"),
    (dict(images=np.zeros((10, 96, 96), np.uint8)), "'images' has shape (10, 96, 96)"),
    (dict(images=np.zeros((10, 2304), np.uint8)), "'images' has shape (10, 2304)"),
    (dict(images=np.full((10, 48, 48), 300.0)), "expected pixels in 0..255"),
    (dict(folds=np.zeros((9, 5))), "'folds' has shape (9, 5)"),
    (dict(folds=np.full((10, 5), 7)), "'folds' holds values [7]"),
    (dict(folds=np.full((10, 5), 2)), "nothing to train on"),
])
def test_malformed_files_are_one_line_data_errors(tmp_path, arrays, words):
    write_tfd(tmp_path / "TFD_48x48.mat", **arrays)
    with pytest.raises(DataError) as e:
        load_dataset("tfd", str(tmp_path))
    assert words in str(e.value) and "\n" not in str(e.value)


def test_not_a_mat_file_and_mat_v73_are_refused(tmp_path):
    path = tmp_path / "TFD_48x48.mat"
    path.write_bytes(b"this is not a MATLAB file\n" * 40)
    with pytest.raises(DataError, match="not a readable MATLAB v5 .mat file"):
        load_dataset("tfd", str(path))
    # MATLAB v7.3: a 128-byte MATLAB header, then the HDF5 superblock at offset 512
    header = b"MATLAB 7.3 MAT-file, Platform: GLNXA64, HDF5 schema 1.00 .".ljust(116, b" ")
    path.write_bytes(header + b"\0" * 8 + b"\x00\x02IM" + b"\0" * 384 + b"\x89HDF\r\n\x1a\n"
                     + b"\0" * 64)
    with pytest.raises(DataError, match=r"MATLAB v7.3 \(HDF5\)"):
        load_dataset("tfd", str(path))


@pytest.mark.parametrize("extra", [[], ["--data-dir", "MISSING"], ["--data-dir", "EMPTY"]])
def test_cli_missing_tfd_is_one_line_exit_2_and_no_run_folder(tmp_path, capsys, extra):
    (tmp_path / "empty").mkdir()
    extra = [{"MISSING": str(tmp_path / "nope"), "EMPTY": str(tmp_path / "empty")}.get(a, a)
             for a in extra]
    code = main(["train", "--preset", "paper-tfd", *extra, "--runs-dir", str(tmp_path / "runs")])
    _, err = capsys.readouterr()
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("gankit: error:")
    assert "TFD is not publicly downloadable" in lines[0] and "Traceback" not in err
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


# --- issue 18: only regular files; declared sizes bounded before loading --------------------------

def test_fifo_named_like_the_tfd_file_is_refused_not_read(tmp_path, no_hang):
    import os

    os.mkfifo(tmp_path / "TFD_48x48.mat")
    with pytest.raises(DataError, match="is a FIFO .named pipe., not a regular file") as e:
        no_hang(load_dataset, "tfd", str(tmp_path), fifo=tmp_path / "TFD_48x48.mat")
    assert "\n" not in str(e.value)


def test_declared_image_count_is_bounded_before_loading(tmp_path, monkeypatch):
    import struct

    path = tmp_path / "TFD_48x48.mat"
    write_tfd(path)
    raw = path.read_bytes()
    dims = struct.pack("<ii", 5, 12) + struct.pack("<3i", 10, 48, 48)  # miINT32, 12 bytes, dims
    assert raw.count(dims) == 1
    path.write_bytes(raw.replace(dims, struct.pack("<ii", 5, 12) + struct.pack("<3i", 2**31 - 1,
                                                                                48, 48)))
    monkeypatch.setattr(scipy.io, "loadmat", lambda *a, **k: pytest.fail("loaded"))
    with pytest.raises(DataError, match=r"'images' has shape \(2147483647, 48, 48\), more than"):
        load_dataset("tfd", str(tmp_path))
