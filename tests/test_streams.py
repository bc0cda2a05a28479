"""Several streams in one process: one detector, per-stream outputs, names, a config file, streams
that fail alone, and motion gating. Through the real ``lookout`` command on real clips."""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys

import cv2
import numpy as np
import pytest

from conftest import DEMO_CLIP, ROOT, read_frame, shared_path
from test_faults import ENV, check, jsonl_lines


def lookout(*args, cwd=ROOT, timeout=300):
    return subprocess.run([sys.executable, str(ROOT / "main.py"), "--no-progress", *map(str, args)],
                          capture_output=True, text=True, timeout=timeout, env=ENV, cwd=cwd)


# ---- bad input: one line, exit 2, nothing loaded, nothing written --------------------------------
CASES = {
    "unknown key": ('confidence = 0.4\n[[streams]]\nname = "a"\nsource = "DEMO"\n', "cameras.toml:1", "confidence"),
    "duplicate name": ('[[streams]]\nname = "door"\nsource = "DEMO"\n[[streams]]\nname = "door"\nsource = "DEMO"\n',
                       "cameras.toml:5", "used twice"),
    "wrong type": ('conf = "high"\n[[streams]]\nname = "a"\nsource = "DEMO"\n', "cameras.toml:1", "expected a number"),
    "global option in a stream": ('[[streams]]\nname = "a"\nsource = "DEMO"\nmodel = "x"\n', "cameras.toml:4",
                                  "applies to every stream"),
    "missing {stream}": ('output = "out/all.mp4"\n[[streams]]\nname = "a"\nsource = "DEMO"\n'
                         '[[streams]]\nname = "b"\nsource = "DEMO"\n', "{stream}", "--output"),
    "two streams, one file": ('[[streams]]\nname = "a"\nsource = "DEMO"\noutput = "out/x.mp4"\n'
                              '[[streams]]\nname = "b"\nsource = "DEMO"\noutput = "out/x.mp4"\n', "both write", "out/x.mp4"),
    "not TOML": ('[[streams]\nname = "a"\n', "not valid TOML", "cameras.toml"),
    "bad regions in a stream": ('[[streams]]\nname = "a"\nsource = "DEMO"\nregions = "tiles"\n', "--regions",
                                "grid:CxR"),
}


@pytest.mark.parametrize("case", list(CASES))
def test_config_file_mistakes_are_one_line_before_anything_loads(tmp_path, fault_table, case):
    text, *words = CASES[case]
    (tmp_path / "out").mkdir()
    (tmp_path / "cameras.toml").write_text(text.replace("DEMO", str(DEMO_CLIP)))
    code = ("import sys; sys.path.insert(0, %r); import main; rc = main.main(sys.argv[1:]); "
            "print(sorted(m for m in sys.modules if m in ('onnxruntime', 'torch')), file=sys.stderr); sys.exit(rc)") % str(ROOT)
    p = subprocess.run([sys.executable, "-c", code, "--config", "cameras.toml", "--headless"], capture_output=True,
                       text=True, cwd=tmp_path, env=ENV, timeout=60)
    fault_table(f"config file: {case}", p)
    check(p, 2, *words)
    assert p.stderr.strip().splitlines()[-1] == "[]"  # no runtime was imported, let alone a model loaded
    assert not list((tmp_path / "out").iterdir())


def test_two_streams_in_one_process_write_what_two_single_runs_write(tmp_path):
    """Per-stream files: each stream's JSONL is byte for byte a single run's; one shared file: every
    line names its stream; the stats JSON has both streams and the totals."""
    vtest = shared_path("media/vtest.avi")
    single = tmp_path / "single"
    single.mkdir()
    for name, src in (("door", DEMO_CLIP), ("vtest", vtest)):
        p = lookout("--source", src, "--detections", single / f"{name}.jsonl", "--max-frames", 50)
        check(p, 0)
    out = tmp_path / "out"
    out.mkdir()
    p = lookout("--source", f"door={DEMO_CLIP}", "--source", vtest, "--detections", out / "{stream}.jsonl",
                "--stats-json", out / "stats.json", "--max-frames", 50)
    check(p, 0, "door: 50 frames processed", "vtest: 50 frames processed")
    for name in ("door", "vtest"):
        assert (out / f"{name}.jsonl").read_bytes() == (single / f"{name}.jsonl").read_bytes(), name
    stats = json.loads((out / "stats.json").read_text())
    assert set(stats["streams"]) == {"door", "vtest"} and stats["totals"]["frames"]["inferred"] == 100
    p = lookout("--source", f"door={DEMO_CLIP}", "--source", vtest, "--detections", out / "all.jsonl", "--max-frames", 50)
    check(p, 0)
    lines = jsonl_lines(out / "all.jsonl")
    for name in ("door", "vtest"):
        mine = [{k: v for k, v in l.items() if k != "stream"} for l in lines if l["stream"] == name]
        assert mine == jsonl_lines(single / f"{name}.jsonl")


