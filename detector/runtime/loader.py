"""The one way a detector (and a classifier) is loaded, by the API (``Detector.load``,
``Classifier.load``), the command line, the window's model menu and batch workers alike; the only
module that knows every runtime, and nothing in the runtime imports it.

    load_model("ssd-mobilenetv2-coco", device="cpu")   (also ``load_detector``)
      -> _onnx_file                  an .onnx path: Lookout's own file, or any ONNX detector (onnx.foreign)
      -> onnx.detector.load_cached   the model's one-file ONNX model (models.bundle), without importing
                                     torch, when the options give ONNX Runtime and the file exists
      -> onnx.int8.int8_detector     --int8: the float model's file quantised
      -> FILE_KINDS[family]          otherwise (needs torch): by the family of the model

    load_classifier("mobilenet_v2_1.0_224_quant.tflite")
      -> onnx.classifier.OnnxClassifier  its integer graph kept in the cache by an earlier start (no torch)
      -> torch.classifier.TorchClassifier  otherwise (needs torch); its integer graph is kept then
    load_classifier("doorstep.onnx")
"""
from __future__ import annotations

import sys
from dataclasses import replace
from pathlib import Path

from detector.models.bundle import (cached_bundle_path, classifier_key, file_key, keep_bundle, read_bundle,
                                    read_classifier_bundle, save_classifier_bundle)
from detector.models.labels import find_labels
from detector.models.registry import (CHECKPOINT_SUFFIXES, DEFAULT_CLASSIFIER, DEFAULT_MODEL, GRAPH_SUFFIXES, MODELS,
                                      check_detector_name, checkpoint_file, display_name, family)
from detector.runtime.base import Detector
from detector.runtime.classifier import Classifier, ClassifierPreprocessing
from detector.runtime.host import device_name, ort_installed, require_torch
from detector.runtime.onnx.classifier import OnnxClassifier
from detector.runtime.onnx.detector import OnnxDetector, load_cached
from detector.runtime.onnx.int8 import int8_detector, int8_refusal
from detector.runtime.options import LoadOptions, load_options, select_mode


def load_model(name_or_path: str | Path | None = DEFAULT_MODEL, options: LoadOptions | str | None = None,
               **changes) -> Detector:
    """A detector by registry name or path as the fastest exact runtime for its options
    (``options.load_options``: a ``LoadOptions``, a device name, and/or its fields as keywords; mode
    choice in ``options.select_mode``). Every runtime answers ``Detector``'s interface. ValueError
    (one line) for a bad name, path, device, mode or threshold, int8 where it can't be, or a runtime
    that needs PyTorch where it is missing."""
    name = DEFAULT_MODEL if name_or_path is None else name_or_path
    det = _load_model(name, load_options(options, **changes))
    det.model_info = _model_record(name, det)
    return det


def _model_record(name, det: Detector) -> dict:
    """``Detector.model_info``: the model's name, the file it was read from and where that came from (the
    card's source where the detector kept its card, else the registry's words)."""
    info = MODELS.get(str(name))
    path = info.local_file() if info is not None else Path(str(name))
    card = getattr(det, "card", None) or {}
    return {"name": det.name, "file": path.name if path is not None else None,
            "source": card.get("source") or (info.source if info is not None else "")}


def _load_model(name, options: LoadOptions) -> Detector:
    check_detector_name(name)
    if FILE_KINDS.get(family(name)) is _onnx_file:
        return _onnx_file(name, options)
    if options.int8 is not False:
        return _int8(name, options)
    fast = load_cached(name, options)
    if fast is not None:
        return fast
    require_torch(_why_torch(name, options))
    from detector.runtime.weights import family_of
    det = FILE_KINDS[family_of(name)](name, options)
    if options.mode == "auto" and not isinstance(det, OnnxDetector):
        # The first load of a converted model exported its file on the way: the same graph, pre-
        # and postprocessing as every later start's, so the same runtime class from the first run on
        return load_cached(name, options) or det
    return det


load_detector = load_model  # the name the API and the engine have used


def _onnx_file(name, options: LoadOptions) -> Detector:
    """An .onnx file: Lookout's own (its card names an SSD decoder: ``OnnxDetector``, or the torch
    model built from its weights where the options ask for torch), or any other detector
    (``onnx.foreign``, in ONNX Runtime on the CPU, without torch)."""
    path = Path(str(name))
    found = read_bundle(path)
    torch_side = options.half or options.mode not in ("auto", "onnxruntime") or options.device not in ("auto", "cpu")
    if found is not None and torch_side:
        require_torch(_why_torch(name, options))
        kind = _quantised_ssd if found[1]["decoder"]["kind"] == "tflite_ssd" else _float_ssdlite
        return kind(name, options)
    if torch_side:
        raise ValueError(f"{display_name(name)} is an ONNX model: it runs in ONNX Runtime on the CPU "
                         f"(drop --backend, --half and --device cuda)")
    if found is not None:
        det = OnnxDetector(path, found[1], display_name(name), options, graph=found[0])
        if options.int8 is False:
            return det
        refusal = int8_refusal(name, options.device, options.half, options.mode)
        if refusal:
            raise ValueError(refusal)
        return int8_detector(det, options)
    if options.int8 is not False:
        raise ValueError(f"--int8 is for the float SSDLite models; {display_name(name)} is another ONNX detector "
                         f"(drop --int8)")
    from detector.runtime.onnx.foreign import ForeignOnnxDetector, describe
    layout, session = describe(path, options.labels, spin=not options.throughput)
    return ForeignOnnxDetector(layout, session, display_name(name), options)


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
    return TorchDetector(weights.build(), weights.labels, device_name(options.device), weights.preprocessing.size,
                         display_name(name), options, preprocessing=weights.preprocessing,
                         bundle=_bundle_file(name, weights))


