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


def subset(src: Path, dst: Path, n: int) -> Path:
    """The first n images of src, hard-linked into dst (no copy; regular files, not links)."""
    if dst.is_dir() and sum(1 for _ in dst.rglob("*.png")) == n:
        return dst
    for i in range(n):
        rel = Path(f"{i // 1000:03d}") / f"{i:06d}.png"
        (dst / rel.parent).mkdir(parents=True, exist_ok=True)
        if not (dst / rel).exists():
            os.link(src / rel, dst / rel)
    return dst


# --- measuring a child process ------------------------------------------------------------------------

def _tree(pid: int) -> list[int]:
    """pid and its descendants (decoding workers, the forkserver)."""
    out, todo = [], [pid]
    while todo:
        p = todo.pop()
        out.append(p)
        try:
            for task in os.listdir(f"/proc/{p}/task"):
                with open(f"/proc/{p}/task/{task}/children") as f:
                    todo += [int(c) for c in f.read().split()]
        except OSError:
            pass
    return out


def _kb(pid: int, key: str) -> int:
    try:
        with open(f"/proc/{pid}/status") as f:
            for line in f:
                if line.startswith(key + ":"):
                    return int(line.split()[1])
    except OSError:
        pass
    return 0


def _pss_kb(pid: int) -> tuple[int, int]:
    """(Pss, Pss_Anon) of a process in KB: its pages, each shared page divided among its sharers
    (the workers forked from the forkserver share most of theirs), so sums over processes are fair."""
    out = [0, 0]
    try:
        with open(f"/proc/{pid}/smaps_rollup") as f:
            for line in f:
                if line.startswith("Pss:"):
                    out[0] = int(line.split()[1])
                elif line.startswith("Pss_Anon:"):
                    out[1] = int(line.split()[1])
    except OSError:
        pass
    return out[0], out[1]


#: How often ``measured`` samples the process tree's memory. Each sample reads /proc for every
#: process (smaps_rollup included): at 20 ms that costs the benchmark a noticeable share of a core,
#: taken from a 2-worker decoding that has no spare core (``--sample-ms 500`` for decode timings).
SAMPLE_S = 0.02


def measured(cmd: list[str], env: dict[str, str]) -> dict:
    """Run cmd; its wall time, the CPU seconds of its process tree, and the peak over time of the
    tree's summed RSS and anonymous RSS (shared pages counted in each process) and PSS (shared
    pages divided among their sharers), sampled every ``SAMPLE_S`` (20 ms by default). Anonymous memory is what the
    process owns; the rest of RSS is mapped files (the cache), which the kernel can reclaim.
    ``parent_cpu_s`` is the command's own process (imports included), without its workers."""
    load = os.getloadavg()[0]
    t0 = time.perf_counter()
    proc = subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    peak_rss = peak_anon = peak_pss = peak_pss_anon = 0
    cpu: dict[int, float] = {}  # pid -> last seen user + system seconds
    tick = os.sysconf("SC_CLK_TCK")
    while proc.poll() is None:
        pids = _tree(proc.pid)
        peak_rss = max(peak_rss, sum(_kb(p, "VmRSS") for p in pids))
        peak_anon = max(peak_anon, sum(_kb(p, "RssAnon") for p in pids))
        pss = [_pss_kb(p) for p in pids]
        peak_pss = max(peak_pss, sum(a for a, _ in pss))
        peak_pss_anon = max(peak_pss_anon, sum(b for _, b in pss))
        for p in pids:
            try:
                with open(f"/proc/{p}/stat") as f:
                    fields = f.read().rsplit(")", 1)[1].split()
                cpu[p] = (int(fields[11]) + int(fields[12])) / tick  # utime + stime
            except (OSError, IndexError, ValueError):
                pass
        time.sleep(SAMPLE_S)
    out, err = proc.communicate()
    if proc.returncode:
        raise SystemExit(f"{' '.join(cmd)} failed:\n{err[-3000:]}")
    last = [line for line in out.splitlines() if line.startswith("{")]
    row = json.loads(last[-1]) if last else {}
    row.update(wall_s=round(time.perf_counter() - t0, 2), loadavg_before=round(load, 2),
               loadavg_after=round(os.getloadavg()[0], 2),
               tree_peak_rss_mb=round(peak_rss / 1024), tree_peak_anon_mb=round(peak_anon / 1024),
               tree_peak_pss_mb=round(peak_pss / 1024),
               tree_peak_pss_anon_mb=round(peak_pss_anon / 1024), tree_cpu_s=round(sum(cpu.values()), 1),
               parent_cpu_s=round(cpu.get(proc.pid, 0.0), 1))  # its own share: what does not divide
    return row


