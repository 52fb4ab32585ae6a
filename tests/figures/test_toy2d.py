"""Drawing the 2-D toy figure (gankit.figures.toy2d) from snapshots made here: no training."""

import numpy as np

from gankit.figures.toy2d import Scene2D, Snapshot2D, animate_toy2d, draw_toy2d


def test_panels_and_gif_from_snapshots(tmp_path):
    from PIL import Image

    rng = np.random.default_rng(0)
    means = np.array([[-1.0, 0.0], [1.0, 0.0]])
    scene = Scene2D(means, rng.normal(size=(200, 2)) * 0.1 + means[rng.integers(2, size=200)],
                    (-2.0, 2.0))
    n = 30
    blob = np.exp(-((np.arange(n) - n / 2) ** 2) / 20)
    snaps = [Snapshot2D(0, rng.normal(size=(100, 2)), np.full((n, n), 0.5), np.zeros((n, n)), 0, 0.0),
             Snapshot2D(5, rng.normal(size=(100, 2)), np.full((n, n), 0.4), np.ones((n, n)), 1, 0.1),
             Snapshot2D(10, rng.normal(size=(100, 2)), np.full((n, n), 0.6),
                        np.outer(blob, blob), 2, 0.5)]  # empty, flat and peaked p_g
    assert draw_toy2d(snaps, scene, tmp_path / "toy.png", title="toy") == tmp_path / "toy.png"
    assert (tmp_path / "toy.png").read_bytes()[:4] == b"\x89PNG"
    gif = animate_toy2d(snaps, scene, tmp_path / "toy_run.gif", fps=4)
    with Image.open(gif) as im:
        assert im.n_frames == 3
    assert sorted(p.name for p in tmp_path.iterdir()) == ["toy.png", "toy_run.gif"]  # no tmp
