import pytest
import torch


@pytest.fixture(autouse=True)
def _one_thread_and_seed():
    """Tests run on a shared 2-core machine: one torch thread, a fixed global seed."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    torch.manual_seed(0)
    yield
    torch.set_num_threads(threads)


@pytest.fixture
def tiny(tmp_path):
    """Overrides for a tiny digits run that finishes in about a second."""
    return dict(steps=12, batch=16, g_hidden=(32,), d_hidden=(32,), z_dim=8, log_every=4,
                snapshot_every=6, grid_size=16, runs_dir=str(tmp_path / "runs"), threads=1)


# --- shared by the MNIST and command-line tests ---------------------------------------------------

@pytest.fixture(scope="session")
def mnist_idx_folder(tmp_path_factory):
    """A small synthetic MNIST: the four IDX files (uncompressed), random pixels and labels.

    120 training images (so 100 train and 20 validation) and 30 test images; each IDX header is
    the magic number then the dimensions, big-endian. Read-only: shared by every test.
    """
    import struct

    import numpy as np

    from gankit.data.mnist import FILES

    folder = tmp_path_factory.mktemp("mnist")
    rng = np.random.default_rng(0)
    arrays = {"train_images": rng.integers(0, 256, (120, 28, 28), dtype=np.uint8),
              "train_labels": rng.integers(0, 10, 120, dtype=np.uint8),
              "test_images": rng.integers(0, 256, (30, 28, 28), dtype=np.uint8),
              "test_labels": rng.integers(0, 10, 30, dtype=np.uint8)}
    for key, a in arrays.items():
        magic = {3: 2051, 1: 2049}[a.ndim]
        header = struct.pack(">I", magic) + struct.pack(f">{a.ndim}I", *a.shape)
        (folder / FILES[key]).write_bytes(header + a.tobytes())
    return folder


@pytest.fixture
def private_cache(tmp_path, monkeypatch):
    """gankit's cache ($GANKIT_DATA: the Parzen real-data reference, ...) inside the test's folder."""
    monkeypatch.setenv("GANKIT_DATA", str(tmp_path / "cache"))
    return tmp_path / "cache"


@pytest.fixture
def run_cli(capsys):
    """Run the ``gankit`` command in this process: ``run_cli(*argv) -> (exit status, stdout, stderr)``."""
    from gankit.cli import main

    def run(*argv):
        code = main([str(a) for a in argv])
        out, err = capsys.readouterr()
        return code, out, err

    return run


@pytest.fixture
def one_line_error():
    """Check a usage error: exit status 2, nothing on stdout, one ``gankit: error:`` line on stderr;
    ``one_line_error(code, out, err) -> that line``."""

    def check(code, out, err) -> str:
        assert code == 2
        assert out == ""
        lines = err.strip().splitlines()
        assert len(lines) == 1 and lines[0].startswith("gankit: error: "), err
        return lines[0]

    return check
