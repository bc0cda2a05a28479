"""Video that plays where users take it: H.264 checked by ffprobe and played by headless Chromium;
codec options, the fallback, CSV detections, --version. Real clips, the real ``lookout`` command."""
from __future__ import annotations

import csv
import json
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import DEMO_CLIP, ROOT, main_in_child
from test_cli import ENV, assert_one_clear_line, lookout

DEMO_FRAMES, DEMO_SIZE, DEMO_RATE = 60, (768, 576), "10/1"


def ffprobe(path: Path, entries: str = "stream=codec_name,pix_fmt,width,height,r_frame_rate,nb_read_packets") -> dict:
    exe = shutil.which("ffprobe")
    if exe is None:
        pytest.skip("needs ffprobe (Debian: apt install ffmpeg; .ci/run installs it)")
    p = subprocess.run([exe, "-v", "error", "-select_streams", "v:0", "-count_packets", "-show_entries", entries,
                        "-of", "json", str(path)], capture_output=True, text=True, timeout=60)
    assert p.returncode == 0, p.stderr
    return json.loads(p.stdout)


@pytest.mark.slow
def test_mp4_is_h264_yuv420p_at_the_source_size_and_rate_with_every_frame(tmp_path):
    out, jsonl = tmp_path / "out.mp4", tmp_path / "d.jsonl"
    p = lookout("--source", str(DEMO_CLIP), "--output", str(out), "--detections", str(jsonl))
    assert p.returncode == 0, p.stderr
    s = ffprobe(out)["streams"][0]
    assert (s["codec_name"], s["pix_fmt"]) == ("h264", "yuv420p")
    assert (s["width"], s["height"]) == DEMO_SIZE and s["r_frame_rate"] == DEMO_RATE
    assert int(s["nb_read_packets"]) == DEMO_FRAMES == len(jsonl.read_text().splitlines())
    data = out.read_bytes()
    assert data.find(b"moov") < data.find(b"mdat"), "+faststart: the index comes first, so it plays while loading"
    assert "warning" not in p.stderr


@pytest.mark.parametrize("suffix,codec,expected", [(".mkv", None, "h264"), (".mov", None, "h264"),
                                                   (".mp4", "hevc", "hevc"), (".avi", None, "mjpeg"),
                                                   (".mkv", "mpeg4", "mpeg4")])
@pytest.mark.slow
def test_containers_and_codecs(tmp_path, suffix, codec, expected):
    out = tmp_path / f"out{suffix}"
    p = lookout("--source", str(DEMO_CLIP), "--output", str(out), *(["--codec", codec] if codec else []))
    assert p.returncode == 0, p.stderr
    s = ffprobe(out)["streams"][0]
    assert s["codec_name"] == expected
    assert int(s["nb_read_packets"]) == DEMO_FRAMES and (s["width"], s["height"]) == DEMO_SIZE


@pytest.mark.slow
def test_crf_and_bitrate_change_the_size(tmp_path):
    sizes = {}
    for name, opts in {"default": [], "crf35": ["--crf", "35"], "crf18": ["--crf", "18"],
                       "200k": ["--bitrate", "200k"]}.items():
        out = tmp_path / f"{name}.mp4"
        p = lookout("--source", str(DEMO_CLIP), "--output", str(out), *opts)
        assert p.returncode == 0, p.stderr
        sizes[name] = out.stat().st_size
    assert sizes["crf35"] < sizes["default"] < sizes["crf18"]
    bits_per_s = sizes["200k"] * 8 / (DEMO_FRAMES / 10)
    assert bits_per_s < 400_000, sizes  # within 2x of the asked-for rate on a 6 s clip


@pytest.mark.slow
def test_a_faster_preset_writes_every_frame_as_h264_in_a_bigger_file(tmp_path):
    sizes = {}
    for name, opts in {"default": [], "ultrafast": ["--preset", "ultrafast"], "medium": ["--preset", "medium"]}.items():
        out = tmp_path / f"{name}.mp4"
        p = lookout("--source", str(DEMO_CLIP), "--output", str(out), *opts)
        assert p.returncode == 0, p.stderr
        s = ffprobe(out)["streams"][0]
        assert (s["codec_name"], s["pix_fmt"], int(s["nb_read_packets"])) == ("h264", "yuv420p", DEMO_FRAMES)
        sizes[name] = out.stat().st_size
    assert sizes["ultrafast"] > 1.5 * sizes["default"], sizes  # (medium is no smaller than veryfast at CRF 23 here)


@pytest.mark.parametrize("args,words", [(["--crf", "80"], ["--crf"]), (["--bitrate", "fast"], ["--bitrate"]),
                                        (["--codec", "h264", "--output", "x.avi"], ["AVI", ".mp4"]),
                                        (["--output", "x.gif"], ["x.gif", ".mp4"]),
                                        (["--codec", "mpeg4", "--preset", "fast"], ["--preset", "H.264"])])
def test_bad_video_options_exit_2_before_loading(tmp_path, args, words):
    if "--output" not in args:
        args = [*args, "--output", str(tmp_path / "o.mp4")]
    p, runtimes = main_in_child("--source", DEMO_CLIP, *args, env=ENV)
    assert_one_clear_line(p, 2, *words)
    assert runtimes == []  # refused before any model runtime loads
    assert not list(tmp_path.iterdir())


