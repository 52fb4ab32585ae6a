"""The tensorboard logger, read back with TensorBoard's own reader."""

import json
import sys
from pathlib import Path

import pytest

pytest.importorskip("tensorboard")
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator  # noqa: E402
from tensorboard.plugins.hparams import plugin_data_pb2  # noqa: E402

import gankit  # noqa: E402
from gankit.engine.callbacks import Callback  # noqa: E402
from gankit.utils.jsonl import read_jsonl  # noqa: E402


def events(run_dir: Path) -> EventAccumulator:
    acc = EventAccumulator(str(run_dir), size_guidance={"scalars": 0, "images": 0, "histograms": 0,
                                                        "tensors": 0})
    return acc.Reload()


def test_every_logged_scalar_image_and_histogram_is_written(tiny):
    run = gankit.train(preset="digits", loggers="tensorboard", progress=False, **tiny)
    rows = read_jsonl(run.path / "stats.jsonl")
    acc = events(run.path)
    tags = acc.Tags()
    for key in ("Loss/D", "Loss/G", "Prob/D(x)", "Prob/D(G(z))", "Grad/G"):
        scalars = acc.Scalars(key)
        assert [s.step for s in scalars] == [r["step"] for r in rows]
        assert [s.value for s in scalars] == pytest.approx([r[key] for r in rows], rel=1e-6)
    snapshots = [0, 6, 12]
    assert [e.step for e in acc.Images("Samples/G(fixed z)")] == snapshots
    for name in ("Hist/D(x)", "Hist/D(G(z))"):
        histos = acc.Histograms(name)
        assert [h.step for h in histos] == snapshots
        h = histos[-1].histogram_value
        assert h.num == tiny["grid_size"] and 0 <= h.min <= h.max <= 1  # probabilities
    content = acc.PluginTagToContent("hparams")["_hparams_/session_start_info"]
    hparams = plugin_data_pb2.HParamsPluginData.FromString(content).session_start_info.hparams
    assert hparams["z_dim"].number_value == tiny["z_dim"]  # the config as hparams
    assert hparams["g_loss"].string_value == run.config.g_loss
    assert "step" not in tags["scalars"] and "epoch" not in tags["scalars"]


def test_a_resumed_run_logs_each_step_once(tiny):
    run = gankit.train(preset="digits", loggers="tensorboard", progress=False, **tiny)
    # As if killed after logging step 12 but before its checkpoint: resume redoes steps 7-12.
    (run.path / "checkpoints" / "step-000012.safetensors").unlink()
    gankit.train(resume=run.path, steps=16, progress=False)
    rows = read_jsonl(run.path / "stats.jsonl")
    scalars = events(run.path).Scalars("Loss/D")
    assert [s.step for s in scalars] == [r["step"] for r in rows] == [4, 8, 12, 16]
    assert [s.value for s in scalars] == pytest.approx([r["Loss/D"] for r in rows], rel=1e-6)


def test_metrics_appended_during_training_become_scalars(tiny):
    def score(engine):  # a stand-in metric, appended as gankit.metrics would
        with open(engine.run_dir / "metrics.jsonl", "a") as f:
            f.write(json.dumps({"metric": "toy", "value": engine.state.step / 2,
                                "step": engine.state.step, "protocol": {}}) + "\n")

    run = gankit.train(preset="digits", loggers="tensorboard", progress=False, callbacks=[score],
                       **tiny)
    values = events(run.path).Scalars("Metric/toy/value")
    assert [(v.step, v.value) for v in values] == [(6, 3.0), (12, 6.0)]


def test_missing_package_is_one_line_before_any_run_folder(tiny, monkeypatch, run_cli,
                                                           one_line_error):
    for name in ("tensorboard", "torch.utils.tensorboard"):  # None: "import name" fails
        monkeypatch.setitem(sys.modules, name, None)
    code, out, err = run_cli("train", "--loggers", "tensorboard", "--runs-dir", tiny["runs_dir"],
                             "--steps", "2")
    line = one_line_error(code, out, err)
    assert "pip install" in line and "tensorboard" in line
    assert not Path(tiny["runs_dir"]).exists()


def test_a_ctrl_c_partial_row_is_dropped_on_resume_as_in_stats(tiny):
    import os
    import signal

    class AtStep(Callback):
        def on_step(self, engine, stats):
            if engine.state.step == 9:  # the engine's own handler sees a real SIGINT
                os.kill(os.getpid(), signal.SIGINT)

    run = gankit.train(preset="digits", loggers="tensorboard", progress=False,
                       callbacks=[AtStep()], **{**tiny, "steps": 16})
    assert run.interrupted and run.step == 9
    gankit.train(resume=run.path, progress=False)
    rows = read_jsonl(run.path / "stats.jsonl")
    scalars = events(run.path).Scalars("Loss/D")
    assert [s.step for s in scalars] == [r["step"] for r in rows] == [4, 8, 12, 16]
    assert [s.value for s in scalars] == pytest.approx([r["Loss/D"] for r in rows], rel=1e-6)


def test_cli_flag_writes_events_and_says_how_to_watch(tiny, run_cli):
    code, out, err = run_cli("train", "--tensorboard", "--runs-dir", tiny["runs_dir"], "--steps", "4",
                             "--batch", "16", "--g-hidden", "32", "--d-hidden", "32", "--log-every",
                             "2", "--threads", "1")
    assert code == 0, err
    run_dir = Path(out.strip().splitlines()[-1])
    assert [s.step for s in events(run_dir).Scalars("Loss/D")] == [2, 4]
    hints = [line for line in err.splitlines() if "watch it" in line]
    assert len(hints) == 1  # once, at the start
    assert f"gankit report {run_dir}" in hints[0] and "tensorboard --logdir" in hints[0]
    assert '"loggers": "tensorboard"' in (run_dir / "config.json").read_text()
