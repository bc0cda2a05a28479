"""The real ``lookout`` command in subprocesses: exit codes, one-line errors, signals, no Qt when headless."""
from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import threading
import time

import cv2
import pytest

from conftest import DEMO_CLIP, ROOT, part_of, shared_path

ENV = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY", "QT_QPA_PLATFORM")}


def lookout(*args, timeout=120, env=None):
    return subprocess.run([sys.executable, str(ROOT / "main.py"), *args], capture_output=True, text=True,
                          timeout=timeout, env=env or ENV, cwd=ROOT)


def assert_one_clear_line(proc, code, *words):
    assert proc.returncode == code, proc.stderr
    assert "Traceback" not in proc.stderr
    errors = [l for l in proc.stderr.splitlines() if l.startswith("lookout: error")]
    assert len(errors) == 1, proc.stderr
    for w in words:
        assert w in errors[0], errors[0]


def test_headless_runs_without_display_and_imports_no_qt(tmp_path):
    code = ("import sys, main; rc = main.main(sys.argv[1:]); "
            "qt = [m for m in sys.modules if m.startswith(('PyQt', 'ui'))]; "
            "print('QT_MODULES', qt); sys.exit(rc)")
    out = tmp_path / "frames"
    p = subprocess.run([sys.executable, "-c", code, "--source", str(DEMO_CLIP), "--headless", "--dump-dir",
                        str(out), "--max-frames", "5"], capture_output=True, text=True, env=ENV, cwd=ROOT, timeout=120)
    assert p.returncode == 0, p.stderr
    assert "QT_MODULES []" in p.stdout
    assert len(list(out.glob("*.jpg"))) == 5


def test_no_display_window_mode_hints_headless():
    p = lookout("--source", str(DEMO_CLIP))
    assert p.returncode == 2
    assert "--headless" in p.stderr and "Traceback" not in p.stderr and len(p.stderr.strip().splitlines()) == 1


def _file(name, data: bytes):
    def make(folder):
        (folder / name).write_bytes(data)
        return str(folder / name)
    return make


def test_unusable_display_hints_headless():
    """A DISPLAY that points nowhere: one line and exit 2, not a Qt abort."""
    p = lookout("--source", str(DEMO_CLIP), env={**ENV, "DISPLAY": ":987"})
    assert p.returncode == 2, p.stderr
    assert "--headless" in p.stderr and len(p.stderr.strip().splitlines()) == 1


@pytest.mark.parametrize("make, words", [
    (lambda d: str(d / "missing.mp4"), ["no such file"]),
    (_file("empty.mp4", b""), ["empty"]),
    (_file("text.mp4", b"not a video\n" * 100), ["cannot decode"]),
    (lambda d: "7", ["no camera at index 7"]),
], ids=["missing", "empty", "text", "camera"])
def test_bad_sources_exit_2_with_one_line(tmp_path, make, words):
    p = lookout("--source", make(tmp_path), "--output", str(tmp_path / "o.mp4"))
    assert_one_clear_line(p, 2, *words)
    assert not (tmp_path / "o.mp4").exists()


def test_unwritable_output_folder(tmp_path):
    p = lookout("--source", str(DEMO_CLIP), "--output", str(tmp_path / "nope" / "o.mp4"))
    assert_one_clear_line(p, 2, "does not exist")


@pytest.mark.slow
def test_unknown_model_and_class(tmp_path):
    assert_one_clear_line(lookout("--source", str(DEMO_CLIP), "--headless", "--model", "nope"), 2,
                          "ssdlite-mobilenetv2-person")
    assert_one_clear_line(lookout("--source", str(DEMO_CLIP), "--headless", "--model", "ssdlite-mobilenetv2-person",
                                  "--classes", "car"), 2, "car")


@pytest.mark.slow
def test_silent_stream_times_out_with_clear_error(tmp_path):
    """A loopback server that accepts the connection and never answers."""
    srv = socket.socket()
    srv.bind(("127.0.0.1", 0))
    srv.listen(4)
    port = srv.getsockname()[1]
    conns = []
    stop = threading.Event()

    def accept():
        srv.settimeout(0.2)
        while not stop.is_set():
            try:
                conns.append(srv.accept()[0])
            except OSError:
                pass

    t = threading.Thread(target=accept, daemon=True)
    t.start()
    try:
        p = lookout("--source", f"http://127.0.0.1:{port}/cam.mjpg", "--headless", "--max-frames", "5", timeout=90)
        assert_one_clear_line(p, 2, "cannot connect to stream")  # a hang fails by lookout's timeout
    finally:
        stop.set()
        t.join(2)
        for c in conns:
            c.close()
        srv.close()


def test_sigint_leaves_playable_video_and_complete_jsonl(tmp_path):
    out, jsonl, stats = tmp_path / "o.mp4", tmp_path / "d.jsonl", tmp_path / "s.json"
    proc = subprocess.Popen([sys.executable, str(ROOT / "main.py"), "--source", str(DEMO_CLIP), "--loop",
                             "--output", str(out), "--detections", str(jsonl), "--stats-json", str(stats)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=ENV, cwd=ROOT)
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline and (not part_of(jsonl).exists() or part_of(jsonl).read_text().count("\n") < 15):
        time.sleep(0.2)
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=60)  # a hang fails here
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    lines = jsonl.read_text().splitlines()
    assert len(lines) >= 15 and all(json.loads(l)["frame"] == i for i, l in enumerate(lines))
    cap = cv2.VideoCapture(str(out))
    n = 0
    while cap.read()[0]:
        n += 1
    assert n == len(lines)
    assert json.loads(stats.read_text())["stopped_by"] == "signal"


@pytest.mark.slow
def test_damaged_clip_runs_to_the_end_exit_0(tmp_path):
    """Every frame that decodes is processed; undecodable ones are counted, not fatal."""
    src = shared_path("media/Megamind_bugy.avi")
    jsonl, stats = tmp_path / "d.jsonl", tmp_path / "s.json"
    p = lookout("--source", str(src), "--detections", str(jsonl), "--stats-json", str(stats))
    assert p.returncode == 0, p.stderr
    assert "Traceback" not in p.stderr
    total = int(cv2.VideoCapture(str(src)).get(cv2.CAP_PROP_FRAME_COUNT))
    s = json.loads(stats.read_text())
    assert s["stopped_by"] == "end"
    assert len(jsonl.read_text().splitlines()) + s["frames"]["bad_frames"] == total
    assert (s["frames"]["bad_frames"] > 0) == ("warning" in p.stderr)


def test_iou_zero_is_refused_at_once_without_torch(tmp_path):
    """--iou 0 used to pass the command line's check, fail in the detector core, be swallowed by the
    torch-free loader and surface only after torch had loaded (seconds): now one line, fast."""
    code = "import sys, main; rc = main.main(sys.argv[1:]); print(rc, 'torch' in sys.modules, 'onnxruntime' in sys.modules)"
    p = subprocess.run([sys.executable, "-c", code, "--source", str(DEMO_CLIP), "--iou", "0", "--detections",
                        str(tmp_path / "d.jsonl")], capture_output=True, text=True, env=ENV, cwd=ROOT, timeout=60)
    # fast means before any runtime loads: neither torch nor ONNX Runtime was imported (not a time bound)
    assert p.stdout.split() == ["2", "False", "False"], p.stdout
    assert "--iou" in p.stderr and "Traceback" not in p.stderr
    from detector.runtime.onnx.detector import load_cached
    with pytest.raises(ValueError, match="IoU threshold"):
        load_cached("ssd-mobilenetv2-coco", "cpu", iou_threshold=0.0)
