"""Tracking accuracy: the tracker alone on hidden detections, or Lookout end to end on a sequence.

usage: python tools/mot_eval.py [lookout|bytetrack|sort] [--match M] [--buffer B]
       python tools/mot_eval.py run SOURCE [--gt gt.txt] [--rate FPS] [--label person] [--keep DIR] [-- LOOKOUT OPTIONS]
       python tools/mot_eval.py why DIR --gt gt.txt [--no-appearance] [--set NAME=VALUE ...]

``run``: ``lookout --source SOURCE --track --events DIR`` (defaults, or the options after ``--``),
then from its detections JSONL and events.jsonl: the tracks of ``--label`` (how many, median
length in frames), the events of that label; with ``--gt`` (MOTChallenge ``gt.txt``: frame, id,
x, y, w, h, conf, class, visibility; rows with conf 0 or a class other than 1 are not people to
find) also IDF1, MOTA, ID switches and events per person (motmetrics, IoU 0.5). SOURCE is a
video or a MOTChallenge sequence folder (``img1/`` + ``seqinfo.ini``: its frames are written to
a lossless video at the sequence's rate first). ``--rate FPS`` writes the frames into a video at
that rate instead, each source frame repeated for as long as it lasts (10 fps at 25: 2, 3, 2, 3,
... copies: a camera at a higher rate watching the same scene); the ground truth is then compared
on the first copy of each frame. One JSON line out. ``--keep DIR``: the video, the detections
and the events are written to DIR and kept (for ``why``).

``why``: the tracker alone, replayed over the boxes (and frames) of a ``run --keep DIR``, with
its defaults or ``--set NAME=VALUE`` options (seconds, not a new detector run), then one line a
ground-truth ID switch: its kind (``two-tracks-one-person``: the old track is still on this
person, e.g. two boxes on one; ``took-another-persons-id``: the new track followed someone else
before; ``new-id``: a track started on this person; ``lost-and-back``), the frames since the
person was last matched and how many of them had a box on the person; and one line a re-link or
stitch: the person before and after (RIGHT / WRONG). The first line is the metrics (JSON).

The hidden-detection mode: tracking accuracy on the MOT sequences that ship with ``motmetrics``
(TUD-Campus, TUD-Stadtmitte).

Detections are the boxes of another tracker's output that motmetrics ships beside the ground truth
(``test.txt``, IDs dropped, every box scored 1.0); each tracker sees the same boxes frame by frame.
Prints one JSON line per sequence and an overall one: MOTA, IDF1, ID switches (motmetrics, IoU 0.5).
``lookout`` is ``detector.Tracker``; ``bytetrack`` / ``sort`` are Roboflow's ``trackers`` package,
run from a throwaway venv (``pip install trackers==2.1.0 motmetrics``), never from Lookout's.
"""
from __future__ import annotations

import argparse
import json
import os
import sys

import numpy as np

sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

from detector.analytics.mot import (evaluate, frames_at_rate, load_motmetrics, lookout_tracker, read_boxes,  # noqa: E402
                                    to_tlwh)

mm = load_motmetrics()


def peer_tracker(kind: str):
    """Roboflow's ``trackers`` (bytetrack / sort) as a function (xyxy (N, 4)) -> track ids (N,)."""
    import supervision as sv
    from trackers import ByteTrackTracker, SORTTracker
    tracker = ByteTrackTracker(frame_rate=25.0) if kind == "bytetrack" else SORTTracker(frame_rate=25.0)

    def step(xyxy):
        n = len(xyxy)
        out = tracker.update(sv.Detections(xyxy=xyxy.astype(np.float32), confidence=np.ones(n, np.float32),
                                           class_id=np.zeros(n, int)))
        # trackers returns the tracked boxes; map them back to the input boxes by identity of coordinates
        ids = np.full(n, -1)
        for box, tid in zip(out.xyxy, out.tracker_id):
            j = int(np.argmin(np.abs(xyxy - box).sum(1)))
            ids[j] = tid
        return ids
    return step


