"""Issue 18, items 2 and 3: the checksum covers the header, and everything read from a checkpoint
is checked before use. Crafted checkpoints are written with a valid checksum (by gankit's own
save_checkpoint), so only the checks can catch them; each must be one CheckpointError line, for
load_run / `gankit sample` and for `--resume`, and nothing is allocated from a crafted size."""

from __future__ import annotations

import json
import shutil
import struct

import pytest
import torch
from safetensors.torch import save_file

import gankit
from gankit.errors import CheckpointError
from gankit.runs.checkpoint import (FORMAT, OLD_FORMAT, checkpoint_files, load_checkpoint,
                                    save_checkpoint, tensors_digest)
from gankit.runs.run import newest_good_checkpoint

TINY = dict(steps=12, batch=16, g_hidden=(32,), d_hidden=(32,), z_dim=8, log_every=4,
            snapshot_every=6, grid_size=16, threads=1)


@pytest.fixture(scope="module")
def trained(tmp_path_factory):
    """A tiny finished run (checkpoints at steps 0, 6 and 12), shared read-only by the tests."""
    runs = tmp_path_factory.mktemp("trained")
    torch.set_num_threads(1)
    return gankit.train(progress=False, runs_dir=str(runs / "runs"), **TINY)


@pytest.fixture
def copy_run(trained, tmp_path):
    def copy():
        dest = tmp_path / "00001-digits-ns-k1"
        shutil.copytree(trained.path, dest)
        return dest
    return copy


def craft(trained, folder, mutate, keep_previous=False):
    """A run folder whose newest checkpoint is the trained one changed by ``mutate(tensors, meta)``
    (which may return a replacement meta), saved with a valid checksum."""
    folder.mkdir(parents=True)
    (folder / "checkpoints").mkdir()
    newest, previous = checkpoint_files(trained.path / "checkpoints")[:2]
    if keep_previous:
        shutil.copy(previous, folder / "checkpoints" / previous.name)
    tensors, meta = load_checkpoint(newest)
    meta = mutate(tensors, meta) or meta
    save_checkpoint(folder / "checkpoints" / newest.name, tensors, meta)
    return folder


def _set(path, value):
    def mutate(tensors, meta):
        *keys, last = path
        target = meta
        for k in keys:
            target = target[k]
        target[last] = value
    return mutate


def _tensor(name, value):
    def mutate(tensors, meta):
        if value is None:
            del tensors[name]
        else:
            tensors[name] = value(tensors[name]) if callable(value) else value
    return mutate


def _del_meta(key):
    def mutate(tensors, meta):
        del meta[key]
    return mutate


def _rename(old, new):
    def mutate(tensors, meta):
        tensors[new] = tensors.pop(old)
    return mutate


def _bad_order(t):
    t = t.clone()
    t[0] = 10**9  # an index beyond the data: was reported as "training diverged"
    return t


