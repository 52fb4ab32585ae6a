"""Every objective trains end to end into a normal run folder that gankit can read back."""

from __future__ import annotations

import json

import pytest
import torch

import gankit
from gankit.runs.diagnosis import write_report
from gankit.utils.jsonl import read_jsonl

ADAM = dict(optimizer="adam", lr_d=1e-3, lr_g=1e-3, adam_beta1=0.5, lr_decay=1.0,
            d_init_range=0.0, g_init_range=0.0)


@pytest.mark.parametrize("objective, extra, keys", [
    ("lsgan", {}, ("Prob/D(x)", "Prob/D(G(z))")),
    ("hinge", dict(d_spectral_norm=True), ("Critic/f(x)", "Critic/f(G(z))")),
    ("wgan", dict(optimizer="rmsprop", lr_d=5e-5, lr_g=5e-5, k=2), ("Critic/f(x)", "Critic/f(G(z))")),
    ("wgan-gp", dict(k=2, precision="bf16"), ("Critic/f(x)", "Critic/f(G(z))")),
])
def test_each_objective_trains_into_a_readable_run_folder(tiny, objective, extra, keys):
    run = gankit.train(progress=False, objective=objective, **{**tiny, **ADAM, **extra})
    config = json.loads((run.path / "config.json").read_text())
    assert config["objective"] == objective and objective in run.path.name
    rows = read_jsonl(run.path / "stats.jsonl")
    assert all(k in rows[-1] for k in keys)
    assert ("Prob/D(x)" in rows[-1]) == (keys[0] == "Prob/D(x)")  # no probability from a critic
    assert torch.isfinite(run.sample(4)).all()
    assert (run.path / "curves.png").stat().st_size > 0
    report = write_report(run.path).read_text()
    assert "D(x) ~ D(G(z)) ~ 1/2" not in report


def test_a_spectrally_normalised_run_resumes_exactly(tiny):
    overrides = {**tiny, **ADAM, "objective": "hinge", "d_spectral_norm": True}
    whole = gankit.train(progress=False, **{**overrides, "runs_dir": tiny["runs_dir"] + "-a"})
    half = gankit.train(progress=False, **{**overrides, "steps": tiny["steps"] // 2})
    resumed = gankit.train(progress=False, resume=str(half.path), steps=tiny["steps"])
    for a, b in zip(whole.G.state_dict().values(), resumed.G.state_dict().values()):
        assert torch.equal(a, b)
