"""Tracking and counting on real data: the MOT ground truth motmetrics ships, vtest.avi, the demo clip."""
from __future__ import annotations

import functools
import json
import subprocess
import sys

import numpy as np
import pytest

from conftest import DEMO_CLIP, ROOT, shared_path
from test_cli import assert_one_clear_line



def test_mot_accuracy_matches_or_beats_the_peers():
    """TUD-Campus + TUD-Stadtmitte, the same detections for every tracker (detector.analytics.mot; tools/mot_eval.py runs the peers).
    Peers measured side by side in a throwaway venv with trackers 2.1.0 at their defaults:
    ByteTrack IDF1 0.557 / MOTA 0.555 / 10 switches, SORT IDF1 0.614 / MOTA 0.548 / 11 switches."""
    from detector.analytics.mot import evaluate, lookout_tracker
    overall = evaluate(lookout_tracker)["OVERALL"]
    assert overall["IDF1"] >= 0.614, overall
    assert overall["MOTA"] >= 0.555, overall
    assert overall["ID_switches"] <= 10, overall


def _demo_frames():
    import cv2
    cap = cv2.VideoCapture(str(DEMO_CLIP))
    frames = []
    while True:
        ok, f = cap.read()
        if not ok:
            return frames
        frames.append(f)


def test_tracker_api_on_the_demo_clip():
    """IDs are int64, one per box, -1 until a track is confirmed; the people walking through the
    6 s clip keep their IDs (long tracks cover most tracked boxes); reset() starts again at 1."""
    from detector import Detector, Tracker
    det = Detector.load("ssd-mobilenetv2-coco", device="cpu")
    tracker = Tracker()
    lengths: dict[int, int] = {}
    confident, tracked = 0, 0
    all_ids: set[int] = set()
    for i, frame in enumerate(_demo_frames()):
        dets = tracker.update(det.detect(frame))
        all_ids.update(int(t) for t in dets.track_ids if t >= 0)
        assert dets.track_ids.dtype == np.int64 and len(dets.track_ids) == len(dets)
        if i == 0:
            assert (dets.track_ids[dets.scores >= 0.6] > 0).all()  # the first frame starts tracks at once
        people = np.array([l == "person" for l in dets.labels], bool)
        confident += int((people & (dets.scores >= tracker.new_track_threshold)).sum())
        tracked += int((people & (dets.scores >= tracker.new_track_threshold) & (dets.track_ids >= 0)).sum())
        for t in dets.track_ids[people & (dets.track_ids >= 0)]:
            lengths[int(t)] = lengths.get(int(t), 0) + 1
    # Confident: at the tracker's new_track_threshold (0.6; a box of 0.5-0.6 only continues a track).
    # The rest: a new track's first frame (confirmed on its second hit) and second boxes on one person
    # that the model's own NMS (IoU 0.6) leaves overlapping: measured 302 of 325 (308 with weak starts,
    # the default until round 7; 375 of 402 boxes of 0.5 or more when each of them started a track).
    assert tracked / confident >= 0.9
    # People walk in and out of the 60 frames; a person the model loses for longer than a track's
    # prediction holds (behind the lamppost, ~16 frames) comes back with a new ID. Measured: 21 person
    # IDs, 74 % of tracked boxes in tracks of 20+ frames (2 s) (71 % with weak starts, 25 and 78 % with
    # 0.5 / 0.5 starts).
    long_tracks = sum(n for n in lengths.values() if n >= 20)
    assert long_tracks / sum(lengths.values()) >= 0.6, lengths
    assert len(lengths) <= 30, lengths
    assert sorted(all_ids) == list(range(1, max(all_ids) + 1))  # handed out on confirmation: no gaps
    tracker.reset()
    again = tracker.update(det.detect(_demo_frames()[0]))
    assert again.track_ids.max() == (again.track_ids >= 1).sum()  # IDs 1..n again


def lookout(*args, timeout=300):
    return subprocess.run([sys.executable, str(ROOT / "main.py"), *args], capture_output=True, text=True,
                          timeout=timeout, cwd=ROOT)


