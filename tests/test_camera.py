"""Webcams without a webcam: everything around the one device call (``detector.io.camera.open_camera``),
driven through a stand-in that behaves like a UVC camera under V4L2: frames at its own pace, modes it
grants and modes it silently replaces, a cable pulled and plugged back. Real frames (the demo clip),
the real ``lookout`` entry point and window."""
from __future__ import annotations

import json
import threading
import time

import cv2
import numpy as np
import pytest

import main
from conftest import DEMO_CLIP, read_all_frames
from detector.io import camera
# (fourcc, width, height) -> the best rate the stand-in offers: MJPG does 720p30, YUYV only 720p10.
MODES = {("YUYV", 640, 480): 30.0, ("YUYV", 1280, 720): 10.0, ("MJPG", 640, 480): 30.0, ("MJPG", 1280, 720): 30.0}


class Device:
    """The physical camera: present or unplugged, shared by every handle opened on it."""

    def __init__(self, disconnect_after: int = 0, gaps_s=(1 / 30,)):
        self.present = True
        self.disconnect_after = disconnect_after  # frames until the cable is pulled (0: never)
        self.gaps_s = gaps_s                      # time between frames, cycled (a variable rate)
        self.delivered = 0
        self.opens = 0
        self.frames = read_all_frames(DEMO_CLIP)


class StandInCamera:
    """What ``cv2.VideoCapture(i, CAP_V4L2)`` gives, as far as Lookout uses it."""

    def __init__(self, device: Device):
        self.device = device
        self.opened = device.present
        device.opens += 1
        self.fourcc, self.w, self.h, self.fps = "YUYV", 640, 480, 30.0
        self._next = time.monotonic()
        self._i = 0

    def isOpened(self) -> bool:
        return self.opened

    def _settle(self) -> None:
        """Like a driver: keep the pixel format if offered, snap the size to the nearest it offers in
        that format, cap the rate at what that mode does."""
        sizes = [(w, h) for (f, w, h) in MODES if f == self.fourcc]
        self.w, self.h = min(sizes, key=lambda s: abs(s[0] - self.w) + abs(s[1] - self.h))
        self.fps = min(self.fps, MODES[(self.fourcc, self.w, self.h)])

    def set(self, prop, value) -> bool:
        if prop == cv2.CAP_PROP_FOURCC:
            code = int(value)
            text = "".join(chr((code >> (8 * i)) & 0xFF) for i in range(4))
            if any(f == text for f, _, _ in MODES):
                self.fourcc = text
        elif prop == cv2.CAP_PROP_FRAME_WIDTH:
            self.w = int(value)
        elif prop == cv2.CAP_PROP_FRAME_HEIGHT:
            self.h = int(value)
        elif prop == cv2.CAP_PROP_FPS:
            self.fps = float(value)
        else:
            return False
        self._settle()
        return True

    def get(self, prop) -> float:
        return {cv2.CAP_PROP_FRAME_WIDTH: self.w, cv2.CAP_PROP_FRAME_HEIGHT: self.h, cv2.CAP_PROP_FPS: self.fps,
                cv2.CAP_PROP_FOURCC: float(cv2.VideoWriter_fourcc(*self.fourcc)),
                cv2.CAP_PROP_POS_MSEC: 0.0, cv2.CAP_PROP_FRAME_COUNT: -1.0}.get(prop, 0.0)

    def read(self):
        d = self.device
        if not d.present or (d.disconnect_after and d.delivered >= d.disconnect_after):
            d.present = False
            self.opened = False
            time.sleep(0.05)
            return False, None
        gap = d.gaps_s[self._i % len(d.gaps_s)]
        self._next += gap
        time.sleep(max(self._next - time.monotonic(), 0))
        frame = cv2.resize(d.frames[self._i % len(d.frames)], (self.w, self.h))
        self._i += 1
        d.delivered += 1
        return True, frame

    def release(self) -> None:
        self.opened = False


@pytest.fixture
def device(monkeypatch):
    dev = Device()
    monkeypatch.setattr(camera, "open_camera", lambda index: StandInCamera(dev) if index == 0 else _absent())
    return dev


def _absent():
    cam = StandInCamera(Device())
    cam.opened = False
    return cam


def run_lookout(tmp_path, capsys, *args):
    jsonl, stats = tmp_path / "d.jsonl", tmp_path / "s.json"
    rc = main.main(["--source", "0", "--detections", str(jsonl), "--stats-json", str(stats), "--no-progress",
                    "--classes", "person", *args])
    err = capsys.readouterr().err
    frames = [json.loads(line) for line in jsonl.read_text().splitlines()] if jsonl.exists() else []
    return rc, err, frames, json.loads(stats.read_text()) if stats.exists() else {}


