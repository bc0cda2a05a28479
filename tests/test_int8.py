"""--int8: the float person SSDLite as ONNX Runtime int8, where the CPU makes that faithful (VNNI)."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest

from conftest import DEMO_CLIP, ROOT, read_all_frames, shared_path
from detector.ops.agreement import agreement
from detector.runtime.host import has_vnni

PERSON = "ssdlite-mobilenetv2-person"
needs_vnni = pytest.mark.skipif(not has_vnni(), reason="--int8 is refused on CPUs without VNNI "
                                "(test_int8_is_refused_in_one_line_where_it_would_be_wrong covers that)")


def lookout(*args, env=None):
    return subprocess.run([sys.executable, str(ROOT / "main.py"), *args], capture_output=True, text=True,
                          timeout=300, cwd=ROOT, env=env)


@pytest.mark.slow
@needs_vnni
def test_int8_finds_the_float_models_people_on_frames_it_was_not_calibrated_on(tmp_path, monkeypatch):
    """Calibrated on the demo clip (vtest.avi frames 100-159), checked on every 10th vtest.avi frame
    outside it against the float model: >= 95 % of its boxes at IoU >= 0.5, few extra, scores close."""
    import cv2
    from detector import Detector
    monkeypatch.setenv("LOOKOUT_CACHE", str(tmp_path))
    cap = cv2.VideoCapture(str(shared_path("media/vtest.avi")))
    frames, i = [], 0
    while True:
        ok, f = cap.read()
        if not ok:
            break
        if i % 10 == 0 and not 100 <= i < 160:
            frames.append(f)
        i += 1
    fp32 = Detector.load(PERSON, device="cpu")
    int8 = Detector.load(PERSON, device="cpu", int8=True)
    assert int8.mode == "onnxruntime-int8" and int8.labels == fp32.labels
    # its agreement on the 60 calibration frames (in-sample) is kept and reported
    assert int8.int8_agreement["frames"] == 60 and int8.int8_agreement["recall"] >= 0.9
    a = agreement([fp32.detect(f) for f in frames], [int8.detect(f) for f in frames])
    assert a["frames"] == 74 and a["reference_boxes"] > 300
    assert a["recall"] >= 0.95 and a["precision"] >= 0.95, a
    assert a["mean_score_diff"] < 0.05, a
    kept = list((tmp_path / "onnx").glob("*.int8.onnx"))
    assert len(kept) == 1
    # a second load reads the kept graph instead of quantising again
    stamp = kept[0].stat().st_mtime_ns
    import detector.runtime.onnx.int8 as int8_module
    monkeypatch.setattr(int8_module, "quantize_graph", lambda *a, **k: pytest.fail("quantised again"))
    again = Detector.load(PERSON, device="cpu", int8=True)
    assert kept[0].stat().st_mtime_ns == stamp
    assert agreement([int8.detect(frames[0])], [again.detect(frames[0])])["recall"] == 1.0


@pytest.mark.slow
@needs_vnni
def test_int8_command_line_writes_every_frame_with_people_calibrated_on_the_users_frames(tmp_path):
    """--int8-calibration with a folder of the user's own images: every demo-clip frame in the JSONL,
    people in each, and the graph kept apart from the demo-calibrated one."""
    import cv2
    env = {**__import__("os").environ, "LOOKOUT_CACHE": str(tmp_path / "cache")}
    shots = tmp_path / "shots"
    shots.mkdir()
    for k, f in enumerate(read_all_frames(DEMO_CLIP)[::6]):
        cv2.imwrite(str(shots / f"{k:02d}.png"), f)
    out = tmp_path / "d.jsonl"
    stats = tmp_path / "stats.json"
    p = lookout("--source", str(DEMO_CLIP), "--headless", "--model", PERSON, "--int8-calibration", str(shots),
                "--detections", str(out), "--stats-json", str(stats), "--no-progress", env=env)
    assert p.returncode == 0, p.stderr
    # ten images: said to be too few, with what the int8 model did on them
    assert "on its 10 calibration frames the int8 model finds" in p.stderr and "too few" in p.stderr
    rows = [json.loads(line) for line in out.read_text().splitlines()]
    assert len(rows) == 60
    assert all(any(d["label"] == "person" for d in r["detections"]) for r in rows)
    assert len(list((tmp_path / "cache" / "onnx").glob("*.int8.onnx"))) == 1
    detector = json.loads(stats.read_text())["detector"]
    assert detector["runtime"] == "onnxruntime-int8" and detector["int8_agreement"]["frames"] == 10


@pytest.mark.parametrize("args, words", [
    (["--int8"], "already integer"),                                    # the default COCO model
    (["--model", PERSON, "--int8", "--device", "cuda"], "runs on the CPU"),
    (["--model", PERSON, "--int8", "--half"], "drop --half"),
    (["--model", PERSON, "--int8-calibration", "/no/such/frames"], "expected a video file, image or folder"),
])
def test_int8_is_refused_in_one_line_where_it_would_be_wrong(tmp_path, args, words):
    """Exit 2 with one line saying why and what to do, before any model loads (no torch, no ORT)."""
    code = "import sys, main; rc = main.main(sys.argv[1:]); print(rc, 'torch' in sys.modules or 'onnxruntime' in sys.modules)"
    p = subprocess.run([sys.executable, "-c", code, "--source", str(DEMO_CLIP), "--headless", "--detections",
                        str(tmp_path / "d.jsonl"), *args], capture_output=True, text=True, cwd=ROOT, timeout=60)
    assert p.stdout.split() == ["2", "False"], p.stdout  # refused before any runtime loads
    lines = p.stderr.strip().splitlines()
    assert len(lines) == 1 and words in lines[0], p.stderr
    assert not (tmp_path / "d.jsonl").exists()


@pytest.mark.skipif(has_vnni(), reason="this CPU has VNNI: --int8 runs here (the tests above)")
def test_int8_is_refused_where_int8_kernels_saturate(tmp_path):
    p = lookout("--source", str(DEMO_CLIP), "--headless", "--model", PERSON, "--int8",
                "--detections", str(tmp_path / "d.jsonl"))
    assert p.returncode == 2 and "needs a CPU with VNNI" in p.stderr
    assert not (tmp_path / "d.jsonl").exists()


COUNT_DECISIONS = """
import sys, threading
import main
from detector.runtime.onnx import int8
asked, decided = int8.int8_refusal.__code__, int8._decide.__wrapped__.__code__
counts = {"asked": 0, "decided": 0}
def count(frame, event, arg):
    if event == "call" and frame.f_code in (asked, decided):
        counts["asked" if frame.f_code is asked else "decided"] += 1
