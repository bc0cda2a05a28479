"""What the lookout command writes, checked on real clips: boxes cut to the frame in the JSONL and CSV,
counts in the video that read as the JSONL's, --blur in the video only, --list-models' sections."""
from __future__ import annotations

import csv
import json
import subprocess
import sys

import cv2
import numpy as np
import pytest

from conftest import DEMO_CLIP, ROOT, read_frame, shared_path


def lookout(*args, timeout=300):
    return subprocess.run([sys.executable, str(ROOT / "main.py"), *args], capture_output=True, text=True,
                          timeout=timeout, cwd=ROOT)


@pytest.mark.slow
def test_boxes_in_the_jsonl_and_csv_stay_inside_the_frame(tmp_path):
    """vtest.avi is 768 x 576; its first 60 frames have boxes the model puts past the right edge (x2 up to
    769.65, 18 rows before clipping). Every written box is within [0, 768] x [0, 576], and the rows
    are the same in both files."""
    vtest = shared_path("media/vtest.avi")
    jsonl, table = tmp_path / "d.jsonl", tmp_path / "d.csv"
    for out in (jsonl, table):
        p = lookout("--source", str(vtest), "--headless", "--detections", str(out), "--max-frames", "60", "--no-progress")
        assert p.returncode == 0, p.stderr
    boxes = np.array([d["xyxy"] for l in jsonl.read_text().splitlines() for d in json.loads(l)["detections"]])
    rows = list(csv.DictReader(table.open()))
    from_csv = np.array([[float(r[k]) for k in ("x1", "y1", "x2", "y2")] for r in rows])
    assert len(boxes) > 300 and np.array_equal(boxes, from_csv)
    for b in (boxes, from_csv):
        assert b.min() >= 0 and b[:, [0, 2]].max() <= 768 and b[:, [1, 3]].max() <= 576
    assert (boxes[:, 2] == 768).any() or (boxes[:, 3] == 576).any()  # some were cut: the check bites


@pytest.mark.slow
def test_counts_in_the_written_video_read_as_the_jsonl_counts(tmp_path):
    """Frame 330 of vtest.avi with the README's line: the JSONL says in 3 out 1 (in 3 out 2 before tracks
    were re-linked by appearance, issue #36). The decoded video's
    count row matches that text rendered again better than any near miss (another digit, a doubled
    digit as the old shadow made "3" look like "33")."""
    from detector.ops.annotators import RowsAnnotator
    vtest = shared_path("media/vtest.avi")
    video, jsonl = tmp_path / "v.mp4", tmp_path / "d.jsonl"
    p = lookout("--source", str(vtest), "--line", "door=0.3,0.2,0.3,0.8", "--output", str(video),
                "--detections", str(jsonl), "--max-frames", "340", "--no-progress")
    assert p.returncode == 0, p.stderr
    line = json.loads(jsonl.read_text().splitlines()[330])
    c = line["counts"]["lines"]["door"]
    n_in, n_out = sum(c["in"].values()), sum(c["out"].values())
    assert n_in >= 2 and n_out >= 1, c  # both rows hold digits the check can tell apart
    frame = read_frame(video, 330)
    rows = RowsAnnotator("bottom", ink=(0, 255, 255))
    band = rows.band(frame.shape[:2], ["door"])

    def distance(text: str) -> float:
        drawn = frame.copy()
        rows(drawn, [text])
        # brightness only (H.264 keeps colour at half resolution, which smears 1-px yellow strokes);
        # pixels far off: compression softens strokes a little, a wrong digit moves whole strokes
        gray = lambda img: cv2.cvtColor(img[-band:], cv2.COLOR_BGR2GRAY).astype(int)
        return int((np.abs(gray(drawn) - gray(frame)) > 80).sum())

    truth = distance(f"door: in {n_in} out {n_out}")
    misses = [f"door: in {a} out {b}" for a, b in ((n_in + 1, n_out), (n_in - 1, n_out), (n_in, n_out + 1),
                                                  (n_in, n_out - 1), (n_in * 11, n_out), (n_in, n_out * 11))]
    nearest = min(distance(m) for m in misses)
    assert truth < 0.25 * nearest, (truth, nearest)


