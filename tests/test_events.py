"""Events, clips and alerts (#25) through the real ``lookout`` command on real media: a real
Mosquitto broker on loopback, a real HTTP receiver, ffprobe on the clips, SQLite on the index."""
from __future__ import annotations

import calendar
import hashlib
import hmac
import json
import os
import resource
import sqlite3
import subprocess
import sys
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import cv2
import pytest

from conftest import DEMO_CLIP, ROOT, shared_path
from mqtt_broker import Broker, free_port, read_messages, stop_process
from test_faults import ENV, check

PASSWORD = "br0ker-Secret-771"
SECRET = "hook-Secret-5520"


def lookout(*args, env=None, timeout=300):
    return subprocess.run([sys.executable, str(ROOT / "main.py"), "--no-progress", "--headless", *map(str, args)],
                          capture_output=True, text=True, timeout=timeout, env=env or ENV, cwd=ROOT)


def lookout_events(*args):
    return subprocess.run([sys.executable, str(ROOT / "main.py"), "events", *map(str, args)],
                          capture_output=True, text=True, timeout=60, env=ENV, cwd=ROOT)


def spawn(*args, env=None):
    return subprocess.Popen([sys.executable, str(ROOT / "main.py"), "--no-progress", "--headless", *map(str, args)],
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=env or ENV, cwd=ROOT)


def log_lines(folder: Path) -> list[dict]:
    return [json.loads(l) for l in (folder / "events.jsonl").read_text().splitlines()]


class Receiver:
    """A webhook receiver on loopback: keeps every POST's headers and raw body."""

    def __init__(self, fail_first: int = 0):
        posts = self.posts = []
        refused = self.refused = []

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                if len(refused) < fail_first:  # a receiver having a bad moment
                    refused.append(body)
                    self.send_response(503)
                    self.end_headers()
                    return
                posts.append((dict(self.headers), body))
                self.send_response(204)
                self.end_headers()

            def log_message(self, *a):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}/hook"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()
        self.thread.join(5)


@pytest.fixture()
def receiver():
    r = Receiver()
    yield r
    r.close()


def starts_and_ends(messages: list[dict]) -> dict[str, list[str]]:
    seen: dict[str, list[str]] = {}
    for m in messages:
        seen.setdefault(m["event"]["id"], []).append(m["type"])
    return seen


