"""Sub labels for tracked objects: a classifier of your own classes (``lookout train``) on the boxes
of some labels (``--classify-labels person``), a few times per track rather than every frame, its
probabilities averaged over the track.

    subs = SubLabeller(classifier, {"person"}, interval_s=2.0)
    dets = subs.update(image, tracked_dets, t_s)     # after the tracker: sub_labels / sub_scores set

A track is looked at when first confirmed, then every ``interval_s`` seconds and whenever its box
has grown by ``grow`` times in area since the last look (a closer, better view), at most
``max_looks`` times. The state is keyed by track id here, not in the tracker, and forgets a track
``forget_s`` seconds after it was last seen (memory stays bounded on a camera that runs for weeks).
A track whose vote is the class ``none`` gets no sub label.
"""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from detector.types.detections import Detections

NONE_CLASS = "none"


@dataclass
class _TrackVotes:
    probs: np.ndarray                 # sum of the looks' probabilities
    looks: int = 0
    last_t: float = -1e9
    last_area: float = 0.0
    seen_t: float = 0.0
    best: tuple[str | None, float] = field(default=(None, 0.0))


def crop_box(xyxy, width: int, height: int, margin: float) -> tuple[int, int, int, int] | None:
    """The box grown by ``margin`` of its size on each side, cut to the image: integer
    (x1, y1, x2, y2) pixels, or None when nothing of it is inside."""
    x1, y1, x2, y2 = (float(v) for v in xyxy)
    mx, my = (x2 - x1) * margin, (y2 - y1) * margin
    ix1, iy1 = max(0, int(np.floor(x1 - mx))), max(0, int(np.floor(y1 - my)))
    ix2, iy2 = min(width, int(np.ceil(x2 + mx))), min(height, int(np.ceil(y2 + my)))
    return (ix1, iy1, ix2, iy2) if ix2 - ix1 >= 2 and iy2 - iy1 >= 2 else None


class SubLabeller:
    def __init__(self, classifier, labels: set[str], interval_s: float = 2.0, grow: float = 1.5,
                 max_looks: int = 8, margin: float = 0.1, forget_s: float = 30.0):
        """``classifier``: a ``runtime.classifier.Classifier``; ``labels``: the detector labels it
        applies to; ``margin``: context around each box, as a fraction of its size per side."""
        self.classifier, self.labels = classifier, frozenset(labels)
        self.interval_s, self.grow, self.max_looks = interval_s, grow, max_looks
        self.margin, self.forget_s = margin, forget_s
        self.tracks: dict[int, _TrackVotes] = {}
        self.looks = 0  # crops classified in all (the cost: how often the classifier ran)

    def _due(self, v: _TrackVotes | None, t: float, area: float) -> bool:
        if v is None or v.looks == 0:
            return True
        if v.looks >= self.max_looks:
            return False
        return t - v.last_t >= self.interval_s or area >= self.grow * max(v.last_area, 1.0)

    def update(self, image: np.ndarray, dets: Detections, t: float) -> Detections:
        """``dets`` (tracked, raw boxes on ``image``, HxWx3 BGR) with ``sub_labels``/``sub_scores``
        for every confirmed track of the chosen labels that has a vote; ``t``: the frame's time in s."""
        if dets.track_ids is None or not len(dets):
            self._forget(t)
            return dets
        h, w = image.shape[:2]
        k = len(self.classifier.labels)
        todo, crops = [], []
        for i in range(len(dets)):
            tid = int(dets.track_ids[i])
            if tid < 0 or dets.labels[i] not in self.labels:
                continue
            v = self.tracks.get(tid)
            if v is not None:
                v.seen_t = t
            x1, y1, x2, y2 = (float(c) for c in dets.xyxy[i])
            area = max(x2 - x1, 0.0) * max(y2 - y1, 0.0)
            box = crop_box(dets.xyxy[i], w, h, self.margin)
            if box is None or not self._due(v, t, area):
                continue
            todo.append((tid, area))
            crops.append(image[box[1]:box[3], box[0]:box[2]])
        if crops:
            probs = self.classifier._probs(crops)  # one batched call for every track due this frame
            self.looks += len(crops)
            for (tid, area), p in zip(todo, probs):
                v = self.tracks.get(tid) or _TrackVotes(np.zeros(k, np.float64), seen_t=t)
                self.tracks[tid] = v
                v.probs += p
                v.looks += 1
                v.last_t, v.last_area = t, area
                mean = v.probs / v.looks
                j = int(mean.argmax())
                name = self.classifier.labels[j]
                v.best = (None if name == NONE_CLASS else name, float(mean[j]))
        names, scores = [], np.zeros(len(dets), np.float32)
        for i in range(len(dets)):
            v = self.tracks.get(int(dets.track_ids[i])) if dets.labels[i] in self.labels else None
            name, score = v.best if v is not None else (None, 0.0)
            names.append(name)
            scores[i] = score if name is not None else 0.0
        self._forget(t)
        return dets.with_sub_labels(tuple(names), scores)

    def _forget(self, t: float) -> None:
        for tid in [tid for tid, v in self.tracks.items() if t - v.seen_t > self.forget_s]:
            del self.tracks[tid]


def sub_labeller_for(config, classifier, detector) -> SubLabeller | None:
    """The stream's ``SubLabeller`` for ``config.classify_labels`` (None without them). ValueError,
    one line, for a label the detector does not know or one the classifier was not trained for (its
    card's ``objects``, when it names them)."""
    wanted = list(config.classify_labels)
    if not wanted or classifier is None:
        return None
    known = set(detector.labels[1:])
    unknown = [n for n in wanted if n not in known]
    if unknown:
        raise ValueError(f"--classify-labels {', '.join(unknown)}: not a label of {detector.name}; expected "
                         f"some of {', '.join(sorted(known - {'n/a', '???'}))}")
    objects = (getattr(classifier, "card", None) or {}).get("objects") or []
    foreign = [n for n in wanted if objects and n not in objects]
    if foreign:
        raise ValueError(f"--classify-labels {', '.join(foreign)}: {classifier.name} was trained on crops of "
                         f"{', '.join(objects)}; use --classify-labels {','.join(objects)} or train one for "
                         f"{', '.join(foreign)}")
    return SubLabeller(classifier, set(wanted), interval_s=config.classify_interval)
