"""Multi-object tracking, ByteTrack-style: stable IDs for detections across frames.

    tracker = Tracker()                  # keyword options below
    dets = tracker.update(dets)          # the same Detections with ``track_ids`` (-1: not tracked)

Each track carries a Kalman filter on its box (centre x, centre y, aspect w/h, height, and their
velocities; constant velocity, noise scaled by the box height, as DeepSORT and ByteTrack set it).
Each frame: predict every track; match the confident detections (score >= ``high_threshold``) to
tracked and recently lost tracks by IoU (Hungarian assignment, IoU > 1 - ``match_threshold``,
IoU weighted by the score as ByteTrack does on MOT17); then match the weak detections to the
tracks still unmatched that were tracked last frame (IoU > 0.5), which keeps tracks alive through
occlusion without starting tracks on weak boxes. A *still* track (a label that parks,
``still_labels``: its box within ``still_shift`` of its size of where it stopped for ``still_s``
seconds) is matched against where it stopped as well as where its filter points, takes weak boxes
lost or not, and is not moved by a weak box or by one lying inside where it stopped (a part of it
seen): a parked car scored under ``high_threshold`` in some views, missed in others and half
hidden by a passer-by stays one track. A new track is confirmed on a second hit (IoU > 0.3) that
is new evidence, a box that differs from its first (IoU below 0.99), or else once it has been
matched in every frame for ``confirm_s`` seconds: a camera at 25 fps sends a slow scene's frames
several times over, and a box seen in one real frame must not become a track on its copies; a
confident detection left over starts a track if it scores >= ``new_track_threshold``. With
``weak_threshold`` below that (off by default), one scoring ``weak_threshold`` to
``new_track_threshold`` starts a *weak* track, confirmed once it has been matched in every frame for
``weak_confirm_s`` seconds, or as any other once the median of its scores reaches the new-track bar
(Frigate confirms by a median score; a best score would confirm sooner at 25 fps than at 10): a far
person the model scores 0.50-0.58 on a squeezed frame gets a track, and so does a still thing it
scores so. A track confirmed after a while pending hands its boxes of then to ``backfill``
(id -> [(time, xyxy), ...], this frame only), so the counters can count the lines it crossed
meanwhile. With ``per_class`` (the default) a detection only matches tracks of its own class, or of
a class the model confuses it with on one object (``same_kind``: car, truck and bus; a parked van is
a car in one view and a truck in the next, and must stay one track, one event).

Lost tracks are kept for ``lost_s`` seconds of the source's clock (``time_s``; without it, frames
at ``frame_rate``), so a track holds for as long at 5 fps as at 30. Between stage 1 and 2, a
confident detection nobody took may *re-link* a lost track: same class, a similar height (within
a factor 1.5), its centre within ``relink_base + relink_speed * seconds lost`` box heights of where
the track's motion predicts, standing apart (its IoU with every other confident box at most
``relink_isolation``: in a group the box nobody took is most often a neighbour's, whom neither
position nor appearance tells apart), and, when an ``embed`` function gives appearance
vectors (``runtime.onnx.appearance``), a cosine similarity of at least ``1 - appearance_gate`` to
the track's vector (an average of its unoccluded boxes', refreshed every ``refresh_s``; the
vectors a frame needs are computed in one batch); without ``embed``, no re-link. Track
*stitching*: a new track confirmed on its second hit that passes the same test against a lost
track, less the standing apart (a second hit is more evidence), takes that track's ID.

With ``camera_motion`` (the default) and the frame given, every track's prediction and still
anchor move as the camera moved since the last frame (``ops.camera_motion``: a similarity transform
from optical flow on the background, as BoT-SORT compensates), so a panning camera's people keep
their IDs; a camera standing still gives no transform and changes nothing.

Boxes are xyxy pixels (the ``Detections`` convention). The assignment is SciPy's
``linear_sum_assignment``; the rest is NumPy.
"""
from __future__ import annotations

import numpy as np
from scipy.optimize import linear_sum_assignment

