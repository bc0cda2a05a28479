"""A user's files are never destroyed: no output over an input, no silent overwrite, no image decoded
past the pixel limit. Through the real ``lookout`` command in subprocesses, on real media; every
refusal checks the exit code, the one line, and the input's bytes (sha256) before and after.
Each case adds a row to docs/faults.md (LOOKOUT_WRITE_FAULTS=1; see conftest)."""
from __future__ import annotations

import hashlib
import json
import os
import shutil
import struct
import subprocess
import sys
import threading
import zlib

import cv2
import numpy as np
import pytest

from conftest import DEMO_CLIP, ROOT, read_frame
from test_faults import ENV, check, jsonl_lines, video_frames


def sha(path) -> str:
    return hashlib.sha256(open(path, "rb").read()).hexdigest()


def lookout(*args, cwd=ROOT, timeout=180):
    return subprocess.run([sys.executable, str(ROOT / "main.py"), "--no-progress", *map(str, args)],
                          capture_output=True, text=True, timeout=timeout, env=ENV, cwd=cwd)


def lookout_rss(*args, cwd=ROOT):
    """Run the command in a child that prints its own peak RSS (MB) as its last stderr line: VmHWM, the
    peak of this process's own memory (getrusage's maxrss would also count the forking test process)."""
    code = ("import sys; sys.path.insert(0, %r); import main; rc = main.main(sys.argv[1:]); "
            "hwm = [l for l in open('/proc/self/status') if l.startswith('VmHWM')][0].split()[1]; "
            "sys.stderr.write('peak_rss_mb=%%.1f\\n' %% (int(hwm) / 1024)); sys.stderr.flush(); sys.exit(rc)") % str(ROOT)
    p = subprocess.run([sys.executable, "-c", code, "--no-progress", *map(str, args)], capture_output=True,
                       text=True, timeout=180, env=ENV, cwd=cwd)
    rss = float(p.stderr.strip().splitlines()[-1].split("=")[1])
    return p, rss


@pytest.fixture()
def clip(tmp_path):
    src = tmp_path / "clip.mp4"
    shutil.copy(DEMO_CLIP, src)
    return src


# ---- outputs over inputs ------------------------------------------------------------------------
@pytest.mark.parametrize("flag", ["--output", "--detections", "--stats-json"])
def test_an_output_over_the_source_is_refused_even_with_overwrite(clip, fault_table, flag):
    before = sha(clip)
    for extra in ([], ["--overwrite"]):
        p = lookout("--source", clip, flag, clip, "--headless", *extra)
        check(p, 2, "never writes over an input")
        assert sha(clip) == before
    fault_table(f"{flag} naming the --source file (with and without --overwrite)", p)


def test_the_same_file_under_another_name_is_refused(clip, tmp_path, fault_table):
    """``./clip.mp4`` vs ``clip.mp4``, ``sub/../clip.mp4``, a symlink and a hard link to the input."""
    before = sha(clip)
    (tmp_path / "sub").mkdir()
    os.symlink(clip, tmp_path / "link.mp4")
    os.link(clip, tmp_path / "hard.mp4")
    for src, out in (("clip.mp4", "./clip.mp4"), ("./clip.mp4", "sub/../clip.mp4"), ("clip.mp4", "link.mp4"),
                     ("clip.mp4", "hard.mp4"), (str(clip), "clip.mp4")):
        p = lookout("--source", src, "--output", out, "--overwrite", cwd=tmp_path)
        check(p, 2, "the input")
        assert sha(clip) == before, (src, out)
        if out in ("link.mp4", "hard.mp4"):
            fault_table(f"--output {out}, a {'symbolic' if out == 'link.mp4' else 'hard'} link to the --source, "
                        f"with --overwrite", p)
    assert os.path.islink(tmp_path / "link.mp4")


def test_outputs_over_other_inputs_are_refused(tmp_path, fault_table):
    """The counters file, an image of the source folder, the --int8 calibration clip."""
    counters = tmp_path / "counters.json"
    counters.write_text(json.dumps({"lines": [{"name": "door", "points": [[0.3, 0], [0.3, 1]]}], "zones": []}))
    folder = tmp_path / "imgs"
    folder.mkdir()
    cv2.imwrite(str(folder / "a.jpg"), read_frame(DEMO_CLIP, 0))
    cases = [(["--source", DEMO_CLIP, "--counters", counters, "--detections", counters], counters),
             (["--source", folder, "--detections", folder / "a.jpg"], folder / "a.jpg")]
    for args, victim in cases:
        before = sha(victim)
        p = lookout(*args, "--overwrite")
        check(p, 2, "never writes over an input")
        assert sha(victim) == before
    fault_table("--detections naming an image of the --source folder", p)


def test_two_outputs_on_one_file_are_refused(tmp_path, fault_table):
    p = lookout("--source", DEMO_CLIP, "--detections", tmp_path / "x.json", "--stats-json", tmp_path / "x.json")
    fault_table("--detections and --stats-json naming one file", p)
    check(p, 2, "name the same file")
    assert not (tmp_path / "x.json").exists()