@pytest.mark.slow
def test_line_count_on_vtest_is_close_to_the_count_by_eye(tmp_path):
    """A vertical line at x = 0.3 of vtest.avi across the whole path (y 0.2-0.8). Counted by eye from
    frame sheets (every 4th frame, 2026-12-01): 17 crossings, 10 "in" (walking left) and 7 "out".
    Rechecked crossing by crossing on 2026-12-07 (five frames around each crossing Lookout counted,
    with regions and without): 11 "in" are real, one more than the sheets (at frames 302-306 two
    people pass the line in opposite directions, one behind the other), and a man standing on the line
    at the end (frames 786-794) whose box's centre drifts 3 px past it counts either way; 7 "out".
    Lookout counted 15 (9 in, 6 out) on 2026-12-01, 17 (10 in, 7 out) on 2026-12-05 and, with regions
    (this clip's default since 2026-12-07), 19 (12 in: the 11 and the man at the end; 7 out)."""
    vtest = shared_path("media/vtest.avi")
    jsonl, stats = tmp_path / "d.jsonl", tmp_path / "s.json"
    p = lookout("--source", str(vtest), "--line", "left=0.3,0.2,0.3,0.8", "--classes", "person",
                "--detections", str(jsonl), "--stats-json", str(stats), "--no-progress")
    assert p.returncode == 0, p.stderr
    counts = json.loads(stats.read_text())["counts"]["lines"]["left"]
    n_in, n_out = counts["in"].get("person", 0), counts["out"].get("person", 0)
    assert abs(n_in - 11) <= 1 and abs(n_out - 7) <= 1 and abs(n_in + n_out - 18) <= 2, counts
    lines = [json.loads(l) for l in jsonl.read_text().splitlines()]
    assert len(lines) == 795
    events = [e for l in lines for e in l["events"]]
    assert len(events) == n_in + n_out and all(e["type"] == "line_cross" and e["line"] == "left" for e in events)
    assert lines[-1]["counts"]["lines"]["left"] == counts
    assert "lookout: line left: in" in p.stderr


@pytest.mark.slow
def test_zone_counts_and_track_ids_in_every_output(tmp_path):
    """A zone over the whole demo frame: every tracked person enters it; the JSONL carries track_id,
    events and counts, the video is written with the overlay, the summary line has the totals."""
    jsonl, video, stats = tmp_path / "d.jsonl", tmp_path / "v.mp4", tmp_path / "s.json"
    p = lookout("--source", str(DEMO_CLIP), "--zone", "all=0,0,1,0,1,1,0,1", "--detections", str(jsonl),
                "--output", str(video), "--stats-json", str(stats), "--no-progress")
    assert p.returncode == 0, p.stderr
    lines = [json.loads(l) for l in jsonl.read_text().splitlines()]
    assert len(lines) == 60
    ids = {d["track_id"] for l in lines for d in l["detections"] if d["label"] == "person" and d["track_id"] >= 0}
    entered = json.loads(stats.read_text())["counts"]["zones"]["all"]["entered"]
    assert entered["person"] == len(ids)
    last = lines[-1]
    inside = last["counts"]["zones"]["all"]["inside"].get("person", 0)
    assert inside >= sum(1 for d in last["detections"] if d["label"] == "person" and d["track_id"] >= 0)
    enters = [e for l in lines for e in l["events"] if e["type"] == "zone_enter"]
    assert len(enters) == sum(entered.values())
    assert "lookout: zone all: entered" in p.stderr
    import cv2
    assert int(cv2.VideoCapture(str(video)).get(cv2.CAP_PROP_FRAME_COUNT)) == 60


@pytest.mark.parametrize("args, words", [
    (["--line", "door=0.1,0.2,0.3"], ["--line door", "4 numbers"]),
    (["--zone", "lot=0,0,1,1"], ["--zone lot", "3 points"]),
    (["--line", "a=0,0.5,1,0.5", "--zone", "a=0,0,1,0,1,1"], ["--zone a", "used twice"]),
    (["--line", "door=10,20,900,20"], ["--line door", "outside the 768x576 frame"]),
    (["--line", "door=0,x,1,1"], ["--line", "numbers"]),
])
def test_bad_counters_fail_in_one_line_naming_the_option(tmp_path, args, words):
    out = tmp_path / "d.jsonl"
    p = lookout("--source", str(DEMO_CLIP), "--detections", str(out), *args)
    assert_one_clear_line(p, 2, *words)
    assert not out.exists()


