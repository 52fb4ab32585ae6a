"""Learning-rate and momentum schedules (optim.py) and the lr_schedule grammar (config.py)."""

import json
import math

import pytest
import torch

import gankit
from gankit.config import config_from_dict, resolve_config
from gankit.lr_schedule import parse_lr_schedule
from gankit.errors import ConfigError
from gankit.optim import apply_schedules, learning_rate, lr_factors, momentum, player_learning_rates

DECAY = 1.000004  # the paper's lr_decay (paper-mnist)


def figure1_lr_factor(step: int, steps: int, start: float = 0.5, final: float = 0.01) -> float:
    """The oracle: gankit.figures.figure1.lr_factor as it was before lr_schedule (copied verbatim)."""
    begin = int(steps * start)
    if step <= begin or steps <= begin:
        return 1.0
    t = (step - begin) / (steps - begin)
    return final + (1 - final) * 0.5 * (1 + math.cos(math.pi * t))


def test_paper_schedules_follow_pylearn2():
    cfg = resolve_config("paper-mnist")
    assert learning_rate(0.1, 0, cfg) == 0.1
    assert learning_rate(0.1, 1000, cfg) == pytest.approx(0.1 / DECAY ** 1000, rel=1e-12)
    assert learning_rate(0.1, 10**8, cfg) == 1e-6  # the floor
    assert momentum(0, cfg) == 0.5 and momentum(1, cfg) == 0.5
    assert momentum(250, cfg) == pytest.approx(0.7) and momentum(1000, cfg) == pytest.approx(0.7)
    assert momentum(125, cfg) == pytest.approx(0.5 + 0.2 * 124 / 249)


def test_constant_schedule_leaves_the_decayed_rates_untouched():
    cfg = resolve_config("paper-mnist", lr_g=0.4)
    for step in (0, 999, 10**6):
        assert lr_factors(step, cfg) == (1.0, 1.0)
        assert player_learning_rates(step, cfg) == (learning_rate(0.4, step, cfg),
                                                    learning_rate(0.1, step, cfg))


def test_step_piece_switches_at_its_update_and_the_decay_goes_on():
    cfg = resolve_config("paper-mnist", lr_g=0.4, lr_schedule="step(at=1000, d=0.5)")
    assert player_learning_rates(999, cfg) == pytest.approx((0.4 / DECAY ** 999, 0.1 / DECAY ** 999),
                                                            rel=1e-12)
    assert player_learning_rates(1000, cfg) == pytest.approx((0.4 / DECAY ** 1000, 0.05 / DECAY ** 1000),
                                                             rel=1e-12)
    both = resolve_config("paper-mnist", lr_schedule="step(at=10, d=2, g=3)")
    assert lr_factors(9, both) == (1.0, 1.0) and lr_factors(10, both) == (3.0, 2.0)


def test_pieces_multiply():
    cfg = resolve_config("digits", lr_schedule="step(at=10, d=0.5) + step(at=20, d=0.5, g=0.25)")
    assert [lr_factors(s, cfg) for s in (9, 10, 20)] == [(1.0, 1.0), (1.0, 0.5), (0.25, 0.25)]


@pytest.mark.parametrize("steps", [1, 2, 7, 4000, 6000])
def test_cosine_is_figure1s_lr_factor_bit_for_bit(steps):
    cfg = resolve_config("figure1-gauss", steps=steps)
    lr_g, lr_d = cfg.lr_g, cfg.lr_d
    for step in range(steps):  # step: updates already done (0-based); Figure 1 counted from 1
        factor = figure1_lr_factor(step + 1, steps)
        assert lr_factors(step, cfg) == (factor, factor)
        assert player_learning_rates(step, cfg) == (lr_g * factor, lr_d * factor)
    assert lr_factors(steps - 1, cfg) == (0.01, 0.01)  # the last update: cos(pi) = -1