@pytest.mark.slow
def test_blur_changes_the_people_in_the_video_and_not_the_detections(tmp_path):
    runs = {}
    for name, extra in (("plain", []), ("blur", ["--blur", "person"])):
        video, jsonl = tmp_path / f"{name}.mp4", tmp_path / f"{name}.jsonl"
        p = lookout("--source", str(DEMO_CLIP), "--output", str(video), "--detections", str(jsonl),
                    "--max-frames", "20", "--crf", "10", "--no-progress", *extra)
        assert p.returncode == 0, p.stderr
        runs[name] = (video, jsonl.read_bytes())
    assert runs["plain"][1] == runs["blur"][1]
    line = json.loads(runs["plain"][1].decode().splitlines()[10])
    plain, blurred = read_frame(runs["plain"][0], 10), read_frame(runs["blur"][0], 10)
    people = [d["xyxy"] for d in line["detections"] if d["label"] == "person" and d["score"] >= 0.5]
    assert people
    inside = np.zeros(plain.shape[:2], bool)
    for x1, y1, x2, y2 in people:
        # the box's inner part: its edges carry the outline and label, drawn in both
        dx, dy = (x2 - x1) * 0.2, (y2 - y1) * 0.2
        inside[int(y1 + dy):int(y2 - dy), int(x1 + dx):int(x2 - dx)] = True
    diff = np.abs(plain.astype(int) - blurred.astype(int)).max(axis=2)
    lap = lambda img: np.abs(cv2.Laplacian(cv2.cvtColor(img, cv2.COLOR_BGR2GRAY), cv2.CV_32F))
    assert lap(blurred)[inside].mean() < 0.6 * lap(plain)[inside].mean()  # detail gone from the people
    assert (diff[inside] > 20).mean() > 0.2


def test_unknown_blur_class_fails_in_one_line(tmp_path):
    p = lookout("--source", str(DEMO_CLIP), "--headless", "--detections", str(tmp_path / "d.jsonl"),
                "--blur", "person,persn")
    assert p.returncode == 2 and "Traceback" not in p.stderr, p.stderr
    errors = [l for l in p.stderr.splitlines() if l.startswith("lookout: error")]
    assert len(errors) == 1 and "--blur" in errors[0] and "'persn'" in errors[0]
    assert not (tmp_path / "d.jsonl").exists()


def test_list_models_in_two_sections_with_one_default_each():
    p = lookout("--list-models")
    assert p.returncode == 0, p.stderr
    detectors, classifiers = p.stdout.split("Classifiers")
    assert detectors.startswith("Detectors")
    for section, default in ((detectors, "ssd-mobilenetv2-coco (default)"), (classifiers, "mobilenet-v2 (default)")):
        assert section.count("(default)") == 1 and default in section
    assert "ssdlite-mobilenetv2-person" in detectors and "mobilenet-v3-small" in classifiers
    names = lambda section: [l.split()[0] for l in section.splitlines() if l.startswith("  ") and l[2] != " "]
    assert names(detectors) == ["ssd-mobilenetv2-coco", "ssdlite-mobilenetv2-person", "ssdlite-mobilenetv2-coco"]
    assert names(classifiers) == ["mobilenet-v2", "mobilenet-v3-large", "mobilenet-v3-small"]
    assert "classifiers" in lookout("--help").stdout