def _env(cache: Path, src: str) -> dict[str, str]:
    return {**os.environ, "GANKIT_DATA": str(cache), "PYTHONPATH": src, "OMP_NUM_THREADS": "1"}


_DECODE = """
import json, sys, time
from gankit.data.folder import load_folder
t, cpu = time.perf_counter(), time.process_time()
d = load_folder(sys.argv[1], image_size=64, workers=int(sys.argv[2]), quiet=True)
print(json.dumps({"seconds": round(time.perf_counter() - t, 2), "images": len(d.train),
                  "load_folder_parent_cpu_s": round(time.process_time() - cpu, 2)}))
"""

_TRAIN = """
import json, sys, time, resource
import gankit, gankit.data.folder as folder
from gankit.engine.callbacks import Callback
if sys.argv[2] != "default":
    folder.IN_MEMORY_BYTES = int(sys.argv[2])
times, cpu = [], []
class Clock(Callback):
    def on_step(self, engine, stats):
        times.append(time.perf_counter())
        cpu.append(time.process_time())  # this process's CPU: what a step costs, whatever the load
kw = json.loads(sys.argv[3])
run = gankit.train(runs_dir=sys.argv[1], progress=False, callbacks=[Clock()], **kw)
def median_rate(t):
    gaps = sorted(b - a for a, b in zip(t[2:], t[3:]))  # the first steps warm up
    return round(1 / gaps[len(gaps) // 2], 3) if gaps else None
print(json.dumps({"steps_per_s": median_rate(times), "steps_per_cpu_s": median_rate(cpu),
                  "self_peak_rss_mb": round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024)}))
"""


_BATCHES = """
import json, sys, time, torch
import gankit.data.folder as folder
from gankit.data import MinibatchStream
folder.IN_MEMORY_BYTES = int(sys.argv[2])
d = folder.load_folder(sys.argv[1], image_size=64, quiet=True)
stream = MinibatchStream(d.train, 64, torch.Generator().manual_seed(0))
for _ in range(50):  # warm: the pages of the first batches
    stream.next()
t = time.perf_counter()
for _ in range(2000):
    x = stream.next()
print(json.dumps({"dtype": str(d.train.dtype), "ms_per_batch": round((time.perf_counter() - t) / 2, 3)}))
"""

_EPOCH = """
import json, sys, time, torch
from gankit.data import MinibatchStream
from gankit.data.folder import load_folder
d = load_folder(sys.argv[1], image_size=64, quiet=True)
stream = MinibatchStream(d.train, 64, torch.Generator().manual_seed(0))
t = time.perf_counter()
for _ in range(stream.batches_per_epoch):  # every image once, gathered and made float
    x = stream.next()
print(json.dumps({"batches": stream.batches_per_epoch, "dtype": str(d.train.dtype),
                  "batches_per_s": round(stream.batches_per_epoch / (time.perf_counter() - t), 1)}))
"""


def emit(row: dict, save: bool) -> None:
    row = {"date": time.strftime("%Y-%m-%d %H:%M"), **row}
    print(json.dumps(row), flush=True)
    if save:
        RESULTS.parent.mkdir(parents=True, exist_ok=True)
        with open(RESULTS, "a") as f:
            f.write(json.dumps(row) + "\n")


def bench_decode(folder: Path, n: int, repeats: int, work: Path, src: str, save: bool) -> None:
    """Decode time and memory on 1 and 2 workers, interleaved, a cold cache each time."""
    import shutil

    for r in range(repeats):
        for w in (1, 2):
            cache = work / f"cache-decode-{w}"
            shutil.rmtree(cache, ignore_errors=True)
            row = measured([sys.executable, "-c", _DECODE, str(folder), str(w)], _env(cache, src))
            emit({"what": "decode", "images": n, "workers": w, "repeat": r,
                  "sample_ms": round(SAMPLE_S * 1000), **row}, save)
            shutil.rmtree(cache, ignore_errors=True)


def bench_train(label: str, kw: dict, in_memory: str, cache: Path, work: Path, src: str,
                save: bool, **extra) -> dict:
    import shutil

    runs = work / "runs"
    row = measured([sys.executable, "-c", _TRAIN, str(runs), in_memory, json.dumps(kw)],
                   _env(cache, src))
    shutil.rmtree(runs, ignore_errors=True)
    row = {"what": "train", "label": label, **extra, **row}
    emit(row, save)
    return row


