"""Kill a live run and check what ``lookout recover`` makes of what it left (tests/test_recover.py and
tools/kill_loop.py).

A run records two RTSP streams from real GStreamer servers on the loopback address (video, JSONL,
events with tracking). While it runs, the JSONL being written is read every 0.1 s: the smallest
"wall time seen - pts" over those reads ties the stream's timestamps to the wall clock, so the pts a
frame captured at the moment of the kill would have had is known. After the kill (or a copy of the
folder taken while it runs: a power cut's disk image), ``lookout recover`` runs and each stream's
loss is measured: JSONL loss = that pts - the recovered JSONL's last pts; video loss = the JSONL
loss plus the frames the JSONL has and the video does not, at the measured rate.
"""
from __future__ import annotations

import json
import os
import re
import shutil
import signal
import sqlite3
import subprocess
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path

import av

from conftest import DEMO_CLIP, ROOT, read_all_frames

STREAMS = ("north", "south")


def long_h264_clip(path: Path, repeats: int) -> Path:
    """The demo clip ``repeats`` times over as H.264, a key frame a second (10 fps)."""
    frames = read_all_frames(DEMO_CLIP)
    with av.open(str(path), "w") as out:
        s = out.add_stream("libx264", rate=10)
        s.width, s.height, s.pix_fmt = frames[0].shape[1], frames[0].shape[0], "yuv420p"
        s.options = {"preset": "ultrafast", "g": "10", "bf": "0"}
        for _ in range(repeats):
            for f in frames:
                for p in s.encode(av.VideoFrame.from_ndarray(f, format="bgr24")):
                    out.mux(p)
        for p in s.encode(None):
            out.mux(p)
    return path


def part_files(folder: Path, dest: str) -> list[Path]:
    stem, suffix = os.path.splitext(dest)
    return sorted(folder.glob(f".{stem}.part-*{suffix}"))


@dataclass
class Watch:
    """The smallest (wall - pts) seen per stream while the JSONL grew."""

    offset: dict = field(default_factory=dict)
    lines: dict = field(default_factory=dict)  # the most whole lines seen on disk

    def look(self, folder: Path) -> None:
        now = time.time()
        for s in STREAMS:
            parts = part_files(folder, f"{s}.jsonl")
            if not parts:
                continue
            data = parts[0].read_bytes()
            end = data.rfind(b"\n")
            if end <= 0:
                continue
            self.lines[s] = max(self.lines.get(s, 0), data.count(b"\n"))
            last = data[data.rfind(b"\n", 0, end) + 1:end]
            try:
                pts = json.loads(last)["pts_ms"] / 1000
            except ValueError:
                continue
            self.offset[s] = min(self.offset.get(s, float("inf")), now - pts)


def start_run(urls: dict, out: Path, env: dict, extra=()) -> subprocess.Popen:
    args = [a for name, url in urls.items() for a in ("--source", f"{name}={url}")]
    return subprocess.Popen([sys.executable, str(ROOT / "main.py"), *args, "--output", str(out / "{stream}.mp4"),
                             "--detections", str(out / "{stream}.jsonl"), "--events", str(out / "events"), "--track",
                             "--classes", "person", "--duration", "300", "--no-progress", *extra],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env, cwd=ROOT)


def wait_until_recording(proc: subprocess.Popen, out: Path, watch: Watch, timeout: float = 90) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise AssertionError(f"lookout ended early ({proc.returncode}): {proc.communicate()[1]}")
        watch.look(out)
        if all(part_files(out, f"{s}.mp4") for s in STREAMS) and len(watch.offset) == len(STREAMS):
            return
        time.sleep(0.1)
    raise AssertionError("the recordings did not start")


def run_for(proc: subprocess.Popen, out: Path, watch: Watch, seconds: float) -> None:
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        if proc.poll() is not None:
            raise AssertionError(f"lookout ended early ({proc.returncode}): {proc.communicate()[1]}")
        watch.look(out)
        time.sleep(0.1)


def kill9(proc: subprocess.Popen) -> float:
    t = time.time()
    proc.send_signal(signal.SIGKILL)
    proc.communicate(timeout=30)
    return t


def recover(folder: Path, env: dict) -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, str(ROOT / "main.py"), "recover", str(folder)], capture_output=True,
                          text=True, env=env, cwd=ROOT, timeout=120)


@dataclass
class StreamLoss:
    stream: str
    video_frames: int
    lines: int
    jsonl_loss_s: float
    video_loss_s: float


def check_recovered(out: Path, watch: Watch, kill_wall: float) -> list[StreamLoss]:
    """Every stream's video plays and its JSONL parses to the last line; the index is whole and has
    no open event; nothing is left under a temporary name. The losses, per stream."""
    from detector.io.video_out import count_frames
    losses = []
    for s in STREAMS:
        video, jsonl = out / f"{s}.mp4", out / f"{s}.jsonl"
        assert video.is_file() and jsonl.is_file(), sorted(p.name for p in out.iterdir())
        lines = [json.loads(line) for line in jsonl.read_text().splitlines()]  # every line parses
        frames = count_frames(video)  # what a player finds, counted in the finished file
        assert frames > 0 and lines, (s, frames, len(lines))
        pts = [line["pts_ms"] / 1000 for line in lines]
        fps = (len(pts) - 1) / (pts[-1] - pts[0]) if len(pts) > 1 and pts[-1] > pts[0] else 10.0
        jsonl_loss = (kill_wall - watch.offset[s]) - pts[-1]
        losses.append(StreamLoss(s, frames, len(lines), jsonl_loss, jsonl_loss + max(0, len(lines) - frames) / fps))
    assert not list(out.glob(".*.part-*")), sorted(p.name for p in out.glob(".*"))
    events = out / "events"
    con = sqlite3.connect(events / "events.db")
    try:
        assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        assert con.execute("SELECT COUNT(*) FROM events WHERE open=1").fetchone()[0] == 0
        clips = [r[0] for r in con.execute("SELECT DISTINCT clip FROM events WHERE clip IS NOT NULL")]
    finally:
        con.close()
    for line in (events / "events.jsonl").read_text().splitlines():
        json.loads(line)
    for clip in clips:
        assert count_frames(events / clip) > 0, clip
    return losses


def copy_as_disk_image(src: Path, dst: Path) -> None:
    """The folder as a power cut would leave it on disk, as near as a test gets: every file copied as it
    is at this moment (what the OS has been handed), while the run goes on writing. A temporary file
    renamed to its final name between the listing and its copy (a snapshot finished meanwhile) is
    copied under the new name, as the disk holds it after that rename; one gone altogether (a note
    removed as its write finished) is gone from the image too."""
    def copy(s: str, d: str) -> None:
        try:
            shutil.copy2(s, d)
        except FileNotFoundError:
            m = re.fullmatch(r"\.(.+)\.part-[0-9a-f]{8}(\.[^.]*)?", os.path.basename(s))
            final = os.path.join(os.path.dirname(s), m.group(1) + (m.group(2) or "")) if m else ""
            if final and os.path.exists(final):
                shutil.copy2(final, os.path.join(os.path.dirname(d), os.path.basename(final)))
    shutil.copytree(src, dst, symlinks=True, copy_function=copy)