from detector.ops.camera_motion import CameraMotion, warp_boxes, warp_scale
from detector.ops.iou import box_iou, box_moved
from detector.ops.regions import inside_fraction
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
    __slots__ = ("id", "mean", "cov", "kind", "score", "hits", "confirmed", "last_frame", "last_time",
                 "last_box", "feature", "first_time", "first_box", "feature_time", "weak", "path", "scores",
                 "anchor", "anchor_time", "parks")

    def __init__(self, track_id: int, xyxy: np.ndarray, kind: int, score: float, frame: int, confirmed: bool,
                 time_s: float, feature: np.ndarray | None):
        self.id = track_id
        self.mean, self.cov = _Kalman.initiate(_xyah(xyxy.astype(np.float64)))
        self.kind, self.score = int(kind), float(score)  # kind: class id or group key
        self.hits, self.confirmed, self.last_frame, self.last_time = 1, confirmed, frame, time_s
        self.last_box = xyxy.astype(np.float64)
        self.first_time, self.first_box = time_s, self.last_box
        self.feature = None if feature is None else feature.astype(np.float16)
        self.feature_time = time_s
        self.weak = False  # started on a box under new_track_threshold: confirmed on time, not a second hit
        # while pending: (time, box) of each hit, oldest first (None once confirmed)
        self.path: list | None = [(time_s, self.last_box)]
        self.scores = [self.score]  # its scores while pending
        # where it stopped (xyxy) and since when; whether its label is one that parks (``still_labels``)
        self.anchor, self.anchor_time, self.parks = self.last_box, time_s, False

    def blend(self, feature: np.ndarray) -> None:
        """The track's appearance: a running average of its boxes' unit vectors (0.9 old, 0.1 new, as
        BoT-SORT keeps it), so one odd box does not replace it."""
        if self.feature is None:
            self.feature = feature.astype(np.float16)
            return
        v = 0.9 * self.feature.astype(np.float32) + 0.1 * feature
        self.feature = (v / max(float(np.linalg.norm(v)), 1e-6)).astype(np.float16)


VEHICLES = frozenset({"car", "truck", "bus"})


