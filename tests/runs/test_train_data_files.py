"""An image folder's full list of used, skipped and duplicate files is kept in the run folder."""

import numpy as np
from PIL import Image

import gankit


def test_run_folder_keeps_the_full_file_list(tmp_path, tiny):
    images = tmp_path / "images"
    images.mkdir()
    rng = np.random.default_rng(0)
    for i in range(10):
        Image.fromarray(rng.integers(0, 255, (12, 12), dtype=np.uint8)).save(images / f"{i}.png")
    (images / "copy.png").write_bytes((images / "0.png").read_bytes())
    (images / "notes.txt").write_text("not an image")
    run = gankit.train(dataset="folder", data_dir=str(images), image_size=8, batch=4,
                       progress=False, **{k: v for k, v in tiny.items() if k != "batch"})
    rows = [line.split("\t") for line in (run.path / "data-files.tsv").read_text().splitlines()
            if not line.startswith("#")]
    status = {r[1]: r[0] for r in rows}
    assert sum(s == "used" for s in status.values()) == 10
    assert status["notes.txt"] == "skipped" and status["copy.png"] == "duplicate"


def test_other_datasets_write_no_list(tiny):
    run = gankit.train(preset="digits", progress=False, **tiny)
    assert not (run.path / "data-files.tsv").exists()