def end_to_end(source: str, gt: str | None = None, rate: float | None = None, label: str = "person",
               options: list[str] | None = None, keep: str | None = None) -> dict:
    import contextlib
    import subprocess
    import tempfile
    root = os.path.join(os.path.dirname(os.path.abspath(__file__)), "..")
    if keep:
        os.makedirs(keep, exist_ok=True)
    with (contextlib.nullcontext(keep) if keep else tempfile.TemporaryDirectory(prefix="lookout-mot-")) as tmp:
        video, fps, which = frames_at_rate(source, rate, os.path.join(tmp, "frames.avi"))
        jsonl, events = os.path.join(tmp, "d.jsonl"), os.path.join(tmp, "events")
        opts = options if options else ["--track", "--events", events]
        if "--events" not in opts:
            opts = [*opts, "--events", events]
        events = opts[opts.index("--events") + 1]  # the folder given after --, if one was
        p = subprocess.run([sys.executable, os.path.join(root, "main.py"), "--source", video, "--headless",
                            "--detections", jsonl, "--no-progress", *opts], capture_output=True, text=True)
        if p.returncode != 0:
            raise SystemExit(f"lookout failed ({p.returncode}): {p.stderr.strip()[-2000:]}")
        lines = [json.loads(x) for x in open(jsonl, encoding="utf-8")]
        evs = [json.loads(x) for x in open(os.path.join(events, "events.jsonl"), encoding="utf-8")] \
            if os.path.exists(os.path.join(events, "events.jsonl")) else []
    ends = {e["id"]: e for e in evs if e.get("end_pts_ms") is not None}  # the log has starts and ends
    by_label: dict[str, int] = {}
    for e in ends.values():
        if e["kind"] == "object":
            by_label[e["label"]] = by_label.get(e["label"], 0) + 1
    lengths: dict[int, int] = {}
    acc = mm.MOTAccumulator(auto_id=True) if gt else None
    truth = read_boxes(gt, people_only=True) if gt else {}
    for k, line in enumerate(lines):
        dets = [d for d in line["detections"] if d["label"] == label and d.get("track_id", -1) >= 0]
        for d in dets:
            lengths[d["track_id"]] = lengths.get(d["track_id"], 0) + 1
        if acc is not None and k < len(which) and (k == 0 or which[k] != which[k - 1]):
            g_ids, g_boxes = truth.get(which[k] + 1, (np.zeros(0, int), np.zeros((0, 4))))
            boxes = np.array([d["xyxy"] for d in dets], np.float64).reshape(-1, 4)
            acc.update(g_ids, [d["track_id"] for d in dets], mm.distances.iou_matrix(to_tlwh(g_boxes), to_tlwh(boxes), max_iou=0.5))
    out = {"source": os.path.basename(source.rstrip("/")), "frames": len(lines), "fps": round(rate or fps, 3),
           f"{label}_tracks": len(lengths),
           "median_track_frames": float(np.median(list(lengths.values()))) if lengths else 0.0,
           f"{label}_events": by_label.get(label, 0), "events_by_label": by_label}
    if acc is not None:
        r = mm.metrics.create().compute(acc, metrics=["idf1", "mota", "num_switches", "num_unique_objects"])
        people = int(r["num_unique_objects"].iloc[0])
        out.update(IDF1=round(float(r["idf1"].iloc[0]), 4), MOTA=round(float(r["mota"].iloc[0]), 4),
                   ID_switches=int(r["num_switches"].iloc[0]), people=people,
                   events_per_person=round(by_label.get(label, 0) / max(people, 1), 3))
    return out


class _Truth:
    """A stand-in tracker whose IDs are the ground truth's: ``update`` gives each box its person."""

    def __init__(self, ids):
        self.ids = ids

    def update(self, dets, time_s=None, image=None):
        return dets.with_track_ids(np.asarray(self.ids, np.int64))

    def reset(self):
        pass


def _line_counts(counting, truth) -> dict:
    """{line: "in/out counted, in/out of the ground truth"} for the people, and "off": the sum over
    lines and directions of |counted - truth|."""
    out, off = {}, 0
    for name, c in counting.totals()["lines"].items():
        t = truth.totals()["lines"][name]
        got = [c[d].get("person", 0) for d in ("in", "out")]
        want = [t[d].get("person", 0) for d in ("in", "out")]
        off += sum(abs(a - b) for a, b in zip(got, want))
        out[name] = f"{got[0]}/{got[1]} of {want[0]}/{want[1]}"
    return {**out, "off": off}


