"""Config resolution and validation (config.py)."""

import json
from pathlib import Path

import pytest

from gankit import presets
from gankit.config import (FIELD_NAMES, LEGACY_LR_FIELDS, PRESET_DESCRIPTIONS, PRESETS, Config,
                           config_from_dict, resolve_config)
from gankit.data import DATASETS
from gankit.errors import ConfigError
from gankit.engine.state import check_config
from gankit.optim import player_learning_rates
from gankit.presets import ALIASES, MODIFIERS, RECORDS, Modifier, preset_values

ROOT = Path(__file__).resolve().parents[1]
#: Every preset as resolved before presets became records (commit e81ab01), with its learning rates.
BEFORE = json.loads((Path(__file__).parent / "fixtures" / "presets_before.json").read_text())


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
    """resolve_config checks the values; check_config the names given to registries (what the CLI
    and train() run before anything is loaded)."""
    with pytest.raises(ConfigError) as e:
        check_config(resolve_config(**overrides))
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


# --- presets as data -------------------------------------------------------------------------------

@pytest.mark.parametrize("name", list(BEFORE["presets"]))
def test_every_old_name_resolves_to_the_same_values_and_learning_rates(name):
    before = BEFORE["presets"][name]
    cfg = resolve_config(name)
    old = {k: v for k, v in before["config"].items() if k not in LEGACY_LR_FIELDS}
    new = cfg.to_dict()
    assert {k: new[k] for k in old} == old
    # fields added since, at values that change nothing: the same maths, the same logs
    added = {"g_input": "z", "loggers": "", "image_alpha": "white", "objective": "gan",
             "d_spectral_norm": False, "wgan_clip": 0.01, "gp_lambda": 10.0, "d_conv_width": 0,  # the last two: unused by gan
             "cuda_graph": False}
    assert set(new) - set(old) == {"lr_schedule", *added}
    assert {k: new[k] for k in added} == added
    # the old second phase, now lr_schedule: the same rates bit for bit, up to 200,000 updates
    assert [list(player_learning_rates(s, cfg)) for s in BEFORE["steps"]] == before["learning_rates"]


@pytest.mark.parametrize("name", list(BEFORE["presets"]))
def test_old_config_json_loads_as_todays_config(name):
    assert config_from_dict(BEFORE["presets"][name]["config"]) == resolve_config(name)


def test_every_record_resolves_and_validates():
    for record in RECORDS:
        values = preset_values(record.name)
        assert set(values) <= set(FIELD_NAMES), record.name
        assert values.get("dataset", Config.dataset) in DATASETS, record.name
        assert resolve_config(record.name).preset == record.name


def test_figure1_presets_are_the_recipe_figure1_trained_with():
    # figures/figure1.py's run_1d before the presets: gauss1d with these overrides, its own cosine
    recipe = dict(g_hidden=(32, 32), d_hidden=(64, 64), g_activation="elu", lr_d=3e-3, lr_g=3e-4,
                  k=2, batch=100)
    for name, steps in (("figure1-gauss", 4000), ("figure1-mixture", 6000)):
        values = {**preset_values("gauss1d"), **recipe, "steps": steps}
        assert {k: preset_values(name)[k] for k in values if k != "dataset"} == {
            k: v for k, v in values.items() if k != "dataset"}
        assert preset_values(name)["g_input"] == "logit"
        assert preset_values(name)["lr_schedule"] == "cosine(start=0.5, final=0.01)"
    assert preset_values("figure1-gauss")["dataset"] == "gauss1d"
    assert preset_values("figure1-mixture")["dataset"] == "mixture1d"


def test_every_evidence_file_exists():
    for item in (*RECORDS, *MODIFIERS):
        path = ROOT / item.evidence
        if item.evidence.startswith("docs/") and not (ROOT / "docs").joinpath("paper.md").exists():
            continue  # docs/paper.md and docs/benchmarks.md arrive with the docs branch
        assert path.is_file(), f"{item.name}: {item.evidence} does not exist"


def test_presets_table_holds_the_records_under_their_names():
    names = [r.name for r in RECORDS]
    assert list(PRESETS) == names == list(PRESET_DESCRIPTIONS)
    every = [*names, *(m.name for m in MODIFIERS), *ALIASES]
    assert len(every) == len(set(every)) and not any("+" in n for n in every)
    assert all(PRESETS[r.name] == preset_values(r.name) for r in RECORDS)


@pytest.mark.parametrize("alias", list(ALIASES))
def test_aliases_resolve_like_their_targets(alias):
    cfg, target = resolve_config(alias), resolve_config(ALIASES[alias])
    assert cfg.preset == alias  # the name given is kept, as in older config.json files
    assert {**cfg.to_dict(), "preset": ""} == {**target.to_dict(), "preset": ""}