# ---- MQTT + webhooks on vtest.avi ---------------------------------------------------------------
@pytest.mark.slow
def test_vtest_events_arrive_over_mqtt_and_webhooks_signed_and_no_secret_leaks(tmp_path, receiver):
    vtest = shared_path("media/vtest.avi")
    broker = Broker(tmp_path / "broker", "lookout", PASSWORD)
    broker.start()
    sub = broker.subscribe(tmp_path / "sub.txt", "lookout/#", "homeassistant/#")
    try:
        time.sleep(0.5)
        events, stats = tmp_path / "ev", tmp_path / "stats.json"
        p = lookout("--source", vtest, "--events", events, "--mqtt", broker.url(), "--webhook", receiver.url,
                    "--stats-json", stats, "--zone", "lot=0.5,0.5,1,0.5,1,1",
                    env={**ENV, "LOOKOUT_WEBHOOK_SECRET": SECRET})
        assert p.returncode == 0, p.stderr[-3000:]
        time.sleep(1.0)
    finally:
        stop_process(sub)
    retained = tmp_path / "retained.txt"
    late = broker.subscribe(retained, "homeassistant/#", "lookout/available", client_id="late", persistent=False)
    time.sleep(1.5)
    stop_process(late)
    broker.stop()

    log = log_lines(events)
    ids = {r["id"] for r in log}
    assert len(ids) > 50 and all(sorted(v) == ["end", "start"] for v in
                                 starts_and_ends([{"type": r["event"], "event": r} for r in log]).values())
    msgs = read_messages(tmp_path / "sub.txt")
    ev_msgs = [json.loads(pl) for _, t, pl in msgs if t == "lookout/vtest/events"]
    per_id = starts_and_ends(ev_msgs)
    assert set(per_id) == ids and all(v == ["start", "end"] for v in per_id.values())
    counts = {t: pl for _, t, pl in msgs if t.startswith("lookout/vtest/") and not t.endswith("/events")}
    assert "lookout/vtest/person" in counts and "lookout/vtest/lot/person" in counts
    # discovery: retained, one occupancy and one count entity per label (and per zone label)
    kept = read_messages(retained)
    configs = {t: json.loads(pl) for r, t, pl in kept if r and t.endswith("/config")}
    assert "homeassistant/binary_sensor/lookout_vtest_person_occupancy/config" in configs
    assert "homeassistant/sensor/lookout_vtest_person_count/config" in configs
    assert "homeassistant/binary_sensor/lookout_vtest_lot_person_occupancy/config" in configs
    assert configs["homeassistant/sensor/lookout_vtest_person_count/config"]["state_topic"] == "lookout/vtest/person"
    assert (True, "lookout/available", "offline") in kept  # said at the end of the run
    # webhooks: one start and one end per event, each signed
    hooks = []
    for headers, body in receiver.posts:
        want = "sha256=" + hmac.new(SECRET.encode(), body, hashlib.sha256).hexdigest()
        assert hmac.compare_digest(headers["X-Lookout-Signature"], want)
        hooks.append(json.loads(body))
    per_hook = starts_and_ends(hooks)
    assert set(per_hook) == ids and all(sorted(v) == ["end", "start"] for v in per_hook.values())
    # secrets nowhere: log lines, stats, event log, index, messages
    everything = [p.stderr, p.stdout, stats.read_text(), (events / "events.jsonl").read_text(),
                  (tmp_path / "sub.txt").read_text(), *(b.decode() for _, b in receiver.posts)]
    con = sqlite3.connect(events / "events.db")
    everything += [json.dumps(row) for row in con.execute("SELECT * FROM events")]
    con.close()
    for text in everything:
        assert PASSWORD not in text and SECRET not in text
    s = json.loads(stats.read_text())["events"]
    assert s["mqtt"]["broker"] == f"mqtt://lookout:***@127.0.0.1:{broker.port}/lookout"
    assert s["mqtt"]["dropped"] == 0 and s["mqtt"]["unsent"] == 0 and s["webhooks"][0]["sent"] == len(receiver.posts)


def test_a_refused_password_and_errors_never_show_secrets(tmp_path):
    """A wrong password, a receiver that is not there: the warnings name the broker and URL masked."""
    broker = Broker(tmp_path / "broker", "lookout", "the-right-one")
    broker.start()
    try:
        port = free_port()
        p = lookout("--source", DEMO_CLIP, "--events", tmp_path / "ev", "--mqtt", broker.url().replace(
                    "the-right-one", PASSWORD), "--webhook", f"http://user:{SECRET}@127.0.0.1:{port}/x",
                    "--webhook-secret", SECRET, "--stats-json", tmp_path / "s.json")
    finally:
        broker.stop()
    assert p.returncode == 0, p.stderr
    for text in (p.stderr, p.stdout, (tmp_path / "s.json").read_text(), (tmp_path / "ev" / "events.jsonl").read_text()):
        assert PASSWORD not in text and SECRET not in text
    assert "webhook http://***@127.0.0.1" in p.stderr
    assert f"MQTT broker mqtt://lookout:***@127.0.0.1:{broker.port}/lookout refused the connection (Not authorized)" \
        in p.stderr


def test_a_failing_webhook_receiver_is_retried_and_gets_each_message_once(tmp_path):
    flaky = Receiver(fail_first=3)
    try:
        p = lookout("--source", DEMO_CLIP, "--events", tmp_path / "ev", "--webhook", flaky.url,
                    "--stats-json", tmp_path / "s.json")
    finally:
        flaky.close()
    assert p.returncode == 0, p.stderr
    log = log_lines(tmp_path / "ev")
    got = [json.loads(b) for _, b in flaky.posts]
    assert len(flaky.refused) == 3 and len(got) == len(log)
    assert sorted((m["type"], m["event"]["id"]) for m in got) == sorted((r["event"], r["id"]) for r in log)
    hook = json.loads((tmp_path / "s.json").read_text())["events"]["webhooks"][0]
    assert hook["failed_tries"] == 3 and hook["sent"] == len(log) and hook["unsent"] == 0
    assert sum("webhook" in l for l in p.stderr.splitlines()) == 1  # one line for the bad moment


