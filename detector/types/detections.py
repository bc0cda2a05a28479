"""The one result type that flows from the models to every sink."""
from __future__ import annotations

from dataclasses import dataclass, replace

import numpy as np


@dataclass(frozen=True)
class Classification:
    """Top-k classifier output, best first: (label, probability) pairs."""

    top: tuple[tuple[str, float], ...]

    def with_sub_labels(self, sub_labels: tuple[str | None, ...], sub_scores: np.ndarray) -> "Detections":
        return replace(self, sub_labels=tuple(sub_labels), sub_scores=np.asarray(sub_scores, np.float32).reshape(-1))

    def to_json(self) -> list[dict]:
        return [{"label": label, "score": round(float(p), 4)} for label, p in self.top]


@dataclass(frozen=True)
class Detections:
    """Detections on one image, best score first.

    xyxy: (N, 4) float32 ``[x1, y1, x2, y2]`` in pixels of the source image (x right, y down;
    x2/y2 are the far edges, so a box covering the whole W x H image is ``[0, 0, W, H]``).
    scores: (N,) float32 in 0..1. class_ids: (N,) int64, the model's own ids (person = 1).
    labels: N names. box_classes: optional per-box classifier results (N entries) and
    frame_class: optional whole-frame classifier result. track_ids: optional (N,) int64 from a
    ``Tracker`` (-1 for a box not part of a confirmed track).
    sub_labels: optional (N,) names from a classifier of your own classes run on tracked objects
    (``--classify-labels``), voted over each track; None for a box without one. sub_scores: (N,)
    float32, the vote's mean probability of that name (0 where there is none).
    clipped: False for the model's raw boxes, which may reach past the image edges (what the
    parity tests compare and the tracker follows); True once ``clip`` has cut them to the image,
    as every output (JSONL, CSV, drawing) shows them.
    """

    xyxy: np.ndarray
    scores: np.ndarray
    class_ids: np.ndarray
    labels: tuple[str, ...]
    box_classes: tuple[Classification, ...] | None = None
    frame_class: Classification | None = None
    image_hw: tuple[int, int] = (0, 0)
    track_ids: np.ndarray | None = None
    clipped: bool = False
    sub_labels: tuple[str | None, ...] | None = None
    sub_scores: np.ndarray | None = None

    def __post_init__(self):
        n = len(self.scores)
        if self.xyxy.shape != (n, 4) or len(self.class_ids) != n or len(self.labels) != n:
            raise ValueError(f"expected xyxy (N, 4), scores, class_ids and labels of one length N, got "
                             f"{self.xyxy.shape}, {self.scores.shape}, {self.class_ids.shape}, {len(self.labels)}")
        if self.track_ids is not None and len(self.track_ids) != n:
            raise ValueError(f"expected {n} track ids, one per box, got {len(self.track_ids)}")
        if self.sub_labels is not None and (len(self.sub_labels) != n or self.sub_scores is None
                                            or len(self.sub_scores) != n):
            raise ValueError(f"expected {n} sub labels and sub scores, one per box")
        for a in (self.xyxy, self.scores, self.class_ids, self.track_ids, self.sub_scores):
            if a is not None:
                a.setflags(write=False)

    def __len__(self) -> int:
        return len(self.scores)

    def filter(self, mask: np.ndarray) -> "Detections":
        """A new Detections with the rows where ``mask`` (N,) bool is true."""
        idx = np.flatnonzero(mask)
        return Detections(self.xyxy[idx], self.scores[idx], self.class_ids[idx],
                          tuple(self.labels[i] for i in idx),
                          tuple(self.box_classes[i] for i in idx) if self.box_classes is not None else None,
                          self.frame_class, self.image_hw,
                          self.track_ids[idx] if self.track_ids is not None else None, self.clipped,
                          tuple(self.sub_labels[i] for i in idx) if self.sub_labels is not None else None,
                          self.sub_scores[idx] if self.sub_scores is not None else None)

    def clip(self, width: int, height: int) -> "Detections":
        """A new Detections with every box cut to the ``width`` x ``height`` image, x in [0, width]
        and y in [0, height] (same rows, order and fields; a box wholly outside keeps zero area
        on the edge rather than vanishing, so row counts match the raw boxes)."""
        lim = np.array([width, height, width, height], np.float32)
        return replace(self, xyxy=np.clip(self.xyxy, 0, lim).astype(np.float32), clipped=True)

    def with_classes(self, box_classes=None, frame_class=None) -> "Detections":
        return replace(self, box_classes=box_classes if box_classes is not None else self.box_classes,
                       frame_class=frame_class if frame_class is not None else self.frame_class)

    def with_track_ids(self, track_ids: np.ndarray) -> "Detections":
        return replace(self, track_ids=np.asarray(track_ids, dtype=np.int64).reshape(-1))

    def with_sub_labels(self, sub_labels: tuple[str | None, ...], sub_scores: np.ndarray) -> "Detections":
        return replace(self, sub_labels=tuple(sub_labels), sub_scores=np.asarray(sub_scores, np.float32).reshape(-1))

    @classmethod
    def from_json(cls, items: list[dict], image_hw: tuple[int, int] = (0, 0)) -> "Detections":
        """The boxes of one JSONL line's ``detections`` list (``to_json``'s output): xyxy, score,
        class_id, label and, where the line has them, track_id (classifications are not read)."""
        tracked = bool(items) and "track_id" in items[0]
        return cls(np.array([d["xyxy"] for d in items], np.float32).reshape(-1, 4),
                   np.array([d["score"] for d in items], np.float32),
                   np.array([d["class_id"] for d in items], np.int64), tuple(d["label"] for d in items),
                   image_hw=image_hw,
                   track_ids=np.array([d.get("track_id", -1) for d in items], np.int64) if tracked else None)

    def to_json(self) -> list[dict]:
        out = []
        for i in range(len(self)):
            d = {"xyxy": [round(float(v), 2) for v in self.xyxy[i]], "score": round(float(self.scores[i]), 4),
                 "class_id": int(self.class_ids[i]), "label": self.labels[i]}
            if self.track_ids is not None:
                d["track_id"] = int(self.track_ids[i])
            if self.box_classes is not None:
                d["classification"] = self.box_classes[i].to_json()
            if self.sub_labels is not None and self.sub_labels[i] is not None:
                d["sub_label"], d["sub_score"] = self.sub_labels[i], round(float(self.sub_scores[i]), 4)
            out.append(d)
        return out
