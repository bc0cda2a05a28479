"""What the detector looks at in each frame (``--regions``): the region stage between a frame and
the detector.

- ``off``: the whole frame squeezed to the model's input, as always (bit for bit: no crop, no merge).
- ``grid``: the whole frame plus two fixed grids of overlapping square tiles (fine and coarse: one object
  seen at two scales and two placements), every frame; deterministic, for files, images and batch.
  ``grid:CxR``: the whole frame plus that one grid.
- ``auto``: squares around the objects already seen (where their motion predicts them), around
  motion outside those, one grid tile a frame in turn (the sweep: what never moved is found too),
  and the whole frame every ``FULL_EVERY`` detected frames (large objects; also whenever an object
  seen only cut by regions' edges is too big for a busy scene's tiles); the first frame gets the
  whole grid. An object that has not moved for ``STILL_AFTER`` detections is re-checked every
  ``recheck_s`` seconds instead of every frame, its box carried meanwhile. A look at least ``PAUSE_S``
  after the last (a motion-gated keyframe) looks at each object through the crop that found it while
  nothing moved there. Images get ``grid``.
- default (no option): ``auto`` for frames whose longer side is at least ``LARGE`` times the model's
  input (squeezed that much across, people lose most of their width: 768 x 576, 720p, 1080p, 4K, a
  wide 1224 x 370), ``off`` for smaller ones (a 640 x 480 webcam).

Every region is a square no smaller than the model's input; boxes come back to frame pixels as the
crop's box plus its offset (``ops.regions``). Planning is deterministic for files: time is the
frame's own timestamp, so a rerun looks at the same regions.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import cv2
import numpy as np

from detector.ops import regions as ops
from detector.ops.iou import box_iou, box_moved
from detector.types.detections import Detections
from detector.types.frames import Frame
from detector.types.regions import Region

MODES = ("auto", "grid", "off")
LARGE = 2.5            # default rule: regions when the frame's longer side >= 2.5 x the model's input
FULL_EVERY = 10        # auto: the whole frame once every this many detected frames
STILL_AFTER = 5        # auto: detections without moving before an object counts as still
MOVED = 0.2            # auto: a centre shift of this much of the box's size (or a size change of 1/3) is a move;
                       # a still object's boxes from views at other scales differ by less
MOTION_WIDTH = 480     # pixels across the grey copy the motion test compares
PIXEL_DELTA = 18       # grey level change that counts as motion (as engine.motion)
KEEP_MISSES = 2        # auto: looks that miss a remembered object before it is forgotten
PAUSE_S = 1.0          # auto: a look this long after the last one (a motion-gated keyframe) is a re-check
SEEN_PX = 24           # auto: an object smaller than this at a region's model scale was not looked at there
MAX_MEMORY = 256       # objects remembered between frames


@dataclass(frozen=True)
class RegionSpec:
    """``--regions``: mode ("auto", "grid", "off"; "" = the default rule) and, for grids, the columns
    and rows (0 = chosen from the frame size)."""

    mode: str = ""
    cols: int = 0
    rows: int = 0

    @staticmethod
    def parse(text: str | None) -> "RegionSpec":
        """'auto', 'grid', 'grid:4x3', 'off' or '' -> RegionSpec; ValueError naming the forms."""
        t = (text or "").strip().lower()
        if t in ("", "default"):
            return RegionSpec()
        mode, _, cr = t.partition(":")
        if mode in MODES and not cr:
            return RegionSpec(mode)
        if mode == "grid" and cr:
            c, _, r = cr.partition("x")
            if c.isdigit() and r.isdigit() and 1 <= int(c) <= 16 and 1 <= int(r) <= 16:
                return RegionSpec("grid", int(c), int(r))
        raise ValueError(f"expected --regions auto, grid, grid:CxR (1-16 each, e.g. grid:4x3) or off, got {text!r}")

    def __str__(self) -> str:
        return (f"grid:{self.cols}x{self.rows}" if self.cols else self.mode) or "default"


def default_grid(width: int, height: int, model_side: int, tile: float) -> tuple[int, int]:
    """Columns and rows for a frame whose tiles (``ops.grid``, overlapping by ``ops.OVERLAP``) come out
    at most ``tile`` x the model's input across, at least 2 x 1."""
    side = tile * model_side / (1 + ops.OVERLAP)
    return max(2, math.ceil(width / side)), max(1, math.ceil(height / side))


