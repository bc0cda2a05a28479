"""The drawing in every output (detector/ops/annotators.py, draw.annotate) on real frames: labels
inside the frame and off one another, header rows off the labels, text drawn once, trails of a
fixed time span, the blur, and Detections.clip."""
from __future__ import annotations

import dataclasses

import numpy as np
import pytest

from conftest import read_frame, shared_path


CROWDED = (134, 136, 701, 721, 751, 770)  # vtest.avi frames with 15-17 boxes


def _counting():
    from detector.analytics.counting import FrameAnalytics, Line
    return FrameAnalytics(counts={"lines": {"door": {"in": {"person": 8}, "out": {"person": 3}}}, "zones": {}},
                          lines=(Line("door", (230.0, 0.0), (230.0, 576.0)),))


COUNTING = _counting()


@pytest.fixture(scope="module")
def detector():
    from detector import Detector
    return Detector.load("ssd-mobilenetv2-coco", device="cpu")


def test_labels_on_crowded_vtest_frames_stay_inside_and_overlap_less_than_before(detector):
    """Against the same labels each put on its box's top-left corner, as the drawing before the
    layout did; over all 795 frames (tools/label_overlaps.py) 4.46 -> 0 pairs a frame."""
    from detector.ops.draw import Annotation
    from detector.ops.label_layout import overlapping_pairs
    vtest = shared_path("media/vtest.avi")
    before = after = 0
    for index in CROWDED:
        frame = read_frame(vtest, index)
        h, w = frame.shape[:2]
        dets = detector.detect(frame)
        assert len(dets) >= 10
        _, rects, (top, bottom) = Annotation().draw(frame, dets, header="12.0 fps", analytics=COUNTING)
        assert len(rects) == len(dets) and 0 < top < bottom < h
        assert (rects[:, :2] >= 0).all() and (rects[:, 2] <= w).all() and (rects[:, 3] <= h).all()  # inside
        assert (rects[:, 1] >= top).all() and (rects[:, 3] <= bottom).all()
        before += overlapping_pairs(_on_corners(rects, dets))
        after += overlapping_pairs(rects)
    assert before >= 20 and after <= before // 4, (before, after)


def _on_corners(rects, dets):
    """The labels ``rects`` (N, 4) moved to sit on their boxes' top-left corners, sizes kept."""
    size = rects[:, 2:] - rects[:, :2]
    corner = np.round(dets.xyxy[:, :2]).astype(np.int64) - [0, 1] * size
    return np.concatenate([corner, corner + size], axis=1)


def test_header_rows_never_cover_a_box_label():
    """A box at the top edge, where the stats header and the frame classifier's "scene:" row go
    (reported on a photo of cats on a couch; here grace_hopper.bmp, whose person box starts at
    y = 8): its label moves below the rows instead of under them."""
    import cv2
    from detector import Detector
    from detector.ops.draw import Annotation
    from detector.types.detections import Classification
    img = cv2.imread(str(shared_path("media/grace_hopper.bmp")))
    dets = Detector.load("ssd-mobilenetv2-coco", device="cpu").detect(img)
    dets = dets.with_classes(frame_class=Classification((("military uniform", 0.48),)))
    _, rects, (top, bottom) = Annotation().draw(img, dets, header="12.0 fps")
    assert dets.xyxy[:, 1].min() < top  # a box whose label would sit in the header band
    assert top > 0 and (rects[:, 1] >= top).all() and (rects[:, 3] <= bottom).all()


def test_text_is_drawn_once_on_a_solid_background():
    """The old shadow was a second copy of the text 1-2 px off, which doubled strokes ("8" read "8B").
    Now the ink is exactly one pass of the text: pixels that are neither the background nor the
    text colour are only the anti-aliased edges of that one pass."""
    import cv2
    from detector.ops.text import FONT, TextStyle, draw_text
    text, style = "door: in 8 out 3", TextStyle.for_frame(576, 768)
    for frame_value in (0, 255):  # dark and light video
        img = np.full((80, 400, 3), frame_value, np.uint8)
        x1, y1, x2, y2 = draw_text(img, text, 10, 10, style, (32, 32, 32), (0, 255, 255))
        once = np.full((y2 - y1, x2 - x1, 3), 32, np.uint8)
        (_, th), _ = cv2.getTextSize(text, FONT, style.scale, style.thickness)
        cv2.putText(once, text, (style.pad, style.pad + th), FONT, style.scale, (0, 255, 255), style.thickness, cv2.LINE_AA)
        assert np.array_equal(img[y1:y2, x1:x2], once)
        assert (img[:y1] == frame_value).all() and (img[y2:] == frame_value).all()


