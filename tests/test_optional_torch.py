"""PyTorch is an optional extra (``lookout[torch]``): the ONNX Runtime paths run without it, and
whatever needs it says so in one line naming the extra. Torch is hidden from a child process with
``sys.modules['torch'] = None``, which makes ``import torch`` raise ImportError as if it were missing."""
from __future__ import annotations

import os
import subprocess
import sys

import pytest

from conftest import DEMO_CLIP, ROOT, shared_path

NO_TORCH = "import sys; sys.modules['torch'] = None; "
EXTRA = "needs PyTorch: pip install 'lookout[torch]'"


def _without_torch(code: str, *args: str, cache) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k not in ("DISPLAY", "WAYLAND_DISPLAY")}
    env["LOOKOUT_CACHE"] = str(cache)  # empty: no exported graph from another run helps
    return subprocess.run([sys.executable, "-c", NO_TORCH + code, *args], capture_output=True, text=True,
                          cwd=ROOT, env=env, timeout=120)


def _lookout(tmp_path, *args: str) -> subprocess.CompletedProcess:
    code = "import main; rc = main.main(sys.argv[1:]); print('rc', rc, sys.modules.get('torch'))"
    return _without_torch(code, "--source", str(DEMO_CLIP), "--detections", str(tmp_path / "d.jsonl"), "-y",
                          "--max-frames", "2", *args, cache=tmp_path / "cache")


def test_the_default_model_runs_without_torch(tmp_path):
    p = _lookout(tmp_path)
    assert p.returncode == 0 and "rc 0 None" in p.stdout, p.stderr
    assert len((tmp_path / "d.jsonl").read_text().splitlines()) == 2


@pytest.mark.parametrize("args, first", [
    (("--backend", "eager"), "--backend eager"),
    (("--backend", "jit"), "--backend jit"),
    (("--device", "cuda"), "--device cuda"),
    (("--half",), "--half"),
    (("--model", "PT"), "p.pt (a checkpoint"),
    (("--model", str(shared_path("models/ssdlite_mobilenet_v2_person_frozen_inference_graph.pb"))), "converting "),
])
def test_what_needs_torch_says_so_in_one_line(tmp_path, args, first):
    if "PT" in args:
        from detector.runtime.weights import float_weights
        float_weights("ssdlite-mobilenetv2-person").save(tmp_path / "p.pt")  # a checkpoint, no bundle beside it
        args = ("--model", str(tmp_path / "p.pt"))
    p = _lookout(tmp_path, *args)
    errors = [line for line in p.stderr.splitlines() if line.startswith("lookout: error")]
    assert "rc 2 None" in p.stdout and "Traceback" not in p.stderr, p.stderr
    assert len(errors) == 1 and errors[0].startswith(f"lookout: error: {first}") and errors[0].endswith(EXTRA), errors


def test_the_classifier_without_torch_is_switched_off_in_one_line(tmp_path):
    p = _lookout(tmp_path, "--classify", "boxes")
    assert "rc 0 None" in p.stdout, p.stderr
    assert f"lookout: classifier off: the classifier mobilenet-v2 {EXTRA}" in p.stderr.splitlines()


def test_a_quantised_classifier_kept_by_an_earlier_start_runs_without_torch(tmp_path, monkeypatch):
    """The first start (torch) keeps the integer graph in the cache; the next one, without torch, is an
    ``OnnxClassifier`` giving the same probabilities to the last bit."""
    import cv2
    from detector import Classifier
    model, labels = shared_path("models/mobilenet_v2_1.0_224_quant.tflite"), shared_path("models/imagenet_labels.txt")
    image = shared_path("media/grace_hopper.bmp")
    monkeypatch.setenv("LOOKOUT_CACHE", str(tmp_path))
    first = Classifier.load(str(model), labels=labels)
    assert type(first).__name__ == "TorchClassifier" and first.mode == "onnxruntime"
    want = first.classify(cv2.imread(str(image)), k=5)
    code = ("import cv2; from detector import Classifier; c = Classifier.load(sys.argv[1], labels=sys.argv[2]); "
            "print(type(c).__name__, c.mode, repr(c.classify(cv2.imread(sys.argv[3]), k=5)), sys.modules.get('torch'))")
    p = _without_torch(code, str(model), str(labels), str(image), cache=tmp_path)
    assert p.returncode == 0, p.stderr
    assert p.stdout.strip() == f"OnnxClassifier onnxruntime {want!r} None"


def test_the_api_raises_the_same_value_error(tmp_path):
    code = ("from detector import Detector\n"
            "d = Detector.load(device='cpu'); print(type(d).__name__, d.device)\n"
            "for kw in ({'mode': 'eager'}, {'device': 'cuda'}):\n"
            "    try:\n        Detector.load(**kw)\n    except ValueError as e:\n        print(e)\n")
    p = _without_torch(code, cache=tmp_path)
    assert p.returncode == 0, p.stderr
    assert p.stdout.splitlines() == ["OnnxDetector cpu", f"--backend eager {EXTRA}", f"--device cuda {EXTRA}"]
