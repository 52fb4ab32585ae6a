"""Figures 2 and 3 (figures/paper_figures.py): nearest neighbours, straight lines in z, the PNGs."""

from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch
from PIL import Image

import gankit
from gankit.errors import GankitError
from gankit.figures.paper_figures import (figure2, figure2_content, figure3, figure3_content,
                                          interpolate_z, nearest_neighbours)
from gankit.nets import sample_noise


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    torch.set_num_threads(1)
    return gankit.train(preset="digits", progress=False, steps=6, batch=16, g_hidden=(32,),
                        d_hidden=(32,), z_dim=8, runs_dir=str(tmp_path_factory.mktemp("runs")))


def test_nearest_neighbours_match_brute_force_across_pool_batches():
    g = torch.Generator().manual_seed(0)
    pool = torch.rand(50, 1, 5, 5, generator=g, dtype=torch.float64)
    queries = torch.cat([pool[[3, 41]] + 0.001, torch.rand(4, 1, 5, 5, generator=g, dtype=torch.float64)])
    index, dist = nearest_neighbours(queries, pool, batch=7)  # 7 does not divide 50
    d = torch.cdist(queries.flatten(1).double(), pool.flatten(1).double())
    torch.testing.assert_close(index, d.argmin(1))
    torch.testing.assert_close(dist, d.min(1).values, rtol=1e-9, atol=1e-9)
    assert index[:2].tolist() == [3, 41]
    assert dist[:2].tolist() == pytest.approx([0.005, 0.005], rel=1e-9)  # sqrt(25) * 0.001


def test_interpolate_z_is_a_straight_line_with_both_ends():
    z0, z1 = torch.tensor([[0.0, 2.0]]), torch.tensor([[4.0, -2.0]])
    zs = interpolate_z(z0, z1, 5)
    assert zs.shape == (1, 5, 2)
    torch.testing.assert_close(zs[0], torch.tensor([[0.0, 2.0], [1.0, 1.0], [2.0, 0.0],
                                                    [3.0, -1.0], [4.0, -2.0]]))
    with pytest.raises(GankitError):
        interpolate_z(z0, z1, 1)


def test_figure2_rows_are_fair_samples_then_the_nearest_training_image(run):
    samples = run.sample(20, seed=5)
    train = torch.rand(100, *samples.shape[1:], generator=torch.Generator().manual_seed(1))
    train[[10, 20, 30, 40]] = samples[4::5]  # plant each row's 5th sample: distance 0, known index
    images, dist, index = figure2_content(run, seed=5, train=train)
    assert images.shape == (24, *samples.shape[1:])
    grid = images.view(4, 6, *samples.shape[1:])
    torch.testing.assert_close(grid[:, :5].flatten(0, 1), samples)  # the same seed, the same samples
    assert index.tolist() == [10, 20, 30, 40]
    assert dist.tolist() == pytest.approx([0.0] * 4, abs=1e-6)
    torch.testing.assert_close(grid[:, 5], train[index])


def test_figure2_and_figure3_write_pngs(run, tmp_path):
    p2 = figure2(run, 0, tmp_path / "figure2.png")  # digits: the nearest of the 1,797 images
    assert Image.open(p2).size[0] > 100
    p3 = figure3(run, 0, tmp_path / "figure3.png", rows=3, steps=7)
    w, h = Image.open(p3).size
    assert w > h  # 7 images wide, 3 high
    with pytest.raises(GankitError, match="does not exist"):
        figure3(run, 0, tmp_path / "no" / "figure3.png")


def test_figure3_rows_start_and_end_at_random_z(run):
    x = figure3_content(run, seed=2, rows=3, steps=4)
    z = sample_noise(6, run.config.z_dim, run.config.z_dist, torch.Generator().manual_seed(2))
    run.G.eval()
    with torch.no_grad():
        ends = run.G(z)
    x = x.view(3, 4, *x.shape[1:])
    torch.testing.assert_close(x[:, 0], ends[:3])
    torch.testing.assert_close(x[:, -1], ends[3:])


def test_figures_need_images():
    vectors = SimpleNamespace(sample=lambda n, seed: torch.zeros(n, 2))
    with pytest.raises(GankitError, match="images"):
        figure2_content(vectors, train=torch.zeros(10, 2))
