"""Registries: names to real objects, one clear line for an unknown name."""

from __future__ import annotations

import pytest

from gankit.data import DATASETS
from gankit.engine.loggers import LOGGERS
from gankit.errors import ConfigError
from gankit.metrics import METRICS
from gankit.nets import NETWORKS
from gankit.objectives import OBJECTIVES
from gankit.utils.registry import Registry


def test_get_register_and_order():
    reg: Registry[int] = Registry("colour")
    reg.register("red", 1)
    reg.register("blue", 2)
    assert reg.get("blue") == 2 and reg["red"] == 1 and list(reg) == ["red", "blue"]
    assert "red" in reg and "green" not in reg and len(reg) == 2
    with pytest.raises(ValueError, match="twice"):
        reg.register("red", 3)


def test_unknown_name_suggests_the_nearest_and_lists_the_choices():
    reg: Registry[int] = Registry("colour")
    for i, name in enumerate(("red", "blue")):
        reg.register(name, i)
    with pytest.raises(ConfigError) as e:
        reg.get("bleu")
    assert str(e.value) == "unknown colour 'bleu'; did you mean 'blue'? Choose one of: blue, red"


@pytest.mark.parametrize("registry, names", [
    (OBJECTIVES, {"gan", "lsgan", "hinge", "wgan", "wgan-gp"}),
    (NETWORKS, {"mlp", "conv"}),
    (LOGGERS, {"jsonl", "progress"}),
    (DATASETS, {"digits", "mnist", "gauss1d", "ring8", "grid25"}),
    (METRICS, {"parzen", "toy_modes"}),
])
def test_every_extension_point_is_a_registry_of_real_objects(registry, names):
    assert names <= set(registry)
    assert all(not isinstance(registry[n], str) for n in names)


def test_without_a_near_name_the_line_is_still_punctuated():
    """Issue 18: "unknown g_loss 'foo' Choose one of" lacked its punctuation."""
    reg: Registry[int] = Registry("g_loss")
    reg.register("minimax", 1)
    reg.register("nonsaturating", 2)
    with pytest.raises(ConfigError) as e:
        reg.get("foo")
    assert str(e.value) == "unknown g_loss 'foo'; choose one of: minimax, nonsaturating"


@pytest.mark.parametrize("make", [
    lambda: __import__("gankit.config", fromlist=["x"]).resolve_config(g_loss="foo"),
    lambda: __import__("gankit.config", fromlist=["x"]).resolve_config(schedule="zzz"),
    lambda: __import__("gankit.config", fromlist=["x"]).resolve_config(preset="zzz"),
    lambda: __import__("gankit.metrics", fromlist=["x"]).check_metric_names(["zzz"]),
])
def test_every_unknown_name_error_is_punctuated(make):
    from gankit.engine.state import check_config
    from gankit.errors import GankitError

    with pytest.raises(GankitError) as e:
        check_config(make())
    assert "' Choose" not in str(e.value) and "; choose one of: " in str(e.value)
