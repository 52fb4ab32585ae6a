"""gankit's own small MNIST classifier: the offline feature extractor of the MNIST metrics.

Why our own: Inception-v3 weights (~92 MB) must be downloaded at run time and are trained on
ImageNet photographs, not digits (docs/benchmarks.md section 3). A small CNN trained on the MNIST
files gives class labels (coverage, KL to uniform, "MNIST IS", Stacked-MNIST triples) and a
128-d penultimate feature space (Fréchet distance, precision/recall, density/coverage).

Determinism: one CPU thread, a fixed seed, a fixed recipe (:data:`RECIPE`); the weights are cached
as safetensors (data only, never unpickled) in ``$GANKIT_DATA/mnist-classifier/``, keyed by a hash
of the training images, their labels and the recipe, so different data (or a changed recipe) never
reuse stale weights. Beside each weights file, ``classifier-KEY.sha256`` holds the file's SHA-256;
a file whose checksum is missing or differs (truncated, damaged, replaced) is retrained, never used.
Training takes about a minute on one thread and reaches about 99% test accuracy.
"""

from __future__ import annotations

import hashlib
import json
import time
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from gankit.errors import GankitError
from gankit.utils.cache import cache_dir
from gankit.utils.atomic import atomic_path

#: Everything that defines the classifier; part of the cache key.
RECIPE = {"version": 1, "arch": "conv5x16-pool-conv5x32-pool-fc128-fc10", "epochs": 3,
          "batch": 64, "optimizer": "adam", "lr": 2e-3, "lr_final": 2e-4, "seed": 0}
FEATURE_DIM = 128
N_CLASSES = 10


class MnistClassifier(nn.Module):
    """LeNet-like CNN: ``features(x)`` is the 128-d penultimate layer, ``forward(x)`` the logits."""

    def __init__(self) -> None:
        super().__init__()
        self.conv1 = nn.Conv2d(1, 16, 5)   # [N, 16, 24, 24] -> pool -> [N, 16, 12, 12]
        self.conv2 = nn.Conv2d(16, 32, 5)  # [N, 32, 8, 8] -> pool -> [N, 32, 4, 4]
        self.fc1 = nn.Linear(32 * 4 * 4, FEATURE_DIM)
        self.fc2 = nn.Linear(FEATURE_DIM, N_CLASSES)

    def conv_features(self, x: torch.Tensor) -> torch.Tensor:
        """The second conv block's pooled output, flattened: ``[N, 512]``."""
        x = x.reshape(len(x), 1, 28, 28)
        x = F.max_pool2d(F.relu(self.conv1(x)), 2)
        return F.max_pool2d(F.relu(self.conv2(x)), 2).flatten(1)  # [N, 32 * 4 * 4]

    def features(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.fc1(self.conv_features(x)))  # [N, 128]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.fc2(self.features(x))  # [N, 10] logits


