"""Data at scale (issue 23): decode time on 1 vs 2 cores, peak memory while decoding and training
from the memory-mapped uint8 cache, steps/s from the cache vs the in-memory path; MNIST alongside.

    python benchmarks/data_scale.py generate --out /work/data_scale_imgs --n 200000
    python benchmarks/data_scale.py all --folder /work/data_scale_imgs --subset 20000

Every figure is printed as a JSON line (and appended to benchmarks/results/data_scale.jsonl with
``--save``), with the load average beside it: the two cores are shared, so ratios are medians of
interleaved repeats measured in the same run.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import subprocess
import sys
import time
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "results" / "data_scale.jsonl"


# --- the synthetic folder ----------------------------------------------------------------------------

def _image(i: int):
    """Image i: 48-160 px on each side (any aspect), smooth gradient and shapes (PNG compresses
    them to a few KB); 1 in 10 grey, 1 in 10 RGBA with a transparent corner."""
    from PIL import Image, ImageDraw

    rng = random.Random(i)
    w, h = rng.randint(48, 160), rng.randint(48, 160)
    mode = "L" if i % 10 == 3 else "RGBA" if i % 10 == 7 else "RGB"
    c0 = tuple(rng.randrange(256) for _ in range(3))
    img = Image.linear_gradient("L").resize((w, h)).convert("RGB")
    img = Image.blend(img, Image.new("RGB", (w, h), c0), 0.5)
    draw = ImageDraw.Draw(img)
    for _ in range(3):
        x0, y0 = rng.randrange(w), rng.randrange(h)
        box = (x0, y0, x0 + rng.randint(4, w // 2), y0 + rng.randint(4, h // 2))
        colour = tuple(rng.randrange(256) for _ in range(3))
        (draw.ellipse if rng.random() < 0.5 else draw.rectangle)(box, fill=colour)
    draw.point((i % w, (i // w) % h), fill=(i % 256, (i >> 8) % 256, (i >> 16) % 256))  # unique
    if mode == "L":
        img = img.convert("L")
    elif mode == "RGBA":
        img = img.convert("RGBA")
        ImageDraw.Draw(img).rectangle((0, 0, w // 4, h // 4), fill=(0, 0, 0, 0))
    return img


def generate(out: Path, n: int, start: int = 0) -> None:
    """Write images start..n-1 as out/DDD/NNNNNN.png (1,000 a folder); existing files are kept."""
    t0 = time.perf_counter()
    for i in range(start, n):
        path = out / f"{i // 1000:03d}" / f"{i:06d}.png"
        if path.exists():
            continue
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_name(f".{path.name}")
        _image(i).save(tmp, format="PNG", compress_level=6)
        os.replace(tmp, path)
        if i % 10000 == 0:
            print(f"{i} images, {time.perf_counter() - t0:.0f} s", file=sys.stderr, flush=True)
