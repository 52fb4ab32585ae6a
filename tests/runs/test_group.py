"""``gankit train --seeds/--sweep``: a run folder per member, usable as any run; exact group
resume; bad input refused in one line before any folder exists."""

import dataclasses
import json

import pytest
import torch
from safetensors.torch import load_file

import gankit
from gankit.cli import main
from gankit.errors import ConfigError
from gankit.runs.group import members, parse_seeds, parse_sweep

FLAGS = ["--steps", "20", "--batch", "16", "--g-hidden", "24", "--d-hidden", "16", "--z-dim", "4",
         "--log-every", "5", "--snapshot-every", "10", "--grid-size", "4", "--threads", "1",
         "--quiet"]


def folders(root):
    return sorted(p for p in root.iterdir() if p.is_dir())


def test_seeds_make_one_ordinary_run_folder_per_member(tmp_path, capsys):
    runs = tmp_path / "runs"
    assert main(["train", "--seeds", "2-3", "--sweep", "lr_d=0.1,0.05", "--runs-dir", str(runs),
                 *FLAGS]) == 0
    made = folders(runs)
    assert len(made) == 4
    configs = [json.loads((f / "config.json").read_text()) for f in made]
    assert [(c["lr_d"], c["seed"]) for c in configs] == [(0.1, 2), (0.1, 3), (0.05, 2), (0.05, 3)]
    assert capsys.readouterr().out.strip().splitlines()[-4:] == [str(f) for f in made]
    for i, folder in enumerate(made):
        assert json.loads((folder / "group.json").read_text())["member"] == i
        assert json.loads((folder / "status.json").read_text())["state"] == "finished"
        run = gankit.load_run(folder)  # sample, eval, export and report read it as any run
        assert run.step == 20 and run.sample(3).shape[0] == 3
        assert (folder / "report.html").is_file() and (folder / "curves.png").is_file()


def test_a_member_folder_equals_the_lone_run_with_its_seed(tmp_path):
    assert main(["train", "--seeds", "0,5", "--runs-dir", str(tmp_path / "group"), *FLAGS]) == 0
    assert main(["train", "--seed", "5", "--runs-dir", str(tmp_path / "lone"), *FLAGS]) == 0
    member = load_file(str(folders(tmp_path / "group")[1] / "checkpoints" / "step-000020.safetensors"))
    alone = load_file(str(folders(tmp_path / "lone")[0] / "checkpoints" / "step-000020.safetensors"))
    assert member.keys() == alone.keys()
    assert [k for k in alone if not torch.equal(member[k], alone[k])] == []


def test_a_group_resumes_exactly(tmp_path):
    straight, stopped = tmp_path / "straight", tmp_path / "stopped"
    assert main(["train", "--seeds", "0-1", "--runs-dir", str(straight), *FLAGS]) == 0
    half = [f if f != "20" else "10" for f in FLAGS]
    assert main(["train", "--seeds", "0-1", "--runs-dir", str(stopped), *half]) == 0
    assert main(["train", "--resume", *map(str, folders(stopped)), "--steps", "20", "--quiet"]) == 0
    for a, b in zip(folders(straight), folders(stopped)):
        ta = load_file(str(a / "checkpoints" / "step-000020.safetensors"))
        tb = load_file(str(b / "checkpoints" / "step-000020.safetensors"))
        assert [k for k in ta if not torch.equal(ta[k], tb[k])] == []
        rows = lambda f: [{k: v for k, v in json.loads(line).items() if k != "time"}  # noqa: E731
                          for line in (f / "stats.jsonl").read_text().splitlines()]
        assert rows(a) == rows(b)


@pytest.mark.parametrize("argv, words", [
    (["--seeds", "3-x"], "give seeds"),
    (["--seeds", "1,1"], "distinct"),
    (["--sweep", "g_hidden=8,16"], "sweep one of"),
    (["--sweep", "lr_d"], "KEY=v1,v2"),
    (["--sweep", "lr_d=0.1,-1"], "lr_d"),
    (["--seeds", "0-1", "--d-spectral-norm"], "cannot train as a group"),
])
def test_bad_group_input_is_one_line_and_makes_no_folder(tmp_path, capsys, argv, words):
    runs = tmp_path / "runs"
    assert main(["train", *argv, "--runs-dir", str(runs), *FLAGS]) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and words in err[0]
    assert not runs.exists() or not any(runs.iterdir())


def test_members_are_every_combination_for_each_seed():
    base = gankit.resolve_config(preset="digits")
    made = members(base, parse_seeds("0-1"), parse_sweep(["lr=0.1,0.2", "momentum=0.5"]))
    assert [(c.lr_g, c.lr_d, c.momentum, c.seed) for c in made] == [
        (0.1, 0.1, 0.5, 0), (0.1, 0.1, 0.5, 1), (0.2, 0.2, 0.5, 0), (0.2, 0.2, 0.5, 1)]
    with pytest.raises(ConfigError):
        members(base, list(range(2000)))


def test_ctrl_c_stops_every_member_at_one_step_and_the_group_resumes(tmp_path):
    import os
    import signal

    from gankit.engine.callbacks import Callback
    from gankit.runs.group import resume_many, train_many

    class CtrlC(Callback):
        sent = False

        def on_step(self, engine, stats):
            if engine.state.step == 7 and not CtrlC.sent:
                CtrlC.sent = True
                os.kill(os.getpid(), signal.SIGINT)

    base = gankit.resolve_config(steps=20, batch=16, g_hidden=(24,), d_hidden=(16,), z_dim=4,
                                 log_every=5, snapshot_every=10, grid_size=4, threads=1,
                                 runs_dir=str(tmp_path / "runs"))
    runs = train_many(members(base, [0, 1, 2]), progress=False, callbacks=[CtrlC()])
    assert {r.step for r in runs} == {8} and all(r.interrupted for r in runs)
    assert {json.loads((r.path / "status.json").read_text())["state"] for r in runs} == {"stopped"}
    resumed = resume_many([r.path for r in runs], progress=False)
    assert [r.step for r in resumed] == [20, 20, 20]
    straight = train_many(members(dataclasses.replace(base, runs_dir=str(tmp_path / "s")),
                                  [0, 1, 2]), progress=False)
    for a, b in zip(resumed, straight):
        ta = load_file(str(a.path / "checkpoints" / "step-000020.safetensors"))
        tb = load_file(str(b.path / "checkpoints" / "step-000020.safetensors"))
        assert [k for k in ta if not torch.equal(ta[k], tb[k])] == []
