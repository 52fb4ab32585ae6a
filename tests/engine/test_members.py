"""Many GANs at once: member i of a group is the lone run with its config, and a group of one is
today's loop, bit for bit."""

import dataclasses

import pytest
import torch

from gankit.config import resolve_config
from gankit.engine.loop import Engine
from gankit.engine.members import Group, build_member_states
from gankit.runs.train import _load_data

SMALL = dict(batch=16, g_hidden=(24, 24), d_hidden=(16, 16), z_dim=4, log_every=10,
             snapshot_every=1000, grid_size=4, threads=1)
CASES = {
    # maxout + dropout D, momentum SGD with its schedules: dropout masks come from member streams
    "digits-k1": dict(preset="digits"),
    "digits-k2": dict(preset="digits", k=2),
    "digits-simultaneous": dict(preset="digits", schedule="simultaneous", k=2),
    # Adam (it turns float noise in a gradient into a full step: any difference would show),
    # with every per-member random draw and remedy
    "ring8-remedies": dict(preset="ring8", r1_gamma=1.0, instance_noise=0.1, label_smoothing=0.1,
                           g_ema=0.9),
    "ring8-packed-hinge": dict(preset="ring8", pack=2, objective="hinge"),
}


def lone(config, data):
    return Engine(config, data, []).run().state


def group(configs, data):
    states, streams = build_member_states(configs, data)
    engines = [Engine(c, data, [], state=s) for c, s in zip(configs, states)]
    Group(engines, streams).run()
    return [e.state for e in engines]


def weights(state):
    return {**{f"G.{k}": v for k, v in state.G.state_dict().items()},
            **{f"D.{k}": v for k, v in state.D.state_dict().items()}}


def differing(a, b):
    wa, wb = weights(a), weights(b)
    return [k for k in wa if not torch.equal(wa[k], wb[k])]


@pytest.mark.parametrize("case", CASES)
def test_each_member_is_its_lone_run_bit_for_bit_over_50_steps(case):
    config = resolve_config(**{**CASES[case], **SMALL, "steps": 50})
    data = _load_data(config)
    configs = [dataclasses.replace(config, seed=s) for s in (3, 4, 5)]
    members = group(configs, data)
    for config_i, member in zip(configs, members):
        assert member.step == 50
        assert differing(lone(config_i, data), member) == []


def test_swept_learning_rates_and_momentum_are_each_members_own():
    config = resolve_config(preset="digits", **SMALL, steps=30)
    data = _load_data(config)
    configs = [dataclasses.replace(config, lr_d=lr, momentum=m)
               for lr, m in ((0.1, 0.5), (0.02, 0.9))]
    members = group(configs, data)
    assert differing(members[0], members[1])  # different values, different runs ...
    for config_i, member in zip(configs, members):  # ... each its lone run
        assert differing(lone(config_i, data), member) == []


def test_a_group_of_one_is_todays_loop_bit_for_bit():
    config = resolve_config(preset="digits", **SMALL, steps=40, k=2)
    data = _load_data(config)
    (member,) = group([config], data)
    assert differing(lone(config, data), member) == []


def test_conv_members_follow_their_lone_runs_to_float_tolerance(mnist_idx_folder):
    """Grouped convolutions sum in another order than lone ones: equal to float rounding at the
    first step, within a small relative distance after 50 (BatchNorm and Adam amplify rounding)."""
    config = resolve_config(arch="conv", dataset="mnist", data_dir=str(mnist_idx_folder),
                            conv_width=4, batch=8, z_dim=8, grid_size=4, log_every=10,
                            snapshot_every=1000, threads=1, steps=1, optimizer="sgd", lr_g=0.02,
                            lr_d=0.02)
    data = _load_data(config)
    for steps, tolerance in ((1, 1e-4), (50, 1e-2)):  # a wrong stream or mask: ~1
        configs = [dataclasses.replace(config, seed=s, steps=steps) for s in (0, 1)]
        for config_i, member in zip(configs, group(configs, data)):
            mine, theirs = weights(member), weights(lone(config_i, data))
            for key, w in theirs.items():
                if w.dtype.is_floating_point and w.numel() > 1:
                    distance = ((mine[key] - w).norm() / w.norm().clamp_min(1e-12)).item()
                    assert distance < tolerance, (steps, key, distance)
            assert not torch.equal(mine["G.project.weight"],
                                   weights(lone(dataclasses.replace(config_i, seed=9), data))[
                                       "G.project.weight"])


def test_a_diverging_member_is_stopped_and_the_others_go_on(capsys):
    config = resolve_config(preset="digits", **SMALL, steps=30)
    data = _load_data(config)
    configs = [dataclasses.replace(config, lr_d=lr) for lr in (0.1, 1e30)]
    states, streams = build_member_states(configs, data)
    engines = [Engine(c, data, [], state=s) for c, s in zip(configs, states)]
    g = Group(engines, streams).run()
    assert g.outcomes[0].error is None and engines[0].state.step == 30
    assert g.outcomes[1].error is not None and engines[1].state.step < 30
    assert differing(lone(configs[0], data), engines[0].state) == []
    assert "member 1" in capsys.readouterr().err


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA GPU")
def test_a_group_on_the_gpu_follows_its_lone_runs():
    """On a GPU each member draws its dropout masks from its own CUDA stream, as a lone CUDA run
    draws them from the global one; batched kernels round differently, hence a tolerance."""
    config = resolve_config(preset="digits", **SMALL, steps=20, device="cuda")
    data = _load_data(config)
    cuda = torch.device("cuda")
    configs = [dataclasses.replace(config, seed=s) for s in (0, 1)]
    states, streams = build_member_states(configs, data, cuda)
    engines = [Engine(c, data, [], state=s, device=cuda) for c, s in zip(configs, states)]
    Group(engines, streams).run()
    for config_i, engine in zip(configs, engines):
        alone = Engine(config_i, data, [], device=cuda).run().state
        for key, w in weights(alone).items():
            if w.dtype.is_floating_point and w.numel() > 1:
                mine = weights(engine.state)[key]
                assert ((mine - w).norm() / w.norm().clamp_min(1e-12)).item() < 1e-2, key
