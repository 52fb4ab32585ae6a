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
    """What ``torchvision.datasets.MNIST(root, transform=Compose([Resize(28), ToTensor(),
    Normalize([0.5], [0.5])]))`` does per sample in PyTorch-GAN's gan.py, op for op (torchvision
    itself does not import beside this torch): a PIL image from the uint8 tensor, the Resize (a
    PIL copy at 28x28), ToTensor (numpy copy, view, permute to CHW, contiguous, float / 255),
    Normalize (clone, mean and std as tensors, the std == 0 check, sub_, div_), and the
    (image, label) pair that the DataLoader's default collate turns into two batched tensors."""

    def __init__(self, root: Path):
        path = find_files(root)["train_images"]
        labels = find_files(root)["train_labels"]
        self.data = torch.from_numpy(parse_idx(read_bytes(path), 3, str(path))[:50_000].copy())
        self.targets = torch.from_numpy(parse_idx(read_bytes(labels), 1, str(labels))[:50_000]
                                        .astype(np.int64))

    def __len__(self) -> int:
        return len(self.data)

    def __getitem__(self, i: int) -> tuple[torch.Tensor, int]:
        img, target = self.data[i], int(self.targets[i])
        img = Image.fromarray(img.numpy(), mode="L")
        img = _resize(img, 28)
        return _normalize(_to_tensor(img), [0.5], [0.5]), target


def _resize(img: Image.Image, size: int) -> Image.Image:
    w, h = img.size  # the shorter side becomes ``size``, the aspect ratio is kept
    new = (size, int(size * h / w)) if w <= h else (int(size * w / h), size)
    return img.resize(new, Image.BILINEAR)


def _to_tensor(pic: Image.Image) -> torch.Tensor:
    img = torch.from_numpy(np.array(pic, np.uint8, copy=True))
    img = img.view(pic.size[1], pic.size[0], len(pic.getbands()))
    img = img.permute((2, 0, 1)).contiguous()
    return img.to(dtype=torch.get_default_dtype()).div(255)


def _normalize(tensor: torch.Tensor, mean: list[float], std: list[float]) -> torch.Tensor:
    if not tensor.is_floating_point() or tensor.ndim < 3:
        raise TypeError("expected a float image tensor (C, H, W)")
    tensor = tensor.clone()
    mean_t = torch.as_tensor(mean, dtype=tensor.dtype, device=tensor.device)
    std_t = torch.as_tensor(std, dtype=tensor.dtype, device=tensor.device)
    if (std_t == 0).any():
        raise ValueError("std evaluated to zero, leading to division by zero")
    return tensor.sub_(mean_t.view(-1, 1, 1)).div_(std_t.view(-1, 1, 1))


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
        for imgs, _ in loader:
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