def test_trails_span_at_most_the_configured_time(detector):
    """100 vtest.avi frames as a lossless run delivers them (all decoded within the same instant of
    the wall clock): the kept trails span at most Analytics' 2 s of pts and the drawn ones at most
    TrailAnnotator's 1 s. Before, trails were cut by the wall clock: in a fast file run one spanned
    7 s of video."""
    import cv2
    from detector.analytics.counting import Analytics
    from detector.ops.annotators import TrailAnnotator
    cap = cv2.VideoCapture(str(shared_path("media/vtest.avi")))
    analytics, fa = Analytics(trail_seconds=2.0), None
    for i in range(100):
        ok, frame = cap.read()
        assert ok
        dets, fa = analytics.update(detector.detect(frame), i * 0.1)  # 10 fps: 100 frames = 10 s
        for tid, t in fa.trail_times.items():
            assert t[-1] - t[0] <= 2.0 + 1e-9 and len(t) == len(fa.trails[tid])
    longest = max(fa.trails, key=lambda t: len(fa.trails[t]) if t in set(dets.track_ids.tolist()) else 0)
    pts, t = fa.trails[longest], fa.trail_times[longest]
    assert t[-1] - t[0] > 1.5  # a track long enough to cut
    one = dataclasses.replace(fa, trails={longest: pts}, trail_times={longest: t})
    blank = np.zeros((576, 768, 3), np.uint8)
    TrailAnnotator(seconds=1.0, thickness=1)(blank, dets, one)
    ys, xs = np.nonzero(blank.any(axis=2))
    recent = pts[t >= fa.time_s - 1.0]
    assert len(xs) and len(recent) < len(pts)
    for got, want in ((xs, recent[:, 0]), (ys, recent[:, 1])):  # its ink lies along the last second only
        assert got.min() >= want.min() - 2 and got.max() <= want.max() + 2


def test_blur_changes_only_the_boxes_of_the_named_classes(detector):
    from detector.ops.draw import annotate
    frame = read_frame(shared_path("media/vtest.avi"), 701)
    dets = detector.detect(frame).clip(768, 576)
    plain, blurred = annotate(frame, dets), annotate(frame, dets, blur=("person",))
    person = [i for i, l in enumerate(dets.labels) if l == "person"]
    changed = np.abs(plain.astype(int) - blurred.astype(int)).any(axis=2)
    inside = np.zeros(changed.shape, bool)
    for i in person:
        x1, y1, x2, y2 = np.round(dets.xyxy[i]).astype(int)
        inside[y1:y2, x1:x2] = True
    assert changed[inside].mean() > 0.3 and not changed[~inside].any()


def test_clip_returns_a_new_immutable_detections_inside_the_frame(detector):
    frame = read_frame(shared_path("media/vtest.avi"), 17)  # a box past the frame edge
    raw = detector.detect(frame)
    assert not raw.clipped and (raw.xyxy[:, 2].max() > 768 or raw.xyxy[:, 3].max() > 576 or raw.xyxy.min() < 0)
    cut = raw.clip(768, 576)
    assert cut.clipped and not raw.clipped and len(cut) == len(raw)
    assert cut.xyxy.min() >= 0 and cut.xyxy[:, [0, 2]].max() <= 768 and cut.xyxy[:, [1, 3]].max() <= 576
    inside = (raw.xyxy[:, 2] <= 768) & (raw.xyxy[:, 0] >= 0) & (raw.xyxy[:, 1] >= 0) & (raw.xyxy[:, 3] <= 576)
    assert np.array_equal(cut.xyxy[inside], raw.xyxy[inside])
    assert cut.filter(cut.scores > 0.5).clipped
    with pytest.raises(ValueError):
        cut.xyxy[0, 0] = 1.0