def test_counters_file_round_trip(tmp_path):
    from detector.analytics.counting import Line, Zone, load_counters, save_counters
    path = tmp_path / "c.json"
    counters = [Line("door", (0.1, 0.5), (0.9, 0.5)), Zone("lot", ((0, 0), (100, 0), (100, 80)))]
    save_counters(path, counters)
    assert load_counters(path) == counters
    jsonl = tmp_path / "d.jsonl"
    p = lookout("--source", str(DEMO_CLIP), "--counters", str(path), "--detections", str(jsonl), "--max-frames", "5",
                "--no-progress")
    assert p.returncode == 0, p.stderr
    counts = json.loads(jsonl.read_text().splitlines()[-1])["counts"]
    assert set(counts["lines"]) == {"door"} and set(counts["zones"]) == {"lot"}


# ---- #36: tracks that hold (time-based loss, appearance re-link) --------------------------------
@pytest.fixture(scope="module")
def demo_detections():
    """The demo clip's frames and the COCO detector's boxes on each (computed once)."""
    from detector import Detector
    det = Detector.load("ssd-mobilenetv2-coco", device="cpu")
    frames = _demo_frames()
    return frames, [det.detect(f) for f in frames]


def _person_runs(dets) -> dict[int, list[tuple[int, int]]]:
    """Plain tracking of the clip: person track id -> [(frame, box index), ...]."""
    from detector import Tracker
    tracker, runs = Tracker(), {}
    for i, d in enumerate(dets):
        out = tracker.update(d, i / 10)
        for j, (t, label) in enumerate(zip(out.track_ids, out.labels)):
            if t >= 0 and label == "person":
                runs.setdefault(int(t), []).append((i, j))
    return runs


def test_appearance_vectors_tell_one_person_from_another(demo_detections):
    """The embedding of the embedded SSD backbone (+ colour): a person's first box is more like
    their own last box than like other people's (AUC over all pairs; measured 0.79 on vtest's first
    300 frames). Batched: one call embeds every box of a frame, the same as one at a time."""
    from detector.runtime.onnx.appearance import DIM, Appearance
    frames, dets = demo_detections
    runs = {t: r for t, r in _person_runs(dets).items() if len(r) >= 10}
    embed = Appearance.shared()
    first = {t: embed(frames[r[0][0]], dets[r[0][0]].xyxy[[r[0][1]]])[0] for t, r in runs.items()}
    last = {t: embed(frames[r[-1][0]], dets[r[-1][0]].xyxy[[r[-1][1]]])[0] for t, r in runs.items()}
    same = np.array([first[t] @ last[t] for t in runs])
    other = np.array([first[a] @ last[b] for a in runs for b in runs if a != b])
    auc = float((same[:, None] > other[None, :]).mean())
    assert len(runs) >= 8 and auc >= 0.7, (len(runs), auc)
    batch = embed(frames[30], dets[30].xyxy)
    assert batch.shape == (len(dets[30]), DIM) and np.allclose(np.linalg.norm(batch, axis=1), 1, atol=1e-4)
    one = np.stack([embed(frames[30], dets[30].xyxy[[k]])[0] for k in range(len(dets[30]))])
    assert np.allclose(batch, one, atol=1e-5)