# Tile sides in model inputs (docs/regions.md has the measurements behind both). ``grid``, auto's
# first look and its busy-scene tiles: fine tiles, where people of a crowded street scored best
# against human boxes. Auto's sweep: coarse ones, so it crosses a frame in a few frames.
TILE = 4 / 3
SWEEP_TILE = 2.25
# ``grid``'s second look: coarse tiles over the fine ones, so each object is seen at two scales and two
# placements in its tiles (the model's answers differ between them, and the merge keeps the best).
COARSE_TILE = 3.0


@dataclass
class _Seen:
    """An object remembered between frames: its last box, movement per detected frame, stillness."""

    box: np.ndarray          # (4,) xyxy frame pixels
    class_id: int
    label: str
    score: float
    velocity: np.ndarray     # (4,) box change per detected frame
    still: int = 0           # detections in a row without moving
    anchor: np.ndarray | None = None  # (4,) where it was when it stopped moving
    misses: int = 0          # looks in a row that did not find it
    cut: bool = False        # no region this frame held it whole: it reaches past the edges it was seen to
    where: Region | None = None  # the region whose crop gave its box


class RegionPlanner:
    """One stream's region stage: ``plan(frame)`` -> the regions to detect on (None: the whole frame
    as is), then ``merge(frame, regions, per_region)`` -> the frame's Detections."""

    def __init__(self, spec: RegionSpec, model_side: int, live: bool = False, image_source: bool = False,
                 recheck_s: float = 2.0):
        self.spec, self.model_side, self.live, self.recheck_s = spec, int(model_side), live, recheck_s
        self.image_source = image_source
        self._grey: np.ndarray | None = None
        self._seen: list[_Seen] = []
        self._n = 0          # detected frames so far
        self._sweep = 0
        self._recheck_at = 0.0
        self._last_t: float | None = None  # stream time of the last frame planned
        self.counts = {"frames": 0, "regions": 0, "still_skipped": 0, "carried": 0}
        self._looked: list[Region] = []

    def mode(self, width: int, height: int) -> str:
        """The mode for a frame this size (the default rule applied)."""
        mode = self.spec.mode
        if self.image_source and mode in ("", "auto"):
            mode = "grid"
        if mode == "":
            mode = "auto" if max(width, height) >= LARGE * self.model_side else "off"
        return mode

    def _grid(self, width: int, height: int, tile: float = TILE) -> list[Region]:
        cols, rows = (self.spec.cols, self.spec.rows) if self.spec.cols else default_grid(width, height, self.model_side,
                                                                                            tile)
        return ops.grid(width, height, cols, rows, self.model_side)

    def _time(self, frame: Frame) -> float:
        return frame.captured_at if self.live else frame.pts_ms / 1000.0

    def plan(self, frame: Frame) -> list[Region] | None:
        h, w = frame.image.shape[:2]
        mode = self.mode(w, h)
        if mode == "off" or min(w, h) < self.model_side:
            self._looked = []
            return None
        full = Region(0, 0, w, h, "full")
        if mode == "grid":
            regions = [full] + self._grid(w, h) + self._coarse_grid(w, h)
        else:
            regions = self._plan_auto(frame, full)
        self._looked = regions
        self.counts["frames"] += 1
        self.counts["regions"] += len(regions)
        return regions

    def _coarse_grid(self, width: int, height: int) -> list[Region]:
        """``grid``'s second scale: ``COARSE_TILE`` tiles, unless the user chose the grid (``grid:CxR``)
        or the frame is too small for them to differ from the fine ones."""
        if self.spec.cols:
            return []
        fine, coarse = default_grid(width, height, self.model_side, TILE), default_grid(width, height, self.model_side,
                                                                                         COARSE_TILE)
        return ops.grid(width, height, *coarse, self.model_side) if coarse != fine else []

    def _motion(self, image: np.ndarray) -> np.ndarray:
        """Boxes (K, 4) in frame pixels of what changed since the last frame planned."""
        h, w = image.shape[:2]
        f = min(1.0, MOTION_WIDTH / w)
        small = cv2.resize(image, (max(1, round(w * f)), max(1, round(h * f))), interpolation=cv2.INTER_AREA)
        grey = cv2.GaussianBlur(cv2.cvtColor(small, cv2.COLOR_BGR2GRAY), (5, 5), 0)
        prev, self._grey = self._grey, grey
        if prev is None or prev.shape != grey.shape:
            return np.zeros((0, 4), np.float32)
        mask = cv2.dilate((cv2.absdiff(grey, prev) > PIXEL_DELTA).astype(np.uint8), None, iterations=2)
        n, _, stats, _ = cv2.connectedComponentsWithStats(mask, connectivity=8)
        keep = stats[1:, cv2.CC_STAT_AREA] >= 6  # a few grey pixels: noise
        s = stats[1:][keep]
        boxes = np.stack([s[:, 0], s[:, 1], s[:, 0] + s[:, 2], s[:, 1] + s[:, 3]], axis=1).astype(np.float32) / f
        return boxes.reshape(-1, 4)

    def _plan_auto(self, frame: Frame, full: Region) -> list[Region]:
        h, w = frame.image.shape[:2]
        t = self._time(frame)
        motion = self._motion(frame.image)
        self._n += 1
        # a look after a long pause (a motion-gated keyframe of a still scene)
        pause = self._last_t is not None and t - self._last_t >= PAUSE_S
        self._last_t = t
        if not self._seen and self._n == 1:
            return [full] + self._grid(w, h)  # start-up: look everywhere once, closely
        grid = self._grid(w, h, SWEEP_TILE)
        moving, reaching, again = [], [], []
        recheck = t >= self._recheck_at  # still objects are looked at again together, every recheck_s
        if recheck:
            self._recheck_at = t + self.recheck_s
        for s in self._seen:
            predicted = s.box + s.velocity
            stirred = len(motion) and (box_iou(predicted[None], motion) > 0).any()
            if s.still >= STILL_AFTER and not stirred and not recheck:
                self.counts["still_skipped"] += 1
                continue
            if pause and s.where is not None and s.where.kind != "full" and _centre_in(predicted, s.where) and \
                    not (len(motion) and (box_iou(_corners([s.where]), motion) > 0).any()):
                # looked at again after a pause, nothing changed in the crop that found it: that crop again
                # (another crop of the same pixels can miss a small object the model saw there, and it
                # would be forgotten). Between frames close in time a new placement is kept: a second
                # opinion that drops the false boxes one placement gives (docs/regions.md, round 6).
                again.append(s.where)
                continue
            moving.append(predicted)
            if s.cut:
                reaching.append(_reach(s.box) + s.velocity)
        objects = np.array(moving, np.float32).reshape(-1, 4)
        regions = ops.cluster(objects, w, h, self.model_side, "object")
        covered = _corners(regions)
        outside = motion[~(ops.inside_fraction(motion, covered) >= ops.INSIDE).any(axis=1)] if len(covered) else motion
        regions += ops.cluster(outside, w, h, self.model_side, "motion")
        # a busy scene: the fine grid tiles that hold what needs a look cost less than a square for each group
        tiles = _holding(self._grid(w, h), np.concatenate([objects, outside]))
        whole = self._n % FULL_EVERY == 0
        if len(regions) > len(tiles):
            regions = tiles
            # an object seen only cut by regions' edges (a person near the camera, taller than the tiles'
            # overlap) that no tile holds, reach included, is seen in pieces there: the whole frame shows it
            # whole, where it is big enough to be seen well
            big = [o for o in reaching if max(o[2] - o[0], o[3] - o[1]) * self.model_side / max(w, h) >= ops.SMALL_PX]
            whole |= not all(_looked_at(o, tiles, self.model_side) for o in big)
        taken = {(q.x0, q.y0, q.x1, q.y1) for q in regions}
        for r in dict.fromkeys((r.x0, r.y0, r.x1, r.y1) for r in again):
            if r not in taken:
                regions.append(Region(*r, "object"))
        if whole:
            regions.append(full)
        regions.append(self._next_sweep(grid, regions))
        return regions

    def _next_sweep(self, grid: list[Region], taken: list[Region]) -> Region:
        """The next grid tile in turn, skipping tiles this frame's regions already cover."""
        boxes = _corners(taken)
        for _ in range(len(grid)):
            tile = grid[self._sweep % len(grid)]
            self._sweep += 1
            tb = np.array([[tile.x0, tile.y0, tile.x1, tile.y1]], np.float32)
            if not len(boxes) or not (ops.inside_fraction(tb, boxes) >= 0.9).any():
                break
        return Region(tile.x0, tile.y0, tile.x1, tile.y1, "sweep")

    def merge(self, frame: Frame, regions: list[Region], per_region: list[Detections], iou_threshold: float) -> Detections:
        """The frame's detections from its regions' (each in its crop's pixels), plus, in auto mode,
        still objects that no region looked at this frame (their last box carried)."""
        hw = frame.image.shape[:2]
        parts = [(r, ops.to_frame(d, r, hw)) for r, d in zip(regions, per_region)]
        mode = self.mode(hw[1], hw[0])
        dets = ops.merge(parts, hw, iou_threshold, self.model_side, tiled=mode == "grid")
        if mode != "auto":
            return dets
        return self._remember(frame, regions, dets, _sources(parts, dets))

    def _remember(self, frame: Frame, regions: list[Region], dets: Detections,
                  where: list[Region | None]) -> Detections:
        """Update the objects seen (``where``: the region each box came from); add the still ones not
        looked at this frame to ``dets``."""
        t = self._time(frame)
        h, w = frame.image.shape[:2]
        held = ops.held_whole(dets.xyxy, regions, w, h, self.model_side)
        old = self._seen
        new: list[_Seen] = []
        used = set()
        if old and len(dets):
            iou = box_iou(np.stack([s.box + s.velocity for s in old]), dets.xyxy)
            iou[np.array([s.class_id for s in old])[:, None] != dets.class_ids[None, :]] = 0
            for i, j in zip(*np.unravel_index(np.argsort(-iou, axis=None), iou.shape)):
                if iou[i, j] < 0.3:
                    break
                if i in used or j + len(old) in used:
                    continue
                used.update((i, j + len(old)))
                s, box = old[i], dets.xyxy[j].astype(np.float32)
                moved = box_moved(s.anchor, box, MOVED)
                new.append(_Seen(box, int(dets.class_ids[j]), dets.labels[j], float(dets.scores[j]),
                                 0.5 * s.velocity + 0.5 * (box - s.box), 0 if moved else s.still + 1,
                                 box if moved else s.anchor, cut=not held[j], where=where[j]))
        for j in range(len(dets)):
            if j + len(old) not in used:
                new.append(_Seen(dets.xyxy[j].astype(np.float32), int(dets.class_ids[j]), dets.labels[j],
                                 float(dets.scores[j]), np.zeros(4, np.float32), 0,
                                 dets.xyxy[j].astype(np.float32), cut=not held[j], where=where[j]))
        carried = []
        for i, s in enumerate(old):
            if i in used:
                continue
            if not _looked_at(s.box, regions, self.model_side):
                if s.still >= STILL_AFTER:  # not looked at: still there, as far as we know
                    new.append(s)
                    carried.append(s)
            elif s.misses < KEEP_MISSES:  # looked at and not found: remembered (not shown) a little longer,
                s.misses += 1              # so a detection that flickers keeps its stillness
                new.append(s)
        self._seen = new[:MAX_MEMORY]
        if not carried:
            return dets
        self.counts["carried"] += len(carried)
        extra = Detections(np.stack([s.box for s in carried]), np.array([s.score for s in carried], np.float32),
                           np.array([s.class_id for s in carried], np.int64), tuple(s.label for s in carried),
                           image_hw=dets.image_hw)
        return _concat(dets, extra)


