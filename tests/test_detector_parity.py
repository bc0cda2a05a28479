"""The PyTorch port against the original TensorFlow graph, on real images and frames.

Fixtures in tests/fixtures/tf_person/ hold what TF computed (raw encodings, logits, anchors, final
detections) with ../shared/tools/tf_reference.py; the inputs are read from ../shared at test time.
"""
from __future__ import annotations

import numpy as np
import pytest

from conftest import FIXTURES, every_tenth_vtest_frame_vs_tf, iou_matrix, read_frame, shared_path, tf_boxes_to_xyxy

FIXTURE_FILES = sorted((FIXTURES / "tf_person").glob("*.npz"))


def _input_for(name: str):
    import cv2
    if name.startswith("vtest.avi_"):
        return read_frame(shared_path("media/vtest.avi"), int(name.split("_")[-1]))
    matches = sorted((shared_path("media")).glob(name + ".*"))
    assert matches, f"no ../shared/media/{name}.*"
    return cv2.imread(str(matches[0]), cv2.IMREAD_COLOR)


def test_fixtures_cover_at_least_eight_real_inputs():
    assert len(FIXTURE_FILES) >= 8


def assert_raw_outputs_match_tensorflow(detector, fixture) -> None:
    """Raw encodings and logits within 1e-3 of TF's on the fixture's input, anchors within 1e-6."""
    ref = np.load(fixture)
    enc, logits = detector.raw([_input_for(fixture.stem)])
    assert np.abs(enc.cpu().numpy() - ref["box_encodings"]).max() < 1e-3
    assert np.abs(logits.cpu().numpy() - ref["class_logits"]).max() < 1e-3
    assert np.abs(detector.anchors - ref["anchors"]).max() < 1e-6


@pytest.mark.parametrize("fixture", FIXTURE_FILES, ids=lambda p: p.stem)
def test_raw_outputs_match_tensorflow(person_detector, fixture):
    assert_raw_outputs_match_tensorflow(person_detector, fixture)


@pytest.mark.parametrize("fixture", FIXTURE_FILES, ids=lambda p: p.stem)
def test_detections_match_tensorflow(person_detector, fixture):
    ref = np.load(fixture)
    image = _input_for(fixture.stem)
    dets = person_detector.detect(image)
    keep = ref["scores"][0] > person_detector.score_threshold
    tf_xyxy = tf_boxes_to_xyxy(ref["boxes"][0][keep], image.shape[:2])
    tf_scores = ref["scores"][0][keep]
    assert len(dets) == len(tf_scores)
    assert set(dets.labels) <= {"person"} and (dets.class_ids == 1).all()
    iou = iou_matrix(dets.xyxy, tf_xyxy)
    for i in range(len(dets)):
        j = int(iou[i].argmax())
        assert iou[i, j] >= 0.98
        assert abs(dets.scores[i] - tf_scores[j]) <= 0.01


@pytest.mark.slow
def test_every_tenth_vtest_frame_finds_what_tensorflow_finds(person_detector):
    """>= 98% of TF's people found (IoU >= 0.9), <= 2% extra, over 80 frames of vtest.avi."""
    r = every_tenth_vtest_frame_vs_tf(person_detector)
    assert r["frames"] == 795 and r["tf"] > 200
    assert r["found"] / r["tf"] >= 0.98
    assert r["extra"] / r["ours"] <= 0.02


@pytest.mark.slow
@pytest.mark.parametrize("mode", ["eager", "fused", "jit", "onnxruntime"])
def test_every_runtime_mode_keeps_parity(mode):
    """Each speed mode gives TF's raw outputs (1e-3) and the same detections on real frames."""
    from detector import Detector
    det = Detector.load("ssdlite-mobilenetv2-person", device="cpu", mode=mode)
    assert det.mode == mode
    for name in ("vtest.avi_00100", "grace_hopper", "kite_and_cold"):
        ref = np.load(FIXTURES / "tf_person" / f"{name}.npz")
        image = _input_for(name)
        enc, logits = det.raw([image])
        assert np.abs(enc.numpy() - ref["box_encodings"]).max() < 1e-3
        assert np.abs(logits.numpy() - ref["class_logits"]).max() < 1e-3
        keep = ref["scores"][0] > det.score_threshold
        dets = det.detect(image)
        assert len(dets) == int(keep.sum())
        np.testing.assert_allclose(np.sort(dets.scores), np.sort(ref["scores"][0][keep]), atol=0.01)


@pytest.mark.parametrize("out_hw", [(300, 300), (301, 150), (63, 80), (1, 5)])
def test_the_cpu_resize_in_two_halves_equals_the_torch_resize_bit_for_bit(out_hw):
    """The torch-free path's TF resize (two threads above 64 rows, each computing its half as one
    pass would) gives the torch resize's floats exactly, and leaves no thread behind."""
    import threading
    import torch
    from detector.ops.preprocess import TFBilinearResize
    frame = read_frame(shared_path("media/vtest.avi"), 40)
    resize = TFBilinearResize(out_hw)
    before = threading.active_count()
    ours = resize.numpy(frame, 1 / 127.5, -1.0)
    assert threading.active_count() == before
    rgb = torch.from_numpy(np.ascontiguousarray(frame[:, :, ::-1]))
    theirs = (resize(rgb) * np.float32(1 / 127.5) + np.float32(-1.0)).numpy()
    assert ours.shape == (3,) + out_hw and np.array_equal(ours, theirs)
    assert ours.min() >= -1.0 and ours.max() <= 1.0 and ours.std() > 0.1  # a real frame, scaled
