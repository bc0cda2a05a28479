"""Multi-object tracking, ByteTrack-style: stable IDs for detections across frames.

    tracker = Tracker()                  # keyword options below
    dets = tracker.update(dets)          # the same Detections with ``track_ids`` (-1: not tracked)

Each track carries a Kalman filter on its box (centre x, centre y, aspect w/h, height, and their
velocities; constant velocity, noise scaled by the box height, as DeepSORT and ByteTrack set it).
Each frame: predict every track; match the confident detections (score >= ``high_threshold``) to
tracked and recently lost tracks by IoU (Hungarian assignment, IoU > 1 - ``match_threshold``,
IoU weighted by the score as ByteTrack does on MOT17); then match the weak detections to the
tracks still unmatched (IoU > 0.5), which keeps tracks alive through occlusion without starting
tracks on weak boxes; tracks born last frame need a second hit (IoU > 0.3) to be confirmed; a
confident detection left over starts a track if it scores >= ``new_track_threshold``. A track
unmatched for ``track_buffer`` frames is dropped. With ``per_class`` (the default) a detection
only matches tracks of its own class.

Boxes are xyxy pixels (the ``Detections`` convention). The assignment is SciPy's
``linear_sum_assignment``; the rest is NumPy.
"""
from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment

from detector.ops.iou import box_iou
from detector.types.detections import Detections

_STD_POS, _STD_VEL = 1.0 / 20, 1.0 / 160