def test_the_table1_recipe_is_paper_mnist_with_three_modifiers():
    table1 = resolve_config("table1-mnist").to_dict()
    composed = resolve_config("paper-mnist+ema+fast-g+smooth-labels").to_dict()
    assert {**table1, "preset": ""} == {**composed, "preset": ""}


def test_modifiers_apply_left_to_right_after_the_base(monkeypatch):
    monkeypatch.setitem(presets._MODIFIERS, "half", Modifier("half", dict(g_ema=0.5), "", ""))
    assert resolve_config("paper-mnist+ema+half").g_ema == 0.5
    assert resolve_config("paper-mnist+half+ema").g_ema == 0.9999
    assert resolve_config("grid25+ema").g_ema == 0.9999  # grid25's own: 0.999
    assert resolve_config("paper-mnist+ema", g_ema=0.5).g_ema == 0.5  # overrides still win
    cfg = resolve_config("paper-mnist + smooth-labels")
    assert cfg.label_smoothing == 0.2 and config_from_dict(cfg.to_dict()) == cfg


@pytest.mark.parametrize("expression, words", [
    ("paper-mnist+emma", "unknown preset modifier 'emma' in 'paper-mnist+emma'; did you mean "
                         "'ema'? Choose one of: ema, fast-g, hinge, lsgan, smooth-labels, wgan, wgan-gp"),
    ("ema+paper-mnist", "unknown preset 'ema' in 'ema+paper-mnist'"),
    ("paper-mnist+", "unknown preset modifier '' in 'paper-mnist+'"),
    ("tabel1-mnist", "unknown preset 'tabel1-mnist'; did you mean 'table1-mnist'?"),
])
def test_unknown_preset_parts_are_one_line_errors_naming_the_choices(expression, words):
    with pytest.raises(ConfigError) as e:
        resolve_config(expression)
    assert words in str(e.value) and "\n" not in str(e.value)


def test_records_set_only_what_their_base_does_not_already_have():
    defaults = Config()
    for name, value in presets._RECORDS["paper-mnist"].overrides.items():
        assert getattr(defaults, name) != value, name
    for record in RECORDS:
        if record.base is not None:
            base = preset_values(record.base)
            assert not {k for k, v in record.overrides.items() if base.get(k) == v}, record.name


# --- issue 18: every numeric field bounded before any run folder exists -----------------------------

@pytest.mark.parametrize("overrides, words", [
    (dict(lr_decay=2.0), "lr_decay divides the learning rates"),
    (dict(grid_size=10**9), "grid_size must be a whole number from 1 to 10,000"),
    (dict(z_dim=10**9), "z_dim must be a whole number from 1 to 65,536"),
    (dict(seed=2**70), "seed must be a whole number from 0 to"),
    (dict(seed=-1), "seed must be 0 or more"),
    (dict(g_init_range=float("inf")), "g_init_range must be a finite number"),
    (dict(d_init_range=1e6), "d_init_range must be from 0 to 100"),
    (dict(lr_min=float("nan")), "lr_min must be a finite number"),
    (dict(lr_d=float("inf")), "lr_d must be a finite number"),
    (dict(momentum=float("nan")), "momentum must be a finite number"),
    (dict(steps=10**13), "steps must be a whole number"),
    (dict(batch=10**7), "batch must be a whole number"),
    (dict(k=10**6), "k must be a whole number"),
    (dict(g_hidden=(256, 3_000_000)), "g_hidden must list 1 to 64 widths from 1 to 65,536"),
    (dict(d_hidden=(8,) * 65), "d_hidden must list 1 to 64 widths"),
    (dict(conv_width=10**6), "conv_width must be a whole number"),
    (dict(dist_timeout=10**12), "dist_timeout must be a whole number"),
    (dict(image_size=2048), "image_size must be between 4 and 1024 pixels"),
    (dict(dataset="folder", image_size=1024), "the networks are too large"),
    (dict(dataset="folder", image_size=1024, arch="conv"), "the networks are too large"),
    (dict(g_hidden=(65_536, 65_536), d_hidden=(65_536,)), "the networks are too large"),
])
def test_every_numeric_field_is_bounded(overrides, words):
    with pytest.raises(ConfigError) as e:
        check_config(resolve_config(**overrides))
    assert words in str(e.value) and "\n" not in str(e.value)