# ---- outages ------------------------------------------------------------------------------------
def _cpu_of(fn):
    """(fn(), CPU seconds of the child processes it ran and reaped)."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    out = fn()
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    return out, (after.ru_utime + after.ru_stime) - (before.ru_utime + before.ru_stime)


def _outage_round(folder: Path, vtest) -> dict:
    """A run without MQTT, one with the broker stopped for 3 s mid-run, another without: fps of each
    (from --stats-json), CPU seconds a frame of each, and what the subscriber got."""
    folder.mkdir()
    # the whole frame in all three: with regions (this clip's default) a 2-core machine runs vtest at
    # about its own 10 fps, and a 2 s outage can pass with no event starting (one every 3 s of video)
    whole = ("--regions", "off")

    def plain(name):
        p = lookout("--source", vtest, "--events", folder / name, "--stats-json", folder / f"{name}.json", *whole)
        assert p.returncode == 0, p.stderr
        return json.loads((folder / f"{name}.json").read_text())

    broker = Broker(folder / "broker")
    base1, cpu1 = _cpu_of(lambda: plain("base1"))
    broker.start()
    sub = broker.subscribe(folder / "sub.txt", "lookout/vtest/events")
    time.sleep(0.5)

    def outage():
        run = spawn("--source", vtest, "--events", folder / "ev", "--mqtt", broker.url(), "--stats-json",
                    folder / "run.json", *whole)
        log = folder / "ev" / "events.jsonl"
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline and (not log.exists() or len(log.read_text().splitlines()) < 10):
            time.sleep(0.1)  # until events flow
        broker.stop()
        t_down = time.time()
        time.sleep(3.0)      # events of the outage wait in the queue
        broker.start()
        out, err = run.communicate(timeout=300)
        return run.returncode, err, t_down

    (rc, err, t_down), cpu_run = _cpu_of(outage)
    time.sleep(2.0)
    stop_process(sub)
    broker.stop()
    assert rc == 0, err
    base2, cpu2 = _cpu_of(lambda: plain("base2"))
    stats = json.loads((folder / "run.json").read_text())
    frames = stats["frames"]["inferred"]
    return {"fps": stats["fps"]["inferred"], "bases": [base1["fps"]["inferred"], base2["fps"]["inferred"]],
            "cpu_ms": 1000 * cpu_run / frames, "base_cpu_ms": [1000 * cpu1 / frames, 1000 * cpu2 / frames],
            "stats": stats, "err": err, "t_down": t_down}


@pytest.mark.slow
def test_broker_killed_mid_run_costs_no_cpu_stops_no_frame_and_the_outage_is_delivered_after(tmp_path):
    """The broker stops for 3 s mid-run: frames go on (events start while it is down), MQTT costs no
    CPU a frame beyond a run without it, nothing is dropped and the outage's events arrive after. (Frames
    per second are printed, not asserted: on 2 shared cores they vary by more than 10 % run to run.)"""
    vtest = shared_path("media/vtest.avi")
    # CPU a frame is this process's own, whoever else uses the cores; a second round if the first
    # falls short, each compared with a run without MQTT before it and one after
    for attempt in (1, 2):
        r = _outage_round(tmp_path / f"round{attempt}", vtest)
        print(f"round {attempt}: fps without MQTT {r['bases']}, with the broker stopped for 3 s {r['fps']:.1f}; "
              f"CPU ms a frame {r['base_cpu_ms'][0]:.2f}/{r['base_cpu_ms'][1]:.2f} vs {r['cpu_ms']:.2f}; "
              f"mqtt {r['stats']['events']['mqtt']}")
        if r["cpu_ms"] <= 1.1 * max(r["base_cpu_ms"]):
            break
    assert r["cpu_ms"] <= 1.1 * max(r["base_cpu_ms"])  # what MQTT costs in CPU
    m, err, ev = r["stats"]["events"]["mqtt"], r["err"], tmp_path / f"round{attempt}"
    assert m["outages"] >= 1 and m["down_s"] >= 2.5 and m["dropped"] == 0 and m["unsent"] == 0
    assert sum("MQTT broker" in l for l in err.splitlines()) == 1  # one line for the outage
    log = log_lines(ev / "ev")
    ids = {r["id"] for r in log}
    outage = set()  # events that started while the broker was down
    for x in log:
        started = calendar.timegm(time.strptime(x["start_time"][:19], "%Y-%m-%dT%H:%M:%S"))
        if x["event"] == "start" and r["t_down"] + 0.5 < started < r["t_down"] + 2.5:
            outage.add(x["id"])
    got = starts_and_ends([json.loads(pl) for _, _, pl in read_messages(ev / "sub.txt")])
    assert outage, "no event started during the outage: the run was too fast to test it"
    assert outage <= set(got)
    # QoS 1 is at least once: a message the broker took just before it stopped, whose ack was lost with
    # it, comes again after the restart (seen in 1 run of 6: one "end" twice); receivers dedupe by id
    assert set(got) == ids and all(set(v) == {"start", "end"} for v in got.values())
    assert sum(len(v) - 2 for v in got.values()) <= 5


def test_a_broker_that_never_comes_up_costs_one_warning_line(tmp_path):
    port = free_port()
    p = lookout("--source", DEMO_CLIP, "--events", tmp_path / "ev", "--mqtt", f"mqtt://127.0.0.1:{port}")
    assert p.returncode == 0, p.stderr
    warnings = [l for l in p.stderr.splitlines() if "warning" in l]
    assert len(warnings) == 1 and "MQTT broker mqtt://127.0.0.1" in warnings[0], p.stderr
    assert len(log_lines(tmp_path / "ev")) > 0


# ---- clips, snapshots, reproducibility --------------------------------------------------------------
def ffprobe(path: Path) -> dict:
    out = subprocess.run(["ffprobe", "-v", "error", "-select_streams", "v:0", "-show_entries",
                          "stream=codec_name,pix_fmt:packet=pts_time", "-of", "json", str(path)],
                         capture_output=True, text=True, check=True).stdout
    return json.loads(out)


def top_level_boxes(path: Path) -> list[str]:
    data, boxes, i = path.read_bytes(), [], 0
    while i + 8 <= len(data):
        size = int.from_bytes(data[i:i + 4], "big")
        boxes.append(data[i + 4:i + 8].decode("latin-1"))
        if size == 1:
            size = int.from_bytes(data[i + 8:i + 16], "big")
        if size < 8:
            break
        i += size
    return boxes


def source_pts(path) -> list[float]:
    cap = cv2.VideoCapture(str(path))
    out = []
    while cap.grab():
        out.append(round(cap.get(cv2.CAP_PROP_POS_MSEC), 3))
    cap.release()
    return out


def event_rows(folder: Path) -> list[dict]:
    from detector.cli.events_cmd import query
    return query(folder)


def test_clips_play_and_cover_pre_roll_to_post_roll_and_snapshots_decode(tmp_path):
    vtest = shared_path("media/vtest.avi")
    ev = tmp_path / "ev"
    p = lookout("--source", vtest, "--max-frames", 250, "--events", ev, "--pre-roll", 2, "--post-roll", 1.5,
                "--event-gap", 1, "--clip-annotated")
    assert p.returncode == 0, p.stderr
    pts = source_pts(vtest)[:250]
    rows = event_rows(ev)
    assert rows
    clips = {}
    for r in rows:
        clip = ev / r["clip"]
        if clip not in clips:
            info = ffprobe(clip)
            s = info["streams"][0]
            assert (s["codec_name"], s["pix_fmt"]) == ("h264", "yuv420p")
            boxes = top_level_boxes(clip)
            assert boxes.index("moov") < boxes.index("mdat")  # faststart
            clips[clip] = len(info["packets"])
        first, last = r["clip_start_pts_ms"], r["clip_end_pts_ms"]
        # the clip holds every source frame from its first to its last, no more
        assert clips[clip] == sum(first <= t <= last for t in pts)
        assert first <= max(pts[0], r["start_pts_ms"] - 2000) + 1e-3
        assert last >= min(pts[-1], r["end_pts_ms"] + 1500) - 1e-3
        for shot in (r["snapshot"], r["crop"]):
            img = cv2.imread(str(ev / shot))
            assert img is not None and img.size
    assert len(list(ev.rglob(".*part*"))) == 0  # no temporary file left


def test_two_runs_make_the_same_events_and_clips(tmp_path):
    runs = []
    for name in ("a", "b"):
        p = lookout("--source", DEMO_CLIP, "--events", tmp_path / name, "--pre-roll", 1, "--post-roll", 1,
                    "--line", "door=0.3,0.2,0.3,0.8", "--zone", "lot=0.5,0.5,1,0.5,1,1", "--min-event-frames", 4)
        assert p.returncode == 0, p.stderr
        keys = ("id", "kind", "label", "track_id", "zone", "line", "start_pts_ms", "end_pts_ms", "clip",
                "clip_start_pts_ms", "clip_end_pts_ms", "snapshot", "crop", "score")
        runs.append(sorted(tuple(r.get(k) for k in keys) for r in event_rows(tmp_path / name)))
        clip_frames = {}
        for clip in sorted((tmp_path / name / "clips").rglob("*.mp4")):
            cap = cv2.VideoCapture(str(clip))
            frames = []
            while True:
                ok, f = cap.read()
                if not ok:
                    break
                frames.append(hashlib.sha256(f.tobytes()).hexdigest())
            clip_frames[clip.name] = frames
        runs.append(clip_frames)
    assert runs[0] == runs[2] and runs[0]
    assert runs[1] == runs[3] and runs[1]
    kinds = {r[1] for r in runs[0]}
    assert {"object", "zone_enter"} <= kinds, kinds


def test_loiter_and_count_above_rules(tmp_path):
    vtest = shared_path("media/vtest.avi")
    p = lookout("--source", vtest, "--max-frames", 300, "--events", tmp_path / "ev", "--zone", "lot=0,0,1,0,1,1,0,1",
                "--loiter", 3, "--count-above", "lot=4", "--count-above", "lot:car=5")
    assert p.returncode == 0, p.stderr
    rows = event_rows(tmp_path / "ev")
    loiter = [r for r in rows if r["kind"] == "loiter"]
    above = [r for r in rows if r["kind"] == "count_above"]
    assert loiter and all(r["zone"] == "lot" and r["end_pts_ms"] >= r["start_pts_ms"] for r in loiter)
    assert above and all(r["label"] == "any" and r["track_id"] is None for r in above)  # never 6 cars


# ---- the index and retention ------------------------------------------------------------------------
def test_lookout_events_lists_what_the_log_holds(tmp_path):
    ev = tmp_path / "ev"
    p = lookout("--source", f"front={DEMO_CLIP}", "--events", ev)
    assert p.returncode == 0, p.stderr
    log = log_lines(ev)
    listed = lookout_events(ev, "--json")
    assert listed.returncode == 0, listed.stderr
    records = [json.loads(l) for l in listed.stdout.splitlines()]
    assert {r["id"] for r in records} == {r["id"] for r in log}
    ends = {r["id"]: r for r in log if r["event"] == "end"}
    for r in records:
        assert {k: v for k, v in r.items() if k != "clip_end_pts_ms"} == \
            {k: v for k, v in ends[r["id"]].items() if k != "event"}
    cars = lookout_events(ev, "--label", "car", "--stream", "front", "--since", "1h", "--json")
    assert {json.loads(l)["id"] for l in cars.stdout.splitlines()} == {r["id"] for r in records if r["label"] == "car"}
    assert lookout_events(ev, "--stream", "back", "--json").stdout == ""
    table = lookout_events(ev)
    assert table.returncode == 0 and len(table.stdout.splitlines()) == len(records) + 1
    bad = lookout_events(tmp_path)
    check(bad, 2, "holds no Lookout events index")


def test_retention_deletes_the_oldest_first_and_keeps_files_and_rows_in_step(tmp_path):
    from detector.events.store import EventStore
    store = EventStore(tmp_path / "ev", max_bytes=2500)
    (tmp_path / "ev" / "mine.txt").write_text("a user's file")
    for i in range(6):
        rec = {"id": f"s-{i}", "stream": "s", "kind": "object", "label": "person", "track_id": i,
               "start_pts_ms": i * 1000.0, "end_pts_ms": None, "start_time": f"2024-01-0{i + 1}T00:00:00Z",
               "end_time": None, "score": 0.9, "clip": f"clips/s/{i // 2}.mp4", "clip_start_pts_ms": 0.0,
               "snapshot": f"snapshots/s/{i}.jpg", "crop": None}
        store.started(rec)
        for rel, size in ((rec["clip"], 600), (rec["snapshot"], 100)):
            f = tmp_path / "ev" / rel
            f.parent.mkdir(parents=True, exist_ok=True)
            if not f.exists():
                f.write_bytes(b"x" * size)
                store.add_file(rel)
        if i != 0:  # s-0 is the oldest, but still open: never deleted
            store.ended({**rec, "end_pts_ms": rec["start_pts_ms"] + 500, "end_time": f"2024-01-0{i + 1}T00:01:00Z"})
    # 3 clips x 600 + 6 snapshots x 100 = 2400 bytes: within the quota
    assert store.prune() == 0
    (tmp_path / "ev" / "clips/s/3.mp4").write_bytes(b"x" * 600)
    store.add_file("clips/s/3.mp4")   # 3000 bytes now
    store.started({**rec, "id": "s-6", "clip": "clips/s/3.mp4", "snapshot": None, "start_time": "2024-01-09T00:00:00Z"})
    store.ended({**rec, "id": "s-6", "clip": "clips/s/3.mp4", "snapshot": None, "end_time": "2024-01-09T00:00:01Z",
                 "start_time": "2024-01-09T00:00:00Z", "end_pts_ms": 1.0})
    deleted = store.prune()
    con = store.con
    left = [r[0] for r in con.execute("SELECT id FROM events ORDER BY id")]
    # s-1 goes first (oldest ended), then s-2 (whose clip 1.mp4 is shared with s-3: kept), then s-3
    assert deleted == 3 and left == ["s-0", "s-4", "s-5", "s-6"]
    files = {r[0] for r in con.execute("SELECT path FROM files")}
    on_disk = {str(p.relative_to(tmp_path / "ev")) for p in (tmp_path / "ev").rglob("*")
               if p.is_file() and p.suffix in (".mp4", ".jpg")}
    assert files == on_disk == {"clips/s/0.mp4", "clips/s/2.mp4", "clips/s/3.mp4", "snapshots/s/0.jpg",
                                "snapshots/s/4.jpg", "snapshots/s/5.jpg"}
    assert sum(r[0] for r in con.execute("SELECT bytes FROM files")) <= 2500
    assert (tmp_path / "ev" / "mine.txt").read_text() == "a user's file"
    store.close()


def test_a_small_quota_on_a_real_run_keeps_the_index_and_the_folder_in_step(tmp_path):
    vtest = shared_path("media/vtest.avi")
    ev = tmp_path / "ev"
    p = lookout("--source", vtest, "--max-frames", 300, "--events", ev, "--events-max-gb", 0.0005,
                "--post-roll", 0.5, "--pre-roll", 0.5, "--event-gap", 0.5, "--stats-json", tmp_path / "s.json")
    assert p.returncode == 0, p.stderr
    con = sqlite3.connect(ev / "events.db")
    files = {r[0] for r in con.execute("SELECT path FROM files")}
    used = {v for row in con.execute("SELECT clip, snapshot, crop FROM events") for v in row if v}
    total = sum(r[0] for r in con.execute("SELECT bytes FROM files"))
    con.close()
    on_disk = {str(f.relative_to(ev)) for f in ev.rglob("*") if f.suffix in (".mp4", ".jpg")}
    assert files == on_disk and files <= used
    assert json.loads((tmp_path / "s.json").read_text())["events"]["deleted_by_retention"] > 0
    assert total <= 0.0005e9


# ---- bad input: one line, exit 2, before any model loads ---------------------------------------
NO_MODEL = ("--model", "/nonexistent/never-loaded.tflite")  # a refusal that names the model came too late


@pytest.mark.parametrize("args,words", [
    (["--mqtt", "mqtt://user:hunter2@:99999/x"], "--mqtt"),
    (["--mqtt", "http://127.0.0.1/x"], "expected mqtt://"),
    (["--webhook", "ftp://127.0.0.1/x"], "expected an http:// or https:// URL"),
    (["--loiter", "5"], "--loiter needs a zone"),
    (["--count-above", "lot=3"], "no zone of that name"),
    (["--min-area", "person=-1"], "--min-area"),
    (["--event-threshold", "person=1.5"], "--event-threshold"),
    (["--event-threshold", "=0.5"], "--event-threshold"),
    (["--event-classes", ","], "--event-classes"),
    (["--min-event-seconds", "-1"], "--min-event-seconds"),
    (["--track-lost", "0"], "--track-lost"),
])
def test_bad_event_options_are_refused_in_one_line(tmp_path, fault_table, args, words):
    p = lookout("--source", DEMO_CLIP, "--events", tmp_path / "ev", *args, *NO_MODEL)
    check(p, 2, words)
    assert "hunter2" not in p.stderr and not (tmp_path / "ev").exists()
    fault_table(f"events: {' '.join(args)}", p)


def test_unusable_events_folders_are_refused_before_any_model_loads(tmp_path, fault_table):
    clip = tmp_path / "clip.mp4"
    clip.write_bytes(DEMO_CLIP.read_bytes())
    cases = [("--events is the input", clip, "is (or holds) the input"),
             ("--events holds the input", tmp_path, "is (or holds) the input"),
             ("--events cannot be written", Path("/proc/lookout-events"), "not writable"),
             ("--events under a file", clip / "ev", "is a file")]
    theirs = tmp_path / "theirs"
    theirs.mkdir()
    (theirs / "events.jsonl").write_text("someone else's log\n")
    cases.append(("--events holds someone else's events.jsonl", theirs, "Lookout did not write it"))
    other_db = tmp_path / "otherdb"
    other_db.mkdir()
    sqlite3.connect(other_db / "events.db").execute("CREATE TABLE t (x)").connection.close()
    cases.append(("--events holds someone else's events.db", other_db, "is not Lookout's"))
    for fault, folder, words in cases:
        p = lookout("--source", clip, "--events", folder, *NO_MODEL)
        check(p, 2, words)
        fault_table(f"events: {fault}", p)
    assert (theirs / "events.jsonl").read_text() == "someone else's log\n"
    assert sorted(os.listdir(theirs)) == ["events.jsonl"]


def test_alerts_need_an_events_folder(tmp_path):
    p = lookout("--source", DEMO_CLIP, "--webhook", "http://127.0.0.1:9/x", "--output", tmp_path / "o.mp4", *NO_MODEL)
    check(p, 2, "--webhook sends events: give --events DIR too")


# ---- threads: the run leaves none behind ---------------------------------------------------------
def test_an_events_run_leaves_no_thread_behind(tmp_path, receiver):
    from detector.engine.run import RunConfig, run
    before = {t.name for t in threading.enumerate()}
    port = free_port()
    report = run(RunConfig(source=str(DEMO_CLIP), events=str(tmp_path / "ev"), track=True, progress=False,
                           mqtt=f"mqtt://127.0.0.1:{port}", webhooks=(receiver.url, "http://127.0.0.1:9/down")),
                 warn=lambda m: None)
    assert report.error is None
    left = [t.name for t in threading.enumerate() if t.name not in before]
    assert left == [], left
    assert report.stats["events"]["started"] > 0 and len(receiver.posts) == 2 * report.stats["events"]["started"]


# ---- #36: events in time, for the classes that matter, one a visit ----------------------------------
def _object_events(folder: Path) -> list[dict]:
    return [r for r in event_rows(folder) if r["kind"] == "object"]


@pytest.mark.slow
def test_the_same_person_events_at_10_and_at_25_fps(tmp_path):
    """The demo clip at its own 10 fps and the same frames repeated to 25 fps (2, 3, 2, 3, ...
    copies, a camera at 25 fps on the same scene), both through the whole engine: confirmation by
    seconds and a median over a second give person events within 15 % of each other (measured 13
    and 14; 0.32 s of "skis" at 25 fps was an event when confirmation counted frames), and no event
    of a class outside the default list."""
    from detector.analytics.mot import frames_at_rate
    from detector.events.settings import DEFAULT_EVENT_CLASSES
    fast, _, which = frames_at_rate(str(DEMO_CLIP), 25.0, str(tmp_path / "demo25.avi"))
    assert len(which) == 150 and which[:5] == [0, 0, 0, 1, 1]
    counts = {}
    for name, source in (("10", DEMO_CLIP), ("25", fast)):
        p = lookout("--source", source, "--events", tmp_path / name)
        assert p.returncode == 0, p.stderr
        rows = _object_events(tmp_path / name)
        assert rows and all(r["label"] in DEFAULT_EVENT_CLASSES for r in rows)
        counts[name] = sum(r["label"] == "person" for r in rows)
    assert counts["10"] >= 8 and abs(counts["25"] - counts["10"]) <= 0.15 * counts["10"], counts


@pytest.mark.slow
def test_event_classes_and_per_class_thresholds(tmp_path):
    """The demo clip has people walking and parked cars. A person threshold no box reaches leaves
    the car events and no person event; --event-classes person leaves the person events only; the
    detections file still has every class (detected and drawn, only not alerted on)."""
    p = lookout("--source", DEMO_CLIP, "--events", tmp_path / "a", "--event-threshold", "person=0.99,car=0.3")
    assert p.returncode == 0, p.stderr
    labels = [r["label"] for r in _object_events(tmp_path / "a")]
    assert "car" in labels and "person" not in labels, labels
    jsonl = tmp_path / "d.jsonl"
    p = lookout("--source", DEMO_CLIP, "--events", tmp_path / "b", "--event-classes", "person", "--detections", jsonl)
    assert p.returncode == 0, p.stderr
    labels = [r["label"] for r in _object_events(tmp_path / "b")]
    assert labels and set(labels) == {"person"}, labels
    seen = {d["label"] for line in jsonl.read_text().splitlines() for d in json.loads(line)["detections"]}
    assert {"person", "car"} <= seen


@pytest.mark.slow
def test_a_person_found_again_under_a_new_id_continues_their_event(tmp_path):
    """vtest's first 300 frames tracked without appearance (so people who are lost come back under
    new IDs): an event whose object is lost and a new track of the same label that starts near where
    it was last seen, within the event gap, is one event listing both IDs: fewer person events than
    person tracks, and each event's IDs are that many tracks of the detections file."""
    vtest = shared_path("media/vtest.avi")
    jsonl = tmp_path / "d.jsonl"
    p = lookout("--source", vtest, "--max-frames", 300, "--no-appearance", "--events", tmp_path / "ev",
                "--detections", jsonl)
    assert p.returncode == 0, p.stderr
    rows = [r for r in _object_events(tmp_path / "ev") if r["label"] == "person"]
    log = {r["id"]: r for r in log_lines(tmp_path / "ev") if r["event"] == "end"}
    ids = [log[r["id"]]["track_ids"] for r in rows]
    tracks = {d["track_id"] for line in jsonl.read_text().splitlines() for d in json.loads(line)["detections"]
              if d["label"] == "person" and d["track_id"] >= 0}
    continued = [i for i in ids if len(i) > 1]
    assert continued and all(set(i) <= tracks for i in ids), ids
    assert len({i[0] for i in ids}) == len(ids)  # each event is its first track's
    assert len(rows) < len(tracks)