class _Kalman:
    """Constant-velocity Kalman filter on (cx, cy, a, h) for many tracks at once, arrays (K, 8)."""

    F = np.eye(8)
    F[:4, 4:] = np.eye(4)
    H = np.eye(4, 8)

    @staticmethod
    def initiate(xyah: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        mean = np.concatenate([xyah, np.zeros(4)])
        h = xyah[3]
        std = np.array([2 * _STD_POS * h, 2 * _STD_POS * h, 1e-2, 2 * _STD_POS * h,
                        10 * _STD_VEL * h, 10 * _STD_VEL * h, 1e-5, 10 * _STD_VEL * h])
        return mean, np.diag(std ** 2)

    @classmethod
    def predict(cls, mean: np.ndarray, cov: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """mean (K, 8), cov (K, 8, 8) -> predicted, one frame on."""
        h = mean[:, 3]
        std = np.stack([_STD_POS * h, _STD_POS * h, np.full_like(h, 1e-2), _STD_POS * h,
                        _STD_VEL * h, _STD_VEL * h, np.full_like(h, 1e-5), _STD_VEL * h], axis=1)
        q = np.zeros_like(cov)
        q[:, np.arange(8), np.arange(8)] = std ** 2
        return mean @ cls.F.T, cls.F @ cov @ cls.F.T + q

    @classmethod
    def update(cls, mean: np.ndarray, cov: np.ndarray, xyah: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """One track: mean (8,), cov (8, 8), measurement (4,) -> corrected."""
        h = mean[3]
        r = np.diag(np.array([_STD_POS * h, _STD_POS * h, 1e-1, _STD_POS * h]) ** 2)
        s = cls.H @ cov @ cls.H.T + r
        gain = np.linalg.solve(s, (cov @ cls.H.T).T).T
        mean = mean + gain @ (xyah - cls.H @ mean)
        return mean, cov - gain @ s @ gain.T


def _xyah(xyxy: np.ndarray) -> np.ndarray:
    w, h = xyxy[..., 2] - xyxy[..., 0], xyxy[..., 3] - xyxy[..., 1]
    return np.stack([xyxy[..., 0] + w / 2, xyxy[..., 1] + h / 2, w / np.maximum(h, 1e-6), h], axis=-1)


def _xyxy(xyah: np.ndarray) -> np.ndarray:
    w = xyah[..., 2] * xyah[..., 3]
    cx, cy, h = xyah[..., 0], xyah[..., 1], xyah[..., 3]
    return np.stack([cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2], axis=-1)


def _assign(cost: np.ndarray, limit: float) -> tuple[list[tuple[int, int]], np.ndarray, np.ndarray]:
    """Minimum-cost matching keeping pairs with cost < limit: (pairs, unmatched rows, unmatched cols)."""
    if cost.size == 0:
        return [], np.arange(cost.shape[0]), np.arange(cost.shape[1])
    rows, cols = linear_sum_assignment(np.where(cost < limit, cost, limit + 1.0))
    pairs = [(r, c) for r, c in zip(rows, cols) if cost[r, c] < limit]
    used_r = {r for r, _ in pairs}
    used_c = {c for _, c in pairs}
    return (pairs, np.array([r for r in range(cost.shape[0]) if r not in used_r], dtype=np.int64),
            np.array([c for c in range(cost.shape[1]) if c not in used_c], dtype=np.int64))


class _Track:
    __slots__ = ("id", "mean", "cov", "class_id", "score", "hits", "confirmed", "last_frame")

    def __init__(self, track_id: int, xyxy: np.ndarray, class_id: int, score: float, frame: int, confirmed: bool):
        self.id = track_id
        self.mean, self.cov = _Kalman.initiate(_xyah(xyxy.astype(np.float64)))
        self.class_id, self.score = int(class_id), float(score)
        self.hits, self.confirmed, self.last_frame = 1, confirmed, frame


class Tracker:
    """See the module docstring. Options (keyword only):

    high_threshold: detections at or above it are matched first (0.5).
    new_track_threshold: a leftover detection must score this to start a track (0.5: the quantised
        COCO model scores in steps of 1/256 through a sigmoid, and a distant person often sits at
        0.50-0.58, which ByteTrack's 0.6 never lets start a track).
    match_threshold: first-stage IoU cost limit, matched when 1 - IoU*score < it (0.8).
    track_buffer: frames a lost track is kept for re-identification (30, one second at 30 fps).
    per_class: match detections only to tracks of the same class (True).
    """

    def __init__(self, *, high_threshold: float = 0.5, new_track_threshold: float = 0.5,
                 match_threshold: float = 0.8, track_buffer: int = 30, per_class: bool = True):
        if not 0 < match_threshold <= 1:
            raise ValueError(f"expected match_threshold in (0, 1], got {match_threshold}")
        if track_buffer < 1:
            raise ValueError(f"expected track_buffer >= 1 frame, got {track_buffer}")
        self.high_threshold, self.new_track_threshold = float(high_threshold), float(new_track_threshold)
        self.match_threshold, self.track_buffer, self.per_class = float(match_threshold), int(track_buffer), per_class
        self.reset()

    def reset(self) -> None:
        """Forget every track; IDs start again at 1."""
        self._tracks: list[_Track] = []
        self._next_id = 1
        self._frame = 0

    def _confirm(self, track: _Track) -> None:
        """IDs are handed out on confirmation, so they count objects (1, 2, 3, ...) without gaps."""
        track.confirmed, track.id = True, self._next_id
        self._next_id += 1

    def _cost(self, tracks: list[_Track], boxes: np.ndarray, classes: np.ndarray, scores: np.ndarray | None):
        if not tracks or not len(boxes):
            return np.zeros((len(tracks), len(boxes)))
        tb = _xyxy(np.stack([t.mean[:4] for t in tracks]))
        iou = box_iou(tb, boxes)
        if scores is not None:  # ByteTrack's score fusion: confident boxes win ties of overlap
            iou = iou * scores[None, :]
        cost = 1.0 - iou
        if self.per_class:
            cost[np.array([t.class_id for t in tracks])[:, None] != classes[None, :]] = 2.0
        return cost

    def update(self, dets: Detections) -> Detections:
        """Track one frame's detections; returns them with ``track_ids`` (int64, -1 for a box not (yet)
        part of a confirmed track). Call once per frame, in order."""
        self._frame += 1
        frame = self._frame
        boxes = np.asarray(dets.xyxy, dtype=np.float64).reshape(-1, 4)
        scores = np.asarray(dets.scores, dtype=np.float64)
        classes = np.asarray(dets.class_ids, dtype=np.int64)
        ids = np.full(len(dets), -1, dtype=np.int64)
        if self._tracks:
            mean, cov = _Kalman.predict(np.stack([t.mean for t in self._tracks]), np.stack([t.cov for t in self._tracks]))
            for t, m, c in zip(self._tracks, mean, cov):
                if frame - t.last_frame > 1:  # lost: ByteTrack stops its size from drifting
                    m[7] = 0.0
                t.mean, t.cov = m, c

        def hit(track: _Track, j: int) -> None:
            track.mean, track.cov = _Kalman.update(track.mean, track.cov, _xyah(boxes[j]))
            track.score, track.hits, track.last_frame = scores[j], track.hits + 1, frame
            track.class_id = int(classes[j])
            if not track.confirmed:
                self._confirm(track)
            ids[j] = track.id

        confirmed = [t for t in self._tracks if t.confirmed]
        pending = [t for t in self._tracks if not t.confirmed]
        high = np.flatnonzero(scores >= self.high_threshold)
        low = np.flatnonzero((scores < self.high_threshold) & (scores > 0.1))
        # 1: confident detections to confirmed tracks, tracked or lost
        pairs, left_t, left_h = _assign(self._cost(confirmed, boxes[high], classes[high], scores[high]),
                                        self.match_threshold)
        for r, c in pairs:
            hit(confirmed[r], high[c])
        # 2: weak detections to the confirmed tracks that were tracked last frame and are still free
        free = [confirmed[r] for r in left_t if confirmed[r].last_frame == frame - 1]
        pairs, _, _ = _assign(self._cost(free, boxes[low], classes[low], None), 0.5)
        for r, c in pairs:
            hit(free[r], low[c])
        # 3: tracks born last frame take a second hit from the confident leftovers, or go
        rest = high[left_h]
        pairs, _, left_r = _assign(self._cost(pending, boxes[rest], classes[rest], scores[rest]), 0.7)
        for r, c in pairs:
            hit(pending[r], rest[c])
        matched_pending = {id(pending[r]) for r, _ in pairs}
        # 4: new tracks from the confident detections nobody took
        born = []
        for j in rest[left_r]:
            if scores[j] >= self.new_track_threshold:
                # On the first frame tracks start confirmed (as ByteTrack does); later they need a second hit.
                t = _Track(0, boxes[j], classes[j], scores[j], frame, confirmed=False)
                if frame == 1:
                    self._confirm(t)
                    ids[j] = t.id
                born.append(t)
        self._tracks = [t for t in confirmed if frame - t.last_frame <= self.track_buffer] + \
                       [t for t in pending if id(t) in matched_pending] + born
        return dets.with_track_ids(ids)

    @property
    def active_tracks(self) -> int:
        """Tracks seen this frame (confirmed)."""
        return sum(1 for t in self._tracks if t.confirmed and t.last_frame == self._frame)