sys.setprofile(count); threading.setprofile(count)
rc = main.main(sys.argv[1:])
sys.setprofile(None)
print(rc, counts["asked"], counts["decided"])
"""


@pytest.mark.slow
@needs_vnni
def test_int8_eligibility_is_decided_once_a_start(tmp_path):
    """The command line's early check, the engine's and the loader's all ask whether --int8 can be
    had; the first asking decides and the others get its answer (the decision ran three times a
    start before), and the run is the int8 one."""
    env = {**__import__("os").environ, "LOOKOUT_CACHE": str(tmp_path / "cache")}
    stats = tmp_path / "stats.json"
    p = subprocess.run([sys.executable, "-c", COUNT_DECISIONS, "--source", str(DEMO_CLIP), "--headless", "--model",
                        PERSON, "--int8", "--max-frames", "3", "--detections", str(tmp_path / "d.jsonl"),
                        "--stats-json", str(stats), "--no-progress"],
                       capture_output=True, text=True, cwd=ROOT, timeout=300, env=env)
    assert p.returncode == 0, p.stderr
    rc, asked, decided = p.stdout.split()[-3:]
    assert rc == "0" and int(asked) >= 2 and decided == "1", p.stdout
    assert json.loads(stats.read_text())["detector"]["runtime"] == "onnxruntime-int8"
    assert len((tmp_path / "d.jsonl").read_text().splitlines()) == 3