def main() -> None:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("what", choices=["generate", "decode", "decode-full", "train", "speed",
                                   "batches", "mnist"])
    p.add_argument("--folder", type=Path, default=Path("/work/data_scale_imgs"))
    p.add_argument("--n", type=int, default=200_000)
    p.add_argument("--subset", type=int, default=20_000)
    p.add_argument("--repeats", type=int, default=3)
    p.add_argument("--steps", type=int, default=20)
    p.add_argument("--work", type=Path, default=Path("/work/data_scale_work"))
    p.add_argument("--src", default=str(Path(__file__).resolve().parents[1] / "src"))
    p.add_argument("--baseline-src", default="/work/base-src/src",
                   help="gankit before this change (MNIST): git archive f8b08b4 src")
    p.add_argument("--save", action="store_true")
    p.add_argument("--sample-ms", type=float, default=20,
                   help="memory sampling period; sampling takes CPU from the measured processes")
    p.add_argument("--images", type=int, default=0,
                   help="decode: the whole --folder (this many images) instead of --subset")
    a = p.parse_args()
    a.work.mkdir(parents=True, exist_ok=True)
    if a.what == "generate":
        return generate(a.folder, a.n)
    sub = subset(a.folder, a.work / f"sub{a.subset}", a.subset)
    global SAMPLE_S
    SAMPLE_S = a.sample_ms / 1000
    if a.what == "decode":
        if a.images:
            return bench_decode(a.folder, a.images, a.repeats, a.work, a.src, a.save)
        return bench_decode(sub, a.subset, a.repeats, a.work, a.src, a.save)
    if a.what == "decode-full":  # once, into the cache the training runs below use
        for w in (2, 1) if a.repeats > 1 else (2,):
            cache = a.work / ("cache" if w == 2 else "cache-1")
            row = measured([sys.executable, "-c", _DECODE, str(a.folder), str(w)], _env(cache, a.src))
            emit({"what": "decode", "images": a.n, "workers": w, "repeat": 0, **row}, a.save)
        return
    dcgan = dict(preset="dcgan-folder", image_size=64, steps=a.steps, log_every=10,
                 snapshot_every=10 ** 6)
    tiny = subset(a.folder, a.work / "sub64", 64)  # one batch: the model's own memory
    for folder in (tiny, sub):  # cached before anything is measured (decoding is measured above)
        measured([sys.executable, "-c", _DECODE, str(folder), "2"], _env(a.work / "cache", a.src))
    if a.what == "train":  # peak memory at 64 px: 16 images (the model alone), 20k, 200k
        for label, folder in (("64 images", tiny), (f"{a.subset} images", sub),
                              (f"{a.n} images", a.folder)):
            bench_train(label, {**dcgan, "data_dir": str(folder), "batch": 64}, "default",
                        a.work / "cache", a.work, a.src, a.save)
        for label, folder in ((f"{a.subset} images", sub), (f"{a.n} images", a.folder)):
            row = measured([sys.executable, "-c", _EPOCH, str(folder)], _env(a.work / "cache", a.src))
            emit({"what": "epoch of batches", "label": label, **row}, a.save)
        return
    if a.what == "speed":  # steps/s from the mapped cache vs in memory (a small net: data shows)
        kw = {**dcgan, "data_dir": str(sub), "conv_width": 16, "steps": a.steps}
        for r in range(a.repeats):
            for label, limit in (("mapped uint8", "0"), ("in-memory float32", str(1 << 40))):
                bench_train(label, kw, limit, a.work / "cache", a.work, a.src, a.save, repeat=r)
        return
    if a.what == "batches":  # the data path alone: a batch of 64 gathered and made float32
        for r in range(a.repeats):
            for label, limit in (("mapped uint8", "0"), ("in-memory float32", str(1 << 40))):
                row = measured([sys.executable, "-c", _BATCHES, str(sub), limit],
                               _env(a.work / "cache", a.src))
                emit({"what": "batches", "label": label, "images": a.subset, "repeat": r, **row},
                     a.save)
        return
    if a.what == "mnist":  # this branch vs the baseline source, interleaved
        kw = dict(preset="paper-mnist", data_dir="/work/shared/data/mnist", steps=a.steps,
                  log_every=10, snapshot_every=10 ** 6)
        for r in range(a.repeats):
            for label, src in (("mnist before", a.baseline_src), ("mnist after", a.src)):
                bench_train(label, kw, "default", a.work / "cache-mnist", a.work, src, a.save,
                            repeat=r)


if __name__ == "__main__":
    main()