# ---- existing outputs ---------------------------------------------------------------------------
def test_an_existing_output_is_refused_and_overwrite_replaces_it(tmp_path, fault_table):
    notes = tmp_path / "notes.txt"
    notes.write_text("my notes\n")
    before = sha(notes)
    p = lookout("--source", DEMO_CLIP, "--detections", notes, "--max-frames", 5)
    fault_table("--detections naming an existing unrelated file", p)
    check(p, 2, "notes.txt already exists", "--overwrite")
    assert sha(notes) == before
    p = lookout("--source", DEMO_CLIP, "--detections", notes, "--max-frames", 5, "-y")
    check(p, 0)
    assert len(jsonl_lines(notes)) == 5
    assert not [f for f in os.listdir(tmp_path) if ".part" in f]


def test_existing_video_refused_then_replaced_with_every_frame(tmp_path):
    out = tmp_path / "out.mp4"
    shutil.copy(DEMO_CLIP, out)
    before = sha(out)
    p = lookout("--source", DEMO_CLIP, "--output", out, "--max-frames", 8)
    check(p, 2, "out.mp4 already exists")
    assert sha(out) == before
    p = lookout("--source", DEMO_CLIP, "--output", out, "--max-frames", 8, "--overwrite")
    check(p, 0)
    assert video_frames(out) == 8


def test_dump_folder_with_frames_of_those_names(tmp_path, fault_table):
    dump = tmp_path / "frames"
    dump.mkdir()
    cv2.imwrite(str(dump / "00000000.jpg"), read_frame(DEMO_CLIP, 50))
    mine = sha(dump / "00000000.jpg")
    p = lookout("--source", DEMO_CLIP, "--dump-dir", dump, "--max-frames", 2)
    fault_table("--dump-dir already holding 00000000.jpg", p)
    check(p, 2, "already holds 1 frame file", "--overwrite")
    assert sha(dump / "00000000.jpg") == mine
    # the same file as the source itself: never, whatever --overwrite says
    p = lookout("--source", dump / "00000000.jpg", "--dump-dir", dump, "--overwrite")
    check(p, 2, "never writes over an input")
    assert sha(dump / "00000000.jpg") == mine
    p = lookout("--source", DEMO_CLIP, "--dump-dir", dump, "--max-frames", 2, "--overwrite")
    check(p, 0)
    assert sha(dump / "00000000.jpg") != mine and (dump / "00000001.jpg").is_file()


# ---- lookout batch --------------------------------------------------------------------------------
def batch(*args, cwd=ROOT):
    return subprocess.run([sys.executable, str(ROOT / "main.py"), "batch", "--no-progress", "--ray", "off",
                           "--max-frames", "6", *map(str, args)], capture_output=True, text=True, timeout=300,
                          env=ENV, cwd=cwd)


@pytest.mark.slow
def test_batch_never_writes_over_its_inputs_or_strangers_and_skips_its_own_outputs(tmp_path, fault_table):
    rec = tmp_path / "recordings"
    rec.mkdir()
    shutil.copy(DEMO_CLIP, rec / "demo.mp4")
    shutil.copy(DEMO_CLIP, rec / "door.mp4")
    hashes = {n: sha(rec / n) for n in ("demo.mp4", "door.mp4")}
    p = batch(rec, "--out", rec, "--video", "--force", "--overwrite")
    fault_table("lookout batch recordings/ --out recordings/ --video (outputs over the inputs)", p)
    check(p, 2, "would be written over the input", "pick another --out")
    assert {n: sha(rec / n) for n in hashes} == hashes and sorted(os.listdir(rec)) == ["demo.mp4", "door.mp4"]

    # a file in --out that batch did not write
    (rec / "demo.jsonl").write_text("a colleague's file\n")
    p = batch(rec, "--out", rec)
    fault_table("lookout batch --out holding a file of an output's name that batch did not write", p)
    check(p, 2, "did not write", "demo.jsonl", "--overwrite")
    assert (rec / "demo.jsonl").read_text() == "a colleague's file\n"
    p = batch(rec, "--out", rec, "--overwrite")
    check(p, 0)
    assert len(jsonl_lines(rec / "demo.jsonl")) == 6 and len(jsonl_lines(rec / "door.jsonl")) == 6

    # --out inside the scanned folder: the annotated videos it wrote are not new inputs on the rerun
    out = rec / "annotated"
    p = batch(rec, "--out", out, "--video")
    check(p, 0)
    assert video_frames(out / "demo.mp4") == 6
    p = batch(rec, "--out", out, "--video")
    check(p, 0)
    names = [r["name"] for r in json.loads((out / "summary.json").read_text())["inputs"]]
    assert names == ["demo", "door"], names  # no "demo-2" made from annotated/demo.mp4
    assert {n: sha(rec / n) for n in hashes} == hashes

    # an output of batch's replaced by the user since: it is theirs now
    (out / "door.jsonl").write_text("edited by hand\n")
    p = batch(rec, "--out", out, "--video")
    check(p, 2, "did not write", "door.jsonl")
    assert (out / "door.jsonl").read_text() == "edited by hand\n"