def test_blur_hides_the_people_in_raw_dumps_too(tmp_path):
    """--dump-raw writes the frames without drawings; with --blur they are blurred as well (a raw
    dump showing what --blur hides would defeat it)."""
    from conftest import read_frame
    dump, jsonl = tmp_path / "dump", tmp_path / "d.jsonl"
    p = lookout("--source", str(DEMO_CLIP), "--dump-dir", str(dump), "--dump-raw", "--dump-ext", "png",
                "--detections", str(jsonl), "--max-frames", "3", "--blur", "person", "--no-progress")
    assert p.returncode == 0, p.stderr
    source, raw = read_frame(DEMO_CLIP, 2), cv2.imread(str(dump / "00000002_raw.png"))
    dets = json.loads(jsonl.read_text().splitlines()[2])["detections"]
    sure, anyone = np.zeros(raw.shape[:2], bool), np.zeros(raw.shape[:2], bool)
    for d in dets:
        if d["label"] == "person":
            x1, y1, x2, y2 = d["xyxy"]
            anyone[int(y1):int(np.ceil(y2)) + 1, int(x1):int(np.ceil(x2)) + 1] = True
            if d["score"] >= 0.5:
                sure[int(y1) + 1:int(y2), int(x1) + 1:int(x2)] = True
    assert sure.any()
    lap = lambda img: np.abs(cv2.Laplacian(cv2.cvtColor(img, cv2.COLOR_BGR2GRAY), cv2.CV_32F))
    assert lap(raw)[sure].mean() < 0.6 * lap(source)[sure].mean()
    assert np.array_equal(raw[~anyone], source[~anyone])  # png: the rest is the source, bit for bit


def test_an_image_source_writes_the_annotated_image_and_a_folder_writes_a_folder(tmp_path):
    import shutil
    photos = tmp_path / "photos"
    photos.mkdir()
    for name in ("kite_and_cold.jpg", "pets.jpg"):
        shutil.copy(shared_path(f"media/{name}"), photos / name)
    src = photos / "kite_and_cold.jpg"
    before = src.read_bytes()
    p = lookout("--source", src, "--output", tmp_path / "kite.png", "--detections", tmp_path / "kite.jsonl")
    assert p.returncode == 0, p.stderr
    out, orig = cv2.imread(str(tmp_path / "kite.png")), cv2.imread(str(src))
    assert out.shape == orig.shape and src.read_bytes() == before
    dets = json.loads((tmp_path / "kite.jsonl").read_text())["detections"]
    assert {d["label"] for d in dets} >= {"kite", "person"}
    from detector.ops.draw import class_color
    from detector.ops.iou import box_iou
    boxes = np.array([d["xyxy"] for d in dets], np.float32)
    touching = (box_iou(boxes, boxes) > 0).sum(axis=1) > 1  # a cluster's outlines are drawn over each other
    assert (~touching).sum() >= 10, touching
    for d in (d for d, t in zip(dets, touching) if not t):  # each box is drawn where the JSONL says:
        x1, y1, x2, y2 = (int(round(v)) for v in d["xyxy"])     # most of its outline in its class's colour
        near = np.abs(out.astype(int) - class_color(d["class_id"])).max(axis=2) <= 2
        outline = [near[y, max(x - 2, 0):x + 3].any() for y in range(y1, y2) for x in (x1, x2)]
        assert np.mean(outline) > 0.6, d
    p = lookout("--source", photos, "--output", f"{tmp_path / 'annotated'}/")
    assert p.returncode == 0, p.stderr
    assert sorted(f.name for f in (tmp_path / "annotated").iterdir()) == ["kite_and_cold.jpg", "pets.jpg"]
    p = lookout("--source", photos, "--output", f"{tmp_path / 'annotated'}/")  # twice: the files exist now
    assert p.returncode == 2 and "already exists" in p.stderr and "--overwrite" in p.stderr


@pytest.mark.parametrize("source, output, words", [
    ("photo", "x.mp4", "an image source writes images"),
    ("video", "x.png", "for a video or stream give a video name"),
    ("photo", "dir/", "for one image give an image name"),
    ("video", "dir/", "for a video or stream give a video name"),
])
def test_an_output_of_the_wrong_kind_is_refused_in_one_line(tmp_path, source, output, words):
    src = shared_path("media/pets.jpg") if source == "photo" else DEMO_CLIP
    p = lookout("--source", src, "--output", f"{tmp_path}/{output}")
    assert p.returncode == 2 and words in p.stderr and "Traceback" not in p.stderr, p.stderr
    assert len([l for l in p.stderr.splitlines() if l.startswith("lookout: error")]) == 1
    assert not list(tmp_path.iterdir())