def _looked_at(box: np.ndarray, regions: list[Region], model_side: int) -> bool:
    """Whether a region held ``box`` (4,) whole, at a scale where the model could see it (at least
    ``SEEN_PX`` model pixels): a far person is not looked at by the whole 4K frame."""
    size = max(box[2] - box[0], box[3] - box[1])
    return any(r.x0 <= box[0] and r.y0 <= box[1] and box[2] <= r.x1 and box[3] <= r.y1
               and size * model_side / max(r.width, r.height) >= SEEN_PX for r in regions)


def _centre_in(box: np.ndarray, region: Region) -> bool:
    """Whether the centre of ``box`` (4,) lies in the region (a box found there may reach a pixel past
    its edges)."""
    cx, cy = (box[0] + box[2]) / 2, (box[1] + box[3]) / 2
    return bool(region.x0 <= cx <= region.x1 and region.y0 <= cy <= region.y1)


def _reach(box: np.ndarray) -> np.ndarray:
    """Where an object seen only cut by regions' edges may reach: its box (4,) grown by half its size on
    every side (a busy scene's tiles that cannot hold that bring the whole frame into the next look)."""
    half = np.array([box[2] - box[0], box[3] - box[1]] * 2, np.float32) * np.float32([-0.5, -0.5, 0.5, 0.5])
    return box + half


