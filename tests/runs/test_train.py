"""The training loop and run folders (train.py, run.py), on tiny runs."""

import json
import math

import numpy as np
import pytest
import torch

import gankit
from gankit.runs.checkpoint import load_checkpoint
from gankit.config import resolve_config
from gankit.errors import GankitError
from gankit.engine.loop import TrainingDiverged


def test_a_tiny_run_writes_a_complete_run_folder(tiny):
    run = gankit.train(progress=False, **tiny)
    assert run.path.name == "00001-digits-ns-k1" and run.step == 12
    files = {p.relative_to(run.path).as_posix() for p in run.path.rglob("*") if p.is_file()}
    assert {"config.json", "stats.jsonl", "curves.png", "environment.json", "samples/reals.png",
            "samples/fakes-000000.png", "samples/fakes-000006.png", "samples/fakes-000012.png",
            "checkpoints/step-000012.safetensors"} <= files
    assert json.loads((run.path / "config.json").read_text()) == run.config.to_dict()
    rows = [json.loads(line) for line in (run.path / "stats.jsonl").read_text().splitlines()]
    assert [r["step"] for r in rows] == [4, 8, 12]
    for r in rows:
        assert {"Loss/D", "Loss/G", "Prob/D(x)", "Prob/D(G(z))", "LR/D", "LR/G", "epoch"} <= set(r)
        assert 0 <= r["Prob/D(x)"] <= 1 and math.isfinite(r["Loss/D"])
    _, meta = load_checkpoint(run.path / "checkpoints" / "step-000012.safetensors")
    assert meta["config"] == run.config.to_dict() and meta["step"] == 12


def test_run_folders_are_numbered_and_never_reused(tiny):
    first = gankit.train(progress=False, **tiny)
    second = gankit.train(progress=False, **{**tiny, "k": 2, "g_loss": "minimax"})
    assert first.path.name == "00001-digits-ns-k1"
    assert second.path.name == "00002-digits-mm-k2"
    assert (first.path / "checkpoints" / "step-000012.safetensors").is_file()


def test_same_seed_same_weights_and_samples(tiny):
    a = gankit.train(progress=False, **tiny)
    b = gankit.train(progress=False, **tiny)
    for (ka, va), (kb, vb) in zip(a.G.state_dict().items(), b.G.state_dict().items()):
        assert ka == kb and torch.equal(va, vb)
    loaded = gankit.load_run(a.path)
    torch.testing.assert_close(loaded.sample(10, seed=3), loaded.sample(10, seed=3), rtol=0, atol=0)
    assert not torch.equal(loaded.sample(10, seed=3), loaded.sample(10, seed=4))
    c = gankit.train(progress=False, **{**tiny, "seed": 1})
    assert not torch.equal(a.G.out.weight, c.G.out.weight)


def test_load_run_samples_shapes_and_files(tiny, tmp_path):
    run = gankit.load_run(gankit.train(progress=False, **tiny).path)
    x = run.sample(5, seed=0)
    assert x.shape == (5, 1, 8, 8) and x.dtype == torch.float32 and 0 <= x.min() <= x.max() <= 1
    out = run.save_samples(tmp_path / "s.npy", 7, seed=2)
    arr = np.load(out)
    assert arr.shape == (7, 1, 8, 8) and arr.dtype == np.float32
    np.testing.assert_array_equal(arr, run.sample(7, seed=2).numpy())
    png = run.save_samples(tmp_path / "s.png", 7, seed=2)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    with pytest.raises(GankitError, match=r"\.png .* or \.npy"):
        run.save_samples(tmp_path / "s.jpg", 3)


def test_vector_runs_sample_vectors(tiny, tmp_path):
    run = gankit.train(progress=False, **{**tiny, "preset": "ring8", "z_dim": 2})
    x = gankit.load_run(run.path).sample(9, seed=0)
    assert x.shape == (9, 2)
    assert (run.path / "samples" / "fakes-000012.png").is_file()