def why(keep: str, gt: str, appearance: bool = True, options: dict | None = None, lines: list | None = None) -> None:
    """See the module docstring (``why``). Prints; returns nothing."""
    import cv2

    from detector.analytics.counting import Analytics
    from detector.analytics.tracker import Tracker
    from detector.ops.iou import box_iou
    from detector.types.detections import Detections
    embed = None
    if appearance:
        from detector.runtime.onnx.appearance import Appearance
        embed = Appearance.shared()
    tracker = Tracker(embed=embed, **(options or {}))
    counting, truth_counting = Analytics(tracker, lines), Analytics(_Truth([]), lines)
    rows = [json.loads(x) for x in open(os.path.join(keep, "d.jsonl"), encoding="utf-8")]
    cap = cv2.VideoCapture(os.path.join(keep, "frames.avi"))
    truth = read_boxes(gt, people_only=True)
    acc, frames, jumps, tracks = mm.MOTAccumulator(auto_id=True), [], [], set()
    for k, line in enumerate(rows):
        ok, image = cap.read()
        ds, hw = line["detections"], (image.shape[:2] if ok else (0, 0))
        dets = Detections.from_json(ds, hw)
        before = tracker.relinked + tracker.stitched
        out, _ = counting.update(dets, line["pts_ms"] / 1000, image if ok else None)
        if tracker.relinked + tracker.stitched > before:
            jumps += [(k, j) for j in tracker.jumped]
        person = np.array([label == "person" for label in out.labels], bool) & (out.track_ids >= 0)
        boxes, ids = np.asarray(out.xyxy, np.float64)[person], out.track_ids[person]
        tracks.update(ids.tolist())
        frames.append((boxes, ids))
        g_ids, g_boxes = truth.get(k + 1, (np.zeros(0, int), np.zeros((0, 4))))
        acc.update(g_ids, ids, mm.distances.iou_matrix(to_tlwh(g_boxes), to_tlwh(boxes), max_iou=0.5))
        if lines:  # the ground truth's own crossings: its boxes counted under its IDs
            truth_counting.tracker.ids = g_ids
            n = len(g_ids)
            truth_counting.update(Detections(g_boxes.astype(np.float32).reshape(-1, 4), np.ones(n, np.float32),
                                             np.ones(n, np.int64), ("person",) * n, image_hw=hw), line["pts_ms"] / 1000)
    r = mm.metrics.create().compute(acc, metrics=["idf1", "mota", "num_switches"])
    print(json.dumps({"IDF1": round(float(r["idf1"].iloc[0]), 4), "MOTA": round(float(r["mota"].iloc[0]), 4),
                      "ID_switches": int(r["num_switches"].iloc[0]), "person_tracks": len(tracks),
                      "relinked": tracker.relinked, "stitched": tracker.stitched,
                      **({"lines": _line_counts(counting, truth_counting)} if lines else {})}))
    events = acc.mot_events.reset_index()
    matches = events[events.Type.isin(["MATCH", "SWITCH"])].sort_values("FrameId")
    last, owners, born, kinds = {}, {}, {}, {}
    for m in matches.itertuples():
        f, o, h = int(m.FrameId), int(m.OId), int(m.HId)
        born.setdefault(h, f)
        if m.Type == "SWITCH":
            pf, ph = last.get(o, (None, None))
            g_ids, g_boxes = truth[f + 1]
            box = g_boxes[list(g_ids).index(o)]
            seen = 0
            for ff in range(pf + 1, f) if pf is not None else ():
                gi, gb = truth.get(ff + 1, (np.zeros(0, int), np.zeros((0, 4))))
                if o in gi and len(frames[ff][0]):
                    seen += box_iou(gb[list(gi).index(o)][None], frames[ff][0])[0].max() >= 0.5
            others = sorted({oo for _, oo in owners.get(h, []) if oo != o})
            old = frames[f][0][frames[f][1] == ph]
            if len(old) and box_iou(box[None], old)[0].max() >= 0.3:
                kind = "two-tracks-one-person"
            elif others:
                kind = "took-another-persons-id"
            elif pf is None or born[h] >= pf - 1:
                kind = "new-id"
            else:
                kind = "lost-and-back"
            kinds[kind] = kinds.get(kind, 0) + 1
            gap = f - pf if pf is not None else 0
            print(f"switch frame {f + 1} person {o}: track {ph} -> {h} [{kind}] after {gap} frames, "
                  f"a box on them in {seen} of {max(gap - 1, 0)}; track {h} followed persons {others[:5]} before")
        last[o] = (f, h)
        owners.setdefault(h, []).append((f, o))
    who = {(int(m.FrameId), int(m.HId)): int(m.OId) for m in matches.itertuples()}
    verdicts = {}
    for k, j in jumps:
        before = next((who[(f, j)] for f in range(k - 1, -1, -1) if (f, j) in who), None)
        after = next((who[(f, j)] for f in range(k, min(k + 3, len(frames))) if (f, j) in who), None)
        v = "?" if before is None or after is None else ("RIGHT" if before == after else "WRONG")
        verdicts[v] = verdicts.get(v, 0) + 1
        print(f"re-link frame {k + 1} track {j}: person {before} -> {after} {v}")
    print(json.dumps({"switch_kinds": kinds, "relinks": verdicts}))