class Tracker:
    """See the module docstring. Options (keyword only):

    high_threshold: detections at or above it are matched first (0.6; ByteTrack's. From 0.5, a
        quarter fewer identity switches and IDF1 up on fifteen public runs, once still
        vehicles kept their weak boxes: docs/tracking.md, round 8).
    new_track_threshold: a leftover detection must score this to start a track confirmed on its
        second hit (0.6, ByteTrack's; measured on MOT15, docs/tracking.md).
    weak_threshold: a leftover detection scoring this (up to new_track_threshold) starts a weak
        track (None: new_track_threshold, whatever it is set to, so no weak starts. 0.5 was the
        default until round 7, for the far people of a frame squeezed whole; on the public sequences
        with the regions default it cost IDF1 and kept still false boxes as tracks, docs/tracking.md).
    weak_confirm_s: seconds a weak track is matched in every frame before it is confirmed (0.3).
    match_threshold: first-stage IoU cost limit, matched when 1 - IoU*score < it (0.8).
    lost_s: seconds of the source's clock a lost track is kept for re-identification (3.0).
    confirm_s: seconds a new track seen only in repeated boxes is matched in every frame before it
        is confirmed (0.09: more than the 0.08 s of three copies of a 10 fps frame at 25 fps).
    refresh_s: how often a tracked box's appearance vector is computed to update its track's
        (0.5 s; boxes no track took by overlap get one every frame).
    track_buffer: if given, also drop a lost track after this many frames (None: by time only).
    frame_rate: the clock when ``update`` is given no ``time_s`` (frame / frame_rate; 30).
    per_class: match detections only to tracks of the same class (True).
    same_kind: label sets matched as one class with ``per_class`` (car, truck, bus).
    embed: ``(bgr, xyxy (N, 4)) -> (N, D)`` unit appearance vectors, or None (position only).
    appearance_gate: re-link and stitch only when 1 - cosine similarity is below it (0.2).
    relink_base, relink_speed: a lost track re-links or stitches to a box whose centre is within
        ``relink_base + relink_speed * seconds lost`` box heights of where its motion points (0.5,
        and 1.0 a second: a walker covers about 0.8 of their height a second; measured on MOT15
        TUD-Stadtmitte, TUD-Campus and ADL-Rundle-6, docs/tracking.md).
    relink_isolation: a re-link's box overlaps no other confident box by more than this IoU (0.1).
    still_labels: labels whose tracks may be still (car, truck, bus: parked; people standing in a
        group are not helped by it, docs/tracking.md round 8).
    still_s, still_shift: a track is still once its boxes have stayed within ``still_shift`` of its
        width and height (and a third of its size) of where it stopped for ``still_s`` seconds
        (0.5 s, 0.2: the regions planner's notion of a still object).
    camera_motion: move the tracks with the camera when ``update`` is given the frame (True; the
        demo clip panned across: 13 person IDs instead of 25, docs/tracking.md round 9).
    """

    def __init__(self, *, high_threshold: float = 0.6, new_track_threshold: float = 0.6,
                 match_threshold: float = 0.8, lost_s: float = 3.0, track_buffer: int | None = None,
                 frame_rate: float = 30.0, per_class: bool = True, embed=None, appearance_gate: float = 0.2,
                 relink_speed: float = 1.0, confirm_s: float = 0.09, refresh_s: float = 0.5,
                 relink_base: float = 0.5, relink_isolation: float = 0.1, weak_threshold: float | None = None,
                 weak_confirm_s: float = 0.3, same_kind: tuple[frozenset, ...] = (VEHICLES,),
                 still_labels: frozenset = VEHICLES, still_s: float = 0.5, still_shift: float = 0.2,
                 camera_motion: bool = True):
        if not 0 < match_threshold <= 1:
            raise ValueError(f"expected match_threshold in (0, 1], got {match_threshold}")
        if track_buffer is not None and track_buffer < 1:
            raise ValueError(f"expected track_buffer >= 1 frame, got {track_buffer}")
        if not lost_s > 0 or not frame_rate > 0:
            raise ValueError(f"expected lost_s and frame_rate above 0, got {lost_s} and {frame_rate}")
        self.high_threshold, self.new_track_threshold = float(high_threshold), float(new_track_threshold)
        self.match_threshold, self.track_buffer, self.per_class = float(match_threshold), track_buffer, per_class
        self.lost_s, self.frame_rate, self.embed = float(lost_s), float(frame_rate), embed
        self.confirm_s, self.refresh_s = float(confirm_s), float(refresh_s)
        self.appearance_gate, self.relink_speed = float(appearance_gate), float(relink_speed)
        self.relink_base, self.relink_isolation = float(relink_base), float(relink_isolation)
        self.weak_threshold = self.new_track_threshold if weak_threshold is None else \
            min(float(weak_threshold), self.new_track_threshold)
        self.weak_confirm_s = float(weak_confirm_s)
        self.still_labels, self.still_s, self.still_shift = frozenset(still_labels), float(still_s), float(still_shift)
        self.camera_motion = bool(camera_motion)
        # a grouped label's key: below every class id, so never one of them
        self._kind = {label: -1 - k for k, group in enumerate(same_kind) for label in group}
        self.distance_weight = 0.05
        self.relinked = 0   # lost tracks picked up again by the re-link stage (not by overlap)
        self.stitched = 0   # new tracks that took a lost track's ID
        self.reset()

    def reset(self) -> None:
        """Forget every track; IDs start again at 1."""
        self._tracks: list[_Track] = []
        self._next_id = 1
        self._frame = 0
        self.jumped: set[int] = set()
        self.backfill: dict[int, list[tuple[float, np.ndarray]]] = {}
        self._motion = CameraMotion()
        self.warp: np.ndarray | None = None  # how the camera moved into this frame (None: it stood still)

    def _confirm(self, track: _Track) -> None:
        """IDs are handed out on confirmation, so they count objects (1, 2, 3, ...) without gaps."""
        track.confirmed, track.id = True, self._next_id
        self._next_id += 1

    def _relink_cost(self, tracks: list[_Track], boxes: np.ndarray, classes: np.ndarray, feats, now: float):
        """(T, N) cost of a lost track going on as a box: 1 - similarity (plus a little for distance),
        inf outside the gate. All inf without appearance vectors: by position alone, re-linking
        lowered IDF1 on the hidden-detection benchmark (docs/tracking.md)."""
        cost = np.full((len(tracks), len(boxes)), np.inf)
        if not tracks or not len(boxes) or feats is None:
            return cost
        centres = np.stack([(boxes[:, 0] + boxes[:, 2]) / 2, (boxes[:, 1] + boxes[:, 3]) / 2], 1)
        heights = np.maximum(boxes[:, 3] - boxes[:, 1], 1.0)
        for r, t in enumerate(tracks):
            h = max(t.last_box[3] - t.last_box[1], 1.0)
            # around where its motion points, the uncertainty growing with the time lost (not also
            # around where it was last seen: in a group, that is where the neighbours are)
            dist = np.linalg.norm(centres - t.mean[:2], axis=1) / h
            gate = self.relink_base + self.relink_speed * max(now - t.last_time, 0.0)
            ok = (dist <= gate) & (heights / h <= 1.5) & (h / heights <= 1.5)
            if self.per_class:
                ok &= classes == t.kind
            if t.feature is None:
                continue
            dissimilar = 1.0 - feats @ t.feature.astype(np.float32)
            ok &= dissimilar < self.appearance_gate
            cost[r, ok] = dissimilar[ok] + self.distance_weight * dist[ok] / gate
        return cost

    def _cost(self, tracks: list[_Track], boxes: np.ndarray, classes: np.ndarray, scores: np.ndarray | None):
        """(T, N) 1 - IoU (times the score, with ``scores``) against each track's predicted box, and
        for a still track against where it stopped too (the better of the two); 2 across classes."""
        if not tracks or not len(boxes):
            return np.zeros((len(tracks), len(boxes)))
        iou = box_iou(_xyxy(np.stack([t.mean[:4] for t in tracks])), boxes)
        for r, t in enumerate(tracks):
            if self._still(t):  # its filter may have followed a half box, or drifted while it was lost
                iou[r] = np.maximum(iou[r], box_iou(t.anchor[None], boxes)[0])
        if scores is not None:  # ByteTrack's score fusion: confident boxes win ties of overlap
            iou = iou * scores[None, :]
        cost = 1.0 - iou
        if self.per_class:
            cost[np.array([t.kind for t in tracks])[:, None] != classes[None, :]] = 2.0
        return cost

    def update(self, dets: Detections, time_s: float | None = None, image: np.ndarray | None = None) -> Detections:
        """Track one frame's detections; returns them with ``track_ids`` (int64, -1 for a box not (yet)
        part of a confirmed track). Call once per frame, in order. ``time_s``: the frame's time on
        the source's clock (seconds; default frame number / ``frame_rate``); ``image``: the BGR
        frame the boxes are in, for the appearance vectors and the camera's motion (neither without it)."""
        self._frame += 1
        frame = self._frame
        self.jumped = set()  # IDs picked up again this frame away from where they were lost
        self.backfill = {}
        now = float(time_s) if time_s is not None else frame / self.frame_rate
        boxes = np.asarray(dets.xyxy, dtype=np.float64).reshape(-1, 4)
        scores = np.asarray(dets.scores, dtype=np.float64)
        # what a box may match: its class id, or its group's key (``same_kind``)
        classes = np.array([self._kind.get(label, c) for label, c in zip(dets.labels, dets.class_ids)], np.int64)
        parks = np.array([label in self.still_labels for label in dets.labels], bool)
        ids = np.full(len(dets), -1, dtype=np.int64)
        high = np.flatnonzero(scores >= self.high_threshold)
        feats = None  # (N, D) appearance vectors, filled after stage 1 for the boxes that need one
        clean: set = set()
        if self.embed is not None and image is not None:
            # a box overlapping another confident box shows some of that object too
            overlap = box_iou(boxes[high], boxes[high]) if len(high) else np.zeros((0, 0))
            np.fill_diagonal(overlap, 0.0)
            clean = set(high[overlap.max(axis=1) < 0.3].tolist()) if len(high) > 1 else set(high.tolist())
        if self._tracks:
            mean, cov = _Kalman.predict(np.stack([t.mean for t in self._tracks]), np.stack([t.cov for t in self._tracks]))
            for t, m, c in zip(self._tracks, mean, cov):
                if frame - t.last_frame > 1:  # lost: ByteTrack stops its size from drifting
                    m[7] = 0.0
                t.mean, t.cov = m, c
        self.warp = self._motion.estimate(image, boxes, now) if self.camera_motion and image is not None else None
        if self.warp is not None and self._tracks:
            self._follow_camera(self.warp)

        def hit(track: _Track, j: int, jump: bool = False, weak: bool = False) -> None:
            if self._still(track) and (weak or inside_fraction(boxes[j][None], track.anchor[None])[0, 0] >= 0.8):
                pass  # neither a weak box nor one showing part of it moves a still object (a parked van
                # half hidden by a passer-by)
            elif box_moved(track.anchor, boxes[j], self.still_shift):
                track.anchor, track.anchor_time = boxes[j], now
            track.parks = bool(parks[j])
            if jump:  # re-linked far from its prediction: start its motion again from the box
                track.mean, track.cov = _Kalman.initiate(_xyah(boxes[j]))
            else:
                track.mean, track.cov = _Kalman.update(track.mean, track.cov, _xyah(boxes[j]))
            track.score, track.hits, track.last_frame, track.last_time = scores[j], track.hits + 1, frame, now
            track.kind, track.last_box = int(classes[j]), boxes[j]
            if feats is not None and j in clean:
                track.blend(feats[j])
                track.feature_time = now
            if not track.confirmed:
                track.path.append((now, boxes[j]))
                track.scores.append(scores[j])
                if track.weak and np.median(track.scores) >= self.new_track_threshold:
                    # confident by the median of its scores (not their best: a 25 fps camera gives
                    # more scores a second, and the best of more is higher): as any other new track
                    track.weak = False
                if track.weak:
                    if now - track.first_time < self.weak_confirm_s:
                        return  # a weak start: pending until it has held for weak_confirm_s
                else:
                    changed = box_iou(track.first_box[None], boxes[j][None])[0, 0] < 0.99
                    if not changed and now - track.first_time < self.confirm_s:
                        return  # the same box again: pending a while longer, no ID yet
                self._confirm_or_stitch(track, j, boxes, classes, feats, now, frame)
                # where it went while pending, for counters to see the lines it crossed meanwhile
                self.backfill[track.id] = track.path[:-1]
                track.path, track.scores = None, None
            ids[j] = track.id

        confirmed = [t for t in self._tracks if t.confirmed]
        pending = [t for t in self._tracks if not t.confirmed]
        low = np.flatnonzero((scores < self.high_threshold) & (scores > 0.1))
        # 1: confident detections to confirmed tracks, tracked or lost
        pairs, left_t, left_h = _assign(self._cost(confirmed, boxes[high], classes[high], scores[high]),
                                        self.match_threshold)
        for r, c in pairs:
            hit(confirmed[r], high[c])
        if self.embed is not None and image is not None:
            feats = self._embed(image, boxes, high, left_h, [(confirmed[r], high[c]) for r, c in pairs], clean, now)
        # 1b: confident detections left to lost tracks, by position and appearance
        lost = [confirmed[r] for r in left_t if confirmed[r].last_frame < frame - 1]
        if lost and len(left_h) and feats is not None:
            cand = high[left_h]
            cost = self._relink_cost(lost, boxes[cand], classes[cand], feats[cand], now)
            others = box_iou(boxes[cand], boxes[high])
            others[cand[:, None] == high[None, :]] = 0.0  # a box against itself
            cost[:, others.max(axis=1) > self.relink_isolation] = np.inf
            pairs, _, rest_c = _assign(cost, 1e9)
            for r, c in pairs:
                hit(lost[r], cand[c], jump=True)
                self.relinked += 1
                self.jumped.add(lost[r].id)
            left_h = left_h[rest_c]
            left_t = np.array([r for r in left_t if confirmed[r].last_frame < frame], dtype=np.int64)
        # 2: weak detections to the confirmed tracks still free that were tracked last frame, or are
        # still (lost or not, by overlap with where they stopped: a parked car scored under
        # high_threshold in some views, and missed in others, is one object)
        free = [confirmed[r] for r in left_t if confirmed[r].last_frame == frame - 1 or self._still(confirmed[r])]
        pairs, _, left_l = _assign(self._cost(free, boxes[low], classes[low], None), 0.5)
        for r, c in pairs:
            hit(free[r], low[c], weak=True)
        # 3: new tracks take another hit from the leftovers that may start one, or go
        rest = high[left_h]
        if self.weak_threshold < self.high_threshold:
            spare = low[left_l]
            rest = np.sort(np.concatenate([rest, spare[scores[spare] >= self.weak_threshold]]))
        rest = rest[~self._renamed(rest, ids, boxes, classes, np.asarray(dets.class_ids))]
        pairs, _, left_r = _assign(self._cost(pending, boxes[rest], classes[rest], scores[rest]), 0.7)
        for r, c in pairs:
            hit(pending[r], rest[c])
        matched_pending = {id(pending[r]) for r, _ in pairs}
        # 4: new tracks from the leftovers at weak_threshold or above (weak below new_track_threshold)
        born = []
        for j in rest[left_r]:
            if scores[j] >= self.weak_threshold:  # (never above new_track_threshold)
                # On the first frame tracks start confirmed (as ByteTrack does); later they need a second hit.
                t = _Track(0, boxes[j], classes[j], scores[j], frame, False, now,
                           feats[j] if feats is not None and j in clean else None)
                t.weak = scores[j] < self.new_track_threshold
                if frame == 1 and not t.weak:
                    self._confirm(t)
                    ids[j] = t.id
                born.append(t)
        kept = [t for t in confirmed if t.confirmed and now - t.last_time <= self.lost_s
                and (self.track_buffer is None or frame - t.last_frame <= self.track_buffer)]
        self._tracks = kept + [t for t in pending if id(t) in matched_pending] + born
        return dets.with_track_ids(ids)

    def _follow_camera(self, warp: np.ndarray) -> None:
        """Move every track's prediction (position, height and their velocities, with their covariance)
        and still anchor as the camera moved: ``warp`` (2, 3) from the last frame to this one."""
        a, s = warp[:, :2], warp_scale(warp)
        t = np.eye(8)
        t[0:2, 0:2] = t[4:6, 4:6] = a
        t[3, 3] = t[7, 7] = s
        for track in self._tracks:
            track.mean = t @ track.mean
            track.mean[:2] += warp[:, 2]
            track.cov = t @ track.cov @ t.T
            track.anchor = warp_boxes(warp, track.anchor)[0]

    def _still(self, track: _Track) -> bool:
        """A track of a label that parks, seen near where it stopped for ``still_s`` or longer."""
        return track.parks and track.last_time - track.anchor_time >= self.still_s

    @staticmethod
    def _renamed(rest: np.ndarray, ids: np.ndarray, boxes: np.ndarray, kinds: np.ndarray,
                 class_ids: np.ndarray) -> np.ndarray:
        """(len(rest),) bool: the box is a second name for an object a track took this frame (another
        class of its kind, IoU >= 0.5 with that box: the model's per-class NMS, and regions' merge,
        keep a van's car and truck boxes both); it starts no track of its own."""
        taken = np.flatnonzero(ids >= 0)
        if not len(taken) or not (kinds[rest] < 0).any():  # only a grouped kind (key < 0) has other names
            return np.zeros(len(rest), bool)
        iou = box_iou(boxes[rest], boxes[taken])
        other = (kinds[rest][:, None] == kinds[taken][None, :]) & (class_ids[rest][:, None] != class_ids[taken][None, :])
        return ((iou >= 0.5) & other).any(axis=1)

    def _embed(self, image, boxes, high, left_h, matched, clean, now) -> np.ndarray:
        """Appearance vectors, in one batch, for the boxes that need one this frame: the confident
        boxes no track took by overlap (they may re-link, stitch or start a track) and the unoccluded
        boxes of tracks whose vector is ``refresh_s`` old; (N, D), zeros elsewhere. Vectors of the
        matched tracks are blended in here."""
        stale = [(t, j) for t, j in matched if j in clean and (t.feature is None or now - t.feature_time >= self.refresh_s)]
        need = sorted(set(high[left_h].tolist()) | {j for _, j in stale})
        got = np.asarray(self.embed(image, boxes[need]), np.float32) if need else np.zeros((0, 1), np.float32)
        feats = np.zeros((len(boxes), got.shape[1]), np.float32)
        feats[need] = got
        for t, j in stale:
            t.blend(feats[j])
            t.feature_time = now
        return feats

    def _confirm_or_stitch(self, track: _Track, j: int, boxes, classes, feats, now: float, frame: int) -> None:
        """A new track's second hit: it continues a lost track that passes the re-link test (the
        best one) under that track's ID, else it gets a new ID."""
        lost = [t for t in self._tracks if t.confirmed and t.last_frame < frame]
        if lost and feats is not None and feats[j].any():  # (a box no vector was computed for: no stitch)
            cost = self._relink_cost(lost, boxes[j:j + 1], classes[j:j + 1], feats[j:j + 1], now)[:, 0]
            best = int(np.argmin(cost))
            if np.isfinite(cost[best]):
                old = lost[best]
                track.confirmed, track.id, track.hits = True, old.id, old.hits + track.hits
                if old.feature is not None:
                    track.feature = old.feature if track.feature is None else track.feature
                old.id, old.confirmed = -1, False  # gone: dropped at the end of this frame
                self.stitched += 1
                self.jumped.add(track.id)
                return
        self._confirm(track)

    @property
    def alive_ids(self) -> set[int]:
        """IDs of the confirmed tracks kept, seen this frame or lost (and perhaps picked up again)."""
        return {t.id for t in self._tracks if t.confirmed}

    @property
    def active_tracks(self) -> int:
        """Tracks seen this frame (confirmed)."""
        return sum(1 for t in self._tracks if t.confirmed and t.last_frame == self._frame)
