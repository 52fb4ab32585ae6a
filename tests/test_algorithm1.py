"""Algorithm 1 as a contract (algorithm1.py): who is updated, how often, on what."""

import copy

import pytest
import torch
from torch.testing import assert_close

from gankit.algorithm1 import d_step, g_step, simultaneous_step, training_iteration
from gankit.objectives import OBJECTIVES, Objective, d_loss, g_loss_minimax, g_loss_nonsaturating
from gankit.nets import Discriminator, Generator

M, Z = 6, 3


class Recorder:
    """Hands out data and noise and counts optimiser steps, in the order they happen."""

    def __init__(self):
        self.events, self.batches = [], []
        self.gen = torch.Generator().manual_seed(1)

    def next_real(self):
        x = torch.rand(M, 4, generator=self.gen)
        self.events.append("real")
        self.batches.append(x)
        return x

    def next_noise(self):
        z = torch.randn(M, Z, generator=self.gen)
        self.events.append("noise")
        self.batches.append(z)
        return z

    def optimizer(self, params, name):
        opt = torch.optim.SGD(params, lr=0.1)
        original = opt.step

        def step(*a, **kw):
            self.events.append(f"step_{name}")
            return original(*a, **kw)

        opt.step = step
        return opt


def nets():
    torch.manual_seed(0)
    return Generator(Z, (8,), (4,), sigmoid_output=True), Discriminator((4,), (8,))


@pytest.mark.parametrize("k", [1, 2, 5])
def test_alternating_iteration_does_k_D_steps_then_one_G_step_on_fresh_samples(k):
    G, D = nets()
    rec = Recorder()
    training_iteration(G, D, rec.optimizer(G.parameters(), "G"), rec.optimizer(D.parameters(), "D"),
                       rec.next_real, rec.next_noise, OBJECTIVES["gan"], k=k)
    assert rec.events == ["real", "noise", "step_D"] * k + ["noise", "step_G"]
    # every minibatch has m rows and none is reused
    assert all(len(b) == M for b in rec.batches)
    assert len({b.sum().item() for b in rec.batches}) == len(rec.batches)


def test_D_step_leaves_G_untouched_and_G_step_leaves_D_untouched():
    G, D = nets()
    opt_G, opt_D = torch.optim.SGD(G.parameters(), lr=0.5), torch.optim.SGD(D.parameters(), lr=0.5)
    G0, D0 = copy.deepcopy(G.state_dict()), copy.deepcopy(D.state_dict())
    d_step(G, D, opt_D, torch.rand(M, 4), torch.randn(M, Z))
    assert all(p.grad is None for p in G.parameters())
    for key, v in G.state_dict().items():
        assert torch.equal(v, G0[key])
    assert any(not torch.equal(v, D0[key]) for key, v in D.state_dict().items())

    D1 = copy.deepcopy(D.state_dict())
    opt_D.zero_grad(set_to_none=True)
    g_step(G, D, opt_G, torch.randn(M, Z), g_loss_nonsaturating)
    assert all(p.grad is None for p in D.parameters())
    assert all(p.requires_grad for p in D.parameters())  # restored after the G step
    for key, v in D.state_dict().items():
        assert torch.equal(v, D1[key])
    assert any(not torch.equal(v, G0[key]) for key, v in G.state_dict().items())


def test_G_step_without_D_weight_gradients_is_bit_identical_to_the_plain_one():
    # A speed-up that only skips work (D's weight gradients, thrown away in the plain loop) must
    # not change G's update by a single bit (issue 7).
    G, D = nets()
    G_ref, D_ref = copy.deepcopy(G), copy.deepcopy(D)
    z = torch.randn(M, Z)
    g_step(G, D, torch.optim.SGD(G.parameters(), lr=0.3), z, g_loss_nonsaturating)
    opt_ref = torch.optim.SGD(G_ref.parameters(), lr=0.3)
    g_loss_nonsaturating(D_ref(G_ref(z))).backward()  # D's weight gradients computed too
    opt_ref.step()
    assert all(p.grad is not None for p in D_ref.parameters())
    for p, p_ref in zip(G.parameters(), G_ref.parameters()):
        assert torch.equal(p, p_ref)


def test_d_step_is_one_sgd_step_on_d_loss():
    G, D = nets()
    x, z = torch.rand(M, 4), torch.randn(M, Z)
    ref = copy.deepcopy(D)
    loss = d_loss(ref(x), ref(G(z).detach()))
    grads = torch.autograd.grad(loss, list(ref.parameters()))
    d_step(G, D, torch.optim.SGD(D.parameters(), lr=0.3), x, z)
    for p, p0, g in zip(D.parameters(), ref.parameters(), grads):
        assert_close(p, p0 - 0.3 * g)


@pytest.mark.parametrize("g_loss", [g_loss_minimax, g_loss_nonsaturating])
def test_simultaneous_step_uses_one_forward_pass_and_the_old_D_for_G(g_loss):
    G, D = nets()
    x, z = torch.rand(M, 4), torch.randn(M, Z)
    G_ref, D_ref = copy.deepcopy(G), copy.deepcopy(D)
    fake_logits = D_ref(G_ref(z))
    grads_D = torch.autograd.grad(d_loss(D_ref(x), fake_logits), list(D_ref.parameters()),
                                  retain_graph=True)
    grads_G = torch.autograd.grad(g_loss(fake_logits), list(G_ref.parameters()))
    lr = 0.2
    simultaneous_step(G, D, torch.optim.SGD(G.parameters(), lr=lr),
                      torch.optim.SGD(D.parameters(), lr=lr), x, z, Objective(d_loss, g_loss))
    for p, p0, g in zip(D.parameters(), D_ref.parameters(), grads_D):
        assert_close(p, p0 - lr * g)
    for p, p0, g in zip(G.parameters(), G_ref.parameters(), grads_G):
        assert_close(p, p0 - lr * g)


def test_simultaneous_iteration_consumes_one_real_and_one_noise_batch():
    G, D = nets()
    rec = Recorder()
    stats = training_iteration(G, D, rec.optimizer(G.parameters(), "G"),
                               rec.optimizer(D.parameters(), "D"), rec.next_real, rec.next_noise,
                               OBJECTIVES["gan"], k=1, schedule="simultaneous")
    assert rec.events == ["real", "noise", "step_D", "step_G"]
    assert set(stats) == {"Loss/D", "Loss/G", "Prob/D(x)", "Prob/D(G(z))"}


def test_minimax_and_nonsaturating_give_different_G_updates():
    G1, D = nets()
    G2 = copy.deepcopy(G1)
    z = torch.randn(M, Z)
    g_step(G1, D, torch.optim.SGD(G1.parameters(), lr=1.0), z, g_loss_minimax)
    g_step(G2, D, torch.optim.SGD(G2.parameters(), lr=1.0), z, g_loss_nonsaturating)
    assert not torch.equal(G1.out.weight, G2.out.weight)
