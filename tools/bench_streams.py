"""Many live streams: one lookout process for N RTSP streams against N lookout processes, side by side.

    python tools/bench_streams.py [--streams 4,8] [--seconds 20] [--fps 25] [--write-docs]

Serves vtest.avi (../shared) as N H.264 RTSP streams at --fps from GStreamer's RTSP server on
loopback (tests/rtsp_server.py, the system Python's python3-gi), then runs, one after the other:
one ``lookout`` with N ``--source`` and N ``lookout`` processes with one each, every run for
--seconds, default COCO model. Reported per layout: frames inferred per stream, frame age p50/p95
per stream (median over the streams), CPU seconds per inferred frame (user + system of the processes,
from wait4), peak RSS (the one process; the N processes added up), and the spread of the streams'
shares of detector frames (max/min over the mean). Needs ../shared/media/vtest.avi.
"""
from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
VTEST = Path(os.environ.get("LOOKOUT_SHARED", ROOT.parent / "shared")) / "media" / "vtest.avi"
SYSTEM_PYTHON = "/usr/bin/python3"


def encode(src: Path, dst: Path, fps: int, seconds: int) -> None:
    """vtest.avi's frames as an H.264 clip at ``fps`` (key frame a second), looped to ``seconds`` + 20."""
    import av
    import cv2
    cap = cv2.VideoCapture(str(src))
    frames = []
    while True:
        ok, f = cap.read()
        if not ok:
            break
        frames.append(f)
    with av.open(str(dst), "w") as out:
        s = out.add_stream("libx264", rate=fps)
        s.width, s.height, s.pix_fmt = frames[0].shape[1], frames[0].shape[0], "yuv420p"
        s.options = {"preset": "ultrafast", "g": str(fps), "bf": "0"}
        for i in range((seconds + 20) * fps):
            for p in s.encode(av.VideoFrame.from_ndarray(frames[i % len(frames)], format="bgr24")):
                out.mux(p)
        for p in s.encode(None):
            out.mux(p)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def serve(clip: Path, n: int) -> tuple[list[subprocess.Popen], list[str]]:
    procs, urls = [], []
    for _ in range(n):
        port = free_port()
        p = subprocess.Popen([SYSTEM_PYTHON, str(ROOT / "tests" / "rtsp_server.py"), str(port), "cam", str(clip)],
                             stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
        assert p.stdout.readline().strip() == "ready", p.stderr.read()
        procs.append(p)
        urls.append(f"rtsp://127.0.0.1:{port}/cam")
    return procs, urls


def launch(sources: list[str], out: Path, seconds: int, tag: str) -> subprocess.Popen:
    args = [a for k, url in enumerate(sources) for a in ("--source", f"s{k}={url}" if len(sources) > 1 else url)]
    stats = out / f"{tag}.json"
    return subprocess.Popen([sys.executable, str(ROOT / "main.py"), *args, "--detections", str(out / f"{tag}_{{stream}}.jsonl"),
                             "--stats-json", str(stats), "--duration", str(seconds), "--no-progress"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, cwd=ROOT)


def finish(procs: list[subprocess.Popen]) -> tuple[float, float]:
    """(CPU seconds, peak RSS MB summed) of the processes, from wait4."""
    cpu = rss = 0.0
    for p in procs:
        _, status, usage = os.wait4(p.pid, 0)
        p.returncode = os.waitstatus_to_exitcode(status)
        cpu += usage.ru_utime + usage.ru_stime
        rss += usage.ru_maxrss / 1024
    return cpu, rss


def per_stream(stats_files: list[Path]) -> list[dict]:
    rows = []
    for f in stats_files:
        doc = json.loads(f.read_text())
        for s in (doc["streams"].values() if "streams" in doc else [doc]):
            age = s["latency"].get("age", {})
            rows.append({"inferred": s["frames"]["inferred"], "dropped": s["frames"]["dropped"],
                         "age_p50": age.get("p50_ms", 0), "age_p95": age.get("p95_ms", 0)})
    return rows


def steady_shares(jsonls: list[Path]) -> list[int]:
    """Frames each stream got while all of them were running. The sources open one after another
    (OpenCV's FFmpeg backend opens one at a time) and the server starts every client at the clip's
    start, while all streams stop together: a stream's last timestamp is how long it ran, so its
    frames in the common window are those in its last (shortest run) seconds."""
    pts = [[json.loads(line)["pts_ms"] for line in f.read_text().splitlines()] for f in jsonls]
    common = min(p[-1] for p in pts if p)
    return [sum(1 for t in p if t >= p[-1] - common) for p in pts]


def join_lag_s(jsonls: list[Path]) -> float:
    """How long after the first stream's first frame the last stream's first frame came, in seconds.
    The server starts every client at the clip's start and every stream stops at the same moment, so
    a stream's last timestamp is how long it ran: the lag is the spread of those."""
    last = [json.loads(f.read_text().splitlines()[-1])["pts_ms"] for f in jsonls if f.exists() and f.stat().st_size]
    return round((max(last) - min(last)) / 1000, 2) if len(last) == len(jsonls) else float("nan")


def jsonl_frames(jsonls: list[Path]) -> list[int]:
    """Each stream's frames over the whole run, start included: its JSONL's lines."""
    return [len(f.read_text().splitlines()) if f.exists() else 0 for f in jsonls]


def summarise(name: str, rows: list[dict], cpu: float, rss: float, steady: list[int] | None = None) -> dict:
    inferred = [r["inferred"] for r in rows]
    mean = statistics.mean(inferred)
    steady = steady or inferred
    return {"layout": name, "streams": len(rows), "inferred_per_stream": inferred, "inferred_total": sum(inferred),
            "age_p50_ms": round(statistics.median(r["age_p50"] for r in rows), 1),
            "age_p95_ms": round(statistics.median(r["age_p95"] for r in rows), 1),
            "cpu_s_per_inferred_frame": round(cpu / max(sum(inferred), 1), 4), "cpu_s": round(cpu, 1),
            "peak_rss_mb": round(rss), "share_spread": [round(min(inferred) / mean, 2), round(max(inferred) / mean, 2)],
            "steady_spread": [round(min(steady) / statistics.mean(steady), 2), round(max(steady) / statistics.mean(steady), 2)]}


def bench(n: int, clip: Path, seconds: int, work: Path, layouts: str = "one,many") -> list[dict]:
    results = []
    servers, urls = serve(clip, n)
    try:
        proc = launch(urls, work, seconds, f"one{n}")
        cpu, rss = finish([proc])
        jsonls = [work / f"one{n}_s{k}.jsonl" for k in range(n)] if n > 1 else [work / f"one{n}_{{stream}}.jsonl"]
        steady = steady_shares(jsonls) if n > 1 else None
        row = summarise(f"1 process x {n} streams", per_stream([work / f"one{n}.json"]), cpu, rss, steady)
        whole = jsonl_frames(jsonls)
        mean = statistics.mean(whole) or 1
        row.update(jsonl_frames=whole, jsonl_spread=[round(min(whole) / mean, 2), round(max(whole) / mean, 2)],
                   join_lag_s=join_lag_s(jsonls))
        results.append(row)
        if "many" not in layouts:
            return results
        time.sleep(2)
        procs = [launch([u], work, seconds, f"many{n}_{k}") for k, u in enumerate(urls)]
        cpu, rss = finish(procs)
        results.append(summarise(f"{n} processes x 1 stream", per_stream([work / f"many{n}_{k}.json" for k in range(n)]),
                                 cpu, rss))
    finally:
        for s in servers:
            s.kill()
    return results


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--streams", default="4,8")
    ap.add_argument("--seconds", type=int, default=20)
    ap.add_argument("--fps", type=int, default=25)
    ap.add_argument("--layouts", default="one,many", help="one: one process for all streams; many: a process each")
    ap.add_argument("--write-docs", action="store_true", help="write the table into docs/speed.md")
    args = ap.parse_args()
    if not VTEST.is_file():
        sys.exit("bench_streams: needs ../shared/media/vtest.avi (see ../shared/README.md)")
    with tempfile.TemporaryDirectory() as d:
        work = Path(d)
        clip = work / "vtest25.mp4"
        # in a child: wait4's peak RSS of a process started later counts the memory of the one that forked it
        subprocess.run([sys.executable, "-c", f"import sys; sys.path.insert(0, {str(ROOT / 'tools')!r}); "
                        f"from bench_streams import encode; from pathlib import Path; "
                        f"encode(Path({str(VTEST)!r}), Path({str(clip)!r}), {args.fps}, {args.seconds})"], check=True)
        rows = [r for n in map(int, args.streams.split(",")) for r in bench(n, clip, args.seconds, work, args.layouts)]
    lines = [f"Streams ({time.strftime('%Y-%m-%d')}, {os.cpu_count()} CPUs; vtest.avi as H.264 RTSP at {args.fps} fps "
             f"on loopback, {args.seconds} s a run, default COCO model; `python tools/bench_streams.py`):", "",
             "| layout | frames inferred per stream | total | age p50 / p95 ms | CPU s per inferred frame | peak RSS MB | "
             "share min / max of mean | while all ran |", "|---|---|---|---|---|---|---|---|"]
    for r in rows:
        lines.append(f"| {r['layout']} | {', '.join(map(str, r['inferred_per_stream']))} | {r['inferred_total']} | "
                     f"{r['age_p50_ms']} / {r['age_p95_ms']} | {r['cpu_s_per_inferred_frame']} | {r['peak_rss_mb']} | "
                     f"{r['share_spread'][0]} / {r['share_spread'][1]} | {r['steady_spread'][0]} / {r['steady_spread'][1]} |")
    ones = [r for r in rows if "jsonl_frames" in r]
    if ones:
        lines += ["", "One process, from each stream's JSONL (the whole run, start included): frames per stream, their "
                  "min / max over the mean, and how long after the first stream's first frame the last one's came:", "",
                  "| streams | frames per stream (JSONL) | min / max of mean | last stream joined after |", "|---|---|---|---|"]
        for r in ones:
            lines.append(f"| {r['streams']} | {', '.join(map(str, r['jsonl_frames']))} | {r['jsonl_spread'][0]} / "
                         f"{r['jsonl_spread'][1]} | {r['join_lag_s']} s |")
    text = "\n".join(lines)
    print(text)
    if args.write_docs:
        doc = ROOT / "docs" / "speed.md"
        s = doc.read_text()
        a, b = "<!-- bench-streams:start -->", "<!-- bench-streams:end -->"
        block = f"{a}\n{text}\n{b}"
        s = s[: s.index(a)] + block + s[s.index(b) + len(b):] if a in s else s.rstrip() + "\n\n" + block + "\n"
        doc.write_text(s)
    return 0


if __name__ == "__main__":
    sys.exit(main())
