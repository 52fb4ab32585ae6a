"""--cuda-graph: the iteration replayed from one CUDA graph trains what the eager step trains.
These run where CUDA is present and skip elsewhere (--cuda-graph itself is refused without a GPU)."""

import dataclasses

import pytest
import torch

from gankit.cli import main
from gankit.config import resolve_config
from gankit.engine.loop import Engine
from gankit.engine.members import Group, build_member_states
from gankit.runs.train import _load_data

needs_cuda = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
SMALL = dict(batch=64, log_every=10, snapshot_every=1000, grid_size=4, threads=1, device="cuda")


def train_group(configs, data):
    cuda = torch.device("cuda")
    states, streams = build_member_states(configs, data, cuda)
    engines = [Engine(c, data, [], state=s, device=cuda) for c, s in zip(configs, states)]
    group = Group(engines, streams)
    group.run()
    return group, [e.state for e in engines]


@needs_cuda
@pytest.mark.parametrize("k", [1, 2])
def test_the_graph_trains_what_the_eager_step_trains(k):
    """ring8 (Adam, a decaying learning rate, no dropout): no random draw inside the step, so the
    graphed and eager groups see the same numbers and must end at the same weights."""
    config = resolve_config(preset="ring8", **SMALL, steps=40, k=k)
    data = _load_data(config)
    configs = [dataclasses.replace(config, seed=s) for s in (0, 1)]
    graphed, g_states = train_group([dataclasses.replace(c, cuda_graph=True) for c in configs], data)
    assert type(graphed.step_fn).__name__ == "GraphedStep" and graphed.step_fn.graph is not None
    _, e_states = train_group(configs, data)
    for a, b in zip(g_states, e_states):
        for (name, p), q in zip(a.G.state_dict().items(), b.G.state_dict().values()):
            torch.testing.assert_close(p, q, rtol=1e-4, atol=1e-5, msg=name)
        assert a.opt_G.param_groups[0]["lr"].item() == pytest.approx(b.opt_G.param_groups[0]["lr"])


@needs_cuda
def test_a_graphed_paper_style_run_with_dropout_and_momentum_ramp_trains(tmp_path):
    """digits: maxout D with dropout (masks drawn inside the graph), momentum SGD whose momentum
    ramps (a new capture when it changes); the run folder is an ordinary one."""
    runs = tmp_path / "runs"
    assert main(["train", "--cuda-graph", "--device", "cuda", "--steps", "60", "--log-every", "10",
                 "--momentum-ramp-epochs", "3", "--runs-dir", str(runs), "--quiet"]) == 0
    import gankit

    run = gankit.load_run(next(runs.iterdir()))
    assert run.step == 60 and torch.isfinite(run.sample(8)).all()


def test_without_a_gpu_the_flag_is_one_line_and_no_folder(tmp_path, capsys):
    if torch.cuda.is_available():
        pytest.skip("a GPU is present")
    assert main(["train", "--cuda-graph", "--steps", "5", "--runs-dir", str(tmp_path / "r")]) == 2
    assert "needs a CUDA GPU" in capsys.readouterr().err
    assert not (tmp_path / "r").exists()