CASES = {
    # meta or config of the wrong type
    "meta is a list": (lambda t, m: [1, 2], "not a table"),
    "config is a string": (_set(["config"], "digits"), "config is impossible"),
    "config value of the wrong type": (_set(["config", "g_hidden"], {"a": 1}), "g_hidden expects"),
    "config of 3.2 GB (g_hidden 256,3000000)": (_set(["config", "g_hidden"], [256, 3000000]), "g_hidden must list"),
    "config of 1 PB (z_dim 2**40)": (_set(["config", "z_dim"], 2**40), "z_dim must be"),
    "config in bounds but not the weights": (_set(["config", "g_hidden"], [256, 60000]), "do not fit the network"),
    "step of the wrong type": (_set(["step"], "12"), "its step is"),
    "sample_shape of 1 PB": (_set(["sample_shape"], [1, 2**25, 2**25]), "sample_shape"),
    "sample_shape of the wrong type": (_set(["sample_shape"], "8x8"), "sample_shape"),
    "unit_range of the wrong type": (_set(["unit_range"], "yes"), "unit_range"),
    "negative epoch": (_set(["epoch"], -3), "epoch"),
    # optimiser state
    "missing optimiser state": (_del_meta("opt_G"), "opt_G"),
    "param_groups not a list": (_set(["opt_D", "param_groups"], {"lr": 1}), "opt_D"),
    "param_groups empty": (_set(["opt_D", "param_groups"], []), "param_groups"),
    "param_groups lr of the wrong type": (_set(["opt_D", "param_groups", 0, "lr"], "fast"), "setting lr"),
    "param_groups params out of range": (_set(["opt_G", "param_groups", 0, "params"], [0, 99]), "setting params"),
    "param_groups unknown key": (_set(["opt_G", "param_groups", 0, "evil"], 1), "keys"),
    "optimiser tensor of the wrong shape": (_tensor("opt_G.state.0.momentum_buffer", torch.zeros(3)), "momentum_buffer"),
    "optimiser state of a missing parameter": (_rename("opt_G.state.0.momentum_buffer", "opt_G.state.77.momentum_buffer"), "opt_G.state.77"),
    "optimiser scalars of the wrong type": (_set(["opt_G", "scalars"], {"0": {"momentum_buffer": "x"}}), "scalar"),
    # data order
    "missing data order": (_tensor("data.order", None), "data order"),
    "data order not a permutation": (_tensor("data.order", _bad_order), "not a permutation"),
    "data order of the wrong dtype": (_tensor("data.order", lambda t: t.float()), "data order"),
    "data counters beyond the data": (_tensor("data.counters", torch.tensor([0, 10**6])), "counters"),
    # random states
    "missing RNG state": (_tensor("rng.noise", None), "rng.noise"),
    "RNG state of the wrong size": (_tensor("rng.torch", torch.zeros(10, dtype=torch.uint8)), "rng.torch"),
    "NumPy RNG out of range": (_tensor("rng.numpy", lambda t: t * 0 - 1), "rng.numpy"),
    "NumPy RNG header wrong": (_set(["rng_numpy"], ["MT19937", 9999, 0, 0.0]), "NumPy random state"),
    "Python RNG wrong": (_set(["rng_python"], [3, [1, 2], None]), "Python random state"),
    # tensor names, shapes, dtypes
    "renamed weight": (_rename("G.hidden.0.weight", "G.hidden.0.weightX"), "do not fit the network"),
    "weight of the wrong shape": (_tensor("G.out.bias", torch.zeros(3)), "do not fit the network"),
    "weight of the wrong dtype": (_tensor("D.out.weight", lambda t: t.double()), "do not fit the network"),
    "unknown tensor": (_tensor("evil", torch.zeros(1)), "unknown tensors"),
    "fixed_z of the wrong shape": (_tensor("fixed_z", torch.zeros(2, 2)), "fixed_z"),
    "weight average without g_ema": (lambda t, m: t.update({f"G_ema.{k[2:]}": v for k, v in list(t.items()) if k.startswith("G.")}),
                                     "G_ema"),
}


def one_line(e: pytest.ExceptionInfo) -> str:
    text = str(e.value)
    assert "\n" not in text and text
    return text


@pytest.mark.parametrize("case", list(CASES))
def test_a_crafted_checkpoint_is_one_checkpoint_error_for_sample_and_resume(case, trained, tmp_path,
                                                                             run_cli, one_line_error):
    mutate, words = CASES[case]
    folder = craft(trained, tmp_path / "00001-digits-ns-k1", mutate)
    with pytest.raises(CheckpointError) as e:
        gankit.load_run(folder)
    assert words in one_line(e)
    with pytest.raises(CheckpointError) as e:
        gankit.train(resume=folder, progress=False, steps=14)
    assert words in one_line(e)
    for argv in (["sample", folder], ["train", "--resume", folder, "--steps", "14", "--quiet"]):
        line = one_line_error(*run_cli(*argv))
        assert words in line
    assert sorted(p.name for p in folder.iterdir()) == ["checkpoints"]  # nothing written


