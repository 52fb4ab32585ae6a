"""Config resolution and validation (config.py)."""

import json

import pytest

from gankit.config import PRESETS, Config, config_from_dict, resolve_config
from gankit.errors import ConfigError


def test_defaults_are_the_digits_preset_and_valid():
    cfg = resolve_config()
    assert cfg.preset == "digits" and cfg.dataset == "digits"
    assert cfg.g_loss == "nonsaturating" and cfg.k == 1 and cfg.schedule == "alternating"
    assert cfg.run_tag == "digits-ns-k1"


def test_paper_mnist_preset_holds_the_papers_settings():
    cfg = resolve_config("paper-mnist")
    assert (cfg.optimizer, cfg.lr_d, cfg.lr_g, cfg.batch) == ("sgd", 0.1, 0.1, 100)
    assert (cfg.momentum, cfg.momentum_final, cfg.momentum_ramp_epochs) == (0.5, 0.7, 250)
    assert (cfg.lr_decay, cfg.lr_min) == (1.000004, 1e-6)
    assert (cfg.z_dim, cfg.z_dist) == (100, "uniform")
    assert cfg.g_hidden == (1200, 1200) and cfg.d_hidden == (240, 240) and cfg.d_maxout_pieces == 5
    assert (cfg.d_dropout_input, cfg.d_dropout_hidden) == (0.2, 0.5)
    assert (cfg.g_init_range, cfg.d_init_range) == (0.05, 0.005)
    assert cfg.run_tag == "mnist-ns-k1-sim"


def test_paper_mnist_ema_differs_from_the_paper_only_by_the_weight_average():
    paper, ema = resolve_config("paper-mnist").to_dict(), resolve_config("paper-mnist-ema").to_dict()
    differ = {k for k in paper if paper[k] != ema[k]}
    assert differ == {"preset", "g_ema"} and ema["g_ema"] == 0.9999 and paper["g_ema"] == 0.0


def test_paper_mnist_ema_g4_differs_from_paper_mnist_ema_only_by_learning_rates():
    ema, g4 = resolve_config("paper-mnist-ema").to_dict(), resolve_config("paper-mnist-ema-g4").to_dict()
    differ = {k for k in ema if ema[k] != g4[k]}
    assert differ == {"preset", "lr_g", "lr_schedule", "steps"} and g4["steps"] == 115_000
    assert (g4["lr_g"], g4["lr_d"], g4["lr_schedule"]) == (0.4, 0.1, "step(at=110000, d=0.5)")


def test_paper_mnist_ema_g4_ls_adds_only_label_smoothing_and_its_stop():
    g4, ls = resolve_config("paper-mnist-ema-g4").to_dict(), resolve_config("paper-mnist-ema-g4-ls").to_dict()
    differ = {k for k in g4 if g4[k] != ls[k]}
    assert differ == {"preset", "label_smoothing", "steps"}
    assert (ls["label_smoothing"], g4["label_smoothing"], ls["steps"]) == (0.2, 0.0, 100_000)


def test_every_preset_resolves():
    for name in PRESETS:
        assert resolve_config(name).preset == name


def test_precedence_defaults_preset_file_overrides(tmp_path):
    f = tmp_path / "c.toml"
    f.write_text('preset = "paper-mnist"\nsteps = 77\nbatch = 50\ng_hidden = [10, 20]\n')
    cfg = resolve_config(file=f, batch=25)
    assert cfg.preset == "paper-mnist" and cfg.optimizer == "sgd"  # from the preset
    assert cfg.steps == 77 and cfg.g_hidden == (10, 20)  # from the file
    assert cfg.batch == 25  # override wins


def test_yaml_and_json_files(tmp_path):
    y = tmp_path / "c.yaml"
    y.write_text("k: 3\ng_loss: minimax\n")
    cfg = resolve_config(file=y)
    assert cfg.k == 3 and cfg.g_loss == "minimax" and cfg.run_tag == "digits-mm-k3"
    j = tmp_path / "config.json"
    j.write_text(cfg.to_json())
    assert resolve_config(file=j) == cfg


def test_config_json_round_trip():
    cfg = resolve_config("paper-mnist", steps=5)
    assert config_from_dict(json.loads(cfg.to_json())) == cfg


@pytest.mark.parametrize("overrides, words", [
    (dict(preset="nope"), "unknown preset 'nope'"),
    (dict(dataset="mnsit"), "did you mean 'mnist'"),
    (dict(g_loss="wgan"), "unknown g_loss 'wgan'"),
    (dict(k=0), "k must be at least 1"),
    (dict(batch=0), "batch must be at least 1"),
    (dict(lr_d=0.0), "lr_d must be a positive number"),
    (dict(lr_g=-1e-3), "lr_g must be a positive number"),
    (dict(d_dropout_input=1.0), "d_dropout_input"),
    (dict(g_hidden="0"), "g_hidden"),
    (dict(schedule="async"), "unknown schedule"),
    (dict(steps="many"), "steps expects int"),
    (dict(stepz=5), "unknown config key 'stepz'; did you mean 'steps'"),
])
def test_bad_values_raise_one_clear_config_error(overrides, words):
    with pytest.raises(ConfigError) as e:
        resolve_config(**overrides)
    assert words in str(e.value)
    assert "\n" not in str(e.value)


def test_bad_config_files(tmp_path):
    with pytest.raises(ConfigError, match="does not exist"):
        resolve_config(file=tmp_path / "missing.toml")
    bad = tmp_path / "bad.toml"
    bad.write_text("steps = = 3")
    with pytest.raises(ConfigError, match="cannot parse config file"):
        resolve_config(file=bad)
    ini = tmp_path / "c.ini"
    ini.write_text("x")
    with pytest.raises(ConfigError, match="must end in"):
        resolve_config(file=ini)
    evil = tmp_path / "evil.yaml"
    evil.write_text("!!python/object/apply:os.system ['echo hacked']\n")
    with pytest.raises(ConfigError, match="cannot parse"):
        resolve_config(file=evil)


def test_dataclass_defaults_equal_digits_preset():
    assert Config() == resolve_config("digits")


def test_g_input_logit_needs_uniform_noise():
    assert resolve_config("digits", g_input="logit").g_input == "logit"
    with pytest.raises(ConfigError, match="g_input logit maps uniform noise; it needs z_dist uniform"):
        resolve_config("digits", g_input="logit", z_dist="normal")
    with pytest.raises(ConfigError, match="unknown g_input 'tanh'"):
        resolve_config("digits", g_input="tanh")
