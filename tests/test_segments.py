"""--segment and --max-clip on real video: every frame in exactly one segment, segments end to end in
time, the detections' lines naming their segment; an event clip cut at --max-clip goes on in parts
the index keeps with it. The live case (35 s of an RTSP camera with --segment 10s) is slow."""
from __future__ import annotations

import json
import sqlite3
import time

import av
import pytest

from conftest import shared_path
from test_cli import assert_one_clear_line, lookout


def packet_times(path) -> list[float]:
    """Each video frame's presentation time in seconds, in the order a player shows them."""
    with av.open(str(path)) as c:
        s = c.streams.video[0]
        return sorted(float(p.pts * s.time_base) for p in c.demux(s) if p.size)


def check_segments(paths, frames_written: int, fps: float | None) -> list[int]:
    """The segments hold every frame once: their counts add up, and each starts a frame after the last
    ends: within 1.5 frame intervals at ``fps``, or (live, ``fps`` None: a camera's frames come unevenly)
    no further apart than two frames inside a segment ever are."""
    counts, last, widest, cuts = [], None, 0.0, []
    for p in paths:
        t = packet_times(p)
        assert t and len(set(t)) == len(t), p.name  # no frame shown twice
        widest = max([widest] + [b - a for a, b in zip(t, t[1:])])
        if last is not None:
            cuts.append((p.name, last, t[0]))
        last = t[-1]
        counts.append(len(t))
    for name, end, start in cuts:
        assert 0 < start - end <= (1.5 / fps if fps else widest), (name, end, start, widest)  # no gap, no repeat
    assert sum(counts) == frames_written, (counts, frames_written)
    return counts


def test_segments_of_a_file_hold_every_frame_once_and_the_jsonl_names_them(tmp_path):
    vtest = shared_path("media/vtest.avi")  # 10 fps
    out = tmp_path / "rec-{start}.mp4"
    jsonl = tmp_path / "d.jsonl"
    p = lookout("--source", str(vtest), "--max-frames", "250", "--output", str(out), "--segment", "10s",
                "--detections", str(jsonl), "--classes", "person", timeout=600)
    assert p.returncode == 0, p.stderr
    segs = sorted(tmp_path.glob("rec-*.mp4"))
    assert [s.name[4:19] for s in segs] == sorted(s.name[4:19] for s in segs)  # local time, sortable names
    assert check_segments(segs, 250, 10.0) == [100, 100, 50]  # 10 s of a 10 fps file each
    lines = [json.loads(line) for line in jsonl.read_text().splitlines()]
    assert [line["segment"] for line in lines] == [s.name for s, n in zip(segs, (100, 100, 50)) for _ in range(n)]
    assert sum(len(line["detections"]) for line in lines) > len(lines)  # the people of vtest, in every segment
    assert not list(tmp_path.glob(".*.part-*"))  # each segment moved into place when complete


@pytest.mark.parametrize("value,words", [("0.5s", "--segment of at least 1s"), ("ten", "expected a duration")])
def test_bad_segment_is_one_line(tmp_path, value, words):
    p = lookout("--source", str(shared_path("media/vtest.avi")), "--output", str(tmp_path / "o.mp4"),
                "--segment", value)
    assert p.returncode == 2 and words in p.stderr and "Traceback" not in p.stderr, p.stderr
    assert not list(tmp_path.iterdir())


def test_segment_without_a_video_output_is_refused(tmp_path):
    p = lookout("--source", str(shared_path("media/vtest.avi")), "--detections", str(tmp_path / "d.jsonl"),
                "--segment", "10s")
    assert_one_clear_line(p, 2, "--segment cuts the --output video")


