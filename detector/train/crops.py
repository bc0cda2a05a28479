"""``lookout crops``: the sharpest few crops of each track of some labels, to sort into class folders
for ``lookout train``. The crops are cut as ``--classify-labels`` cuts them at run time (the box and
the same margin, ``engine.sub_labels.crop_box``), so the model trains on what it will see. The
window's "Save crop to class" cuts and names its crops the same way."""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field

import cv2
import numpy as np

from detector.engine.sub_labels import crop_box

MARGIN = 0.1


def crop_name(stem: str, label: str, track: int, frame: int) -> str:
    """``<source>_<label>_t<track>_f<frame>.jpg``: the crops of one track sort together."""
    return f"{stem}_{label}_t{track:05d}_f{frame:06d}.jpg"


def source_stem(source: str) -> str:
    """A file-name-safe short name of a source: a file's or folder's name without its extension."""
    base = os.path.splitext(os.path.basename(source.rstrip("/")))[0] or "stream"
    return re.sub(r"[^A-Za-z0-9_.-]+", "_", base)[:40]


def sharpness(bgr: np.ndarray) -> float:
    """Variance of the Laplacian of the grey image: blur (motion, focus) lowers it."""
    return float(cv2.Laplacian(cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY), cv2.CV_32F).var())


@dataclass
class _Kept:
    label: str
    last_frame: int
    crops: list = field(default_factory=list)  # (sharpness, frame, crop)


class CropCollector:
    """Per track, up to ``per_track`` crops, the sharpest, at least ``gap`` frames apart; a track's
    crops are handed out (``finished``) once it has been gone ``gone`` frames, so memory holds only
    the tracks in view."""

    def __init__(self, labels: set[str], per_track: int = 3, min_side: int = 32, gap: int = 5, gone: int = 60):
        self.labels, self.per_track, self.min_side, self.gap, self.gone = labels, per_track, min_side, gap, gone
        self.tracks: dict[int, _Kept] = {}

    def add(self, frame_index: int, image: np.ndarray, dets) -> list[tuple[int, str, int, np.ndarray]]:
        """Take this frame's tracked boxes; returns the finished tracks' crops as (track, label, frame, crop)."""
        h, w = image.shape[:2]
        ids = dets.track_ids if dets.track_ids is not None else np.full(len(dets), -1)
        for i in range(len(dets)):
            tid, label = int(ids[i]), dets.labels[i]
            if tid < 0 or label not in self.labels:
                continue
            box = crop_box(dets.xyxy[i], w, h, MARGIN)
            kept = self.tracks.setdefault(tid, _Kept(label, frame_index))
            kept.last_frame = frame_index
            if box is None or min(box[2] - box[0], box[3] - box[1]) < self.min_side:
                continue
            crop = image[box[1]:box[3], box[0]:box[2]].copy()
            self._offer(kept, (sharpness(crop), frame_index, crop))
        done = [t for t, k in self.tracks.items() if frame_index - k.last_frame > self.gone]
        return self._take(done)

    def _offer(self, kept: _Kept, item) -> None:
        near = [j for j, c in enumerate(kept.crops) if abs(c[1] - item[1]) < self.gap]
        if near:
            j = near[0]
            if item[0] > kept.crops[j][0]:
                kept.crops[j] = item
        elif len(kept.crops) < self.per_track:
            kept.crops.append(item)
        else:
            j = min(range(len(kept.crops)), key=lambda n: kept.crops[n][0])
            if item[0] > kept.crops[j][0]:
                kept.crops[j] = item

    def _take(self, tids) -> list[tuple[int, str, int, np.ndarray]]:
        out = []
        for tid in sorted(tids):
            kept = self.tracks.pop(tid)
            out += [(tid, kept.label, f, c) for _, f, c in sorted(kept.crops, key=lambda c: c[1])]
        return out

    def finish(self) -> list[tuple[int, str, int, np.ndarray]]:
        return self._take(list(self.tracks))
