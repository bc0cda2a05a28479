"""The engine on real media: lossless keeps every frame, live drops stale ones, sinks stay valid."""
from __future__ import annotations

import json
import threading
import time

import cv2
import numpy as np
import pytest

from conftest import DEMO_CLIP, read_frame, shared_path
from detector.engine.models import Models
from detector.engine.run import RunConfig, run


def count_video_frames(path) -> tuple[int, float]:
    cap = cv2.VideoCapture(str(path))
    n = 0
    while cap.read()[0]:
        n += 1
    fps = cap.get(cv2.CAP_PROP_FPS)
    cap.release()
    return n, fps


def read_jsonl(path) -> list[dict]:
    text = path.read_text()
    assert text.endswith("\n")
    return [json.loads(line) for line in text.splitlines()]


def _lossless_check(src, tmp_path, person_detector, expected_frames, check_frames, timings=False):
    out, jsonl = tmp_path / "out.mp4", tmp_path / "dets.jsonl"
    # the whole frame, as the reference below is (the demo clip's default is regions: test_regions)
    report = run(RunConfig(source=str(src), output=str(out), detections=str(jsonl), progress=False,
                           frame_timings=timings, regions="off"),
                 models=Models(person_detector))
    assert report.stopped_by == "end" and report.error is None
    lines = read_jsonl(jsonl)
    assert [l["frame"] for l in lines] == list(range(expected_frames))
    n, fps = count_video_frames(out)
    assert n == expected_frames
    src_fps = cv2.VideoCapture(str(src)).get(cv2.CAP_PROP_FPS)
    assert fps == pytest.approx(src_fps, rel=1e-3)
    assert not list(tmp_path.glob(".*part*"))  # no temporary files left
    for i in check_frames:
        ref = person_detector.detect(read_frame(src, i))
        got = lines[i]["detections"]
        assert len(got) == len(ref)
        np.testing.assert_allclose([d["xyxy"] for d in got], ref.xyxy.reshape(-1, 4), atol=0.01)
        np.testing.assert_allclose([d["score"] for d in got], ref.scores, atol=1e-4)
        assert all(d["label"] == "person" and d["class_id"] == 1 for d in got)
    return lines


def test_lossless_demo_clip_every_frame_and_same_boxes(tmp_path, person_detector):
    lines = _lossless_check(DEMO_CLIP, tmp_path, person_detector, 60, [0, 17, 59], timings=True)
    assert lines[10]["pts_ms"] == pytest.approx(1000.0)
    assert all(line["latency_ms"]["detect"] > 0 for line in lines)  # asked for with frame_timings
    assert sum(len(l["detections"]) for l in lines) > 4 * 60  # people in every frame


@pytest.mark.slow
def test_lossless_vtest_every_frame(tmp_path, person_detector):
    src = shared_path("media/vtest.avi")
    lines = _lossless_check(src, tmp_path, person_detector, 795, [0, 400, 794])
    assert not any("latency_ms" in line for line in lines)  # by default the file is the same every run


class SlowDetector:
    """The real detector, slowed on purpose so a live source outruns it."""

    def __init__(self, det, delay_s):
        self.det, self.delay_s = det, delay_s

    def __getattr__(self, name):
        return getattr(self.det, name)

    def detect_batch(self, images, timings=None):
        time.sleep(self.delay_s)
        return self.det.detect_batch(images, timings)


@pytest.mark.slow
def test_live_policy_drops_stale_frames_and_keeps_age_low(tmp_path, person_detector):
    jsonl = tmp_path / "live.jsonl"
    report = run(RunConfig(source=str(DEMO_CLIP), live=True, play_realtime=True, detections=str(jsonl),
                           progress=False), models=Models(SlowDetector(person_detector, 0.25)))
    s = report.stats
    lines = read_jsonl(jsonl)
    assert s["policy"] == "live"
    assert s["frames"]["dropped"] > 20  # 10 fps source, ~3 fps model
    assert len(lines) + s["frames"]["dropped"] == 60
    frames = [l["frame"] for l in lines]
    assert frames == sorted(frames) and frames[-1] >= 55  # newest frames, in order
    detect_p50 = s["latency"]["detect"]["p50_ms"]
    assert s["latency"]["age"]["p95_ms"] < 2 * detect_p50


def test_class_filter_and_threshold_change_while_running(tmp_path, person_detector):
    from detector import Detector
    det = Detector.load("ssdlite-mobilenetv2-person", device="cpu")
    models = Models(det)
    with pytest.raises(ValueError, match="expected some of person"):
        models.set_classes(["car"])
    jsonl = tmp_path / "d.jsonl"
    stop = threading.Event()

    original = det.detect_batch
    calls = []

    def detect_then_raise_threshold(images, timings=None):
        """After frame 20, raise the threshold from another thread, as the window's slider does."""
        calls.append(1)
        if len(calls) == 20:
            t = threading.Thread(target=models.set_thresholds, kwargs={"conf": 0.8})
            t.start()
            t.join()
        return original(images, timings)

    det.detect_batch = detect_then_raise_threshold
    # batch=1: settings change between detector calls, so one frame a call makes the switch frame-exact
    run(RunConfig(source=str(DEMO_CLIP), detections=str(jsonl), progress=False, batch=1), stop=stop, models=models)
    lines = read_jsonl(jsonl)
    early = [d["score"] for l in lines[:19] for d in l["detections"]]
    late = [d["score"] for l in lines[20:] for d in l["detections"]]
    assert min(early) < 0.8 and min(late) >= 0.8


