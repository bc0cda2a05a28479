"""Crash-safe live recordings and ``lookout recover``: a live run killed with SIGKILL leaves a video that
plays up to its last whole fragment, whole JSONL lines and an index with open events, which
``lookout recover`` finishes (intended names, events closed as interrupted, clips playable); a file
source's unfinished outputs are kept with the command that reruns them; a running run's files are
left alone; the next run says what a killed one left. The RTSP kill loop and the power-cut copy are
in the slow tests at the end (tools/kill_loop.py runs the full 20)."""
from __future__ import annotations

import json
import random
import signal
import sqlite3
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import DEMO_CLIP, ROOT, part_of, read_all_frames, shared_path
from test_cli import ENV, assert_one_clear_line, lookout

from detector.io.recover import _boxes, finish
from detector.io.video_out import AvWriter, count_frames, playable_frames
from detector.util.files import part_path
from detector.util.partial import left_in, note_path


def _popen(*args) -> subprocess.Popen:
    return subprocess.Popen([sys.executable, str(ROOT / "main.py"), *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=ENV, cwd=ROOT)


def _wait_lines(proc: subprocess.Popen, dest: Path, n: int) -> int:
    """Wait (on the file, not the clock; the deadline only stops a hang) until ``dest``'s temporary file
    holds ``n`` whole lines; returns how many it holds."""
    deadline = time.monotonic() + 180
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"lookout ended early ({proc.returncode}): {proc.communicate()[1]}")
        p = part_of(dest)
        if p.exists() and p.read_bytes().count(b"\n") >= n:
            return p.read_bytes().count(b"\n")
        time.sleep(0.1)
    raise AssertionError(f"{dest.name} never reached {n} lines")


def _recover(folder: Path) -> subprocess.CompletedProcess:
    return lookout("recover", str(folder))


def test_a_killed_live_run_is_finished_by_recover_and_the_next_run_says_so(tmp_path):
    """The demo clip played as a camera (--live --loop) into video, JSONL and events; SIGKILL once 40
    lines are on disk. Everything on disk before the kill is kept; recover makes it whole."""
    out, events = tmp_path / "out", tmp_path / "out" / "events"
    out.mkdir()
    video, jsonl = out / "rec.mp4", out / "rec.jsonl"
    proc = _popen("--source", str(DEMO_CLIP), "--live", "--loop", "--output", str(video), "--detections", str(jsonl),
                  "--events", str(events), "--track", "--classes", "person", "--pre-roll", "1", "--no-progress")
    try:
        _wait_lines(proc, jsonl, 40)
        busy = _recover(out)  # the run still holds its files: nothing of it is touched
        assert busy.returncode == 1 and "a running Lookout writes events there" in busy.stdout, busy.stdout
        assert part_of(video).exists() and part_of(jsonl).exists()
        seen_lines = part_of(jsonl).read_bytes().count(b"\n")
        seen_frames = playable_frames(part_of(video))
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=30)
    assert seen_frames > 0  # fragments are on disk while the run goes on
    con = sqlite3.connect(events / "events.db")
    open_before = {r[0] for r in con.execute("SELECT id FROM events WHERE open=1")}
    con.close()
    assert open_before  # people walk through the clip all the time: some event is open at the kill

    nxt = lookout("--source", str(DEMO_CLIP), "--max-frames", "2", "--detections", str(out / "other.jsonl"))
    assert nxt.returncode == 0, nxt.stderr
    notices = [l for l in nxt.stderr.splitlines() if "killed" in l]
    assert len(notices) == 1 and f"lookout recover {out}" in notices[0], nxt.stderr

    r = _recover(out)
    assert r.returncode == 0, r.stdout + r.stderr
    said = r.stdout.splitlines()
    assert f"lookout: {video}: recovered video" in r.stdout and f"lookout: {jsonl}: recovered" in r.stdout, r.stdout
    lines = [json.loads(l) for l in jsonl.read_text().splitlines()]  # every line whole
    assert len(lines) >= seen_lines
    assert sum(len(l["detections"]) for l in lines) > len(lines)  # the people of the clip
    frames = count_frames(video)
    assert frames >= seen_frames
    # the video is behind the JSONL by the frame being encoded and the one whose fragment waits for
    # the next (and a line written before its frame is encoded)
    assert len(lines) - frames <= 3, (len(lines), frames)
    assert not list(out.glob(".*.part-*")) and not list(events.rglob(".*.part-*.mp4"))

    con = sqlite3.connect(events / "events.db")
    try:
        assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert con.execute("SELECT COUNT(*) FROM events WHERE open=1").fetchone()[0] == 0
        clips = {r[0] for r in con.execute("SELECT clip FROM events WHERE id IN (%s)" % ",".join("?" * len(open_before)),
                                           sorted(open_before))}
        owned = {r[0] for r in con.execute("SELECT path FROM files")}
    finally:
        con.close()
    ends = [json.loads(l) for l in (events / "events.jsonl").read_text().splitlines()]
    interrupted = {e["id"] for e in ends if e["event"] == "end" and e.get("end_reason") == "interrupted"}
    assert interrupted == open_before
    assert sum(f"closed open event" in l for l in said) == len(open_before)
    for clip in clips - {None}:
        assert count_frames(events / clip) > 0 and clip in owned  # plays, and retention knows it as Lookout's

    again = _recover(out)
    assert again.returncode == 0 and again.stdout.strip() == f"lookout: nothing to recover in {out}"
    assert "killed" not in lookout("--source", str(DEMO_CLIP), "--max-frames", "2", "--detections",
                                   str(out / "third.jsonl")).stderr