if __name__ == "__main__":
    if len(sys.argv) > 1 and sys.argv[1] == "why":
        ap = argparse.ArgumentParser(prog="mot_eval.py why")
        ap.add_argument("keep", help="the folder of a `run --keep DIR`")
        ap.add_argument("--gt", required=True)
        ap.add_argument("--no-appearance", action="store_true")
        ap.add_argument("--set", action="append", default=[], metavar="NAME=VALUE", help="a Tracker option")
        ap.add_argument("--line", action="append", default=[], metavar="NAME=x1,y1,x2,y2",
                        help="count crossings, as --line does, and the ground truth's own")
        a = ap.parse_args(sys.argv[2:])
        for path in (os.path.join(a.keep, "d.jsonl"), os.path.join(a.keep, "frames.avi"), a.gt):
            if not os.path.exists(path):
                print(f"mot_eval why: {path} not found; run `mot_eval.py run SOURCE --keep DIR` first",
                      file=sys.stderr)
                sys.exit(2)
        try:
            opts = {k: float(v) for k, v in (x.split("=", 1) for x in a.set)}
        except ValueError:
            print("mot_eval why: --set wants NAME=NUMBER, e.g. --set relink_speed=1.0", file=sys.stderr)
            sys.exit(2)
        import inspect

        from detector.analytics.tracker import Tracker
        unknown = sorted(set(opts) - set(inspect.signature(Tracker.__init__).parameters) - {"self", "embed"})
        if unknown:
            print(f"mot_eval why: no Tracker option {unknown[0]}; see detector/analytics/tracker.py", file=sys.stderr)
            sys.exit(2)
        from detector.analytics.counting import parse_counter
        try:
            counters = [parse_counter("line", x) for x in a.line]
        except ValueError as e:
            print(f"mot_eval why: {e}", file=sys.stderr)
            sys.exit(2)
        why(a.keep, a.gt, not a.no_appearance, opts, counters)
        sys.exit(0)
    if len(sys.argv) > 1 and sys.argv[1] == "run":
        argv = sys.argv[2:]
        extra = argv[argv.index("--") + 1:] if "--" in argv else []
        argv = argv[:argv.index("--")] if "--" in argv else argv
        ap = argparse.ArgumentParser(prog="mot_eval.py run")
        ap.add_argument("source")
        ap.add_argument("--gt")
        ap.add_argument("--rate", type=float)
        ap.add_argument("--label", default="person")
        ap.add_argument("--keep", metavar="DIR", help="write the video, detections and events here and keep them")
        a = ap.parse_args(argv)
        print(json.dumps(end_to_end(a.source, a.gt, a.rate, a.label, extra, a.keep)))
        sys.exit(0)
    ap = argparse.ArgumentParser()
    ap.add_argument("kind", choices=("lookout", "bytetrack", "sort"))
    ap.add_argument("--match", type=float)
    ap.add_argument("--buffer", type=int)
    a = ap.parse_args()
    make = (lambda: lookout_tracker(a.match, a.buffer)) if a.kind == "lookout" else (lambda: peer_tracker(a.kind))
    print(json.dumps({"tracker": a.kind, **evaluate(make)}))
