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