def _bundle_file(name, weights=None) -> Path:
    """Where a detector's one-file ONNX model is kept: a named model's (``ModelInfo.bundle``), else
    the cache's under its checkpoint's ``file_key`` (a frozen graph: its weights' digest)."""
    info = MODELS.get(str(name))
    if info is not None and info.bundle is not None and (info.weights != "embedded" or info.bundle.is_file()):
        return info.bundle  # never written into the installed package: a missing asset's export goes to the cache
    if Path(str(name)).suffix == ".onnx":
        return Path(str(name))  # Lookout's own file: the torch model was built from it
    ckpt = checkpoint_file(name)
    return cached_bundle_path(file_key(ckpt) if ckpt else weights.digest())


def _quantised_ssd(name, options: LoadOptions) -> Detector:
    """A quantised TFLite SSD, integer-exact: ONNX Runtime's integer kernels on the exported graph
    (``OnnxDetector``; the graph and its bundle kept in the cache), or the torch model in eager mode.
    ``half`` does not apply."""
    from detector.runtime.weights import quant_model, quant_ssd_graph, quant_weights
    device = device_name(options.device)
    mode = select_mode(device, options.mode, "quant-detector")
    if mode == "eager":
        from detector.runtime.torch.quant import QuantizedDetector
        return QuantizedDetector(*quant_model(name), device, display_name(name), options)
    bundle = _bundle_file(name)
    found = read_bundle(bundle)
    if found is None:
        conv, labels = quant_weights(Path(str(name)))
        from detector.models.quant_weights import ssd_postprocessor, ssd_preprocessing
        # a read-only cache: this run uses the bytes, the next exports again
        found = keep_bundle(bundle, quant_ssd_graph(conv), display_name(name), labels, ssd_preprocessing(conv),
                            ssd_postprocessor(conv))
    return OnnxDetector(bundle, found[1], display_name(name), options, graph=found[0])


# The one table of file kinds: how each family (``ModelInfo.family``, ``registry.family`` of a path;
# a checkpoint's by its recorded format, ``weights.family_of``) loads.
FILE_KINDS = {"ssdlite-graph": _float_ssdlite, "tflite-ssd": _quantised_ssd, "onnx": _onnx_file}


def load_classifier(name_or_path: str | Path | None = DEFAULT_CLASSIFIER, device: str = "cpu",
                    labels: str | Path | None = None, mode: str = "auto", throughput: bool = False) -> Classifier:
    """``Classifier.load``: a quantised classifier file whose integer graph an earlier start kept runs
    in ONNX Runtime without torch (``mode`` "auto" on the CPU, in a process without torch loaded);
    anything else is the torch classifier (ValueError naming ``lookout[torch]`` where torch is missing)."""
    name = DEFAULT_CLASSIFIER if name_or_path is None else name_or_path
    if Path(str(name)).suffix == ".onnx":
        return _onnx_classifier(Path(str(name)), device, mode, throughput)
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
        save_classifier_bundle(key, clf.ort_graph, clf.labels, clf.pre.to_dict(), display_name(name))
    return clf


def _onnx_classifier(path: Path, device: str, mode: str, throughput: bool) -> Classifier:
    """A classifier .onnx file with its card (task "classify": ``lookout train``'s, or any graph
    given one) in ONNX Runtime on the CPU."""
    from detector.models.bundle import classifier_preprocessing, read_classifier_file
    from detector.models.card import read_onnx
    if mode not in ("auto", "onnxruntime") or device_name(device) != "cpu":
        raise ValueError(f"{path.name} is an ONNX classifier: it runs in ONNX Runtime on the CPU "
                         f"(drop --backend and --device cuda)")
    read_onnx(path)  # not a file, not ONNX: said as such
    found = read_classifier_file(path)
    if found is None:
        raise ValueError(f"{path.name} has no classifier card: its lookout.card metadata must give task "
                         f"\"classify\", labels and input (docs/models.md)")
    graph, card = found
    pre = ClassifierPreprocessing.from_dict(classifier_preprocessing(card))
    clf = OnnxClassifier(graph, tuple(card["labels"]), pre, card.get("name") or path.stem, throughput)
    clf.card = card  # what it was trained for ("objects": the detector labels it classifies)
    return clf


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


Detector._loader = load_model
Classifier._loader = load_classifier
