"""``gankit eval`` and metrics.evaluate: runs, sample files, metrics.jsonl, one-line errors.

Runs are tiny (6 steps); MNIST is the small synthetic IDX folder of tests/conftest.py
(``mnist_idx_folder``: 120 training images, so 20 validation images, and 30 test images).
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

import gankit
from gankit.cli import main
from gankit.metrics import evaluate
from gankit.metrics.parzen import SIGMAS, parzen_protocol

TINY = dict(progress=False, steps=6, batch=16, g_hidden=(32,), d_hidden=(32,), z_dim=8)

#: The real-data reference is cached in $GANKIT_DATA: keep it inside each test's folder.
pytestmark = pytest.mark.usefixtures("private_cache")


@pytest.fixture(scope="module")
def mnist_run(tmp_path_factory, mnist_idx_folder):
    torch.set_num_threads(1)
    return gankit.train(preset="digits", dataset="mnist", data_dir=str(mnist_idx_folder),
                        runs_dir=str(tmp_path_factory.mktemp("runs")), **TINY)


@pytest.fixture(scope="module")
def digits_run(tmp_path_factory):
    torch.set_num_threads(1)
    return gankit.train(preset="digits", runs_dir=str(tmp_path_factory.mktemp("druns")), **TINY)


def test_eval_run_prints_json_and_appends_to_metrics_jsonl(mnist_run, run_cli):
    jsonl = mnist_run.path / "metrics.jsonl"
    jsonl.unlink(missing_ok=True)
    code, out, err = run_cli("eval", mnist_run.path, "--metric", "parzen")
    assert code == 0, err
    lines = out.strip().splitlines()
    assert len(lines) == 1
    row = json.loads(lines[0])
    assert row["metric"] == "parzen" and row["step"] == 6 and row["dataset"] == "mnist"
    # the paper's protocol: 10,000 samples; sigma on the first 1,000 validation images (here all
    # 20 that exist); every test image
    assert (row["n_samples"], row["n_val"], row["n_test"]) == (10_000, 20, 30)
    assert row["sigma"] in SIGMAS  # JSON round-trips floats exactly
    assert row["ll_se"] > 0 and np.isfinite(row["ll_mean"])
    assert {"real_ll_mean", "real_ll_se", "real_sigma", "real_n_samples"} <= set(row)
    assert (row["paper_ll_mean"], row["paper_ll_se"]) == (225.0, 2.0)
    assert row["protocol"]["sigma_grid"][0] == 0.1 and "time" in row and row["seconds"] >= 0
    assert [json.loads(x) for x in jsonl.read_text().splitlines()] == [row]
    # a second evaluation appends; the same seed gives the same number
    code, out, _ = run_cli("eval", mnist_run.path, "--metric", "parzen", "--no-reference")
    assert code == 0
    rows = [json.loads(x) for x in jsonl.read_text().splitlines()]
    assert len(rows) == 2 and rows[1]["ll_mean"] == row["ll_mean"] and "real_ll_mean" not in rows[1]


def test_eval_threads_sets_torchs_threads_and_not_the_number(mnist_run, monkeypatch, run_cli):
    before = torch.get_num_threads()
    try:
        seen = []
        monkeypatch.setattr(torch, "set_num_threads", lambda n: seen.append(n))
        code, out, err = run_cli("eval", mnist_run.path, "--no-reference", "--threads", "1")
        assert code == 0, err
        assert seen == [1]
        code, out2, _ = run_cli("eval", mnist_run.path, "--no-reference")
        assert json.loads(out)["ll_mean"] == json.loads(out2)["ll_mean"] and seen == [1]
    finally:
        torch.set_num_threads(before)


def test_evaluate_is_the_protocol_on_the_runs_samples(mnist_run, mnist_idx_folder):
    data = gankit.data.load_dataset("mnist", str(mnist_idx_folder))
    [row] = evaluate(mnist_run, ["parzen"], seed=3, data=data,
                     options={"parzen": {"n_samples": 500, "reference": False}})
    want = parzen_protocol(mnist_run.sample(500, seed=3), data.val, data.test)
    assert row["ll_mean"] == pytest.approx(want.ll_mean, rel=1e-12)
    assert row["sigma"] == want.sigma and row["n_samples"] == 500


def test_eval_a_sample_file_in_both_shapes(mnist_idx_folder, tmp_path, run_cli):
    x = np.random.default_rng(0).random((300, 784), dtype=np.float32)
    np.save(tmp_path / "flat.npy", x)
    np.save(tmp_path / "images.npy", x.reshape(300, 1, 28, 28).astype(np.float64))
    rows = []
    for name in ("flat.npy", "images.npy"):
        code, out, err = run_cli("eval", "--metric", "parzen", "--samples", tmp_path / name,
                                 "--data-dir", mnist_idx_folder)
        assert code == 0, err
        rows.append(json.loads(out))
    assert rows[0]["n_samples"] == 300 and rows[0]["step"] is None
    assert rows[0]["ll_mean"] == rows[1]["ll_mean"] and rows[0]["sigma"] == rows[1]["sigma"]
    assert not list(tmp_path.glob("*.jsonl"))  # a sample file is scored, nothing is written


def test_digits_run_has_no_held_out_images(digits_run, run_cli, one_line_error):
    line = one_line_error(*run_cli("eval", digits_run.path, "--metric", "parzen"))
    assert "digits" in line and "held-out" in line
    assert not (digits_run.path / "metrics.jsonl").exists()


def _bad_files(folder: Path) -> dict[str, Path]:
    rng = np.random.default_rng(1)
    files = {}

    def save(name, array):
        np.save(folder / name, array)
        files[name] = folder / name

    save("square.npy", rng.random((10, 28, 28)))             # (N, 28, 28): no channel axis
    save("wide.npy", rng.random((10, 785)))                   # not 784 values
    save("vector.npy", rng.random(784))                       # 1-D
    save("empty.npy", np.zeros((0, 784)))                     # no samples
    save("bytes.npy", rng.integers(0, 256, (10, 784), dtype=np.uint8))  # 0-255 integers
    save("scale255.npy", rng.random((10, 784)) * 255)         # floats on the 0-255 scale
    save("tanh.npy", rng.random((10, 784)) * 2 - 1)           # [-1, 1]
    nan = rng.random((10, 784))
    nan[3, 5] = np.nan
    save("nan.npy", nan)
    np.save(folder / "objects.npy", np.array([{"a": 1}], dtype=object), allow_pickle=True)
    files["objects.npy"] = folder / "objects.npy"             # would need unpickling
    np.savez(folder / "archive.npz", x=rng.random((10, 784)))
    files["archive.npz"] = folder / "archive.npz"
    (folder / "text.npy").write_text("not an array\n")
    files["text.npy"] = folder / "text.npy"
    whole = (folder / "wide.npy").read_bytes()
    (folder / "truncated.npy").write_bytes(whole[:len(whole) // 2])
    files["truncated.npy"] = folder / "truncated.npy"
    files["missing.npy"] = folder / "missing.npy"
    return files


def test_bad_sample_files_exit_2_with_one_line(mnist_idx_folder, tmp_path, run_cli, one_line_error):
    hints = {"bytes.npy": "255", "scale255.npy": "255", "tanh.npy": "(x + 1) / 2", "nan.npy": "NaN",
             "square.npy": "(N, 784)", "archive.npz": "npz", "missing.npy": "does not exist",
             "text.npy": "not a .npy file", "objects.npy": "allow_pickle=False",
             "truncated.npy": "cannot read"}
    for name, path in _bad_files(tmp_path).items():
        line = one_line_error(*run_cli("eval", "--metric", "parzen", "--samples", path,
                                       "--data-dir", mnist_idx_folder))
        assert hints.get(name, "") in line, (name, line)


def test_usage_errors_exit_2_with_one_line(mnist_run, tmp_path, run_cli, one_line_error):
    np.save(tmp_path / "x.npy", np.zeros((3, 784), dtype=np.float32))
    line = one_line_error(*run_cli("eval", mnist_run.path, "--metric", "parzn"))
    assert "did you mean 'parzen'" in line
    one_line_error(*run_cli("eval", "--metric", "parzen"))  # neither a run nor --samples
    one_line_error(*run_cli("eval", mnist_run.path, "--samples", tmp_path / "x.npy"))
    one_line_error(*run_cli("eval", tmp_path / "no-such-run"))
    one_line_error(*run_cli("eval", mnist_run.path, "--n-samples", "0"))
    one_line_error(*run_cli("eval", mnist_run.path, "--threads", "0"))


def test_eval_is_listed_in_help(capsys):
    with pytest.raises(SystemExit):
        main(["--help"])
    assert "eval" in capsys.readouterr().out


def test_a_toy_sample_file_is_scored_with_dataset(tmp_path, run_cli, one_line_error):
    # what `gankit sample RUN --n 2500 --out s.npy` writes for a grid25 run: points in R^2
    from gankit.data import load_dataset

    real = load_dataset("grid25", None).train[:2500].numpy()
    np.save(tmp_path / "s.npy", real)
    code, out, err = run_cli("eval", "--samples", tmp_path / "s.npy", "--dataset", "grid25",
                             "--metric", "toy_modes")
    assert code == 0, err
    row = json.loads(out.strip().splitlines()[-1])
    assert row["modes"] == 25 and row["hq_percent"] > 97 and row["dataset"] == "grid25"
    np.save(tmp_path / "three.npy", np.zeros((10, 3), dtype=np.float32))
    line = one_line_error(*run_cli("eval", "--samples", tmp_path / "three.npy",
                                   "--dataset", "grid25", "--metric", "toy_modes"))
    assert "(N, 2)" in line
    line = one_line_error(*run_cli("eval", "--samples", tmp_path / "s.npy", "--dataset",
                                   "grid26", "--metric", "toy_modes"))
    assert "unknown dataset 'grid26'" in line


def test_npy_header_declaring_a_huge_shape_is_one_line(tmp_path, run_cli, one_line_error,
                                                       monkeypatch):
    """Issue 18: a 128-byte .npy declaring (2^40, 784) float32 (3.4 PB) was a traceback; the
    header is now checked against the file's size before anything is allocated."""
    path = tmp_path / "huge.npy"
    with open(path, "wb") as f:
        np.lib.format.write_array_header_1_0(
            f, {"descr": "<f4", "fortran_order": False, "shape": (2 ** 40, 784)})
        f.write(bytes(64))
    line = one_line_error(*run_cli("eval", "--metric", "parzen", "--samples", path))
    assert str(path) in line and "(1099511627776, 784)" in line and "64 bytes" in line
    # within the file's size but over the limit: refused too, by name
    import gankit.commands.eval as eval_command

    np.save(tmp_path / "big.npy", np.zeros((100, 784), np.float32))
    monkeypatch.setattr(eval_command, "MAX_SAMPLE_BYTES", 1000)
    line = one_line_error(*run_cli("eval", "--samples", tmp_path / "big.npy"))
    assert "more than the 1.0 KB gankit reads here" in line