def test_a_crafted_newest_checkpoint_falls_back_to_the_previous(trained, tmp_path, capsys):
    folder = craft(trained, tmp_path / "run", _tensor("data.order", _bad_order), keep_previous=True)
    ckpt, _, meta = newest_good_checkpoint(folder)
    assert ckpt.name == "step-000006.safetensors" and meta["step"] == 6
    err = capsys.readouterr().err
    assert "not a permutation" in err and "trying the previous checkpoint" in err


def test_a_crafted_size_allocates_nothing(trained, tmp_path, monkeypatch):
    """The networks a crafted config describes are never built: the check compares shapes on the
    meta device first (a 2.4 MB checkpoint declaring g_hidden 256,3000000 allocated 3.2 GB)."""
    import gankit.runs.run as run_module

    built = []
    monkeypatch.setattr(run_module, "build_generator", lambda *a: built.append(a))
    folder = craft(trained, tmp_path / "run", _set(["config", "g_hidden"], [256, 60000]))
    with pytest.raises(CheckpointError, match="do not fit"):
        gankit.load_run(folder)
    assert built == []


def test_an_exported_generator_cannot_be_resumed(trained, tmp_path):
    from gankit.runs.export import export_generator

    (tmp_path / "exports").mkdir()
    out = export_generator(trained.path, tmp_path / "exports" / "g.safetensors", format="safetensors")
    run = gankit.load_run(out)  # sampling takes it; its folder is the file's
    assert run.step == 12 and run.path == tmp_path / "exports"
    with pytest.raises(CheckpointError, match="exported generator"):
        newest_good_checkpoint(out, training=True)
    with pytest.raises(CheckpointError, match="exported generator"):
        gankit.train(resume=out, progress=False, steps=14)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["exports"]  # nothing made beside it


def test_deeply_nested_header_json_is_one_line(tmp_path):
    from gankit.runs.checkpoint import checkpoint_digest

    tensors = {"w": torch.zeros(2)}
    meta_json = "[" * 100_000 + "]" * 100_000  # json.loads: RecursionError
    path = tmp_path / "deep.safetensors"
    save_file(tensors, str(path), metadata={"format": FORMAT, "meta": meta_json,
                                            "sha256": checkpoint_digest(tensors, meta_json)})
    with pytest.raises(CheckpointError, match="unreadable metadata"):
        load_checkpoint(path)


# --- item 2: the header is under the checksum ------------------------------------------------------

def _edit_header(path, old: bytes, new: bytes):
    """Change bytes of the JSON header in place (same length: the file stays a valid safetensors)."""
    assert len(old) == len(new)
    data = path.read_bytes()
    (n,) = struct.unpack("<Q", data[:8])
    header = data[8:8 + n]
    assert header.count(old) == 1, header
    path.write_bytes(data[:8] + header.replace(old, new) + data[8 + n:])


@pytest.mark.parametrize("old, new", [
    (b'\\"lr_d\\": 0.1,', b'\\"lr_d\\": 0.3,'),  # one digit of the config (0.1 -> 0.3)
    (b'\\"step\\": 12,', b'\\"step\\": 13,'),  # the step count
])
def test_an_edited_header_fails_the_checksum_and_the_previous_checkpoint_is_used(
        old, new, copy_run, capsys):
    run_dir = copy_run()
    newest, previous = checkpoint_files(run_dir / "checkpoints")[:2]
    _edit_header(newest, old, new)
    with pytest.raises(CheckpointError, match="fails its checksum"):
        load_checkpoint(newest)
    assert gankit.load_run(run_dir).checkpoint == previous
    assert "fails its checksum" in capsys.readouterr().err
    resumed = gankit.train(resume=run_dir, progress=False, steps=14)
    err = capsys.readouterr().err
    assert "fails its checksum" in err and f"from {previous.name}" in err
    assert resumed.step == 14 and resumed.config.lr_d == 0.1


