"""CUDA: the CPU's parity checks again on a GPU, in fp32 (true fp32, no TF32) and fp16.

CI has no GPU, so these skip there with that reason; on a GPU host run
``python -m pytest tests/test_cuda.py``. Fixtures and inputs are the CPU parity tests' own.
"""
from __future__ import annotations

import json

import cv2
import numpy as np
import pytest
import torch

from conftest import (DEMO_CLIP, FIXTURES, every_tenth_vtest_frame_vs_tf, iou_matrix, read_frame, shared_path,
                      tf_boxes_to_xyxy)
from test_detector_parity import FIXTURE_FILES, _input_for, assert_raw_outputs_match_tensorflow
from test_pipeline import _lossless_check

pytestmark = pytest.mark.skipif(not torch.cuda.is_available(),
                                reason="needs a CUDA GPU; this machine has none (CI never has one)")


@pytest.fixture(scope="module", params=["auto:fp32", "jit:fp16", "eager:fp16", "eager:fp32"])
def cuda_detector(request):
    from detector import Detector
    mode, precision = request.param.split(":")
    det = Detector.load("ssdlite-mobilenetv2-person", device="cuda", half=precision == "fp16", mode=mode)
    assert det.device == "cuda" and det.half == (precision == "fp16")
    assert det.mode == ("jit" if mode == "auto" else mode)  # auto = the fastest on CUDA (bench)
    return det


@pytest.fixture(scope="module", params=["eager", "jit"])
def fp32_detector(request):
    from detector import Detector
    return Detector.load("ssdlite-mobilenetv2-person", device="cuda", half=False, mode=request.param)


@pytest.mark.parametrize("fixture", FIXTURE_FILES, ids=lambda p: p.stem)
def test_fp32_raw_outputs_match_tensorflow(fp32_detector, fixture):
    assert_raw_outputs_match_tensorflow(fp32_detector, fixture)


@pytest.mark.parametrize("fixture", FIXTURE_FILES, ids=lambda p: p.stem)
def test_fp32_detections_match_tensorflow(fp32_detector, fixture):
    ref = np.load(fixture)
    image = _input_for(fixture.stem)
    dets = fp32_detector.detect(image)
    keep = ref["scores"][0] > fp32_detector.score_threshold
    tf_xyxy = tf_boxes_to_xyxy(ref["boxes"][0][keep], image.shape[:2])
    assert len(dets) == int(keep.sum())
    iou = iou_matrix(dets.xyxy, tf_xyxy)
    assert all(iou[i].max() >= 0.98 for i in range(len(dets)))
    np.testing.assert_allclose(np.sort(dets.scores), np.sort(ref["scores"][0][keep]), atol=0.01)


def test_every_tenth_vtest_frame_finds_what_tensorflow_finds(cuda_detector):
    """fp32 and fp16: >= 98% of TF's people found (IoU >= 0.9), <= 2% extra, 80 frames of vtest.avi."""
    r = every_tenth_vtest_frame_vs_tf(cuda_detector)
    print(f"{cuda_detector.mode} {'fp16' if cuda_detector.half else 'fp32'}: found {r['found']}/{r['tf']}, "
          f"extra {r['extra']}/{r['ours']}, score |diff| max {max(r['score_err']):.4f}")
    assert r["frames"] == 795 and r["tf"] > 200
    assert r["found"] / r["tf"] >= 0.98
    assert r["extra"] / r["ours"] <= 0.02
    assert max(r["score_err"]) <= (0.03 if cuda_detector.half else 0.01)  # H200: jit fp16 0.022, fp32 0.0000


@pytest.mark.parametrize("mode", ["eager", "auto"])
def test_classifier_on_cuda_is_integer_exact(mode):
    """The quantised MobileNetV2 on CUDA gives the CPU's logits exactly and TFLite's top-1."""
    from detector import Classifier
    model, labels = shared_path("models/mobilenet_v2_1.0_224_quant.tflite"), shared_path("models/imagenet_labels.txt")
    cpu = Classifier.load(str(model), device="cpu", labels=labels, mode="eager")
    gpu = Classifier.load(str(model), device="cuda", labels=labels, mode=mode)
    assert gpu.mode == "eager"
    ref = json.loads((FIXTURES / "tflite" / "mobilenet_v2_1.0_224_quant.json").read_text())
    for image in ref:
        bgr = cv2.imread(str(shared_path(f"media/{image}")))
        with torch.inference_mode():
            a = cpu.net(cpu._batch([bgr])).numpy()
            b = gpu.net(gpu._batch([bgr])).cpu().numpy()
        np.testing.assert_array_equal(a, b)
        top1 = gpu.classify(bgr, k=1)[0][0]
        assert top1 == gpu.labels[ref[image]["top10_index"][0]] or \
            ref[image]["top10_prob"][1] >= ref[image]["top10_prob"][0] - 1e-6, (image, top1)


def test_lossless_demo_clip_on_cuda_every_frame_same_boxes(tmp_path, cuda_detector):
    lines = _lossless_check(DEMO_CLIP, tmp_path, cuda_detector, 60, [0, 30, 59])
    assert sum(len(line["detections"]) for line in lines) > 4 * 60


def test_cuda_batch_matches_single_images(cuda_detector):
    frames = [read_frame(shared_path("media/vtest.avi"), i) for i in (0, 200, 400, 600)]
    batch = cuda_detector.detect_batch(frames)
    for f, b in zip(frames, batch):
        one = cuda_detector.detect(f)
        assert len(one) == len(b)
        tol = 0.05 if cuda_detector.half else 1e-3
        np.testing.assert_allclose(b.xyxy, one.xyxy, atol=tol * 10)
        np.testing.assert_allclose(b.scores, one.scores, atol=tol)


def test_coco_model_on_cuda_counts_differing_integers():
    """The quantised COCO model's torch path on the GPU (fp32, no TF32) against the interpreter's
    fixtures: prints how many raw integers differ, and requires the detections to match."""
    from detector import Detector
    from test_coco_model import COCO, NAMES, _input, _raw
    det = Detector.load("ssd-mobilenetv2-coco", device="cuda", score_threshold=0.0)
    assert det.device == "cuda" and det.mode == "eager"
    differing, total = 0, 0
    for name in NAMES:
        ref = np.load(COCO / f"{name}.npz")
        box_q, logits_q = _raw(det, _input(name))
        differing += int((box_q != ref["Squeeze__q"][0]).sum()) + int((logits_q != ref["concat__q"][0]).sum())
        total += box_q.size + logits_q.size
    print(f"COCO on CUDA: {differing} of {total} raw integers differ from the interpreter's")
    assert differing == 0