def _hide_and_track(frames, dets, run, hidden_frames, rate, lost_s, embed):
    """Track the clip at ``rate`` fps (10: as it is; 25: each frame 2, 3, 2, 3, ... times) with one
    person's box removed from ``hidden_frames``: (their ID before, their ID three frames after)."""
    from detector import Tracker
    tracker = Tracker(embed=embed, lost_s=lost_s)
    box_of = dict(run)
    before_frame, after_frame = min(hidden_frames) - 1, max(hidden_frames) + 3
    ids, t = {}, 0.0
    for i, d in enumerate(dets):
        keep = np.ones(len(d), bool)
        if i in hidden_frames:
            keep[box_of[i]] = False
        copies = 1 if rate == 10 else 2 + i % 2
        for _ in range(copies):
            out = tracker.update(d.filter(keep), t, frames[i])
            t += 1 / rate
        if i in (before_frame, after_frame):
            ids[i] = int(out.track_ids[box_of[i]])
    return ids[before_frame], ids[after_frame]


@pytest.mark.slow
def test_a_person_lost_for_a_second_keeps_their_id_at_10_and_25_fps(demo_detections):
    """Every person tracked through 20+ frames of the demo clip in a row, hidden from the tracker
    for 1 s (frames 6-15 of their track, as behind a pillar) while they walk on: with appearance
    and the default 3 s, most keep their ID, at 10 fps and at the same frames repeated to 25 fps;
    with lost tracks kept 0.5 s none does, at either rate: the time counts, not the frames.
    Measured 2026-12-07: 3 of 4 at 10 fps and at 25 fps; 0 of 4 with 0.5 s (with weak starts, the
    default until round 7: 5 of 7, 6 of 7, 0 of 7; the far people they tracked are now untracked
    on the whole frame, which the default at 768 x 576 no longer is)."""
    from detector.runtime.onnx.appearance import Appearance
    frames, dets = demo_detections
    runs = [r for r in _person_runs(dets).values() if len(r) >= 20 and r[-1][0] - r[0][0] == len(r) - 1]
    assert len(runs) >= 4
    embed = Appearance.shared()
    for rate in (10, 25):
        kept = 0
        for run in runs:
            hidden = {i for i, _ in run[6:16]}
            before, after = _hide_and_track(frames, dets, run, hidden, rate, 3.0, embed)
            kept += before == after and before > 0
            short = _hide_and_track(frames, dets, run, hidden, rate, 0.5, embed)
            assert short[0] != short[1], (rate, run[0])
        assert kept >= len(runs) * 0.6, (rate, kept, len(runs))


@pytest.mark.slow
def test_vtest_with_the_defaults_one_event_a_visit_each_id_once(tmp_path):
    """The whole of vtest.avi (795 frames, 10 fps) with the default ``--track --events``: fewer person
    events than person tracks (a person lost and found again under a new ID continues their event),
    every event lists each of its track IDs once, all of them person tracks of the detections file,
    and only the default classes make events. Measured 2026-12-07: 44 person tracks, 34 person
    events; before the fix, one event listed [18, 20, 18, 20] (track 18 re-linked by the tracker
    after 20 had continued its event, and taking it back). The two parked vehicles (a white van the
    model calls a car in one view and a truck in the next, and a car cut by the right edge) make one
    event each (with ``--regions auto`` they made 4: car, truck, truck, car, before car, truck and bus
    matched as one kind, and 3 before a second name of a tracked object stopped starting tracks)."""
    from detector.events.settings import DEFAULT_EVENT_CLASSES
    vtest = shared_path("media/vtest.avi")
    jsonl, events = tmp_path / "d.jsonl", tmp_path / "ev"
    p = lookout("--source", str(vtest), "--headless", "--no-progress", "--track", "--events", str(events),
                "--detections", str(jsonl), timeout=900)
    assert p.returncode == 0, p.stderr
    lines = [json.loads(l) for l in jsonl.read_text().splitlines()]
    assert len(lines) == 795
    tracks = {d["track_id"] for l in lines for d in l["detections"] if d["label"] == "person" and d["track_id"] >= 0}
    rows = [json.loads(l) for l in (events / "events.jsonl").read_text().splitlines()]
    ends = {r["id"]: r for r in rows if r["event"] == "end" and r["kind"] == "object"}
    assert ends and all(r["label"] in DEFAULT_EVENT_CLASSES for r in ends.values()), ends
    people = [r for r in ends.values() if r["label"] == "person"]
    assert 0 < len(people) < len(tracks), (len(people), len(tracks))
    assert any(len(r["track_ids"]) > 1 for r in people)
    vehicles = [r for r in ends.values() if r["label"] in ("car", "truck", "bus")]
    assert len(vehicles) == 2, vehicles
    for r in people:
        assert len(set(r["track_ids"])) == len(r["track_ids"]) and set(r["track_ids"]) <= tracks, r


