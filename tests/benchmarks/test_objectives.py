"""benchmarks/objectives.py: equal compute, the tuning rule and the failure rule, on fake numbers
(no training)."""

import importlib.util
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).resolve().parents[2] / "benchmarks" / "objectives.py"


@pytest.fixture(scope="module")
def ob():
    spec = importlib.util.spec_from_file_location("objectives_benchmark", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


@pytest.mark.parametrize("case", ["gan", "gan-best", "lsgan", "hinge", "hinge-nosn", "wgan", "wgan-gp"])
def test_every_case_gets_the_same_number_of_network_updates(ob, case):
    config = ob.case_config(case, "ring8", 12_000, 1.0)
    assert config.steps * (config.k + 1) == 12_000
    expected = {"gan": "gan", "gan-best": "gan", "hinge-nosn": "hinge"}.get(case, case)
    assert config.objective == expected
    assert config.d_spectral_norm == (case == "hinge")


def test_the_lr_factor_scales_both_rates(ob):
    one, three = (ob.case_config("wgan-gp", "grid25", 600, f) for f in (1.0, 3.0))
    assert (three.lr_d, three.lr_g) == pytest.approx((3 * one.lr_d, 3 * one.lr_g))
    assert one.lr_d == pytest.approx(1e-4) and (one.adam_beta1, one.adam_beta2) == (0.0, 0.9)


def test_the_best_remedies_keep_the_presets_100x_decay_over_the_run(ob):
    config = ob.case_config("gan-best", "ring8", 12_000, 1.0)
    assert config.lr_decay ** config.steps == pytest.approx(100.0)
    assert ob.case_config("gan", "ring8", 12_000, 1.0).lr_decay == 1.0


@pytest.mark.parametrize("dataset", ["stacked_mnist", "stacked_mnist_hard", "mnist"])
def test_on_images_the_best_remedies_are_pacgans_packing(ob, dataset):
    best, plain = (ob.case_config(c, dataset, 800, 1.0) for c in ("gan-best", "gan"))
    assert (best.pack, plain.pack) == (2, 1)
    assert (best.lr_d, best.optimizer) == (plain.lr_d, plain.optimizer)


def test_tuning_keeps_the_factor_with_most_modes_then_quality(ob):
    rows = [{"lr_factor": 1.0, "modes": 8, "hq_percent": 70.0},
            {"lr_factor": 3.0, "modes": 8, "hq_percent": 90.0},
            {"lr_factor": 10.0, "modes": 7, "hq_percent": 99.0}]
    assert ob.choose_factor(rows) == 3.0
    stacked = [{"lr_factor": 1.0, "modes": 950, "kl": 0.5}, {"lr_factor": 3.0, "modes": 950, "kl": 0.2}]
    assert ob.choose_factor(stacked) == 3.0


def test_a_seed_fails_on_a_missed_mode_or_divergence(ob):
    assert ob.failed({"dataset": "ring8", "diverged": False, "modes": 7})
    assert not ob.failed({"dataset": "ring8", "diverged": False, "modes": 8})
    assert ob.failed({"dataset": "grid25", "diverged": True, "modes": 25})
    assert not ob.failed({"dataset": "stacked_mnist", "diverged": False, "modes": 950})


def test_mnist_tuning_uses_validation_fd_and_a_missing_class_fails(ob):
    rows = [{"lr_factor": 1.0, "val_fd": 80.0}, {"lr_factor": 3.0, "val_fd": 60.0},
            {"lr_factor": 10.0, "val_fd": float("nan")}]
    assert ob.choose_factor(rows) == 3.0
    assert ob.failed({"dataset": "mnist", "diverged": False, "mnist_classes10k.classes": 9.0})
    assert not ob.failed({"dataset": "mnist", "diverged": False, "mnist_classes10k.classes": 10.0})
    table = ob.summarize_mnist([
        {"dataset": "mnist", "case": "gan", "phase": "tune", "lr_factor": 1.0, "val_fd": 60.0},
        {"dataset": "mnist", "case": "gan", "phase": "report", "lr_factor": 1.0, "steps": 10, "k": 1,
         "cpu_seconds": 5.0, "diverged": False, "mnist_fd10k.fd": 50.0,
         "mnist_classes10k.classes": 10.0, "parzen.ll_mean": 200.0}])
    assert table[0][2] == "50.0" and table[0][-4] == "200.0" and table[0][-3] == "0/1"
