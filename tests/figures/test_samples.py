"""Pictures of samples: D drawn with 1-D and 2-D samples, as in Figure 1."""

import numpy as np
import pytest
import torch
from PIL import Image

from gankit.figures.samples import save_samples


@pytest.mark.parametrize("dim", [1, 2])
def test_d_is_evaluated_over_the_view_and_drawn(tmp_path, dim):
    x, real = torch.randn(200, dim), torch.randn(500, dim)
    seen = []

    def D(points):
        seen.append(points)
        return 1 / (1 + np.exp(-points[:, 0]))  # a D that rises along the first axis

    plain = save_samples(x, tmp_path / "plain.png", real=real)
    with_d = save_samples(x, tmp_path / "d.png", real=real, D=D)
    (points,) = seen
    assert points.shape[1] == dim and len(points) >= 100
    assert points.min() <= real.min().item() and points.max() >= real.max().item()  # all the data
    a, b = (np.asarray(Image.open(p).convert("RGB"), dtype=float) for p in (plain, with_d))
    assert a.shape != b.shape or np.abs(a - b).mean() > 1  # D is in the picture


@pytest.mark.parametrize("preset, extra, has_d", [("ring8", {}, True),
                                                   ("ring8", {"pack": 2}, False),  # D judges pairs
                                                   ("digits", {}, False)])
def test_a_run_draws_d_with_vector_samples_only(tiny, monkeypatch, preset, extra, has_d):
    import gankit
    import gankit.runs.train as train_module

    calls = []
    real_save = train_module.save_samples

    def spy(x, path, *args, D=None, **kwargs):
        if D is not None:
            probs = D(np.zeros((5, x.shape[1]), dtype=np.float32))
            assert probs.shape == (5,) and ((0 <= probs) & (probs <= 1)).all()
        calls.append((path.name, D is not None))
        return real_save(x, path, *args, D=D, **kwargs)

    monkeypatch.setattr(train_module, "save_samples", spy)
    gankit.train(preset=preset, progress=False, **tiny, **extra)
    fakes = [d for name, d in calls if name.startswith("fakes-")]
    assert len(fakes) == 3 and set(fakes) == {has_d}


def test_a_critics_scores_are_drawn_about_their_mean(tmp_path):
    import numpy as np

    from gankit.figures import save_samples

    seen = []

    def scores(points):  # a critic's raw scores: far from [0, 1]
        values = 100.0 + points[:, 0]
        seen.append(values)
        return values

    x = torch.randn(50, 2)
    path = save_samples(x, tmp_path / "c.png", real=torch.randn(50, 2), D=scores, critic=True)
    assert path.stat().st_size > 0 and seen and np.all(seen[0] > 90)
    path = save_samples(torch.randn(50, 1), tmp_path / "c1.png", real=torch.randn(50, 1), D=scores,
                        critic=True)
    assert path.stat().st_size > 0
