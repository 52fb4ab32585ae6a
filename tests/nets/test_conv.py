"""DCGAN-style conv nets (nets_conv.py): resolutions, shapes, no BatchNorm in D, init, training."""

import pytest
import torch
from torch import nn
from torch.testing import assert_close

import gankit
from gankit.config import resolve_config
from gankit.data import Dataset
from gankit.errors import ConfigError
from gankit.nets import build_networks
from gankit.nets.conv import ConvDiscriminator, ConvGenerator, conv_plan
from gankit.runs.run import load_run


@pytest.mark.parametrize("resolution, plan", [(8, (4, 1)), (14, (7, 1)), (28, (7, 2)),
                                              (32, (4, 3)), (64, (4, 4)), (128, (4, 5))])
def test_conv_plan(resolution, plan):
    assert conv_plan(resolution) == plan


@pytest.mark.parametrize("resolution", [4, 7, 10, 48, 100])
def test_unsupported_resolutions_are_refused(resolution):
    with pytest.raises(ValueError, match="4 or 7 times a power of two"):
        conv_plan(resolution)


@pytest.mark.parametrize("c, r", [(1, 28), (3, 32), (3, 64), (1, 128)])
def test_shapes_and_widths(c, r):
    G, D = ConvGenerator(16, (c, r, r), width=4), ConvDiscriminator((c, r, r), width=4)
    x = G(torch.randn(3, 16))
    assert x.shape == (3, c, r, r) and 0 < x.min() and x.max() < 1  # sigmoid output
    assert D(x).shape == (3,)
    g_convs = [m for m in G.modules() if isinstance(m, nn.ConvTranspose2d)]
    d_convs = [m for m in D.modules() if isinstance(m, nn.Conv2d)]
    assert g_convs[-2].out_channels == 4 and g_convs[-1].out_channels == c  # width at the top
    assert d_convs[0].out_channels == 4 and d_convs[-1].out_channels == 4 * 2 ** (len(d_convs) - 1)


def test_D_has_no_batchnorm_so_real_and_fake_in_one_batch_do_not_interact():
    D = ConvDiscriminator((3, 32, 32), width=8)
    assert not any(isinstance(m, nn.modules.batchnorm._BatchNorm) for m in D.modules())
    x_real, x_fake = torch.rand(4, 3, 32, 32), torch.rand(4, 3, 32, 32)
    both = D(torch.cat([x_real, x_fake]))  # as algorithm1._d_on_both
    assert_close(both[:4], D(x_real))
    assert_close(both[4:], D(x_fake))


def fake_images(n=64, c=1, r=28):
    return Dataset("mnist", train=torch.rand(n, c, r, r) ** 2, unit_range=True)


def test_dcgan_mnist_preset_builds_conv_nets_with_dcgan_init():
    cfg = resolve_config("dcgan-mnist")
    assert (cfg.arch, cfg.optimizer, cfg.lr_d, cfg.adam_beta1) == ("conv", "adam", 2e-4, 0.5)
    data = fake_images()
    G, D = build_networks(cfg, data)
    assert isinstance(G, ConvGenerator) and isinstance(D, ConvDiscriminator)
    w = torch.cat([m.weight.detach().flatten() for m in D.modules() if isinstance(m, nn.Conv2d)])
    assert w.mean().abs() < 0.002 and w.std().item() == pytest.approx(0.02, rel=0.05)
    # output bias = logit(mean pixel of each channel), as the MLP generator's
    mean = data.train.double().mean(dim=(0, 2, 3)).clamp(1e-7, 1 - 1e-7)
    assert_close(G.out.bias, torch.logit(mean).float())


def test_pack_with_the_conv_arch_stacks_pack_images_along_D_s_channels():
    from gankit.nets.layers import Packed

    G, D = build_networks(resolve_config("dcgan-mnist", pack=2, conv_width=8), fake_images(c=3))
    assert isinstance(D, Packed) and D.pack == 2
    first = next(m for m in D.modules() if isinstance(m, nn.Conv2d))
    assert first.in_channels == 6  # 2 images x 3 channels judged together
    assert D(torch.rand(8, 3, 28, 28)).shape == (4,)


def test_d_can_have_a_quarter_of_gs_width():  # the hard Stacked MNIST setting (Metz et al. 2017)
    G, D = build_networks(resolve_config("dcgan-mnist", conv_width=16, d_conv_width=4),
                          fake_images(c=3))
    d_convs = [m.out_channels for m in D.modules() if isinstance(m, nn.Conv2d)]
    g_convs = [m.in_channels for m in G.modules() if isinstance(m, nn.ConvTranspose2d)]
    assert d_convs == [4, 8] and g_convs[-1] == 16
    G, D_same = build_networks(resolve_config("dcgan-mnist", conv_width=16), fake_images(c=3))
    assert [m.out_channels for m in D_same.modules() if isinstance(m, nn.Conv2d)] == [16, 32]


def test_conv_arch_refuses_vectors_and_odd_image_sizes():
    cfg = resolve_config("ring8", arch="conv")
    with pytest.raises(ConfigError, match="needs an image dataset"):
        build_networks(cfg, Dataset("ring8", train=torch.randn(10, 2), unit_range=False))
    with pytest.raises(ConfigError, match="10x10"):
        build_networks(resolve_config(arch="conv"), fake_images(r=10))


def test_conv_run_trains_resumes_exactly_and_reloads_its_generator(tmp_path):
    # digits are 8x8: base 4, one doubling; small enough for a test
    kw = dict(preset="digits", arch="conv", conv_width=4, z_dim=8, z_dist="normal",
              optimizer="adam", lr_d=2e-4, lr_g=2e-4, lr_decay=1.0, batch=16, log_every=2,
              snapshot_every=4, grid_size=8, threads=1)
    straight = gankit.train(progress=False, steps=4, runs_dir=str(tmp_path / "a"), **kw)
    half = gankit.train(progress=False, steps=2, runs_dir=str(tmp_path / "b"), **kw)
    resumed = gankit.train(resume=half.path, progress=False, steps=4)
    for (name, a), (_, b) in zip(straight.G.state_dict().items(), resumed.G.state_dict().items()):
        assert torch.equal(a, b), name  # BatchNorm running statistics included
    loaded = load_run(straight.path)
    assert isinstance(loaded.G, ConvGenerator)
    assert_close(loaded.sample(5, seed=1), straight.sample(5, seed=1))