def test_cosine_stays_at_its_final_value_after_the_last_step():
    cfg = resolve_config("digits", steps=100, lr_schedule="cosine(start=0.5, final=0.1)")
    assert lr_factors(99, cfg) == (0.1, 0.1) == lr_factors(150, cfg)
    assert lr_factors(50, cfg)[0] < 1.0 == lr_factors(49, cfg)[0]


def test_apply_schedules_sets_the_optimisers_and_logs_the_same_names():
    cfg = resolve_config("paper-mnist", lr_schedule="step(at=5, d=0.5)")
    opt_G = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1.0)
    opt_D = torch.optim.SGD([torch.zeros(1, requires_grad=True)], lr=1.0)
    values = apply_schedules(cfg, opt_G, opt_D, step=5, epoch=0)
    assert set(values) == {"LR/G", "LR/D", "Momentum"}
    assert (values["LR/G"], values["LR/D"]) == player_learning_rates(5, cfg)
    assert opt_D.param_groups[0]["lr"] == values["LR/D"] and opt_G.param_groups[0]["lr"] == values["LR/G"]


def test_a_schedule_reaches_the_optimiser_during_training(tiny):
    run = gankit.train(progress=False, **{**tiny, "optimizer": "sgd", "lr_decay": 1.0, "lr_d": 0.02,
                                          "lr_g": 0.02, "lr_schedule": "step(at=10, d=0.25)",
                                          "steps": 20, "log_every": 1})
    rows = {r["step"]: r for r in map(json.loads, (run.path / "stats.jsonl").read_text().splitlines())}
    assert rows[5]["LR/D"] == 0.02 and rows[15]["LR/D"] == 0.005
    assert rows[5]["LR/G"] == rows[15]["LR/G"] == 0.02


# --- the old second phase (lr_late_step, lr_d_late, lr_g_late) -------------------------------------

def old_player_learning_rates(step, lr_g, lr_d, late_step, g_late, d_late, decay=DECAY, lr_min=1e-6):
    """The oracle: optim.player_learning_rates before lr_schedule (the two-phase fields)."""
    late = late_step > 0 and step >= late_step
    lr_g = g_late if late and g_late > 0 else lr_g
    lr_d = d_late if late and d_late > 0 else lr_d
    return max(lr_g / decay ** step, lr_min), max(lr_d / decay ** step, lr_min)


@pytest.mark.parametrize("late", [dict(lr_late_step=1000, lr_d_late=0.05),
                                  dict(lr_late_step=1000, lr_d_late=0.03, lr_g_late=0.3),
                                  dict(lr_late_step=1000, lr_g_late=0.2),
                                  dict(lr_late_step=0, lr_d_late=0.05),  # 0: no second phase
                                  dict(lr_late_step=1000)])
def test_old_config_json_with_a_second_phase_trains_with_the_same_rates(late):
    old = {**resolve_config("paper-mnist", lr_g=0.4).to_dict(), "lr_late_step": 0, "lr_d_late": 0.0,
           "lr_g_late": 0.0, **late}
    del old["lr_schedule"]  # an old config.json has no lr_schedule
    cfg = config_from_dict(old)
    for step in (0, 999, 1000, 5000):
        expected = old_player_learning_rates(step, 0.4, 0.1, old["lr_late_step"], old["lr_g_late"],
                                             old["lr_d_late"])
        assert player_learning_rates(step, cfg) == pytest.approx(expected, rel=1e-12)


def test_old_table1_second_phase_is_exact():
    old = {**resolve_config("paper-mnist").to_dict(), "lr_g": 0.4, "lr_late_step": 110_000,
           "lr_d_late": 0.05, "lr_g_late": 0.0}
    del old["lr_schedule"]
    cfg = config_from_dict(old)
    assert cfg.lr_schedule == "step(at=110000, d=0.5)"
    for step in (109_999, 110_000, 150_000):
        assert player_learning_rates(step, cfg) == old_player_learning_rates(step, 0.4, 0.1, 110_000,
                                                                             0.0, 0.05)


