"""Fitting the new head (and, with ``--unfreeze N``, the body's last N stages) on stored outputs of
the frozen stages: the frozen part runs once per image (``features.extract``), never per epoch."""
from __future__ import annotations

import sys

import numpy as np
import torch
from torch import nn

from detector.train.backbones import Base, pooled


class Head(nn.Module):
    """(N, C) pooled features -> (N, classes) logits, the features standardised with the training
    set's mean and spread (kept in the module, so the exported graph does it too)."""

    def __init__(self, mean: np.ndarray, spread: np.ndarray, classes: int):
        super().__init__()
        self.register_buffer("mean", torch.as_tensor(mean, dtype=torch.float32))
        self.register_buffer("spread", torch.as_tensor(spread, dtype=torch.float32))
        self.fc = nn.Linear(len(mean), classes)

    def forward(self, f: torch.Tensor) -> torch.Tensor:
        return self.fc((f - self.mean) / self.spread)


class TrainedClassifier(nn.Module):
    """The whole model: (N, 3, S, S) float32 ``(rgb - mean) / std`` -> (N, classes) logits."""

    def __init__(self, base: Base, head: Head):
        super().__init__()
        self.stages, self.head, self.scale = base.stages, head, base.scale

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(pooled(self.stages(x), self.scale))


class Suffix(nn.Module):
    """The trainable stages ``[cut:]`` and the head: stored activations -> logits."""

    def __init__(self, base: Base, cut: int, head: Head):
        super().__init__()
        self.stages, self.head, self.scale = base.stages[cut:], head, base.scale

    def forward(self, a: torch.Tensor) -> torch.Tensor:
        f = a if not len(self.stages) else pooled(self.stages(a), self.scale)
        return self.head(f)


def _class_weights(y: np.ndarray, k: int) -> torch.Tensor:
    """Inverse class frequency, so a large ``none`` class does not drown the others."""
    counts = np.bincount(y, minlength=k).astype(np.float32)
    return torch.as_tensor(counts.sum() / (k * np.maximum(counts, 1)), dtype=torch.float32)


def fit(base: Base, cut: int, acts: np.ndarray, y: np.ndarray, classes: int, epochs: int, seed: int,
        lr: float = 1e-3, progress: bool = True) -> TrainedClassifier:
    """Train on ``acts`` (the outputs of stages ``[:cut]``, one row per image or augmented copy) and
    targets ``y``; stages ``[cut:]`` train too (at a tenth of ``lr``). Returns the whole model."""
    torch.manual_seed(seed)
    gen = torch.Generator().manual_seed(seed)
    a = torch.from_numpy(acts)
    with torch.no_grad():
        suffix_stages = base.stages[cut:]
        f = a if not len(suffix_stages) else torch.cat(
            [pooled(suffix_stages(a[i:i + 64]), base.scale) for i in range(0, len(a), 64)])
    spread = f.std(0).clamp_min(1e-3).numpy()
    head = Head(f.mean(0).numpy(), spread, classes)
    model = Suffix(base, cut, head)
    for p in base.stages.parameters():
        p.requires_grad_(False)
    params = [{"params": head.parameters(), "lr": lr, "weight_decay": 1e-3}]
    if len(suffix_stages):
        for p in suffix_stages.parameters():
            p.requires_grad_(True)
        params.append({"params": list(suffix_stages.parameters()), "lr": lr / 10, "weight_decay": 1e-4})
    opt = torch.optim.AdamW(params)
    loss_fn = nn.CrossEntropyLoss(weight=_class_weights(y, classes), label_smoothing=0.1)
    target = torch.from_numpy(y.astype(np.int64))
    batch = 64
    steps = epochs * -(-len(a) // batch)
    sched = torch.optim.lr_scheduler.OneCycleLR(opt, max_lr=[g["lr"] for g in params], total_steps=steps)
    bar = None
    if progress:
        from tqdm import tqdm
        bar = tqdm(total=epochs, unit="epoch", desc="fit", dynamic_ncols=True, file=sys.stderr)
    model.train()
    suffix_stages.eval()  # BatchNorm statistics stay ImageNet's (few images, small batches)
    for _ in range(epochs):
        order = torch.randperm(len(a), generator=gen)
        total = 0.0
        for i in range(0, len(a), batch):
            idx = order[i:i + batch]
            loss = loss_fn(model(a[idx]), target[idx])
            opt.zero_grad()
            loss.backward()
            opt.step()
            sched.step()
            total += loss.item() * len(idx)
        if bar is not None:
            bar.set_postfix(loss=f"{total / len(a):.3f}")
            bar.update(1)
    if bar is not None:
        bar.close()
    for p in base.stages.parameters():
        p.requires_grad_(False)
    return TrainedClassifier(base, head).eval()


def predict(model: TrainedClassifier, base: Base, cut: int, acts: np.ndarray) -> np.ndarray:
    """(N, classes) float32 probabilities from stored outputs of stages ``[:cut]``."""
    suffix = Suffix(base, cut, model.head).eval()
    with torch.no_grad():
        logits = torch.cat([suffix(torch.from_numpy(acts[i:i + 64])) for i in range(0, len(acts), 64)])
    return torch.softmax(logits, 1).numpy()