def test_memory_beyond_the_machine_is_refused(monkeypatch):
    """Under the parameter limit but over the memory: the estimate (weights, gradients, optimiser
    state, activations) is compared with the device's memory."""
    import gankit.engine.state as state

    config = resolve_config(dataset="folder", image_size=256, arch="conv")
    _, _, need = state.estimate_memory(config, state.sample_shape_of(config))
    assert 8 * 2**30 < need < 16 * 2**30  # ~12 GiB: DCGAN at 256 pixels, batch 64
    monkeypatch.setattr(state, "memory_limit", lambda c: (need - 1, "this machine's"))
    with pytest.raises(ConfigError, match=r"would need about 11\.\d GiB .* more than this machine's"):
        check_config(config)
    monkeypatch.setattr(state, "memory_limit", lambda c: (need, "this machine's"))
    assert check_config(config) is config


def test_every_preset_passes_the_size_check():
    for name in PRESETS:
        check_config(resolve_config(name))


def test_values_read_from_files_are_bounded_too():
    """config_from_dict (config.json, a checkpoint's header) takes no value of the wrong type."""
    good = resolve_config().to_dict()
    for key, value in [("g_hidden", [float("inf")]), ("g_hidden", {"a": 1}), ("z_dim", [1]),
                       ("z_dim", True), ("steps", "9" * 5000), ("lr_d", [0.1]), ("dataset", ["x"]),
                       ("g_hidden", list(range(1, 100)))]:
        with pytest.raises(ConfigError) as e:
            config_from_dict({**good, key: value})
        assert "\n" not in str(e.value) and len(str(e.value)) < 300
    with pytest.raises(ConfigError, match="must be a table"):
        config_from_dict([1, 2])


@pytest.mark.parametrize("argv, words", [
    (["--lr-decay", "2"], "lr_decay divides"),
    (["--grid-size", "1000000000"], "grid_size"),
    (["--z-dim", "1000000000"], "z_dim"),
    (["--seed", str(2**70)], "seed"),
    (["--g-init-range", "inf"], "g_init_range"),
    (["--lr", "-1"], "pass e.g. --lr 2e-4"),
    (["--lr-g", "-1"], "pass e.g. --lr-g 2e-4"),
    (["--g-loss", "foo"], "unknown g_loss 'foo'; choose one of: minimax, nonsaturating"),
    (["--dataset", "folder", "--image-size", "1024"], "the networks are too large"),
    (["--g-hidden", "256,3000000"], "g_hidden"),
])
def test_bad_values_are_one_line_before_any_run_folder(argv, words, tmp_path, run_cli, one_line_error):
    runs = tmp_path / "runs"
    line = one_line_error(*run_cli("train", "--steps", "2", "--runs-dir", runs, *argv))
    assert words in line
    assert not runs.exists()


def test_the_lr_message_names_the_flag_given():
    with pytest.raises(ConfigError) as e:
        resolve_config(lr_d=-1.0, lr_g=-1.0)  # what --lr -1 gives
    assert "--lr 2e-4" in str(e.value)
    with pytest.raises(ConfigError) as e:
        resolve_config(lr_d=-1.0)
    assert "--lr-d 2e-4" in str(e.value) and "--lr " not in str(e.value)


BILLION_LAUGHS = """\
a: &a ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]
b: &b [*a,*a,*a,*a,*a,*a,*a,*a,*a]
c: &c [*b,*b,*b,*b,*b,*b,*b,*b,*b]
d: &d [*c,*c,*c,*c,*c,*c,*c,*c,*c]
e: &e [*d,*d,*d,*d,*d,*d,*d,*d,*d]
f: &f [*e,*e,*e,*e,*e,*e,*e,*e,*e]
g: &g [*f,*f,*f,*f,*f,*f,*f,*f,*f]
h: &h [*g,*g,*g,*g,*g,*g,*g,*g,*g]
i: &i [*h,*h,*h,*h,*h,*h,*h,*h,*h]
"""


def test_yaml_aliases_are_refused_before_they_expand(tmp_path):
    """A 453-byte "billion laughs" file took 1.8 GB, then MemoryError; now one line, at once."""
    path = tmp_path / "laughs.yaml"
    path.write_text(BILLION_LAUGHS)
    assert len(BILLION_LAUGHS) < 500
    with pytest.raises(ConfigError, match=r"uses a YAML alias \(\*a, line 2\)"):
        resolve_config(file=path)
    plain = tmp_path / "plain.yaml"
    plain.write_text("steps: 5\ng_hidden: [32, 32]\n")
    assert resolve_config(file=plain).g_hidden == (32, 32)


def test_a_huge_config_file_is_refused_before_it_is_read(tmp_path):
    path = tmp_path / "big.json"
    path.write_text('{"steps": 5, "x": "' + "a" * (2 << 20) + '"}')
    with pytest.raises(ConfigError, match="larger than 1 MB"):
        resolve_config(file=path)
