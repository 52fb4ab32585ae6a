"""`gankit export` (export.py): standalone generators equal the checkpoint's G on the same z."""

import json
import sys
import warnings

import numpy as np
import pytest
import torch
from torch.testing import assert_close

import gankit
from gankit.cli import main
from gankit.errors import CheckpointError, GankitError
from gankit.runs.export import MARKER, export_generator, is_exported_generator
from gankit.runs.run import load_run

RUNS = {
    # the paper's MLP G with BatchNorm (eval mode must use the running statistics)
    "mlp": dict(g_hidden=(16, 16), g_batchnorm=True, d_hidden=(16,), z_dim=6),
    "conv": dict(arch="conv", conv_width=4, z_dim=6, z_dist="normal"),
}


@pytest.fixture(scope="module", params=sorted(RUNS))
def run(request, tmp_path_factory):
    torch.set_num_threads(1)
    runs_dir = tmp_path_factory.mktemp(request.param)
    return gankit.train(progress=False, preset="digits", steps=3, batch=16, log_every=3,
                        snapshot_every=3, grid_size=4, threads=1, runs_dir=str(runs_dir),
                        **RUNS[request.param])


def test_torchscript_file_equals_the_checkpoint_generator(run, tmp_path):
    out = export_generator(run.path, tmp_path / "g.pt")
    extra = {MARKER: ""}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)  # torch.jit: deprecated, still loads
        scripted = torch.jit.load(str(out), _extra_files=extra)
    meta = json.loads(extra[MARKER])
    assert (meta["z_dim"], meta["z_dist"], meta["sample_shape"]) == (
        run.config.z_dim, run.config.z_dist, [1, 8, 8])
    assert meta["step"] == 3 and meta["config"]["arch"] == run.config.arch
    G = load_run(run.path).G.eval()
    for n in (1, 5):  # any batch size, not only the traced one
        z = torch.randn(n, run.config.z_dim)
        with torch.no_grad():
            assert_close(scripted(z), G(z))


def test_sample_refuses_torchscript_unless_trusted(run, tmp_path, capsys):
    assert main(["export", str(run.path), "--out", str(tmp_path / "g.pt")]) == 0
    assert capsys.readouterr().out.strip() == str(tmp_path / "g.pt")
    assert is_exported_generator(tmp_path / "g.pt")
    assert main(["sample", str(tmp_path / "g.pt"), "--out", str(tmp_path / "x.npy")]) == 2
    assert "--trust-code" in capsys.readouterr().err and not (tmp_path / "x.npy").exists()
    assert main(["sample", str(tmp_path / "g.pt"), "--n", "6", "--seed", "3", "--trust-code",
                 "--out", str(tmp_path / "a.npy")]) == 0
    assert main(["sample", str(run.path), "--n", "6", "--seed", "3",
                 "--out", str(tmp_path / "b.npy")]) == 0
    a, b = np.load(tmp_path / "a.npy"), np.load(tmp_path / "b.npy")
    assert a.shape == (6, 1, 8, 8)
    np.testing.assert_allclose(a, b, rtol=1e-6, atol=1e-6)
    assert main(["sample", str(tmp_path / "g.pt"), "--trust-code",
                 "--out", str(tmp_path / "grid.png")]) == 0


def test_safetensors_export_samples_like_the_run_without_running_code(run, tmp_path, capsys):
    out = tmp_path / "g.safetensors"
    assert main(["export", str(run.path), "--format", "safetensors", "--out", str(out)]) == 0
    assert not is_exported_generator(out)  # plain data: a checkpoint holding only G
    exported = load_run(out)
    assert exported.step == run.step and exported.config == run.config
    assert_close(exported.sample(7, seed=2), load_run(run.path).sample(7, seed=2))