def test_without_h264_falls_back_with_one_warning(tmp_path, monkeypatch, capsys):
    """A PyAV/FFmpeg build without libx264: OpenCV's MPEG-4 writer, and one line saying so."""
    import main
    from detector.io import video_out
    monkeypatch.setattr(video_out, "_pyav_encoders", lambda: {"mpeg4", "mjpeg"})
    out, jsonl = tmp_path / "out.mp4", tmp_path / "d.jsonl"
    assert main.main(["--source", str(DEMO_CLIP), "--output", str(out), "--detections", str(jsonl),
                      "--no-progress"]) == 0
    err = capsys.readouterr().err
    warnings = [line for line in err.splitlines() if "warning" in line]
    assert len(warnings) == 1 and "MPEG4" in warnings[0] and "instead of H264" in warnings[0], err
    s = ffprobe(out)["streams"][0]
    assert s["codec_name"] == "mpeg4" and int(s["nb_read_packets"]) == DEMO_FRAMES


CHROMIUM_PAGE = """<!doctype html><html><body><pre id="out">pending</pre><script>
const v = document.createElement('video'); v.muted = true; v.autoplay = true;
const out = document.getElementById('out');
v.addEventListener('error', () => { out.textContent = JSON.stringify({error: v.error ? v.error.code : -1}); });
v.addEventListener('timeupdate', () => { if (v.currentTime > 0.5 && out.textContent === 'pending')
  out.textContent = JSON.stringify({playing: true, duration: v.duration, width: v.videoWidth,
                                    height: v.videoHeight, t: v.currentTime}); });
v.src = location.hash.slice(1); document.body.appendChild(v);
</script></body></html>"""


def chromium_plays(folder: Path, name: str) -> dict:
    exe = shutil.which("chromium") or shutil.which("chromium-browser") or shutil.which("google-chrome")
    if exe is None:
        pytest.skip("needs headless Chromium (Debian: apt install chromium; .ci/run installs it)")
    page = folder / "page.html"
    page.write_text(CHROMIUM_PAGE)
    p = subprocess.run([exe, "--headless=new", "--no-sandbox", "--disable-gpu", "--mute-audio",
                        "--autoplay-policy=no-user-gesture-required", "--virtual-time-budget=5000",
                        f"--user-data-dir={folder / 'profile'}", "--dump-dom", f"{page.as_uri()}#{name}"],
                       capture_output=True, text=True, timeout=120)
    dom = p.stdout
    start = dom.find('<pre id="out">')
    assert start >= 0, (p.returncode, p.stderr[-2000:])
    text = dom[start + len('<pre id="out">'):dom.find("</pre>", start)]
    return json.loads(text) if text != "pending" else {"pending": True}


@pytest.mark.slow
def test_headless_chromium_plays_the_h264_output_and_refuses_mpeg4(tmp_path):
    h264, mpeg4 = tmp_path / "h264.mp4", tmp_path / "mpeg4.mp4"
    assert lookout("--source", str(DEMO_CLIP), "--output", str(h264)).returncode == 0
    assert lookout("--source", str(DEMO_CLIP), "--output", str(mpeg4), "--codec", "mpeg4").returncode == 0
    played = chromium_plays(tmp_path, h264.name)
    assert played.get("playing") is True, played
    assert abs(played["duration"] - DEMO_FRAMES / 10) < 0.2 and (played["width"], played["height"]) == DEMO_SIZE
    # What the old writer produced, and why this issue exists: MEDIA_ERR_SRC_NOT_SUPPORTED.
    assert chromium_plays(tmp_path, mpeg4.name) == {"error": 4}


@pytest.mark.slow
def test_csv_has_a_row_per_detection_with_the_jsonl_fields(tmp_path):
    jsonl, table = tmp_path / "d.jsonl", tmp_path / "d.csv"
    for path in (jsonl, table):
        p = lookout("--source", str(DEMO_CLIP), "--detections", str(path), "--track")
        assert p.returncode == 0, p.stderr
    frames = [json.loads(line) for line in jsonl.read_text().splitlines()]
    expected = [(f["frame"], d) for f in frames for d in f["detections"]]
    with open(table, newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == len(expected) > 100
    assert list(rows[0]) == ["frame", "pts_ms", "x1", "y1", "x2", "y2", "score", "class_id", "label", "track_id",
                             "class_label", "class_score", "sub_label", "sub_score"]
    for row, (frame, d) in zip(rows, expected):
        assert int(row["frame"]) == frame and row["label"] == d["label"] and int(row["class_id"]) == d["class_id"]
        assert [float(row[k]) for k in ("x1", "y1", "x2", "y2")] == d["xyxy"]
        assert float(row["score"]) == d["score"] and int(row["track_id"]) == d["track_id"]
    assert {r["label"] for r in rows} >= {"person"}


def test_version_is_fast_and_imports_no_model_runtime():
    code = ("import sys, main; rc = main.main(['--version']); "
            "assert 'torch' not in sys.modules and 'onnxruntime' not in sys.modules; sys.exit(rc)")
    p = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, cwd=ROOT, env=ENV, timeout=60)
    assert p.returncode == 0, p.stderr
    assert p.stdout.startswith("lookout 0.") and "onnxruntime" in p.stdout and "PyAV" in p.stdout
