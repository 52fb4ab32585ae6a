"""The typical PyTorch GAN loop, as users write it from the PyTorch DCGAN tutorial or PyTorch-GAN's
gan.py: a Dataset that converts each image on access (PIL image -> tensor -> normalise), a
DataLoader, zero_grad/backward/step for D then G, BCELoss on sigmoid outputs, the default Adam,
and .item() for logging every step. Same networks, optimiser and batch as gankit's case.

Written here, in the benchmark, to be measured honestly beside gankit's loop; not part of gankit.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np
import torch
from PIL import Image
from torch import nn
from torch.utils.data import DataLoader, Dataset

from gankit.data.mnist import find_files, parse_idx, read_bytes


class MNISTImages(Dataset):
    """Per-sample conversion, as torchvision's MNIST + ToTensor() + Normalize((0.5,), (0.5,))."""

    def __init__(self, root: Path):
        path = find_files(root)["train_images"]
        self.images = parse_idx(read_bytes(path), 3, str(path))[:50_000]

    def __len__(self) -> int:
        return len(self.images)

    def __getitem__(self, i: int) -> torch.Tensor:
        img = Image.fromarray(self.images[i], mode="L")
        x = torch.from_numpy(np.array(img, dtype=np.float32) / 255.0).unsqueeze(0)
        return (x - 0.5) / 0.5


class Maxout(nn.Module):
    def __init__(self, i: int, units: int, pieces: int):
        super().__init__()
        self.units, self.pieces, self.lin = units, pieces, nn.Linear(i, units * pieces)

    def forward(self, x):
        return self.lin(x).view(-1, self.units, self.pieces).max(dim=2)[0]


def networks(arch: str, a: dict) -> tuple[nn.Module, nn.Module]:
    if arch == "paper":
        G = nn.Sequential(nn.Linear(100, 1200), nn.ReLU(), nn.Linear(1200, 1200), nn.ReLU(),
                          nn.Linear(1200, 784), nn.Tanh())
        D = nn.Sequential(nn.Dropout(0.2), Maxout(784, 240, 5), nn.Dropout(0.5), Maxout(240, 240, 5),
                          nn.Dropout(0.5), nn.Linear(240, 1), nn.Sigmoid())
        return G, D

    def block(i, o, normalize=True):  # PyTorch-GAN's gan.py (with the usual BatchNorm eps)
        layers = [nn.Linear(i, o)]
        if normalize:
            layers.append(nn.BatchNorm1d(o))
        layers.append(nn.LeakyReLU(0.2, inplace=True))
        return layers

    G = nn.Sequential(*block(100, 128, normalize=False), *block(128, 256), *block(256, 512),
                      *block(512, 1024), nn.Linear(1024, 784), nn.Tanh())
    D = nn.Sequential(nn.Linear(784, 512), nn.LeakyReLU(0.2, inplace=True), nn.Linear(512, 256),
                      nn.LeakyReLU(0.2, inplace=True), nn.Linear(256, 1), nn.Sigmoid())
    return G, D


def time_baseline(arch: str, a: dict, batch: int, steps: int, threads: int, warmup: int,
                  root: Path) -> float:
    torch.set_num_threads(threads)
    G, D = networks(arch, a)
    loader = DataLoader(MNISTImages(root), batch_size=batch, shuffle=True, drop_last=True)
    opt_G = torch.optim.Adam(G.parameters(), lr=2e-4, betas=(0.5, 0.999))
    opt_D = torch.optim.Adam(D.parameters(), lr=2e-4, betas=(0.5, 0.999))
    bce = nn.BCELoss()
    done, t = 0, None
    log = []
    while done < warmup + steps:
        for imgs in loader:
            if done == warmup:
                t = time.perf_counter()
            real = imgs.view(imgs.size(0), -1)
            valid, fake = torch.ones(batch, 1), torch.zeros(batch, 1)
            # D step on fresh noise
            opt_D.zero_grad()
            z = torch.randn(batch, 100)
            gen = G(z)
            d_loss = (bce(D(real), valid) + bce(D(gen.detach()), fake)) / 2
            d_loss.backward()
            opt_D.step()
            # G step on fresh noise
            opt_G.zero_grad()
            z = torch.randn(batch, 100)
            g_loss = bce(D(G(z)), valid)
            g_loss.backward()
            opt_G.step()
            log.append((d_loss.item(), g_loss.item()))
            done += 1
            if done == warmup + steps:
                break
    return time.perf_counter() - t
