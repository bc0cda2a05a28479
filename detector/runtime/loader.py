"""The one way a detector (and a classifier) is loaded, by the API (``Detector.load``,
``Classifier.load``), the command line, the window's model menu and batch workers alike; the only
module that knows every runtime, and nothing in the runtime imports it.

    load_detector("ssd-mobilenetv2-coco", device="cpu")
      -> onnx.detector.load_cached   the model's ONNX Runtime bundle, without importing torch, when
                                     the options give ONNX Runtime and a bundle exists
      -> onnx.int8.int8_detector     --int8: the float model's bundle quantised
      -> FAMILY_LOADERS[family]      otherwise (needs torch): by the registry's family of the model

    load_classifier("mobilenet_v2_1.0_224_quant.tflite")
      -> onnx.classifier.OnnxClassifier  its integer graph kept in the cache by an earlier start (no torch)
      -> torch.classifier.TorchClassifier  otherwise (needs torch); its integer graph is kept then
    load_classifier("doorstep.onnx")
      -> onnx.classifier.card_classifier  a lookout train file: labels and preprocessing from its card
"""
from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

from detector.convert.onnx_format import (bundle_paths, classifier_key, file_key, find_bundle, read_classifier_bundle,
                                          save_bundle_meta, save_classifier_bundle)
from detector.convert.card_io import CARD_KEY, read_card
from detector.models.labels import find_labels
from detector.models.registry import (CHECKPOINT_SUFFIXES, DEFAULT_CLASSIFIER, DEFAULT_MODEL, GRAPH_SUFFIXES, MODELS,
                                      check_detector_name, checkpoint_file, display_name)
from detector.runtime.base import Detector
from detector.runtime.classifier import Classifier, ClassifierPreprocessing
from detector.runtime.host import device_name, ort_installed, require_torch
from detector.runtime.onnx.classifier import OnnxClassifier, card_classifier
from detector.runtime.onnx.detector import OnnxDetector, load_cached
from detector.runtime.onnx.int8 import int8_detector, int8_refusal
from detector.runtime.options import LoadOptions, load_options, select_mode
from detector.util.files import keep_cache_file


def load_detector(name_or_path: str | Path | None = DEFAULT_MODEL, options: LoadOptions | str | None = None,
                  **changes) -> Detector:
    """A detector by registry name or path as the fastest exact runtime for its options
    (``options.load_options``: a ``LoadOptions``, a device name, and/or its fields as keywords; mode
    choice in ``options.select_mode``). Every runtime answers ``Detector``'s interface. ValueError
    (one line) for a bad name, path, device, mode or threshold, int8 where it can't be, or a runtime
    that needs PyTorch where it is missing."""
    name = DEFAULT_MODEL if name_or_path is None else name_or_path
    options = load_options(options, **changes)
    if options.int8 is not False:
        return _int8(name, options)
    fast = load_cached(name, options)
    if fast is not None:
        return fast
    check_detector_name(name)  # a bad name is said as such, not as a missing torch
    require_torch(_why_torch(name, options))
    from detector.runtime.weights import family_of
    return FAMILY_LOADERS[family_of(name)](name, options)


def _why_torch(name, options: LoadOptions) -> str:
    """What, in the user's words, made this load leave the torch-free path."""
    if options.mode != "auto":
        return f"--backend {options.mode}"
    if options.half:
        return "--half"
    if options.device.startswith("cuda"):
        return f"--device {options.device}"
    suffix = Path(str(name)).suffix
    if suffix in GRAPH_SUFFIXES or suffix == ".tflite":
        return f"converting {display_name(name)}"
    if suffix in CHECKPOINT_SUFFIXES:
        return f"{display_name(name)} (a checkpoint without an ONNX Runtime bundle beside it or in the cache)"
    if str(name) in MODELS and MODELS[str(name)].local_file() is None:
        return f"{name} (converted once after its download)"
    return f"{display_name(name)} without its ONNX Runtime bundle"


def _int8(name, options: LoadOptions) -> OnnxDetector:
    """--int8: the float model's ONNX Runtime bundle (exported first if need be), quantised."""
    refusal = int8_refusal(name, options.device, options.half, options.mode)
    if refusal:
        raise ValueError(refusal)
    float_options = replace(options, int8=False, device="cpu", throughput=False)
    fp32 = load_detector(name, float_options)
    if not isinstance(fp32, OnnxDetector):  # first use of a converted model: its bundle was just written
        fp32 = load_cached(name, float_options) or fp32
    if not isinstance(fp32, OnnxDetector):
        raise ValueError(f"--int8 is for the float SSDLite models; {display_name(name)} is not one "
                         f"(or ONNX Runtime could not load its exported graph)")
    return int8_detector(fp32, options)


