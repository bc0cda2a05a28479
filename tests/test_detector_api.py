"""Detector API on the embedded model and the demo clip (no ../shared needed), and its errors."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from conftest import DEMO_CLIP, FIXTURES, iou_matrix, read_frame, tf_boxes_to_xyxy
from detector import Detector
from detector.models.ssdlite import DetectorWeights


def test_demo_clip_people_where_tensorflow_put_them(person_detector):
    """Demo frame 0 is vtest.avi frame 100 re-encoded: same people as TF found there."""
    frame = read_frame(DEMO_CLIP, 0)
    ref = np.load(FIXTURES / "tf_person" / "vtest.avi_00100.npz")
    keep = ref["scores"][0] > 0.5
    tf_xyxy = tf_boxes_to_xyxy(ref["boxes"][0][keep], frame.shape[:2])
    dets = person_detector.detect(frame)
    assert dets.xyxy.dtype == np.float32 and dets.scores.dtype == np.float32
    strong = dets.filter(dets.scores > 0.5)
    assert len(strong) == len(tf_xyxy) == 4
    assert (iou_matrix(tf_xyxy, strong.xyxy).max(axis=1) > 0.8).all()
    assert strong.labels == ("person",) * 4
    # boxes are in source pixels: inside the 768x576 frame, people taller than wide
    assert (strong.xyxy[:, [0, 2]] <= 768).all() and (strong.xyxy[:, [1, 3]] <= 576).all()
    assert ((strong.xyxy[:, 3] - strong.xyxy[:, 1]) > (strong.xyxy[:, 2] - strong.xyxy[:, 0])).all()


def test_batch_equals_single_and_thresholds_apply(person_detector):
    frames = [read_frame(DEMO_CLIP, i) for i in (0, 30)]
    batch = person_detector.detect_batch(frames)
    for f, b in zip(frames, batch):
        single = person_detector.detect(f)
        np.testing.assert_allclose(single.xyxy, b.xyxy, atol=1e-3)
        np.testing.assert_allclose(single.scores, b.scores, atol=1e-5)
    det = Detector.load("ssdlite-mobilenetv2-person", device="cpu", score_threshold=0.8)
    high = det.detect(frames[0])
    assert 0 < len(high) < len(batch[0]) and (high.scores > 0.8).all()
    det.score_threshold = 0.3
    assert len(det.detect(frames[0])) == len(batch[0])


@pytest.mark.parametrize("name", ["ssdlite-mobilenetv2-person", "ssd-mobilenetv2-coco"])
def test_what_detector_load_returns_gives_the_same_boxes_batched_and_from_two_threads(name):
    """The torch-free path reuses per-thread input buffers: a batch of different frames, and two
    threads detecting at once, must still give each frame its own boxes."""
    import threading
    det = Detector.load(name, device="cpu")
    frames = [read_frame(DEMO_CLIP, i) for i in (0, 15, 30, 45)]
    single = [det.detect(f) for f in frames]
    assert all(len(s) > 0 for s in single) and not np.array_equal(single[0].xyxy, single[2].xyxy)
    for s, b in zip(single, det.detect_batch(frames)):
        np.testing.assert_allclose(s.xyxy, b.xyxy, atol=1e-3)
        assert s.labels == b.labels
    results: dict = {}

    def work(k: int) -> None:
        results[k] = [det.detect(frames[(k + j) % 4]) for j in range(8)]
    threads = [threading.Thread(target=work, args=(k,)) for k in (0, 1)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(timeout=60)
    for k in (0, 1):
        for j, d in enumerate(results[k]):
            np.testing.assert_allclose(d.xyxy, single[(k + j) % 4].xyxy, atol=1e-3)


def test_gray_bgra_and_odd_sizes_are_accepted(person_detector):
    frame = read_frame(DEMO_CLIP, 0)
    base = person_detector.detect(frame)
    import cv2
    bgra = cv2.cvtColor(frame, cv2.COLOR_BGR2BGRA)
    np.testing.assert_allclose(person_detector.detect(bgra).xyxy, base.xyxy, atol=1e-3)
    gray = cv2.cvtColor(frame, cv2.COLOR_BGR2GRAY)
    assert len(person_detector.detect(gray).filter(person_detector.detect(gray).scores > 0.5)) >= 2
    crop = frame[1:300, 3:451]  # odd size, non-contiguous view
    d = person_detector.detect(crop)
    assert (d.xyxy[:, 2] <= 448 + 1e-3).all() and (d.xyxy[:, 3] <= 299 + 1e-3).all()
    assert len(person_detector.detect(np.zeros((1, 1, 3), np.uint8))) == 0


@pytest.mark.parametrize("bad, words", [
    (np.zeros((10, 10, 3), np.float32), "uint8"),
    (np.zeros((0, 10, 3), np.uint8), "non-empty"),
    (np.zeros((10, 10, 5), np.uint8), "shape"),
    ("not an image", "numpy array"),
])
def test_bad_images_raise_clear_value_errors(person_detector, bad, words):
    with pytest.raises(ValueError, match=words):
        person_detector.detect(bad)


def test_unknown_model_lists_known_names():
    with pytest.raises(ValueError, match="ssdlite-mobilenetv2-person"):
        Detector.load("yolo-v99", device="cpu")


def test_cuda_without_gpu_is_a_clear_error():
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU; the error path is for machines without one")
    with pytest.raises(ValueError, match="--device cpu"):
        Detector.load(device="cuda")


def test_corrupt_and_mismatched_weights_are_refused(tmp_path):
    good = (tmp_path / "good.pt")
    from detector.runtime.weights import float_weights
    w = float_weights("ssdlite-mobilenetv2-person")  # the embedded model's, read from its ONNX file
    w.save(good)
    data = good.read_bytes()
    truncated = tmp_path / "truncated.pt"
    truncated.write_bytes(data[: len(data) // 3])
    with pytest.raises(ValueError, match="cannot read detector weights"):
        Detector.load(str(truncated), device="cpu")
    sd = dict(w.state_dict)
    sd["head.cls.0.1.weight"] = torch.zeros(7, 576, 1, 1)
    DetectorWeights(sd, w.num_classes, w.labels, folded=True).save(good)
    with pytest.raises(ValueError, match="do not fit"):
        Detector.load(str(good), device="cpu")


def test_pickle_payload_is_not_executed(tmp_path):
    """A .pt whose unpickling would run code is refused, and the code never runs."""
    marker = tmp_path / "pwned"

    class Payload:
        def __reduce__(self):
            import os
            return (os.system, (f"touch {marker}",))

    evil = tmp_path / "evil.pt"
    torch.save({"format": "lookout-detector/1", "x": Payload()}, evil)
    with pytest.raises(ValueError, match="weights_only"):
        Detector.load(str(evil), device="cpu")
    assert not marker.exists()


def test_own_nms_keeps_what_torchvision_keeps_on_real_candidates(person_detector):
    """Lookout's NumPy NMS (no torchvision import at start-up) against torchvision's, on the
    thousands of low-score candidates of real vtest frames (threshold 0.001, two IoU settings)."""
    import torch
    from torchvision.ops import batched_nms as tv_batched_nms

    from conftest import read_frame, shared_path
    from detector.ops.nms import batched_nms
    total = 0
    for index in (0, 250, 550):
        enc, logits = person_detector.raw([read_frame(shared_path("media/vtest.avi"), index)])
        boxes = torch.from_numpy(person_detector.box_coder.decode(enc.numpy(), person_detector.anchors)[0])
        scores = torch.sigmoid(logits)[0, :, 1:]
        idx, cls = torch.nonzero(scores > 0.001, as_tuple=True)
        bx, sc = boxes[idx], scores[idx, cls]
        for iou in (0.3, 0.6):
            ours = batched_nms(bx.numpy(), sc.numpy(), cls.numpy(), iou)
            theirs = tv_batched_nms(bx, sc, cls, iou).numpy()
            assert sorted(ours.tolist()) == sorted(theirs.tolist())
            assert (np.diff(sc.numpy()[ours]) <= 0).all()  # best first
            total += len(bx)
    assert total > 2500  # candidate boxes compared (each frame at both IoU settings)