def test_config_files_translate_the_old_fields(tmp_path):
    f = tmp_path / "old.toml"
    f.write_text('preset = "paper-mnist"\nlr_late_step = 1000\nlr_d_late = 0.05\n')
    assert resolve_config(file=f).lr_schedule == "step(at=1000, d=0.5)"
    assert resolve_config(file=f, lr_d=0.2).lr_schedule == "step(at=1000, d=0.25)"  # d = late / lr_d
    with pytest.raises(ConfigError, match="lr_schedule replaces lr_late_step"):
        resolve_config(file=f, lr_schedule="constant")
    with pytest.raises(ConfigError, match="must be >= 0"):
        resolve_config(file=f, lr_d_late=-1.0)


# --- the grammar -----------------------------------------------------------------------------------

def test_lr_schedule_parses_to_pieces_with_defaults():
    assert parse_lr_schedule("constant") == (("constant", {}),)
    (kind, args), = parse_lr_schedule(" step( at = 1e+5 , d=0.5 ) ")
    assert kind == "step" and dict(args) == {"at": 100_000, "d": 0.5, "g": 1.0}
    assert isinstance(args["at"], int)
    assert [dict(a) for _, a in parse_lr_schedule("cosine()+cosine(final=0)")] == [
        {"start": 0.5, "final": 0.01}, {"start": 0.5, "final": 0.0}]


@pytest.mark.parametrize("text, words", [
    ("", "unknown piece ''"),
    ("linear(at=3)", "unknown piece 'linear(at=3)' (pieces: constant, step, cosine)"),
    ("step(d=0.5)", "step() takes key=number arguments at, d, g (required: at)"),
    ("step(at=10, x=2)", "step() takes key=number arguments"),
    ("step(at=10, 0.5)", "step() takes key=number arguments"),
    ("step(at=ten)", "step() takes key=number arguments"),
    ("step(at=10.5)", "a whole number at >= 0"),
    ("step(at=10, d=0)", "factors d, g > 0"),
    ("cosine(start=1)", "0 <= start < 1"),
    ("cosine(final=2)", "0 <= final <= 1"),
    ("constant(x=1)", "constant() takes key=number arguments none"),
    ("step(at=10)+", "unknown piece ''"),
])
def test_bad_lr_schedules_are_one_line_errors_with_an_example(text, words):
    with pytest.raises(ConfigError) as e:
        resolve_config("digits", lr_schedule=text)
    assert words in str(e.value) and "e.g. 'step(at=110000, d=0.5)'" in str(e.value)
    assert "\n" not in str(e.value)


def test_the_decayed_learning_rate_never_overflows():
    """Issue 18: 1.000004 ** step overflows a float after ~1.8e8 steps (2 ** step after 1024);
    the rate is then its floor, lr_min."""
    from gankit.optim import learning_rate

    config = resolve_config(lr_decay=1.000004, lr_min=1e-6)
    assert learning_rate(0.1, 10**9, config) == 1e-6
    assert learning_rate(0.1, 1000, config) == max(0.1 / 1.000004 ** 1000, 1e-6)


def test_wgan_clipping_leaves_every_weight_of_d_in_the_box():
    from gankit.nets import build_networks
    from gankit.data import load_dataset
    from gankit.optim import build_optimizers

    config = resolve_config("digits+wgan", g_hidden=(16,), d_hidden=(16,), lr_d=1.0, lr_g=1.0)
    G, D = build_networks(config, load_dataset("digits"))
    opt_G, opt_D = build_optimizers(config, G, D)
    c = config.wgan_clip
    assert all(p.abs().max() <= c for p in D.parameters())  # inside the box from the start
    for _ in range(3):  # large steps that would leave the box
        opt_D.zero_grad()
        D(torch.rand(8, 1, 8, 8)).sum().backward()
        opt_D.step()
        assert all(p.abs().max() <= c for p in D.parameters())
        assert max(p.abs().max().item() for p in D.parameters()) == pytest.approx(c)
    assert max(p.abs().max().item() for p in G.parameters()) > c  # G is not clipped