def test_max_clip_cuts_a_long_clip_into_parts_kept_with_their_event(tmp_path):
    """vtest's first 20 s always have people in view: one clip, cut every 4 s into parts."""
    events = tmp_path / "ev"
    p = lookout("--source", str(shared_path("media/vtest.avi")), "--max-frames", "200", "--events", str(events),
                "--classes", "person", "--max-clip", "4s", "--detections", str(tmp_path / "d.jsonl"), timeout=600)
    assert p.returncode == 0, p.stderr
    con = sqlite3.connect(events / "events.db")
    try:
        clips = [r[0] for r in con.execute("SELECT DISTINCT clip FROM events WHERE clip IS NOT NULL")]
        parts = [r[0] for r in con.execute("SELECT part FROM clip_parts ORDER BY part")]
        owned = {r[0] for r in con.execute("SELECT path FROM files")}
    finally:
        con.close()
    assert len(clips) == 1 and len(parts) == 4, (clips, parts)
    counts = [len(packet_times(events / rel)) for rel in clips + parts]
    assert counts == [40, 40, 40, 40, 40]  # 4 s at 10 fps each, all 200 frames
    assert set(clips + parts) <= owned
    ends = [json.loads(line) for line in (events / "events.jsonl").read_text().splitlines() if '"end"' in line]
    # an end record lists the parts written by then: the later ones list more
    assert ends and all(e.get("clip_parts", []) == parts[:len(e.get("clip_parts", []))] for e in ends)
    assert ends[-1]["clip_parts"] == parts


@pytest.mark.slow
def test_a_live_camera_cut_into_10s_segments_loses_and_repeats_nothing(tmp_path):
    """35 s of an RTSP camera (GStreamer's server on loopback) with --segment 10s."""
    from test_rtsp import Server, _gst_rtsp_available, free_port
    from kill_helpers import long_h264_clip
    if not _gst_rtsp_available():
        pytest.skip("needs GStreamer's RTSP server for the system Python (see tests/test_rtsp.py)")
    clip = long_h264_clip(tmp_path / "clip.mp4", repeats=8)
    srv = Server(clip, free_port()).start()
    try:
        stats = tmp_path / "s.json"
        p = lookout("--source", srv.url(), "--output", str(tmp_path / "cam.mp4"), "--segment", "10s",
                    "--detections", str(tmp_path / "cam.jsonl"), "--duration", "35", "--stats-json", str(stats),
                    timeout=300)
    finally:
        srv.kill()
    assert p.returncode == 0, p.stderr
    segs = sorted(tmp_path.glob("cam-*.mp4"))
    written = json.loads(stats.read_text())["frames"]["written"]
    assert len(segs) >= 3
    lines = [json.loads(line) for line in (tmp_path / "cam.jsonl").read_text().splitlines()]
    counts = [len(packet_times(s)) for s in segs]
    assert sum(counts) == written == len(lines)  # every frame in one segment, none twice
    assert [line["segment"] for line in lines] == [s.name for s, n in zip(segs, counts) for _ in range(n)]
    # a live segment's times start at 0 (a fragmented MP4 has no edit list for an offset): the stream's
    # own timestamps in the JSONL show the cuts lose nothing: a cut's step is no wider than any other
    pts = [line["pts_ms"] for line in lines]
    steps = [b - a for a, b in zip(pts, pts[1:])]
    cut_at = {sum(counts[:k]) - 1 for k in range(1, len(counts))}
    inside = max(st for i, st in enumerate(steps) if i not in cut_at)
    assert all(0 < steps[i] <= inside for i in cut_at), ([steps[i] for i in cut_at], inside)


def test_retention_deletes_only_its_own_oldest_segments_and_clips(tmp_path):
    """--min-free 99% is never met on a real disk: retention deletes every segment and ended event's clip
    it recorded except the newest segment, and nothing else: the user's files in both folders (one
    named like a segment) survive, and the record and the index match the folders afterwards."""
    out, events = tmp_path / "rec", tmp_path / "ev"
    out.mkdir()
    (events / "clips" / "vtest").mkdir(parents=True)
    mine = [out / "rec-20000101-000000.mp4", out / "notes.txt", events / "clips" / "vtest" / "mine.mp4"]
    for f in mine:
        f.write_bytes(b"the user's own file")
    p = lookout("--source", str(shared_path("media/vtest.avi")), "--max-frames", "150", "--output",
                str(out / "rec.mp4"), "--segment", "3s", "--events", str(events), "--classes", "person",
                "--max-clip", "4s", "--post-roll", "0", "--min-free", "99%", timeout=600)
    assert p.returncode == 0, p.stderr
    assert all(f.read_bytes() == b"the user's own file" for f in mine)
    record = [json.loads(line) for line in (out / ".lookout-segments.jsonl").read_text().splitlines()]
    segs = sorted(out.glob("rec-2*.mp4"))
    assert [r["name"] for r in record] == [s.name for s in segs if s not in mine]
    assert len(record) == 1 and len(packet_times(out / record[0]["name"])) == 150 - 4 * 30  # the newest: 3 s
    said = [l for l in p.stderr.splitlines() if "retention deleted" in l]
    assert len(said) == 4, p.stderr  # the first four, each at the next cut
    con = sqlite3.connect(events / "events.db")
    try:
        owned = {r[0] for r in con.execute("SELECT path FROM files")}
        kept_events = con.execute("SELECT COUNT(*) FROM events").fetchone()[0]
    finally:
        con.close()
    ended = sum('"event": "end"' in line for line in (events / "events.jsonl").read_text().splitlines())
    assert kept_events < ended  # ended events went, with their clips (the log keeps their lines)
    on_disk = {str(f.relative_to(events)) for f in events.rglob("*") if f.is_file()} - {
        "events.db", "events.db-wal", "events.db-shm", "events.jsonl", "clips/vtest/mine.mp4"}
    assert on_disk == owned  # the index matches the folder: nothing of ours left unlisted, nothing listed gone


