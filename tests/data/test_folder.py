"""Image folders (data/folder.py): decoding, crop geometry, colour modes, skipped files, the cache.

Every folder is written into ``tmp_path`` by the test; the cache goes to ``tmp_path / "cache"``.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image
from torch.testing import assert_close

from gankit.config import resolve_config
from gankit.data import load_dataset
from gankit.data.folder import load_folder
from gankit.engine.state import check_config
from gankit.errors import ConfigError, DataError


@pytest.fixture(autouse=True)
def _cache(tmp_path, monkeypatch):
    monkeypatch.setenv("GANKIT_DATA", str(tmp_path / "cache"))


def rgb(h, w, seed=0):
    return np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)


def write_mixed(root: Path) -> None:
    """Nested folders, sizes that are neither square nor powers of two, every mode Pillow reads
    from PNG/JPEG/WebP, and files that must be skipped."""
    (root / "a" / "b").mkdir(parents=True)
    (root / ".git").mkdir()
    Image.fromarray(rgb(37, 20, 1)).save(root / "tall.png")
    Image.fromarray(rgb(20, 51, 2)).save(root / "a" / "wide.JPG", quality=95)
    Image.fromarray(rgb(30, 30, 3)).save(root / "a" / "b" / "photo.webp", lossless=True)
    Image.fromarray(rgb(17, 23, 4)[..., 0], "L").save(root / "a" / "gray.png")
    rgba = np.dstack([rgb(20, 20, 5), np.full((20, 20), 128, np.uint8)])
    Image.fromarray(rgba, "RGBA").save(root / "a" / "b" / "alpha.png")
    Image.fromarray(rgb(25, 19, 6)).convert("P", palette=Image.Palette.ADAPTIVE).save(root / "pal.png")
    Image.fromarray((np.arange(400, dtype=np.uint16).reshape(20, 20) * 160)).save(root / "deep16.png")
    (root / "notes.txt").write_text("not an image")
    (root / "garbage.png").write_bytes(b"\x00 definitely not a png")
    good = root / "tall.png"
    (root / "a" / "truncated.png").write_bytes(good.read_bytes()[:200])
    Image.fromarray(rgb(8, 8, 7)).save(root / "a" / "anim.png", format="GIF")  # GIF named .png
    Image.fromarray(rgb(8, 8, 8)).save(root / "icon.bmp")
    (root / ".git" / "x.png").write_bytes(b"hidden folders are not searched")
    (root / ".DS_Store").write_bytes(b"\x00")


def test_mixed_folder_is_loaded_and_every_skip_has_a_reason(tmp_path, capsys):
    write_mixed(tmp_path / "imgs")
    data = load_folder(str(tmp_path / "imgs"), image_size=16, image_channels="rgb")
    report = data.report
    assert report.used == ["a/b/alpha.png", "a/b/photo.webp", "a/gray.png", "a/wide.JPG",
                           "deep16.png", "pal.png", "tall.png"]
    assert data.train.shape == (7, 3, 16, 16) and data.train.dtype == torch.float32
    assert 0.0 <= data.train.min() and data.train.max() <= 1.0
    reasons = dict(report.skipped)
    assert sorted(reasons) == ["a/anim.png", "a/truncated.png", "garbage.png", "icon.bmp",
                               "notes.txt"]
    assert "not an image (.txt" in reasons["notes.txt"]
    assert "not an image (.bmp" in reasons["icon.bmp"]
    assert "cannot identify" in reasons["garbage.png"]
    assert "unsupported image format GIF" in reasons["a/anim.png"]
    assert reasons["a/truncated.png"].startswith("broken")
    err = capsys.readouterr().err
    assert "7 images as RGB 16x16; 5 files skipped" in err
    assert "skipped notes.txt: not an image" in err
    # 16-bit grey is scaled to 8 bits, not clipped: its top-left pixel is 0, bottom-right 399*160
    deep = data.train[report.used.index("deep16.png")]
    assert_close(deep[:, 0, 0], torch.zeros(3), atol=0.02, rtol=0)
    assert deep.max() > 0.8


def test_centre_crop_of_a_wide_and_a_tall_image_is_exact(tmp_path):
    # 30x10 image: black, white, black thirds; the centre square is the white third. At scale 1
    # the resampling is the identity, so the result is exactly that square.
    (tmp_path / "d").mkdir()
    wide = np.zeros((10, 30, 3), np.uint8)
    wide[:, 10:20] = rgb(10, 10, 9)
    Image.fromarray(wide).save(tmp_path / "d" / "wide.png")
    Image.fromarray(wide.transpose(1, 0, 2).copy()).save(tmp_path / "d" / "tall.png")
    data = load_folder(str(tmp_path / "d"), image_size=10, image_channels="rgb", quiet=True)
    expect = torch.from_numpy(rgb(10, 10, 9)).permute(2, 0, 1).float() / 255
    assert_close(data.train[data.report.used.index("wide.png")], expect)
    assert_close(data.train[data.report.used.index("tall.png")], expect.transpose(1, 2))


def test_downscaling_keeps_a_flat_colour_and_odd_sizes_work(tmp_path):
    (tmp_path / "d").mkdir()
    Image.new("RGB", (101, 67), (200, 100, 50)).save(tmp_path / "d" / "flat.png")
    data = load_folder(str(tmp_path / "d"), image_size=28, image_channels="rgb", quiet=True)
    assert data.train.shape == (1, 3, 28, 28)
    assert_close(data.train[0, :, 5, 7], torch.tensor([200, 100, 50]) / 255.0)


def test_auto_channels_follow_the_majority_and_gray_uses_luma(tmp_path):
    d = tmp_path / "d"
    d.mkdir()
    for i in range(3):
        Image.new("L", (8, 8), 40 * i).save(d / f"g{i}.png")
    Image.new("RGB", (8, 8), (255, 0, 0)).save(d / "red.png")
    gray = load_folder(str(d), image_size=8, quiet=True)
    assert gray.report.channels == "gray" and gray.train.shape == (4, 1, 8, 8)
    # ITU-R 601 luma of pure red: round(0.299 * 255) = 76; grey sources stay as they are
    def levels(x):
        return (x * 255).round().unique().tolist()

    assert levels(gray.train[gray.report.used.index("red.png")]) == [76]
    assert levels(gray.train[gray.report.used.index("g2.png")]) == [80]
    for i in range(2):  # now RGB is the majority (3 of 5)
        Image.new("RGB", (8, 8), (0, 255, i)).save(d / f"c{i}.png")
    colour = load_folder(str(d), image_size=8, quiet=True)
    assert colour.report.channels == "rgb" and colour.train.shape == (6, 3, 8, 8)
    # forced RGB of a grey image: three equal channels
    g = colour.train[colour.report.used.index("g1.png")]
    assert_close(g[0], g[1]) and assert_close(g[1], g[2])


def test_transparency_is_composited_over_white(tmp_path):
    d = tmp_path / "d"
    d.mkdir()
    clear = np.zeros((8, 8, 4), np.uint8)  # fully transparent black -> white
    Image.fromarray(clear, "RGBA").save(d / "clear.png")
    pal = Image.new("P", (8, 8), 0)
    pal.putpalette([0, 0, 0, 10, 20, 30])
    pal.info["transparency"] = 0  # palette index 0 transparent
    pal.save(d / "pal.png", transparency=0)
    data = load_folder(str(d), image_size=8, image_channels="rgb", quiet=True)
    assert_close(data.train, torch.ones(2, 3, 8, 8))


def test_second_load_comes_from_the_cache_and_changes_invalidate_it(tmp_path):
    write_mixed(tmp_path / "imgs")
    root = str(tmp_path / "imgs")
    first = load_folder(root, image_size=16, quiet=True)
    assert not first.report.from_cache
    second = load_folder(root, image_size=16, quiet=True)
    assert second.report.from_cache and second.report.skipped == first.report.skipped
    assert_close(second.train, first.train)
    cache = tmp_path / "cache" / "folders"
    assert len(list(cache.glob("*.npy"))) == 1
    assert not any((tmp_path / "imgs").rglob("*.npy"))  # nothing written into the user's folder
    # another resolution is another entry; the first stays
    assert not load_folder(root, image_size=8, quiet=True).report.from_cache
    assert len(list(cache.glob("*.npy"))) == 2
    # a changed file: decoded again, and the stale entry of that folder and size is deleted
    Image.fromarray(rgb(16, 16, 42)).save(tmp_path / "imgs" / "tall.png")
    os.utime(tmp_path / "imgs" / "tall.png", ns=(1, 1))
    third = load_folder(root, image_size=16, quiet=True)
    assert not third.report.from_cache
    assert not torch.equal(third.train, first.train)
    assert len(list(cache.glob("*.npy"))) == 2
    # a corrupt cache file is ignored (decoded again), never trusted
    for npy in cache.glob("*.npy"):
        npy.write_bytes(b"junk")
    assert not load_folder(root, image_size=16, quiet=True).report.from_cache


@pytest.mark.parametrize("make, message", [
    (lambda p: None, "does not exist"),
    (lambda p: p.write_text("x"), "is a file, not a folder"),
    (lambda p: p.mkdir(), "holds no files"),
    (lambda p: (p.mkdir(), (p / "a.txt").write_text("x"), (p / "b.png").write_bytes(b"no")),
     "none of the 2 files"),
])
def test_bad_folders_raise_one_line_data_errors(tmp_path, make, message):
    path = tmp_path / "d"
    make(path)
    with pytest.raises(DataError, match=message) as info:
        load_folder(str(path))
    assert "\n" not in str(info.value)


def test_folder_needs_a_data_dir():
    with pytest.raises(DataError, match="--data-dir"):
        load_dataset("folder")


def test_load_dataset_passes_the_configs_image_options(tmp_path):
    write_mixed(tmp_path / "imgs")
    cfg = resolve_config("dcgan-folder", data_dir=str(tmp_path / "imgs"), image_size=28,
                         image_channels="gray")
    data = load_dataset(cfg.dataset, cfg.data_dir, cfg)
    assert data.train.shape == (7, 1, 28, 28)


@pytest.mark.parametrize("overrides, message", [
    (dict(image_size=2), "image_size must be between"),
    (dict(image_channels="cmyk"), "unknown image_channels"),
    (dict(arch="resnet"), "unknown arch"),
    (dict(conv_width=0), "conv_width must be at least 1"),
    (dict(dataset="folder", arch="conv", image_size=48), "4 or 7 times a power of two"),
])
def test_new_config_fields_are_validated(overrides, message):
    with pytest.raises(ConfigError, match=message):
        check_config(resolve_config(**overrides))


# --- issue 18: hazards (bounds, FIFOs) and honesty (duplicates, upscaling, alpha, the full list) ---

def png_declaring(path: Path, width: int, height: int) -> None:
    """A tiny PNG whose header declares ``width`` x ``height`` RGBA pixels (the data is a few
    rows): what a 531 KB 13000x13000 PNG looks like to Image.open, without writing one."""
    import struct
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + kind + data
                + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF))

    ihdr = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)
    rows = zlib.compress(b"\x00" + bytes(4 * width) * 2)
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", rows)
                     + chunk(b"IEND", b""))


def test_huge_declared_images_are_skipped_before_decoding(tmp_path, monkeypatch):
    """13000x13000 (169 M pixels, under Pillow's own 179 M refusal) decoded to 2.2 GB before,
    with no warning; now the header's size is checked first and the file is skipped."""
    d = tmp_path / "d"
    d.mkdir()
    png_declaring(d / "huge.png", 13000, 13000)
    Image.fromarray(rgb(8, 8)).save(d / "ok.png")
    loads = []
    real_load = Image.Image.load
    monkeypatch.setattr(Image.Image, "load", lambda self: (loads.append(self.size),
                                                           real_load(self))[1])
    data = load_folder(str(d), image_size=8, quiet=True)
    assert data.report.used == ["ok.png"]
    reason = dict(data.report.skipped)["huge.png"]
    assert "too large to decode (13000x13000 = 169,000,000 pixels" in reason
    assert (13000, 13000) not in loads  # never decoded


def test_pixel_bound_and_shared_budget(tmp_path, monkeypatch):
    """One image may decode to MAX_PIXELS; the threads together hold at most PIXEL_BUDGET."""
    import gankit.data.decode as decode

    d = tmp_path / "d"
    d.mkdir()
    for i in range(6):
        Image.fromarray(rgb(20, 20, i)).save(d / f"p{i}.png")
    Image.fromarray(rgb(21, 20, 9)).save(d / "big.png")
    monkeypatch.setattr(decode, "MAX_PIXELS", 400)
    monkeypatch.setattr(decode, "PIXEL_BUDGET", 800)
    peak = []

    class Recording(decode._PixelBudget):
        def acquire(self, n):
            super().acquire(n)
            peak.append(self.used)

    monkeypatch.setattr(decode, "_PixelBudget", Recording)
    data = load_folder(str(d), image_size=8, quiet=True)
    assert len(data.report.used) == 6 and "big.png" in dict(data.report.skipped)
    assert len(peak) == 6 and max(peak) <= 800


@pytest.mark.skipif(not hasattr(os, "mkfifo"), reason="needs FIFOs")
def test_a_fifo_named_like_an_image_is_skipped_not_read(tmp_path, no_hang, capsys):
    d = tmp_path / "d"
    d.mkdir()
    Image.fromarray(rgb(8, 8)).save(d / "ok.png")
    os.mkfifo(d / "pipe.png")
    os.symlink(d / "missing.png", d / "dangling.png")
    data = no_hang(load_folder, str(d), image_size=8, fifo=d / "pipe.png")
    reasons = dict(data.report.skipped)
    assert data.report.used == ["ok.png"]
    assert reasons["pipe.png"].startswith("a FIFO (named pipe), not a regular file")
    assert reasons["dangling.png"].startswith("a dangling link, not a regular file")
    assert "skipped pipe.png: a FIFO" in capsys.readouterr().err
    # swapped in after the listing: refused on the opened descriptor, still without blocking
    from gankit.data.decode import _decode_one

    assert "FIFO" in no_hang(_decode_one, d / "pipe.png", 8, fifo=d / "pipe.png")


def test_links_and_copies_are_counted_as_duplicates(tmp_path, capsys):
    """Like the Tango icon theme: most paths are links to a few files, and one is a copy."""
    d = tmp_path / "d"
    (d / "sub").mkdir(parents=True)
    Image.fromarray(rgb(8, 8, 1)).save(d / "z_real.png")
    Image.fromarray(rgb(8, 8, 2)).save(d / "sub" / "other.png")
    os.symlink(d / "z_real.png", d / "a_link.png")  # sorts before the file it points to
    os.symlink("z_real.png", d / "b_link.png")
    os.symlink(d / "sub" / "other.png", d / "sub" / "c_link.png")
    (d / "zz_copy.png").write_bytes((d / "z_real.png").read_bytes())  # of copies: the first kept
    data = load_folder(str(d), image_size=8, image_channels="rgb")
    report = data.report
    assert report.used == ["sub/other.png", "z_real.png"]  # the real files, not the links
    assert dict(report.duplicates) == {
        "a_link.png": "same file as z_real.png (a link)",
        "b_link.png": "same file as z_real.png (a link)",
        "sub/c_link.png": "same file as sub/other.png (a link)",
        "zz_copy.png": "same bytes as z_real.png"}
    assert data.train.shape == (2, 3, 8, 8) and report.skipped == []
    assert "4 duplicates left out (3 paths to a file already used" in capsys.readouterr().err
    # a link pointed elsewhere is a change: decoded again, not taken from the cache
    (d / "b_link.png").unlink()
    Image.fromarray(rgb(8, 8, 3)).save(d / "third.png")
    os.utime(d / "third.png", ns=(1, 1))
    os.symlink("third.png", d / "b_link.png")
    again = load_folder(str(d), image_size=8, image_channels="rgb", quiet=True)
    assert not again.report.from_cache and "b_link.png" in dict(again.report.duplicates)
    assert again.report.used == ["sub/other.png", "third.png", "z_real.png"]


def test_upscaled_images_are_counted_and_said(tmp_path, capsys):
    d = tmp_path / "d"
    d.mkdir()
    Image.fromarray(rgb(16, 16, 1)).save(d / "icon16.png")
    Image.fromarray(rgb(64, 40, 2)).save(d / "wide.png")  # shorter side 40 >= 32
    Image.fromarray(rgb(100, 24, 3)).save(d / "tall.png")  # shorter side 24 < 32
    data = load_folder(str(d), image_size=32)
    assert data.report.upscaled == ["icon16.png", "tall.png"]
    assert ("2 of 3 images are smaller than 32x32 and were upscaled"
            in capsys.readouterr().err)


@pytest.mark.parametrize("alpha, level", [("white", 1.0), ("black", 0.0), ("skip", None)])
def test_alpha_policy_is_chosen_and_stated(tmp_path, capsys, alpha, level):
    d = tmp_path / "d"
    d.mkdir()
    clear = np.zeros((8, 8, 4), np.uint8)
    clear[..., 0] = 255  # transparent red: its colour must not show
    Image.fromarray(clear, "RGBA").save(d / "clear.png")
    Image.fromarray(np.dstack([rgb(8, 8), np.full((8, 8), 255, np.uint8)]), "RGBA").save(
        d / "opaque.png")  # an alpha channel, but nothing transparent
    Image.fromarray(rgb(8, 8, 2)).save(d / "plain.png")
    data = load_folder(str(d), image_size=8, image_channels="rgb", image_alpha=alpha)
    err = capsys.readouterr().err
    if level is None:
        assert data.report.used == ["opaque.png", "plain.png"]
        assert dict(data.report.skipped)["clear.png"].startswith("has transparent pixels")
        assert "1 images with transparent pixels left out (--image-alpha skip)" in err
    else:
        assert data.report.transparent == ["clear.png"]
        assert_close(data.train[data.report.used.index("clear.png")],
                     torch.full((3, 8, 8), level))
        assert f"1 images have transparent pixels, composited over {alpha}" in err
    with pytest.raises(DataError, match="image_alpha must be one of white, black, skip"):
        load_folder(str(d), image_alpha="pink")


def test_image_alpha_is_a_validated_config_field_passed_to_the_loader(tmp_path):
    d = tmp_path / "d"
    d.mkdir()
    Image.fromarray(np.zeros((8, 8, 4), np.uint8), "RGBA").save(d / "clear.png")
    cfg = resolve_config("dcgan-folder", data_dir=str(d), image_size=28, image_alpha="black")
    assert load_dataset(cfg.dataset, cfg.data_dir, cfg).train.max() == 0.0
    with pytest.raises(ConfigError, match="image_alpha"):
        check_config(resolve_config(image_alpha="pink"))


def test_full_list_of_skips_and_duplicates_is_written_and_its_path_printed(tmp_path, capsys):
    d = tmp_path / "d"
    d.mkdir()
    Image.fromarray(rgb(8, 8)).save(d / "ok.png")
    os.symlink("ok.png", d / "same.png")
    for i in range(25):
        (d / f"note{i:02d}.txt").write_text("x")
    data = load_folder(str(d), image_size=8)
    err = capsys.readouterr().err
    assert err.count("  skipped note") == 20 and "... and 5 more" in err
    listed = Path(data.report.list_file)
    assert f"full list of used, skipped and duplicate files: {listed}" in err
    assert listed.parent == tmp_path / "cache" / "folders"
    rows = [line.split("\t") for line in listed.read_text().splitlines()
            if not line.startswith("#")]
    assert sorted(r[1] for r in rows if r[0] == "skipped") == [f"note{i:02d}.txt" for i in range(25)]
    assert [r[:2] for r in rows if r[0] in ("used", "duplicate")] == [
        ["used", "ok.png"], ["duplicate", "same.png"]]
    # from the cache: the same report, the same list file
    cached = load_folder(str(d), image_size=8, quiet=True)
    assert cached.report.from_cache and cached.report.list_file == str(listed)
    assert cached.report.duplicates == data.report.duplicates


def test_cache_key_covers_the_alpha_policy_and_a_forged_cache_npy_is_not_loaded(tmp_path):
    d = tmp_path / "d"
    d.mkdir()
    Image.fromarray(np.zeros((8, 8, 4), np.uint8), "RGBA").save(d / "clear.png")
    white = load_folder(str(d), image_size=8, image_channels="rgb", quiet=True)
    black = load_folder(str(d), image_size=8, image_channels="rgb", image_alpha="black",
                        quiet=True)
    assert not black.report.from_cache and white.train.min() == 1.0 and black.train.max() == 0.0
    # a cache .npy whose header declares (2^40, 784) uint8: ignored (decoded again), never loaded
    for npy in (tmp_path / "cache" / "folders").glob("*.npy"):
        with open(npy, "wb") as f:
            np.lib.format.write_array_header_1_0(
                f, {"descr": "|u1", "fortran_order": False, "shape": (2 ** 40, 784)})
    again = load_folder(str(d), image_size=8, image_channels="rgb", quiet=True)
    assert not again.report.from_cache
    assert_close(again.train, white.train)