@pytest.mark.slow
def test_a_lost_track_re_links_only_to_a_box_standing_apart(demo_detections):
    """Each person of the demo clip tracked 20+ frames hidden for 1 s, as above: every box a lost
    track is re-linked to (by the re-link stage, not by overlap) overlaps no other confident box by
    more than IoU 0.1 (confident: the tracker's ``high_threshold``). On MOT15 TUD-Stadtmitte and
    TUD-Campus 12 of 13 re-links onto boxes in a group were another person (docs/tracking.md), so a
    box in a group starts a track instead. Measured 2026-12-07: 32 re-links over the 4 runs (of
    every person, not only the hidden one; first stage from 0.6), none onto a box in a group; in
    round 3, without the limit (``relink_isolation=1.0``), 6 of 71 were."""
    from detector import Tracker
    from detector.ops.iou import box_iou
    from detector.runtime.onnx.appearance import Appearance
    frames, dets = demo_detections
    runs = [r for r in _person_runs(dets).values() if len(r) >= 20 and r[-1][0] - r[0][0] == len(r) - 1]
    embed, relinks = Appearance.shared(), 0
    for run in runs:
        tracker, box_of = Tracker(embed=embed), dict(run)
        for i, d in enumerate(dets):
            keep = np.ones(len(d), bool)
            if i in {f for f, _ in run[6:16]}:
                keep[box_of[i]] = False
            d = d.filter(keep)
            before = (tracker.relinked, tracker.stitched)
            out = tracker.update(d, i / 10, frames[i])
            if tracker.relinked == before[0] + 1 and tracker.stitched == before[1]:
                (j,) = np.flatnonzero(np.isin(out.track_ids, list(tracker.jumped)))
                confident = np.flatnonzero((d.scores >= tracker.high_threshold) & (np.arange(len(d)) != j))
                assert box_iou(d.xyxy[[j]], d.xyxy[confident]).max(initial=0.0) <= 0.1, (i, j)
                relinks += 1
    assert relinks >= 20, relinks


class _NoBackfill:
    """A tracker that forgets where its new tracks went while pending (what counting had before)."""

    def __init__(self, tracker):
        self.tracker = tracker

    def update(self, dets, time_s=None, image=None):
        out = self.tracker.update(dets, time_s, image)
        self.tracker.backfill = {}
        return out

    def __getattr__(self, name):
        return getattr(self.tracker, name)