def test_granted_mode_is_used_and_reported(device, tmp_path, capsys):
    rc, err, frames, stats = run_lookout(tmp_path, capsys, "--width", "1280", "--height", "720", "--fps", "30",
                                         "--fourcc", "mjpg", "--max-frames", "20")
    assert rc == 0, err
    assert stats["camera"]["granted"] == {"width": 1280, "height": 720, "fps": 30.0, "fourcc": "MJPG"}
    assert "lookout: camera 0: 1280x720 @ 30 fps MJPG" in err
    assert len(frames) == 20
    boxes = np.array([d["xyxy"] for f in frames for d in f["detections"]])
    assert len(boxes) > 20 and boxes[:, 2].max() > 700  # people found across the 1280-wide frame


def test_a_refused_mode_says_what_the_camera_gave(device, tmp_path, capsys):
    rc, err, frames, stats = run_lookout(tmp_path, capsys, "--width", "1920", "--height", "1080", "--fps", "30",
                                         "--fourcc", "YUYV", "--max-frames", "10")
    assert rc == 0, err
    assert "asked for 1920x1080 @ 30 fps YUYV, the camera gave 1280x720 @ 10 fps YUYV" in err
    assert stats["camera"]["asked"]["width"] == 1920 and stats["camera"]["granted"]["width"] == 1280
    assert len(frames) == 10


@pytest.mark.slow
def test_unplugged_and_plugged_back_reconnects(device, tmp_path, capsys):
    device.disconnect_after = 15

    def plug_back():
        while device.present:
            time.sleep(0.02)
        time.sleep(1.0)
        device.disconnect_after = 0
        device.present = True

    t = threading.Thread(target=plug_back, daemon=True)
    t.start()
    rc, err, frames, stats = run_lookout(tmp_path, capsys, "--max-frames", "40", "--fourcc", "MJPG", "--width", "1280")
    t.join(5)
    assert rc == 0, err
    assert len(frames) == 40 and stats["frames"]["reconnects"] >= 1
    assert "lost camera 0; reconnecting in 0.5 s (try 1 of 5)" in err and "reconnected to camera 0" in err
    assert err.count("camera 0: 1280x720 @ 30 fps MJPG") == 2  # the mode asked for again after the reconnect


def test_camera_gone_for_good_ends_with_one_error(device, tmp_path, capsys):
    device.disconnect_after = 10
    rc, err, frames, stats = run_lookout(tmp_path, capsys, "--reconnect", "2")
    assert rc == 1, err
    assert "lookout: error: lost camera 0 and could not reconnect after 2 tries" in err
    # every frame before the loss accounted for: written, or (a live source on a busy machine)
    # replaced by a newer one before the detector was free and counted as dropped
    assert len(frames) >= 1 and len(frames) + stats["frames"]["dropped"] == 10, (len(frames), stats["frames"])
    assert [f["frame"] for f in frames] == sorted({f["frame"] for f in frames})


@pytest.mark.slow
def test_variable_rate_is_kept_in_the_video(device, tmp_path, capsys):
    """A camera delivering at an uneven pace (50 ms, 50 ms, 150 ms, ...): the video's timestamps
    follow it instead of spacing frames evenly at a nominal rate."""
    import av
    device.gaps_s = (0.05, 0.05, 0.15)
    out = tmp_path / "cam.mp4"
    rc, err, frames, _ = run_lookout(tmp_path, capsys, "--output", str(out), "--max-frames", "30", "--fps", "30")
    assert rc == 0, err
    with av.open(str(out)) as c:
        pts = sorted(float(f.time) for f in c.decode(video=0))
    gaps = np.diff(pts)
    assert len(pts) == 30
    assert np.sum(np.abs(gaps - 0.15) < 0.03) >= 7 and np.sum(np.abs(gaps - 0.05) < 0.03) >= 15, gaps


def test_no_camera_at_that_index(device, tmp_path, capsys):
    rc = main.main(["--source", "3", "--detections", str(tmp_path / "d.jsonl")])
    assert rc == 2
    err = capsys.readouterr().err
    assert "lookout: error: no camera at index 3" in err


def test_list_cameras_reads_video4linux(tmp_path, capsys, monkeypatch):
    sysfs = tmp_path / "video4linux"
    for node, name, index in (("video0", "HD Pro Webcam C920", "0"), ("video1", "HD Pro Webcam C920", "1"),
                              ("video2", "USB2.0 Camera: USB2.0 Camera", "0")):
        (sysfs / node).mkdir(parents=True)
        (sysfs / node / "name").write_text(name + "\n")
        (sysfs / node / "index").write_text(index + "\n")
    cams = camera.list_cameras(str(sysfs))
    assert [(c.index, c.path, c.name) for c in cams] == [(0, "/dev/video0", "HD Pro Webcam C920"),
                                                         (2, "/dev/video2", "USB2.0 Camera: USB2.0 Camera")]
    assert "--source 2" in camera.describe_cameras(cams)
    monkeypatch.setattr(camera, "list_cameras", lambda: [])
    assert main.main(["--list-cameras"]) == 0
    assert "no cameras found" in capsys.readouterr().out


def test_fourcc_must_be_four_characters(tmp_path, capsys):
    assert main.main(["--source", "0", "--fourcc", "MJPEG", "--detections", str(tmp_path / "d.jsonl")]) == 2
    assert "expected --fourcc as 4 characters" in capsys.readouterr().err