def test_dump_dir_names_sort_in_frame_order(tmp_path, person_detector):
    dump = tmp_path / "frames"
    report = run(RunConfig(source=str(DEMO_CLIP), dump_dir=str(dump), dump_raw=True, max_frames=12, progress=False),
                 models=Models(person_detector))
    assert report.stopped_by == "max-frames"
    annotated = sorted(p.name for p in dump.glob("*.jpg") if "_raw" not in p.name)
    assert annotated == [f"{i:08d}.jpg" for i in range(12)]
    raw = cv2.imread(str(dump / "00000003_raw.jpg"))
    ann = cv2.imread(str(dump / "00000003.jpg"))
    assert raw.shape == ann.shape == (576, 768, 3)
    assert np.abs(raw.astype(int) - ann.astype(int)).max() > 100  # boxes drawn on the annotated one only


def test_fractional_frame_rate_is_kept(tmp_path, person_detector):
    """Megamind.avi runs at 23.976 fps: the annotated video keeps that rate, not 24 or 30."""
    src = shared_path("media/Megamind.avi")
    out = tmp_path / "o.mp4"
    run(RunConfig(source=str(src), output=str(out), max_frames=10, progress=False), models=Models(person_detector))
    n, fps = count_video_frames(out)
    assert n == 10
    assert fps == pytest.approx(cv2.VideoCapture(str(src)).get(cv2.CAP_PROP_FPS), abs=2e-3)
    assert abs(fps - 24.0) > 0.01


def test_drops_after_a_source_switch_are_counted_from_the_first():
    """The running count spans sources while each capture's buffer counts from 0: drops of a new
    source used to go uncounted until they exceeded the old source's total."""
    import threading

    from types import SimpleNamespace

    from detector.engine.capture import FrameBuffer
    from detector.types.frames import Frame
    from detector.engine.stats import Stats
    from detector.engine.streams import Stream
    stats = Stats()
    stats.count("dropped", 50)  # the previous source's
    buf = FrameBuffer(1, overwrite=True)
    stop = threading.Event()
    image = read_frame(DEMO_CLIP, 0)
    for i in range(4):  # a latest-frame slot: 3 of these 4 are replaced unseen
        buf.put(Frame(image, i, float(i), time.monotonic(), "demo"), stop)
    buf.close()
    stream = Stream("demo", SimpleNamespace(buffer=buf, error=None), SimpleNamespace(stats=stats))
    got = [f for f in iter(lambda: stream.poll(timeout=0.1), None)]
    assert [f.index for f in got] == [3] and stream.done
    assert stats.get("dropped") == 53


@pytest.mark.slow
def test_stopping_a_recording_returns_at_once_and_the_file_is_finished_after(tmp_path, person_detector, monkeypatch):
    """The window's Stop Recording used to wait for the encoder to drain and the file to close on the
    GUI thread (up to 30 s). Now the session hands the finishing to a thread of its own: the call
    returns at once, a message says when the file is saved, and the video holds every frame sent."""
    import cv2

    from detector.engine.live_session import LiveSession
    from detector.io.sinks import VideoSink
    slow_close = VideoSink.close
    disk = threading.Event()  # a slow disk: the file's close waits until the test lets it go

    def close_slowly(self):
        disk.wait(60)
        slow_close(self)

    monkeypatch.setattr(VideoSink, "close", close_slowly)
    session = LiveSession(Models(person_detector), str(DEMO_CLIP))
    session.start()
    try:
        deadline = time.monotonic() + 20
        while session.latest()[1] < 1 and time.monotonic() < deadline:
            time.sleep(0.02)
        path = tmp_path / "rec.mp4"
        session.start_recording(str(path))
        start_seq = session.latest()[1]
        while session.latest()[1] < start_seq + 10 and time.monotonic() < deadline:
            time.sleep(0.02)
        # returns while the close is still held: the GUI thread never waits for the disk
        assert session.stop_recording() == str(path)
        assert not session.recording and not disk.is_set()
        disk.set()
        messages = []
        while not any("saved" in m for m in messages) and time.monotonic() < deadline + 10:
            try:
                messages.append(session.messages.get(timeout=0.1))
            except Exception:
                pass
        assert f"recording saved to {path}" in messages
    finally:
        session.stop()
    cap = cv2.VideoCapture(str(path))
    n = 0
    while cap.read()[0]:
        n += 1
    assert n >= 10


def test_a_source_opened_in_the_window_takes_the_windows_class_filter_and_tracking():
    """A source added from the window (a spec, as the stream controls add it) gets its own tracker and
    the window's --classes, as each command-line stream does: the COCO model on the demo clip keeps
    only people, with track IDs."""
    from detector import Detector
    from detector.engine.live_session import LiveSession
    models = Models(Detector.load("ssd-mobilenetv2-coco", device="cpu", score_threshold=0.3))
    session = LiveSession(models, RunConfig(source=None, classes=("person",), track=True))
    stream = session.add_source(str(DEMO_CLIP), name="door")
    session.start()
    labels, tracked = set(), 0
    try:
        deadline = time.monotonic() + 60
        seen = 0
        while seen < 15 and time.monotonic() < deadline:
            result, seq = stream.latest()
            if result is not None and seq > seen:
                seen = seq
                labels |= set(result.detections.labels)
                tracked += int(result.detections.track_ids is not None and (result.detections.track_ids > 0).any())
            time.sleep(0.02)
    finally:
        session.stop()
    assert seen >= 15
    assert labels == {"person"} and tracked >= 5, (labels, tracked)