@pytest.mark.slow
def test_a_full_disk_stops_the_recording_alone_and_it_resumes_in_a_new_segment(tmp_path):
    """The demo clip as a camera (--live --loop), its segments on a 2 MB tmpfs the test mounts, its
    detections elsewhere. The disk fills: one line says so, the segment so far plays, the detections
    go on; a file freed on the tmpfs lets a new segment start."""
    import signal
    import subprocess
    import sys
    from conftest import DEMO_CLIP, ROOT
    from test_cli import ENV
    from detector.io.video_out import count_frames
    small = tmp_path / "small"
    small.mkdir()
    m = subprocess.run(["mount", "-t", "tmpfs", "-o", "size=2m", "tmpfs", str(small)], capture_output=True, text=True)
    if m.returncode != 0:
        pytest.skip(f"cannot mount a small tmpfs here ({m.stderr.strip() or 'not permitted'})")
    try:
        filler = small / "filler.bin"
        filler.write_bytes(b"\0" * (1 << 20))
        err_path, jsonl, stats = tmp_path / "err.txt", tmp_path / "d.jsonl", tmp_path / "s.json"
        with open(err_path, "w") as err:
            proc = subprocess.Popen([sys.executable, str(ROOT / "main.py"), "--source", str(DEMO_CLIP), "--live", "--loop",
                                     "--output", str(small / "cam.mp4"), "--segment", "3s", "--detections", str(jsonl),
                                     "--stats-json", str(stats), "--no-progress"],
                                    stdout=subprocess.DEVNULL, stderr=err, env=ENV, cwd=ROOT)

        def wait_for(words: str) -> None:  # on the run's own lines; the deadline only stops a hang
            deadline = time.monotonic() + 240
            while words not in err_path.read_text():
                assert proc.poll() is None and time.monotonic() < deadline, err_path.read_text()
                time.sleep(0.2)

        try:
            wait_for("no space left")
            lines_at_full = jsonl_lines = len(list(tmp_path.glob(".d.part-*.jsonl"))[0].read_text().splitlines())
            before = sorted(small.glob("cam-*.mp4"))
            filler.unlink()  # the user makes room
            wait_for("space free again")
            while jsonl_lines < lines_at_full + 40:  # the detections never stopped
                time.sleep(0.2)
                jsonl_lines = len(list(tmp_path.glob(".d.part-*.jsonl"))[0].read_text().splitlines())
        finally:
            proc.send_signal(signal.SIGINT)
            proc.wait(60)
        said = err_path.read_text()
        assert proc.returncode == 130, said
        full = [l for l in said.splitlines() if "no space left" in l]
        assert len(full) >= 1 and "recording stopped, kept" in full[0] and str(small) in full[0], said
        assert before and all(count_frames(p) > 0 for p in before)  # what was written before the full point plays
        after = sorted(set(small.glob("cam-*.mp4")) - set(before))
        assert after and count_frames(after[0]) > 0  # a new segment after the space came back
        assert len(jsonl.read_text().splitlines()) >= jsonl_lines
        assert json.loads(stats.read_text())["frames_not_recorded"] > 0
    finally:
        subprocess.run(["umount", "-l", str(small)], capture_output=True)
