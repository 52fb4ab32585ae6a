"""The paper's TFD and CIFAR-10 models: per-layer G activations, max column norm, the presets."""

from pathlib import Path

import pytest
import torch
from torch import nn
from torch.testing import assert_close

from gankit.cli import main
from gankit.config import PRESET_DESCRIPTIONS, resolve_config
from gankit.data import Dataset
from gankit.errors import ConfigError
from gankit.nets import Generator, build_networks, max_col_norm_, sample_noise
from gankit.nets.mlp import activation_names
from gankit.optim import build_optimizers
from gankit.runs.run import load_run


def fake_images(shape, n=40):
    return Dataset("fake", train=torch.rand(n, *shape) ** 2, unit_range=True)


def test_one_activation_per_hidden_layer_or_one_for_all():
    G = Generator(8, (16, 12, 10), (5,), activation="relu, sigmoid,tanh")
    assert [type(m) for m in G.hidden] == [nn.Linear, nn.ReLU, nn.Linear, nn.Sigmoid,
                                           nn.Linear, nn.Tanh]
    G = Generator(8, (16, 12), (5,), activation="elu")
    assert [type(m) for m in G.hidden] == [nn.Linear, nn.ELU, nn.Linear, nn.ELU]
    assert activation_names("relu,sigmoid", 2) == ["relu", "sigmoid"]
    with pytest.raises(ValueError, match="2 G activations"):
        activation_names("relu,sigmoid", 3)
    with pytest.raises(ValueError, match="unknown G activation 'swish'"):
        activation_names("relu,swish", 2)


@pytest.mark.parametrize("overrides, words", [
    (dict(g_activation="relu,sigmod"), "unknown g_activation 'sigmod'; did you mean 'sigmoid'?"),
    (dict(g_activation="relu,sigmoid,relu", g_hidden=(8, 8)),
     "g_activation lists 3 activations (relu,sigmoid,relu) but g_hidden has 2 layers"),
    (dict(d_max_col_norm=-1.0), "d_max_col_norm must be a number >= 0"),
])
def test_bad_activations_and_norms_are_one_line_config_errors(overrides, words):
    with pytest.raises(ConfigError) as e:
        resolve_config("digits", **overrides)
    assert words in str(e.value) and "\n" not in str(e.value)


def test_conv_arch_ignores_the_count_of_mlp_activations():
    assert resolve_config("dcgan-mnist", g_activation="relu,sigmoid,relu").arch == "conv"


def test_paper_models_inherit_the_paper_mnist_optimiser():
    """The paper restates only networks and learning rates for CIFAR-10 and TFD: everything else
    (optimiser, schedule, dropout) comes from paper-mnist, as in the authors' yaml files."""
    mnist = resolve_config("paper-mnist").to_dict()
    inherited = ("optimizer", "schedule", "momentum", "momentum_final", "lr_decay", "batch",
                 "d_dropout_input", "d_dropout_hidden", "d_maxout_pieces")
    for name in ("paper-cifar10-fc", "paper-tfd"):
        cfg = resolve_config(name).to_dict()
        assert {k: cfg[k] for k in inherited} == {k: mnist[k] for k in inherited}
        assert cfg["g_hidden"] != mnist["g_hidden"] and cfg["lr_d"] != mnist["lr_d"]
    assert "APPROXIMATION" in PRESET_DESCRIPTIONS["paper-cifar10-conv"]


@pytest.mark.parametrize("preset, shape", [("paper-cifar10-fc", (3, 32, 32)),
                                           ("paper-tfd", (1, 48, 48))])
def test_paper_fc_networks_have_the_papers_layers(preset, shape):
    # The paper's widths (8000) are too big for a unit test: same structure, narrower layers.
    cfg = resolve_config(preset, g_hidden=(24, 16), d_hidden=(12, 12))
    G, D = build_networks(cfg, fake_images(shape))
    assert [type(m) for m in G.hidden] == [nn.Linear, nn.ReLU, nn.Linear, nn.Sigmoid]
    assert G.out.out_features == torch.Size(shape).numel()
    x = G(sample_noise(4, 100, cfg.z_dist))
    assert x.shape == (4, *shape) and x.min() >= 0 and x.max() <= 1  # sigmoid output on [0, 1]
    assert D(x).shape == (4,)


def test_max_col_norm_is_pylearn2s_formula():
    lin = nn.Linear(3, 2)
    with torch.no_grad():
        lin.weight.copy_(torch.tensor([[3.0, 4.0, 0.0], [0.3, 0.4, 0.0]]))  # norms 5 and 0.5
    max_col_norm_(lin, 2.0)
    assert_close(lin.weight[0], torch.tensor([3.0, 4.0, 0.0]) * 2.0 / (5 + 1e-7))
    assert_close(lin.weight[1], torch.tensor([0.3, 0.4, 0.0]) * 0.5 / (0.5 + 1e-7))


def test_d_max_col_norm_applies_after_every_d_update_only():
    cfg = resolve_config("paper-tfd", g_hidden=(16, 16), d_hidden=(8, 8), d_init_range=0.5,
                         g_init_range=0.5, lr_d=1.0, d_max_col_norm=0.5)
    G, D = build_networks(cfg, fake_images((1, 48, 48)))
    opt_G, opt_D = build_optimizers(cfg, G, D)
    row_norms = lambda: torch.cat([m.weight.norm(dim=1) for m in D.modules()  # noqa: E731
                                   if isinstance(m, nn.Linear)])
    assert row_norms().max() > 1.0  # U(+-0.5) on 2304 inputs: far above the bound at first
    g_before = [p.clone() for p in G.parameters()]
    for opt in (opt_G, opt_D):
        opt.zero_grad()
    D(G(sample_noise(4, 100, "normal"))).sum().backward()
    opt_D.step()
    assert row_norms().max() <= 0.5 + 1e-6
    opt_G.step()  # G is not constrained
    assert any(not torch.equal(a, b) for a, b in zip(g_before, G.parameters()))
    assert max(p.norm(dim=1).max() for p in G.parameters() if p.dim() == 2) > 0.5


def test_a_run_with_per_layer_activations_is_rebuilt_from_its_checkpoint(tmp_path, capsys):
    argv = ["train", "--steps", "4", "--batch", "16", "--g-hidden", "16,12",
            "--g-activation", "relu,sigmoid", "--d-hidden", "16", "--d-max-col-norm", "1.9365",
            "--z-dim", "8", "--log-every", "2", "--snapshot-every", "4", "--grid-size", "4",
            "--threads", "1", "--quiet", "--runs-dir", str(tmp_path / "runs")]
    assert main(argv) == 0
    run_dir = Path(capsys.readouterr().out.strip().splitlines()[-1])
    run = load_run(run_dir)
    assert run.config.g_activation == "relu,sigmoid" and run.config.d_max_col_norm == 1.9365
    assert [type(m) for m in run.G.hidden] == [nn.Linear, nn.ReLU, nn.Linear, nn.Sigmoid]
    x = run.sample(5, seed=1)
    assert x.shape == (5, 1, 8, 8) and torch.equal(x, run.sample(5, seed=1))