def test_a_killed_file_run_keeps_its_part_and_says_how_to_rerun(tmp_path):
    vtest = shared_path("media/vtest.avi")
    video, jsonl = tmp_path / "o.mp4", tmp_path / "o.jsonl"
    proc = _popen("--source", str(vtest), "--output", str(video), "--detections", str(jsonl), "--no-progress")
    try:
        _wait_lines(proc, jsonl, 20)
    finally:
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=30)
    parts = sorted(tmp_path.glob(".o.part-*"))
    r = _recover(tmp_path)
    assert r.returncode == 0
    said = r.stdout.splitlines()
    assert len(said) == len([p for p in parts if not p.name.endswith(".lookout")]) >= 1
    for line in said:
        assert "unfinished output of a video file" in line and f"rerun: lookout --source {vtest}" in line, line
    assert not video.exists() and not jsonl.exists()  # a file source's outputs appear only when complete
    assert sorted(tmp_path.glob(".o.part-*")) == parts  # nothing deleted


def test_recover_refuses_what_is_not_a_folder_in_one_line(tmp_path):
    f = tmp_path / "x.mp4"
    f.write_bytes(b"not a folder")
    for target in (f, tmp_path / "missing"):
        p = _recover(target)
        assert_one_clear_line(p, 2, "is not a folder")


def test_a_fragmented_recording_cut_anywhere_recovers_to_its_whole_fragments(tmp_path):
    """The power cut at the byte level: a live recording's bytes cut at random points (what a disk may
    hold), each recovered: it plays, ends at a fragment's end, and keeps every frame before the cut."""
    frames = read_all_frames(DEMO_CLIP)
    src = tmp_path / "live.mp4"
    w = AvWriter(src, (frames[0].shape[1], frames[0].shape[0]), 10.0, "libx264", live=True)
    for i, f in enumerate(frames):
        w.write(f, i / 10)
    w.close()
    data = src.read_bytes()
    assert playable_frames(src) == len(frames)
    with open(src, "rb") as f:
        mdat_ends = [end for kind, _, end in _boxes(f, len(data)) if kind == "mdat"]
    assert len(mdat_ends) == len(frames)  # a fragment a frame
    rng = random.Random(32)
    for cut in sorted(rng.sample(range(mdat_ends[0] - 50, len(data)), 6)):
        folder = tmp_path / f"cut{cut}"
        folder.mkdir()
        dest = folder / "rec.mp4"
        part = part_path(dest)
        part.write_bytes(data[:cut])
        # the note as a killed run leaves it: nobody holds its lock
        note_path(part).write_text(json.dumps({"app": "lookout", "dest": dest.name, "part": part.name,
                                               "kind": "video", "live": True, "pid": 0, "command": "lookout"}))
        left = left_in(folder)
        assert [l.part for l in left] == [part]
        done = finish(left[0])
        whole = sum(end <= cut for end in mdat_ends)
        if whole == 0:
            assert done.target is None and "nothing playable" in done.line and part.exists()  # kept, not deleted
            continue
        assert done.target == dest and count_frames(dest) == whole, (cut, whole)
        assert dest.stat().st_size == mdat_ends[whole - 1] and not note_path(part).exists()


def _rtsp_servers(clip: Path):
    from test_rtsp import Server, _gst_rtsp_available, free_port
    from kill_helpers import STREAMS, long_h264_clip
    if not _gst_rtsp_available():
        pytest.skip("needs GStreamer's RTSP server for the system Python (see tests/test_rtsp.py)")
    if not clip.exists():
        long_h264_clip(clip, repeats=6)
    return {s: Server(clip, free_port()).start() for s in STREAMS}


@pytest.mark.slow
@pytest.mark.parametrize("power_cut", [False, True], ids=["kill", "power-cut"])
def test_two_rtsp_cameras_killed_three_times_recover_whole(tmp_path, power_cut):
    """Two RTSP cameras recorded (video, JSONL, events) and SIGKILLed at a random moment 5-20 s in, three
    times (once for the power cut: the folder copied while the run writes, then the copy recovered).
    Every line on disk before the kill is kept, the video is behind the JSONL by at most the frame
    being encoded and the one waiting for the next, the index is whole with no event open."""
    from kill_helpers import (STREAMS, Watch, check_recovered, copy_as_disk_image, kill9, recover, run_for,
                              start_run, wait_until_recording)
    rng = random.Random(32)
    for k in range(1 if power_cut else 3):
        servers = _rtsp_servers(tmp_path / "clip.mp4")
        out = tmp_path / f"run{k}"
        out.mkdir()
        try:
            watch = Watch()
            proc = start_run({s: v.url() for s, v in servers.items()}, out, ENV)
            wait_until_recording(proc, out, watch)
            run_for(proc, out, watch, rng.uniform(5, 20))
            if power_cut:
                image = tmp_path / f"image{k}"
                at = time.time()
                copy_as_disk_image(out, image)
                seen = dict(watch.lines)
                kill9(proc)
                out = image
            else:
                seen = dict(watch.lines)
                at = kill9(proc)
        finally:
            for v in servers.values():
                v.kill()
        r = recover(out, ENV)
        assert r.returncode == 0, r.stdout + r.stderr
        for loss in check_recovered(out, watch, at):
            assert loss.lines >= seen[loss.stream]
            assert loss.lines - loss.video_frames <= 3, loss
        assert recover(out, ENV).stdout.strip() == f"lookout: nothing to recover in {out}"