def _corners(regions: list[Region]) -> np.ndarray:
    """(R, 4) float32 xyxy of the regions."""
    return np.array([[r.x0, r.y0, r.x1, r.y1] for r in regions], np.float32).reshape(-1, 4)


def _holding(grid: list[Region], boxes: np.ndarray) -> list[Region]:
    """The grid tiles that hold the boxes (K, 4): for each box the tile holding most of it, once each."""
    if not len(boxes):
        return []
    best = np.argmax(ops.inside_fraction(boxes, _corners(grid)), axis=1)
    return [Region(t.x0, t.y0, t.x1, t.y1, "object") for k, t in enumerate(grid) if k in set(best.tolist())]


def _sources(parts: list[tuple[Region, Detections]], dets: Detections) -> list[Region | None]:
    """The region whose boxes (``parts``: each region with its boxes in frame pixels) gave each of the
    merged ``dets`` (the merge keeps boxes as found, so a kept row equals its source's)."""
    out: list[Region | None] = [None] * len(dets)
    for r, d in parts:
        if not len(d):
            continue
        hit = (d.xyxy.astype(np.float32)[None, :, :] == dets.xyxy.astype(np.float32)[:, None, :]).all(axis=2).any(axis=1)
        for j in np.flatnonzero(hit):
            if out[j] is None:
                out[j] = r
    return out