def _float_ssdlite(name, options: LoadOptions) -> Detector:
    """The float SSDLite family in torch, in ``options.mode`` (its ONNX Runtime mode exports the graph
    and leaves a bundle in the cache for a torch-free start next time)."""
    from detector.runtime.torch.detector import Detector as TorchDetector  # the interface is Detector here
    from detector.runtime.weights import float_weights
    weights = float_weights(name)
    ckpt = checkpoint_file(name)
    key = file_key(ckpt) if ckpt else weights.digest()
    bundle = find_bundle(ckpt, key) if ckpt and options.mode in ("auto", "onnxruntime") else None
    return TorchDetector(weights.build(), weights.labels, device_name(options.device), weights.preprocessing.size,
                         display_name(name), options, cache_key=key, preprocessing=weights.preprocessing,
                         bundle=bundle)


def _quantised_ssd(name, options: LoadOptions) -> Detector:
    """A quantised TFLite SSD, integer-exact: ONNX Runtime's integer kernels on the exported graph
    (``OnnxDetector``; the graph and its bundle kept in the cache), or the torch model in eager mode.
    ``half`` does not apply."""
    from detector.runtime.weights import quant_source, quant_weights
    device = device_name(options.device)
    mode = select_mode(device, options.mode, "quant-detector")
    path = quant_source(name)
    if mode == "eager":
        from detector.runtime.torch.quant import QuantizedDetector
        return QuantizedDetector(*quant_weights(path), device, display_name(name), options)
    key = file_key(path)
    found = find_bundle(path, key)
    if found is not None:
        return OnnxDetector(found[0], found[1], display_name(name), options)
    conv, labels = quant_weights(path)
    from detector.convert.bundle_export import quant_ssd_graph
    from detector.models.quant_weights import ssd_postprocessor, ssd_preprocessing
    graph = quant_ssd_graph(conv)
    onnx_path, _ = bundle_paths(key)
    keep_cache_file(onnx_path, graph)  # a read-only cache: this run uses the bytes, the next exports again
    meta = save_bundle_meta(key, labels, ssd_preprocessing(conv), ssd_postprocessor(conv))
    return OnnxDetector(onnx_path, meta, display_name(name), options, graph=graph)


# How each registry family (``ModelInfo.family``) loads; files map to a family in ``weights.family_of``.
FAMILY_LOADERS = {"ssdlite-graph": _float_ssdlite, "tflite-ssd": _quantised_ssd}


def load_classifier(name_or_path: str | Path | None = DEFAULT_CLASSIFIER, device: str = "cpu",
                    labels: str | Path | None = None, mode: str = "auto", throughput: bool = False) -> Classifier:
    """``Classifier.load``: a quantised classifier file whose integer graph an earlier start kept runs
    in ONNX Runtime without torch (``mode`` "auto" on the CPU, in a process without torch loaded);
    anything else is the torch classifier (ValueError naming ``lookout[torch]`` where torch is missing)."""
    name = DEFAULT_CLASSIFIER if name_or_path is None else name_or_path
    if Path(str(name)).suffix.lower() == ".onnx":
        return _card_classifier(str(name), throughput)
    key = _classifier_key(name, labels)
    cpu = mode == "auto" and str(device) in ("auto", "cpu") and device_name(device) == "cpu"
    # Not importing torch is what the kept graph saves; where torch is loaded already, the torch
    # classifier gives the same probabilities and keeps its model at hand.
    if key is not None and cpu and sys.modules.get("torch") is None and ort_installed(export=False):
        kept = read_classifier_bundle(key)
        if kept is not None:
            graph, names, pre = kept
            try:
                return OnnxClassifier(graph, names, ClassifierPreprocessing.from_dict(pre), display_name(name), throughput)
            except (OSError, ValueError, KeyError):
                pass  # an unreadable graph: the torch path keeps a new one
    require_torch(f"the classifier {display_name(name)}")
    from detector.runtime.torch.classifier import TorchClassifier
    clf = TorchClassifier.build(name, device, labels, mode, throughput)
    if key is not None and clf.ort_graph is not None:
        save_classifier_bundle(key, clf.ort_graph, clf.labels, clf.pre.to_dict())
    return clf


def _card_classifier(path: str, throughput: bool) -> Classifier:
    """A self-describing classifier ONNX file (``lookout train``'s): ONNX Runtime, no torch, any device
    asked for runs it on the CPU."""
    if not Path(path).is_file():
        raise ValueError(f"classifier {path!r} does not exist; expected a .onnx file written by lookout train")
    card = read_card(path)
    if card is None:
        raise ValueError(f"{path}: no {CARD_KEY} card (labels, preprocessing) in it; expected a classifier "
                         f"written by lookout train")
    return card_classifier(path, card, throughput)


def _classifier_key(name, labels) -> str | None:
    """The cache key of a classifier file (with its labels file), None for torchvision's names and
    for files that can't be read (the torch path says why)."""
    path = Path(str(name))
    try:
        if path.suffix == ".tflite":
            return classifier_key(path, Path(labels) if labels else find_labels(path))
        if path.suffix in CHECKPOINT_SUFFIXES:
            return classifier_key(path)
    except (OSError, ValueError):
        pass
    return None


Detector._loader = load_detector
Classifier._loader = load_classifier