def test_simultaneous_schedule_is_recorded(tiny):
    run = gankit.train(progress=False, **{**tiny, "schedule": "simultaneous"})
    assert run.path.name.endswith("-sim")
    assert json.loads((run.path / "config.json").read_text())["schedule"] == "simultaneous"


def test_old_checkpoints_are_pruned_but_latest_kept(tiny):
    run = gankit.train(progress=False, **{**tiny, "snapshot_every": 2, "keep_checkpoints": 2})
    names = sorted(p.name for p in (run.path / "checkpoints").iterdir())
    assert names == ["step-000010.safetensors", "step-000012.safetensors"]


def test_nan_stops_the_run_with_a_clear_error(tiny):
    with pytest.raises(TrainingDiverged, match=r"NaN/Inf by step \d+.*last good checkpoint"):
        gankit.train(progress=False, **{**tiny, "lr_d": 1e30, "lr_g": 1e30, "optimizer": "sgd",
                                        "steps": 40, "log_every": 1, "snapshot_every": 1})


def test_bf16_autocast_trains_with_float32_weights(tiny):
    run = gankit.train(progress=False, **{**tiny, "precision": "bf16"})
    assert all(p.dtype == torch.float32 for p in run.G.parameters())
    rows = [json.loads(line) for line in (run.path / "stats.jsonl").read_text().splitlines()]
    assert all(math.isfinite(r["Loss/D"]) and math.isfinite(r["Loss/G"]) for r in rows)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_cuda_run_matches_the_cpu_contract(tiny):
    run = gankit.train(progress=False, **{**tiny, "device": "cuda"})
    assert json.loads((run.path / "environment.json").read_text())["device"].startswith("cuda")
    assert gankit.load_run(run.path).sample(4, seed=0).shape == (4, 1, 8, 8)
    # the live run's G is still on the GPU: sampling moves the noise there and the images back
    assert next(run.G.parameters()).device.type == "cuda"
    live = run.sample(4, seed=0)
    assert live.device.type == "cpu"
    torch.testing.assert_close(live, gankit.load_run(run.path).sample(4, seed=0), atol=1e-5, rtol=0)


def test_cuda_asked_for_without_a_gpu_is_a_clear_error(tiny):
    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    with pytest.raises(GankitError, match="no CUDA GPU is available"):
        gankit.train(progress=False, **{**tiny, "device": "cuda"})


def test_g_ema_is_the_warmed_up_moving_average_of_G_and_is_what_samples(tiny):
    from gankit.data import load_dataset
    from gankit.engine.state import build_state

    config = resolve_config(**{**tiny, "g_ema": 0.99})
    state = build_state(config, load_dataset("digits", None, config))
    before = [p.clone() for p in state.G_ema.parameters()]
    with torch.no_grad():
        for p in state.G.parameters():
            p.add_(1.0)
    state.step = 90
    state.update_ema(0.99)
    d = min(0.99, 91 / 100)  # warm-up: (1 + t) / (10 + t) until it reaches the decay
    for e, e0, g in zip(state.G_ema.parameters(), before, state.G.parameters()):
        torch.testing.assert_close(e, d * e0 + (1 - d) * g)
    assert not any(p.requires_grad for p in state.G_ema.parameters())

    run = gankit.train(progress=False, **{**tiny, "g_ema": 0.9})
    tensors, _ = load_checkpoint(run.path / "checkpoints" / "step-000012.safetensors")
    ema = {k[len("G_ema."):]: v for k, v in tensors.items() if k.startswith("G_ema.")}
    raw = {k[len("G."):]: v for k, v in tensors.items() if k.startswith("G.")}
    assert ema.keys() == raw.keys() and not torch.equal(ema["out.weight"], raw["out.weight"])
    loaded = gankit.load_run(run.path)  # samples come from the average, as the grids did
    assert torch.equal(loaded.G.out.weight, ema["out.weight"])
    assert torch.equal(run.G.out.weight, ema["out.weight"])


def test_g_ema_outside_zero_one_is_refused(tiny):
    with pytest.raises(GankitError, match="g_ema"):
        resolve_config(**{**tiny, "g_ema": 1.0}).validate()