def test_a_stream_that_cannot_open_fails_alone(tmp_path, fault_table):
    out = tmp_path / "out"
    out.mkdir()
    p = lookout("--source", f"good={DEMO_CLIP}", "--source", f"gone={tmp_path / 'missing.mp4'}",
                "--detections", out / "{stream}.jsonl")
    fault_table("two streams, one of them a file that does not exist", p)
    check(p, 1, "gone", "missing.mp4")
    assert len(jsonl_lines(out / "good.jsonl")) == 60
    assert not (out / "gone.jsonl").exists()


def test_names_from_sources_are_unique_and_a_path_with_an_equals_sign_is_a_path(tmp_path):
    odd = tmp_path / "a=b.mp4"
    shutil.copy(DEMO_CLIP, odd)
    out = tmp_path / "out"
    out.mkdir()
    p = lookout("--source", odd, "--source", DEMO_CLIP, "--source", DEMO_CLIP, "--detections", out / "{stream}.jsonl",
                "--max-frames", 3)
    check(p, 0)
    assert sorted(os.listdir(out)) == ["a_b.jsonl", "demo_vtest-2.jsonl", "demo_vtest.jsonl"]


# ---- motion gating --------------------------------------------------------------------------------
def _still_clip(path, frame, seconds=10, fps=25):
    """A photo held still, encoded as a 25 fps H.264 clip (the compression adds its own noise)."""
    import av
    with av.open(str(path), "w") as out:
        s = out.add_stream("libx264", rate=fps)
        s.width, s.height, s.pix_fmt = frame.shape[1], frame.shape[0], "yuv420p"
        for _ in range(seconds * fps):
            for pkt in s.encode(av.VideoFrame.from_ndarray(frame, format="bgr24")):
                out.mux(pkt)
        for pkt in s.encode(None):
            out.mux(pkt)


def test_motion_gating_on_a_still_scene_detects_a_frame_in_fifty_and_keeps_its_boxes(tmp_path):
    clip = tmp_path / "still.mp4"
    _still_clip(clip, read_frame(DEMO_CLIP, 0))
    jsonl, stats = tmp_path / "d.jsonl", tmp_path / "s.json"
    p = lookout("--source", clip, "--detections", jsonl, "--stats-json", stats, "--motion")
    check(p, 0, "still (motion)")
    frames = json.loads(stats.read_text())["frames"]
    assert frames["inferred"] + frames["motion_skipped"] == 250
    assert frames["inferred"] <= 0.05 * 250, frames  # a keyframe every 2 s: 5 of 250
    lines = jsonl_lines(jsonl)
    assert len(lines) == 250
    people = {len([d for d in l["detections"] if d["label"] == "person"]) for l in lines}
    assert len(people) == 1 and people.pop() >= 3  # the people in the photo, on every frame


@pytest.mark.slow
def test_motion_gating_keeps_the_counts_on_vtest(tmp_path):
    vtest = shared_path("media/vtest.avi")
    counts = {}
    for motion in (False, True):
        stats = tmp_path / f"s{motion}.json"
        p = lookout("--source", vtest, "--track", "--line", "door=0.3,0,0.3,1", "--stats-json", stats,
                    "--headless", *(["--motion"] if motion else []))
        check(p, 0)
        s = json.loads(stats.read_text())
        c = s["counts"]["lines"]["door"]
        counts[motion] = (sum(c["in"].values()), sum(c["out"].values()), s["frames"].get("motion_skipped", 0))
    (i0, o0, _), (i1, o1, skipped) = counts[False], counts[True]
    assert abs(i1 - i0) <= 1 and abs(o1 - o0) <= 1, counts