# ---- images and frames past the pixel limit -------------------------------------------------------
def write_huge_png(path, w=30000, h=30000) -> None:
    """A valid 8-bit RGB PNG of w x h black pixels, streamed so the test never holds it decoded."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
    comp = zlib.compressobj(9)
    row = b"\0" * (1 + 3 * w)
    idat = b"".join(comp.compress(row) for _ in range(h)) + comp.flush()
    with open(path, "wb") as f:
        f.write(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", w, h, 8, 2, 0, 0, 0)))
        f.write(chunk(b"IDAT", idat) + chunk(b"IEND", b""))


@pytest.fixture(scope="module")
def huge_png(tmp_path_factory):
    path = tmp_path_factory.mktemp("bomb") / "bomb.png"
    write_huge_png(path)
    return path


def test_a_huge_image_is_refused_from_its_header(huge_png, tmp_path, fault_table):
    assert huge_png.stat().st_size < 4_000_000
    p, rss = lookout_rss("--source", huge_png, "--detections", tmp_path / "d.jsonl")
    fault_table(f"a {huge_png.stat().st_size / 1e6:.1f} MB PNG of 30000 x 30000 pixels as --source", p)
    check(p, 2, "30000x30000", "--max-pixels")
    assert rss < 300, rss
    assert not (tmp_path / "d.jsonl").exists()


def test_a_huge_image_in_a_folder_is_skipped_with_its_reason(huge_png, tmp_path, fault_table):
    folder = tmp_path / "imgs"
    folder.mkdir()
    cv2.imwrite(str(folder / "a.jpg"), read_frame(DEMO_CLIP, 0))
    shutil.copy(huge_png, folder / "b_bomb.png")
    cv2.imwrite(str(folder / "c.png"), read_frame(DEMO_CLIP, 40))
    jsonl = tmp_path / "d.jsonl"
    p, rss = lookout_rss("--source", folder, "--detections", jsonl)
    fault_table("a folder of two photos and a 30000 x 30000 PNG", p)
    check(p, 0, "skipped", "b_bomb.png", "30000x30000")
    lines = jsonl_lines(jsonl)
    assert [l["frame"] for l in lines] == [0, 2]
    assert all(any(d["label"] == "person" for d in l["detections"]) for l in lines)
    assert rss < 600, rss  # the model is loaded here; the image never is


def test_max_pixels_refuses_a_video_over_it_and_admits_it_raised(tmp_path, fault_table):
    jsonl = tmp_path / "d.jsonl"
    p = lookout("--source", DEMO_CLIP, "--detections", jsonl, "--max-pixels", "0.2M")
    fault_table("a 768x576 video with --max-pixels 0.2M", p)
    check(p, 2, "768x576", "--max-pixels")
    assert not jsonl.exists()
    p = lookout("--source", DEMO_CLIP, "--detections", jsonl, "--max-pixels", "0.5M", "--max-frames", 3)
    check(p, 0)
    assert len(jsonl_lines(jsonl)) == 3
    p = lookout("--source", DEMO_CLIP, "--detections", jsonl, "--max-pixels", "lots")
    assert p.returncode == 2 and "expected a pixel count" in p.stderr and "Traceback" not in p.stderr


def test_lossless_queues_are_bounded_in_bytes():
    """A real frame blown up to 8K: the queue takes one at a time however many frames it may hold."""
    from detector.engine.capture import QUEUE_BYTES, FrameBuffer
    from detector.types.frames import Frame
    big = cv2.resize(read_frame(DEMO_CLIP, 0), (7680, 4320))
    small = read_frame(DEMO_CLIP, 0)
    buf = FrameBuffer(8, overwrite=False, max_bytes=QUEUE_BYTES)
    stop = threading.Event()
    frames = [Frame(big, i, i * 40.0, 0.0, "8k") for i in range(3)]
    assert buf.put(frames[0], stop)
    stop.set()  # a second 8K frame would wait for room: with stop set it gives up instead
    fits = QUEUE_BYTES // big.nbytes
    for f in frames[1:fits]:
        assert buf.put(f, stop)
    assert not buf.put(frames[fits], stop)
    assert buf.get().index == 0
    assert buf.put(frames[fits], stop)
    # while 768x576 frames fill all 8 places
    buf = FrameBuffer(8, overwrite=False, max_bytes=QUEUE_BYTES)
    assert all(buf.put(Frame(small, i, 0.0, 0.0, "s"), stop) for i in range(8))
    assert not buf.put(Frame(small, 8, 0.0, 0.0, "s"), stop)
