"""The training images: one folder per class (the ImageFolder layout), checked before anything loads.

    DATA/<class>/*.jpg                  split into train and validation (``val_fraction``, seeded,
                                        per class)
    DATA/train/<class>/, DATA/val/<class>/   used as they are

A class named ``none`` is an ordinary class ("none of these"); hidden files and folders are left
out. Files whose header names no image Lookout reads (or an image over ``max_pixels``) are listed
and skipped; so are images that fail to decode later (``decode``), and the run counts them.
"""
from __future__ import annotations

import os
import random
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np

from detector.io.sources import DEFAULT_MAX_PIXELS, _decode_image, image_size, too_big


@dataclass
class Split:
    """Paths and class indices (into ``labels``) of one split."""

    paths: list[str] = field(default_factory=list)
    targets: list[int] = field(default_factory=list)

    def __len__(self) -> int:
        return len(self.paths)

    def counts(self, n: int) -> list[int]:
        return np.bincount(np.asarray(self.targets, dtype=np.int64), minlength=n).tolist()


@dataclass
class Dataset:
    labels: list[str]
    train: Split
    val: Split
    skipped: list[tuple[str, str]]  # (path, why)
    layout: str                     # "train/val folders" or "split N%"


def _class_dirs(root: Path) -> list[Path]:
    return sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))


def _images(folder: Path, max_pixels: int, skipped: list) -> list[str]:
    """The readable-looking images under ``folder`` (recursively), sorted; the others into ``skipped``."""
    found = []
    for dirpath, dirnames, filenames in os.walk(folder):
        dirnames[:] = sorted(d for d in dirnames if not d.startswith("."))
        for name in sorted(filenames):
            if name.startswith("."):
                continue
            path = os.path.join(dirpath, name)
            size = image_size(path)
            if size is None:
                skipped.append((path, "not an image Lookout reads"))
            elif size[0] * size[1] > max_pixels:
                skipped.append((path, too_big(size, max_pixels)))
            else:
                found.append(path)
    return found


def _scan(root: Path, what: str, max_pixels: int, skipped: list) -> dict[str, list[str]]:
    classes = _class_dirs(root)
    if len(classes) < 2:
        names = ", ".join(c.name for c in classes) or "none"
        raise ValueError(f"{what} holds {len(classes)} class folder(s) ({names}); expected one folder per class, "
                         f"two or more (add a 'none' folder of other crops for 'none of these')")
    out = {c.name: _images(c, max_pixels, skipped) for c in classes}
    empty = [name for name, files in out.items() if not files]
    if empty:
        raise ValueError(f"class folder(s) {', '.join(repr(str(root / e)) for e in empty)} hold no readable "
                         f"image; put images in them or remove them")
    return out


def scan(data: str, val_fraction: float = 0.2, seed: int = 0, max_pixels: int = DEFAULT_MAX_PIXELS,
         limit: int = 0) -> Dataset:
    """``data`` checked and split; ValueError (one line) for a missing folder, fewer than two classes,
    an empty class, train and val folders with different classes, or a class too small to split.
    ``limit``: at most this many training images a class (a seeded sample), 0 for all."""
    root = Path(data)
    if not root.is_dir():
        raise ValueError(f"training data {data!r} is not a folder; expected DATA/<class>/images or "
                         f"DATA/train/<class>/ and DATA/val/<class>/")
    skipped: list[tuple[str, str]] = []
    rng = random.Random(seed)
    if (root / "train").is_dir():
        train = _scan(root / "train", str(root / "train"), max_pixels, skipped)
        if not (root / "val").is_dir():
            raise ValueError(f"{data} has train/ but no val/; add val/<class>/ folders, or put the class folders "
                             f"in {data} itself to split them")
        val = _scan(root / "val", str(root / "val"), max_pixels, skipped)
        if sorted(val) != sorted(train):
            raise ValueError(f"{root / 'val'} has classes {', '.join(sorted(val))}; expected the same as "
                             f"{root / 'train'}: {', '.join(sorted(train))}")
        layout = "train/ and val/ folders"
    else:
        found = _scan(root, str(root), max_pixels, skipped)
        small = [k for k, v in found.items() if len(v) < 2]
        if small:
            raise ValueError(f"class(es) {', '.join(small)} hold one image; a validation split needs two or more a class")
        train, val = {}, {}
        for name, files in found.items():
            files = files[:]
            rng.shuffle(files)
            n_val = min(len(files) - 1, max(1, round(len(files) * val_fraction)))
            val[name], train[name] = sorted(files[:n_val]), sorted(files[n_val:])
        layout = f"{round(val_fraction * 100)}% of each class held out for validation (seed {seed})"
    labels = sorted(train)
    if limit:
        train = {k: sorted(rng.sample(v, min(limit, len(v)))) for k, v in train.items()}

    def split(d):
        s = Split()
        for i, name in enumerate(labels):
            s.paths += d[name]
            s.targets += [i] * len(d[name])
        return s
    return Dataset(labels, split(train), split(val), skipped, layout)


def decode(path: str) -> np.ndarray | None:
    """HxWx3 uint8 RGB, or None for a file that does not decode (cut off, damaged)."""
    bgr = _decode_image(path)
    return None if bgr is None else cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)