def test_a_code_carrying_archive_never_runs(tmp_path, capsys):
    """A marked TorchScript archive whose forward would create a file: gankit sample refuses it
    without --trust-code, and the file never appears."""
    target = tmp_path / "written-by-the-archive"

    class Evil(torch.nn.Module):
        def __init__(self, path: str):
            super().__init__()
            self.path = path

        def forward(self, z: torch.Tensor) -> torch.Tensor:
            return torch.from_file(self.path, shared=True, size=4) + z.sum() * 0

    scripted = torch.jit.script(Evil(str(target)))
    scripted(torch.zeros(1, 2))  # the archive's code really does create the file ...
    assert target.exists()
    target.unlink()  # ... so its absence below means gankit never ran it
    meta = {"format": "gankit-generator-1", "z_dim": 2, "z_dist": "normal", "sample_shape": [4],
            "step": 0, "config": {"dataset": "ring8"}}
    torch.jit.save(scripted, str(tmp_path / "evil.pt"), _extra_files={MARKER: json.dumps(meta)})
    assert is_exported_generator(tmp_path / "evil.pt")
    assert main(["sample", str(tmp_path / "evil.pt"), "--out", str(tmp_path / "x.npy")]) == 2
    assert not target.exists() and not (tmp_path / "x.npy").exists()


def test_default_output_is_in_the_run_folder(run, capsys):
    assert main(["export", str(run.path)]) == 0
    assert capsys.readouterr().out.strip() == str(run.path / "generator.pt")
    assert load_run(run.path / "generator.pt", trust_code=True).config.z_dim == run.config.z_dim


def test_a_plain_torch_file_is_never_loaded(tmp_path, capsys):
    torch.save({"w": torch.zeros(2)}, tmp_path / "weights.pt")  # a pickle: must be refused
    assert not is_exported_generator(tmp_path / "weights.pt")
    with pytest.raises(CheckpointError, match="never loads pickled"):
        load_run(tmp_path / "weights.pt")
    assert main(["sample", str(tmp_path / "weights.pt")]) == 2
    assert "never loads pickled" in capsys.readouterr().err


def test_export_errors_are_one_line(run, tmp_path, capsys):
    assert main(["export", str(tmp_path / "nope"), "--out", str(tmp_path / "g.pt")]) == 2
    assert "does not exist" in capsys.readouterr().err
    with pytest.raises(GankitError, match="folder .* does not exist"):
        export_generator(run.path, tmp_path / "missing" / "g.pt")
    export_generator(run.path, tmp_path / "g.pt")
    with pytest.raises(GankitError, match="already an exported generator"):
        export_generator(tmp_path / "g.pt", tmp_path / "h.pt")


def test_onnx_without_the_optional_packages_names_them(run, tmp_path, monkeypatch, capsys):
    monkeypatch.setitem(sys.modules, "onnx", None)  # as if not installed
    assert main(["export", str(run.path), "--format", "onnx", "--out",
                 str(tmp_path / "g.onnx")]) == 2
    err = capsys.readouterr().err.strip()
    assert "\n" not in err and "pip install onnx onnxscript" in err
    assert not (tmp_path / "g.onnx").exists()


def test_onnx_file_equals_the_checkpoint_generator(run, tmp_path):
    pytest.importorskip("onnx")
    pytest.importorskip("onnxscript")
    ort = pytest.importorskip("onnxruntime")
    import onnx

    out = export_generator(run.path, tmp_path / "g.onnx", format="onnx")
    props = {p.key: p.value for p in onnx.load(str(out)).metadata_props}
    assert json.loads(props["gankit_generator"])["z_dim"] == run.config.z_dim
    session = ort.InferenceSession(str(out), providers=["CPUExecutionProvider"])
    G = load_run(run.path).G.eval()
    for n in (1, 5):
        z = torch.randn(n, run.config.z_dim)
        (x,) = session.run(None, {"z": z.numpy()})
        with torch.no_grad():
            assert_close(torch.from_numpy(x), G(z), rtol=1e-5, atol=1e-5)