def test_a_one_bit_flip_in_the_header_is_caught(copy_run):
    run_dir = copy_run()
    newest = checkpoint_files(run_dir / "checkpoints")[0]
    _edit_header(newest, b'\\"lr_d\\": 0.1,', b'\\"lr_d\\": 0.3,')  # '1' -> '3': one bit (0x31 ^ 0x02)
    with pytest.raises(CheckpointError, match="fails its checksum"):
        load_checkpoint(newest)


def _as_old_format(path):
    """Rewrite a checkpoint as format 1: the checksum of its tensors only."""
    from safetensors import safe_open

    with safe_open(str(path), framework="pt") as f:
        header = f.metadata()
    tensors, _ = load_checkpoint(path)
    save_file(tensors, str(path), metadata={"format": OLD_FORMAT, "meta": header["meta"],
                                            "sha256": tensors_digest(tensors)})


def test_old_format_checkpoints_load_with_a_warning_and_their_content_checked(copy_run, capsys):
    """Format 1 checkpoints (tensors under the checksum, not the header) still load, never
    silently: a warning says the header is unverified, and its content is checked like any other."""
    run_dir = copy_run()
    newest = checkpoint_files(run_dir / "checkpoints")[0]
    _as_old_format(newest)
    assert gankit.load_run(run_dir).checkpoint == newest
    assert "old (format 1) checkpoint" in capsys.readouterr().err
    _edit_header(newest, b'\\"lr_d\\": 0.1,', b'\\"lr_d\\": 0.3,')  # unverifiable in format 1 ...
    tensors, meta = load_checkpoint(newest)
    assert "old (format 1) checkpoint" in capsys.readouterr().err  # ... so never silent
    _edit_header(newest, b'\\"step\\": 12,', b'\\"step\\": -1,')  # and its content is checked
    with pytest.raises(CheckpointError, match="its step is"):
        newest_good_checkpoint(newest)
    data = bytearray(newest.read_bytes())
    data[-5] ^= 0x40  # the tensors stay under the old checksum
    newest.write_bytes(bytes(data))
    with pytest.raises(CheckpointError, match="fails its checksum"):
        load_checkpoint(newest)


def test_the_digest_covers_the_format_and_meta(tmp_path):
    from gankit.runs.checkpoint import checkpoint_digest

    t = {"w": torch.arange(4.0)}
    assert checkpoint_digest(t, json.dumps({"a": 1})) != checkpoint_digest(t, json.dumps({"a": 2}))
    assert checkpoint_digest(t, "{}") != tensors_digest(t)
    path = save_checkpoint(tmp_path / "c.safetensors", t, {"a": 1})
    assert load_checkpoint(path)[1] == {"a": 1}


def test_a_data_order_for_other_data_is_refused_before_the_state_changes(trained):
    """--resume with --data-dir holding fewer examples: the order indexes beyond them (an
    IndexError mid-run before); now a CheckpointError naming the data, with the state untouched."""
    from gankit.data import load_dataset
    from gankit.engine.state import build_state
    from gankit.runs.checkpoint import restore_state

    _, tensors, meta = newest_good_checkpoint(trained.path)
    data = load_dataset("digits")
    data.train = data.train[:100]
    state = build_state(trained.config, data)
    before = {k: v.clone() for k, v in state.G.state_dict().items()}
    with pytest.raises(CheckpointError, match="covers .* examples, the data have 100"):
        restore_state(state, tensors, meta)
    assert all(torch.equal(v, state.G.state_dict()[k]) for k, v in before.items()) and state.step == 0


def test_restore_checks_a_meta_it_is_handed_directly(trained):
    """restore_state checks what it is given even when newest_good_checkpoint did not."""
    from gankit.data import load_dataset
    from gankit.engine.state import build_state
    from gankit.runs.checkpoint import restore_state

    tensors, meta = load_checkpoint(checkpoint_files(trained.path / "checkpoints")[0])
    tensors["rng.data"] = torch.zeros(3, dtype=torch.uint8)
    state = build_state(trained.config, load_dataset("digits"))
    with pytest.raises(CheckpointError, match="rng.data"):
        restore_state(state, tensors, meta)
