"""Remedies for the paper's two problems (algorithm1.Remedies, nets.Packed/MinibatchDiscrimination)."""

import pytest
import torch
from torch import nn
from torch.testing import assert_close

import gankit
from gankit.algorithm1 import Remedies, _d_on_both, d_objective
from gankit.config import resolve_config
from gankit.errors import ConfigError
from gankit.objectives import d_loss, gradient_penalty
from gankit.nets import Discriminator
from gankit.nets.layers import MinibatchDiscrimination, Packed


class LinearD(nn.Module):
    def __init__(self, d):
        super().__init__()
        self.w = nn.Parameter(torch.randn(d, dtype=torch.float64))

    def forward(self, x):
        return x.flatten(1) @ self.w


def test_gradient_penalty_of_a_linear_discriminator_is_its_squared_weight_norm():
    D = LinearD(6)
    x = torch.randn(9, 6, dtype=torch.float64, requires_grad=True)
    assert gradient_penalty(D(x), x).item() == pytest.approx(D.w.pow(2).sum().item(), rel=1e-12)


def test_r1_and_r2_add_gamma_over_two_times_the_penalty():
    D = LinearD(4)
    x_real, x_fake = torch.randn(5, 4, dtype=torch.float64), torch.randn(5, 4, dtype=torch.float64)
    plain, _, _ = d_objective(D, x_real, x_fake)
    r1, _, _ = d_objective(D, x_real, x_fake, Remedies(r1_gamma=10.0))
    both, _, _ = d_objective(D, x_real, x_fake, Remedies(r1_gamma=10.0, r2_gamma=4.0))
    w2 = D.w.pow(2).sum()
    assert_close(r1 - plain, 5.0 * w2)
    assert_close(both - plain, 7.0 * w2)
    assert_close(plain, d_loss(D(x_real), D(x_fake)))


def test_r1_gradient_reaches_D():
    D = LinearD(3)
    loss, _, _ = d_objective(D, torch.randn(4, 3, dtype=torch.float64),
                             torch.randn(4, 3, dtype=torch.float64), Remedies(r1_gamma=1.0))
    loss.backward()
    assert D.w.grad is not None and torch.isfinite(D.w.grad).all()


def test_packing_judges_consecutive_samples_together_and_never_mixes_real_with_fake():
    inner = LinearD(2 * 3)
    D = Packed(inner, 2)
    x_real, x_fake = torch.randn(4, 3, dtype=torch.float64), torch.randn(4, 3, dtype=torch.float64)
    real_logits, fake_logits = _d_on_both(D, x_real, x_fake)
    assert real_logits.shape == (2,) and fake_logits.shape == (2,)
    assert_close(real_logits[0], torch.cat([x_real[0], x_real[1]]) @ inner.w)
    assert_close(real_logits[1], torch.cat([x_real[2], x_real[3]]) @ inner.w)
    assert_close(fake_logits[1], torch.cat([x_fake[2], x_fake[3]]) @ inner.w)


def test_packed_images_stack_along_channels():
    D = Packed(Discriminator((2, 4, 4), (8,)), 2)
    assert D(torch.rand(6, 1, 4, 4)).shape == (3,)


def test_minibatch_discrimination_is_permutation_equivariant_and_groups_are_isolated():
    torch.manual_seed(0)
    mbd = MinibatchDiscrimination(5, out_features=3)
    f = torch.randn(8, 5)
    out = mbd(f, groups=2)
    assert out.shape == (8, 5 + 3)
    perm = torch.tensor([2, 0, 3, 1])  # within the first group
    assert_close(mbd(torch.cat([f[:4][perm], f[4:]]), groups=2)[:4], out[:4][perm])
    changed = f.clone()
    changed[4:] += 10.0  # the second group must not affect the first
    assert_close(mbd(changed, groups=2)[:4], out[:4])
    # identical examples are maximally close: each sees n - 1 others at distance 0
    same = mbd(torch.ones(4, 5), groups=1)
    assert_close(same[:, 5:], torch.full((4, 3), 3.0))


def test_discriminator_with_minibatch_features_splits_real_and_fake():
    D = Discriminator((3,), (8,), minibatch_features=4)
    assert D.uses_groups
    real_logits, fake_logits = _d_on_both(D, torch.randn(5, 3), torch.randn(5, 3))
    assert real_logits.shape == fake_logits.shape == (5,)


@pytest.mark.parametrize("remedy", [dict(pack=4), dict(r1_gamma=1.0), dict(r1_gamma=1.0, r2_gamma=1.0),
                                    dict(instance_noise=0.1), dict(lr_d=4e-3, lr_g=1e-3),
                                    dict(minibatch_features=4), dict(label_smoothing=0.1)])
def test_each_remedy_trains_and_is_recorded(tmp_path, remedy):
    run = gankit.train(progress=False, preset="ring8", steps=20, batch=16, g_hidden=(16,),
                       d_hidden=(16,), log_every=5, snapshot_every=10, grid_size=32, threads=1,
                       runs_dir=str(tmp_path), **remedy)
    for key, value in remedy.items():
        assert getattr(gankit.load_run(run.path).config, key) == value
    assert gankit.load_run(run.path).sample(8, seed=0).shape == (8, 2)


def test_instance_noise_anneals_to_zero(tmp_path):
    from gankit.data import load_dataset
    from gankit.engine.loop import Engine

    cfg = resolve_config("ring8", instance_noise=0.2, steps=100)
    trainer = Engine(cfg, load_dataset("ring8"))
    assert trainer.remedies().instance_noise == pytest.approx(0.2)
    trainer.state.step = 50
    assert trainer.remedies().instance_noise == pytest.approx(0.1)
    trainer.state.step = 100
    assert trainer.remedies().instance_noise == 0.0


def test_label_smoothing_reaches_the_d_objective_of_a_run(tmp_path):
    from gankit.data import load_dataset
    from gankit.engine.loop import Engine

    cfg = resolve_config("ring8", label_smoothing=0.1, steps=10)
    assert Engine(cfg, load_dataset("ring8")).remedies().label_smoothing == 0.1
    D = LinearD(4)
    x_real, x_fake = torch.randn(5, 4, dtype=torch.float64), torch.randn(5, 4, dtype=torch.float64)
    smooth, _, _ = d_objective(D, x_real, x_fake, Remedies(label_smoothing=0.1))
    assert_close(smooth, d_loss(D(x_real), D(x_fake), real_label=0.9))


def test_bad_remedy_values():
    with pytest.raises(ConfigError, match="label_smoothing must be in"):
        resolve_config("ring8", label_smoothing=0.5)
    with pytest.raises(ConfigError, match="pack must be >= 1 and divide the batch"):
        resolve_config("ring8", pack=3, batch=100)
    with pytest.raises(ConfigError, match="r1_gamma must be a number >= 0"):
        resolve_config("ring8", r1_gamma=-1.0)