@pytest.mark.slow
def test_a_line_crossed_while_a_track_is_pending_counts_once_on_confirmation():
    """vtest.avi with weak starts on (``weak_threshold=0.5``; off by default since round 7): wherever
    a new track moved, while pending (a weak start waits 0.3 s), further than the counter's dead
    band on each side, a line across that path at its middle is counted once, in the direction
    walked, on the frame the track is confirmed; with the pending boxes withheld from the counter it
    is not counted then. Measured 2026-12-07 (round 8): 6 such tracks (confirmed at frames 48, 330,
    331, 646, 701 and 727; most pending paths are shorter); the person confirmed at frame 330 walks
    back over the line at frames 381 and 404, counted then as crossings of their own."""
    from detector import Detector, Tracker
    from detector.analytics.counting import Analytics, Line
    import cv2
    cap, det = cv2.VideoCapture(str(shared_path("media/vtest.avi"))), Detector.load("ssd-mobilenetv2-coco", device="cpu")
    dets = []
    while (frame := cap.read())[0]:
        dets.append(det.detect(frame[1]))
    h, w = dets[0].image_hw
    weak = functools.partial(Tracker, weak_threshold=0.5)
    tracker, cases = weak(), []
    for i, d in enumerate(dets):
        tracker.update(d, i / 10)
        for tid, path in tracker.backfill.items():
            c = np.array([[(b[0] + b[2]) / 2, (b[1] + b[3]) / 2] for _, b in path])
            b = path[-1][1]
            margin = max(0.1 * min(b[2] - b[0], b[3] - b[1]), 2.0)  # the counter's dead band
            if len(c) > 1 and np.linalg.norm(c[-1] - c[0]) > 2 * margin + 1:
                cases.append((i, tid, c[0], c[-1], b[3] - b[1]))
    assert cases
    for i, tid, first, last, height in cases:
        mid, along = (first + last) / 2, (last - first) / np.linalg.norm(last - first)
        across = np.array([-along[1], along[0]]) * height  # a segment two box heights long
        p1, p2 = (tuple(np.clip(mid + s * across, 1, [w - 1, h - 1])) for s in (-1, 1))
        # walking from p1 to p2 (image y down), "in" is from its left to its right
        d = np.subtract(p2, p1)
        side = d[0] * (last - mid)[1] - d[1] * (last - mid)[0]
        want = "in" if side > 0 else "out"
        for make, counted in ((weak, True), (lambda: _NoBackfill(weak()), False)):
            analytics, events = Analytics(make(), [Line("path", p1, p2)]), []
            for k, d in enumerate(dets):
                out, frame_analytics = analytics.update(d, k / 10)
                events += [(k, e["track_id"], e["direction"]) for e in frame_analytics.events]
            if counted:  # (within half a second: a person may walk back over a short line later)
                assert [(k, t) for k, t, _ in events if t == tid and k <= i + 5] == [(i, tid)], (i, tid, events)
                assert [e for k, t, e in events if t == tid and k <= i + 5] == [want], (i, tid, events)
            else:
                assert (i, tid) not in [(k, t) for k, t, _ in events], (i, tid, events)


@pytest.mark.slow
def test_a_van_called_car_and_truck_is_one_track_and_one_event(tmp_path):
    """vtest.avi frames 80-319 with ``--regions auto``: the parked white van (top right, x 640-730)
    is a "car" in some views and a "truck" in others, now and then both in one frame. Car, truck and
    bus match as one kind and a second name of a tracked object starts no track, so its boxes carry
    one ID under both labels and the two parked vehicles make one event each (before: the van's
    boxes had 2-3 IDs and it made car and truck events). A still vehicle's track is matched where it
    stopped, takes weak boxes and is not moved by a part of it: the same boxes tracked without that
    (``still_labels`` empty) give the van 2 IDs (measured 2026-12-07)."""
    import cv2
    cap = cv2.VideoCapture(str(shared_path("media/vtest.avi")))
    clip = tmp_path / "van.avi"
    out = cv2.VideoWriter(str(clip), cv2.VideoWriter_fourcc(*"MJPG"), 10, (768, 576))
    for k in range(320):
        ok, frame = cap.read()
        assert ok
        if k >= 80:
            out.write(frame)
    out.release()
    cap.release()
    jsonl, events = tmp_path / "d.jsonl", tmp_path / "ev"
    p = lookout("--source", str(clip), "--headless", "--no-progress", "--track", "--events", str(events),
                "--regions", "auto", "--detections", str(jsonl), timeout=900)
    assert p.returncode == 0, p.stderr

    def is_van(label, xyxy):
        return label in ("car", "truck", "bus") and 640 <= xyxy[0] <= 665 and xyxy[3] < 110

    van = [d for l in jsonl.read_text().splitlines() for d in json.loads(l)["detections"]
           if is_van(d["label"], d["xyxy"])]
    assert {d["label"] for d in van} >= {"car", "truck"}, {d["label"] for d in van}
    ids = {d["track_id"] for d in van if d["track_id"] >= 0}
    assert len(ids) == 1, ids
    # the still rule is what holds it: the same boxes tracked again without it split the van (a
    # passer-by hides its lower half at frames 40-43, the half box pulls the filter away, and the
    # whole boxes score under the first stage's 0.6 for the next 8 frames)
    from detector import Tracker
    from detector.types.detections import Detections
    again = []
    for still_labels in (Tracker().still_labels, frozenset()):
        tracker, seen = Tracker(still_labels=still_labels), set()
        for line in jsonl.read_text().splitlines():
            row = json.loads(line)
            out = tracker.update(Detections.from_json(row["detections"], (576, 768)), row["pts_ms"] / 1000)
            seen |= {int(t) for b, l, t in zip(out.xyxy, out.labels, out.track_ids) if is_van(l, b) and t >= 0}
        again.append(len(seen))
    assert again[0] == 1 and again[1] >= 2, again
    rows = [json.loads(l) for l in (events / "events.jsonl").read_text().splitlines()]
    vehicles = {r["id"] for r in rows if r["event"] == "end" and r["label"] in ("car", "truck", "bus")}
    assert len(vehicles) == 2, vehicles