def _concat(a: Detections, b: Detections) -> Detections:
    """a's rows then b's, best score first."""
    xyxy = np.concatenate([a.xyxy, b.xyxy]).astype(np.float32)
    scores = np.concatenate([a.scores, b.scores]).astype(np.float32)
    classes = np.concatenate([a.class_ids, b.class_ids]).astype(np.int64)
    labels = a.labels + b.labels
    order = np.argsort(-scores, kind="stable")
    return Detections(xyxy[order], scores[order], classes[order], tuple(labels[i] for i in order), image_hw=a.image_hw)


def summary(planner: "RegionPlanner | None", inferred: int, calls: int) -> dict:
    """The stats' "regions" entry: mode, regions and detector calls per detected frame."""
    if planner is None:
        return {"mode": "off", "per_frame": 1.0}
    c = planner.counts
    frames = max(1, inferred)
    whole = inferred - c["frames"]  # frames detected whole (small frames under the default rule)
    return {"mode": str(planner.spec), "per_frame": round((c["regions"] + whole) / frames, 2),
            "calls_per_frame": round(calls / frames, 3), "still_skipped": c["still_skipped"],
            "carried": c["carried"]}


def region_planner(text: str, model_side: int, live: bool, image_source: bool) -> RegionPlanner | None:
    """The planner for ``--regions`` ``text`` (None for "off": the whole-frame path, untouched)."""
    spec = RegionSpec.parse(text)
    return None if spec.mode == "off" else RegionPlanner(spec, model_side, live=live, image_source=image_source)