def train_classifier(images: torch.Tensor, labels: torch.Tensor, recipe: dict = RECIPE,
                     progress: bool = False) -> MnistClassifier:
    """Train a :class:`MnistClassifier` deterministically (one thread, seeded, fixed order)."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # determinism, and a fair share of a shared machine
    try:
        gen = torch.Generator().manual_seed(recipe["seed"])
        with torch.random.fork_rng(devices=[]):  # leave the caller's global RNG untouched
            torch.manual_seed(recipe["seed"])
            model = MnistClassifier()
        opt = torch.optim.Adam(model.parameters(), lr=recipe["lr"])
        n, m = len(images), recipe["batch"]
        total = recipe["epochs"] * (n // m)
        gamma = (recipe["lr_final"] / recipe["lr"]) ** (1.0 / max(total - 1, 1))
        sched = torch.optim.lr_scheduler.ExponentialLR(opt, gamma)
        x_all = images.reshape(n, 1, 28, 28).float()
        model.train()
        for epoch in range(recipe["epochs"]):
            order = torch.randperm(n, generator=gen)
            for i in range(0, n - m + 1, m):
                idx = order[i:i + m]
                loss = F.cross_entropy(model(x_all[idx]), labels[idx])
                opt.zero_grad(set_to_none=True)
                loss.backward()
                opt.step()
                sched.step()
            if progress:
                print(f"gankit: MNIST classifier epoch {epoch + 1}/{recipe['epochs']}, "
                      f"last loss {loss.item():.4f}", flush=True)
        model.eval()
        return model
    finally:
        torch.set_num_threads(threads)


@torch.no_grad()
def predict(model: MnistClassifier, x: torch.Tensor, batch: int = 2000
            ) -> tuple[torch.Tensor, torch.Tensor]:
    """(class probabilities [N, 10], penultimate features [N, 128]) for images in [0, 1]."""
    was = model.training
    model.eval()
    probs, feats = [], []
    try:
        for i in range(0, len(x), batch):
            f = model.features(x[i:i + batch].float())
            feats.append(f)
            probs.append(torch.softmax(model.fc2(f), dim=1))
    finally:
        model.train(was)
    return torch.cat(probs), torch.cat(feats)


def accuracy(model: MnistClassifier, images: torch.Tensor, labels: torch.Tensor) -> float:
    probs, _ = predict(model, images)
    return float((probs.argmax(1) == labels).float().mean())


# --- the cache -------------------------------------------------------------------------------------

def data_key(images: torch.Tensor, labels: torch.Tensor, recipe: dict = RECIPE) -> str:
    """16 hex digits of SHA-256 over the recipe, the images and the labels."""
    h = hashlib.sha256(json.dumps(recipe, sort_keys=True).encode())
    for t in (images.float().contiguous(), labels.long().contiguous()):
        h.update(str(tuple(t.shape)).encode())
        h.update(t.numpy().tobytes())
    return h.hexdigest()[:16]


def cache_folder() -> Path:
    return cache_dir() / "mnist-classifier"


def file_sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def _verified(path: Path, checksum: Path) -> bool:
    """Whether ``path``'s SHA-256 is the one recorded in ``checksum`` (False when unreadable)."""
    try:
        return checksum.read_text(encoding="utf-8").strip() == file_sha256(path)
    except (OSError, UnicodeDecodeError):
        return False


def classifier_for(dataset, cache: bool = True, progress: bool = True
                   ) -> tuple[MnistClassifier, str, dict]:
    """The classifier for an MNIST :class:`Dataset` (trained on its train split): model, key, info.

    Loaded from the cache when present and its SHA-256 matches, else trained (about a minute) and
    cached. ``info`` holds the test accuracy and the training time.
    """
    from safetensors import SafetensorError
    from safetensors.torch import load_file, safe_open, save_file

    if dataset.labels.get("train") is None:
        raise GankitError(f"dataset '{dataset.name}' has no training labels; the MNIST classifier "
                          f"is trained on MNIST (dataset mnist)")
    images, labels = dataset.train, dataset.labels["train"]
    key = data_key(images, labels)
    path = cache_folder() / f"classifier-{key}.safetensors"
    model = MnistClassifier()
    checksum = path.with_suffix(".sha256")
    if cache and path.is_file() and _verified(path, checksum):
        try:
            model.load_state_dict(load_file(str(path)))
            with safe_open(str(path), "pt") as f:
                info = json.loads((f.metadata() or {}).get("info", "{}"))
            model.eval()
            return model, key, info
        except (SafetensorError, OSError, RuntimeError, ValueError, KeyError):
            pass  # damaged cache entry: retrain
    if progress:
        print(f"gankit: training the MNIST classifier once ({len(images)} images, about a minute); "
              f"cached in {path.parent}", flush=True)
    t0 = time.perf_counter()
    model = train_classifier(images, labels, progress=progress)
    info = {"train_seconds": round(time.perf_counter() - t0, 1), "key": key, "recipe": RECIPE}
    if dataset.test is not None and dataset.labels.get("test") is not None:
        info["test_accuracy"] = accuracy(model, dataset.test, dataset.labels["test"])
    if cache:
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            with atomic_path(path) as tmp:
                save_file({k: v.contiguous() for k, v in model.state_dict().items()}, str(tmp),
                          metadata={"info": json.dumps(info)})
            with atomic_path(checksum) as tmp:
                tmp.write_text(file_sha256(path) + "\n", encoding="utf-8")
        except OSError:
            pass  # a read-only cache only costs time
    return model, key, info