# ---- a moving camera (camera motion compensation) -----------------------------------------------
def _pan_offset(i: int) -> int:
    """Left edge of a 480 px window panning across the 768 px demo clip and back every 2 s (10 fps):
    up to 44 px a frame, as a PTZ camera on patrol."""
    import math
    return round(144 + 144 * math.sin(2 * math.pi * i / 20))


def test_camera_motion_measures_a_pan_of_real_frames_and_nothing_on_a_still_camera(demo_detections):
    """The demo clip seen through a panning window: the transform found between two frames is the
    window's shift (within a pixel); the clip as it is (a fixed camera) gives no transform at all."""
    from detector.ops import camera_motion
    frames, dets = demo_detections
    pan, still = camera_motion.CameraMotion(), camera_motion.CameraMotion()
    for i, frame in enumerate(frames):
        x = _pan_offset(i)
        warp = pan.estimate(frame[:, x:x + 480], dets[i].xyxy - [x, 0, x, 0], i / 10)
        if i:
            shift = _pan_offset(i - 1) - x
            assert warp is not None and abs(warp[0, 2] - shift) < 1 and abs(warp[1, 2]) < 1, (i, shift, warp)
            assert np.allclose(warp[:, :2], np.eye(2), atol=0.01), warp
        # the still camera measured on every frame (not only at its idle looks)
        previous = (still._prev, still._prev_boxes)
        grey = still._keep(frame, dets[i].xyxy)
        assert still._measure(*previous, grey, frame.shape[1]) is None, i


@pytest.mark.slow
def test_people_keep_their_ids_when_the_camera_pans(demo_detections):
    """The COCO detector on the panning window of the demo clip: moving the tracks with the camera
    keeps people's IDs (measured 13 person IDs, 61 % of tracked boxes in tracks of 20+ frames; without
    it 25 IDs and no track of 20 frames: a 44 px step leaves a person's prediction behind them). On
    the clip itself (a fixed camera) the tracker gives the same IDs with it as without it."""
    from detector import Detector, Tracker
    frames, dets = demo_detections
    det = Detector.load("ssd-mobilenetv2-coco", device="cpu")
    crops = [f[:, _pan_offset(i):_pan_offset(i) + 480] for i, f in enumerate(frames)]
    crop_dets = [det.detect(c) for c in crops]

    def person_tracks(camera_motion):
        tracker, lengths = Tracker(camera_motion=camera_motion), {}
        for i, (crop, d) in enumerate(zip(crops, crop_dets)):
            out = tracker.update(d, i / 10, crop)
            people = np.array([label == "person" for label in out.labels], bool)
            for t in out.track_ids[(out.track_ids >= 0) & people]:
                lengths[int(t)] = lengths.get(int(t), 0) + 1
        return lengths

    with_it, without = person_tracks(True), person_tracks(False)
    long_share = sum(n for n in with_it.values() if n >= 20) / sum(with_it.values())
    assert len(with_it) <= 0.7 * len(without) and long_share >= 0.4, (with_it, without)
    fixed, plain = Tracker(camera_motion=True), Tracker(camera_motion=False)
    for i, (frame, d) in enumerate(zip(frames, dets)):
        assert (fixed.update(d, i / 10, frame).track_ids == plain.update(d, i / 10, frame).track_ids).all(), i
        assert fixed.warp is None, i
