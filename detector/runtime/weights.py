"""Where a detector's torch weights come from: the embedded models' ONNX files (the torch modules
built from the graph's own weights), downloaded files, Lookout checkpoints, TFLite files and TF
frozen graphs, and which family (so which loader) each is.
Imports torch (the weights are torch tensors)."""
from __future__ import annotations

from pathlib import Path

from detector.convert.tf_detection import weights_from_graph
from detector.convert.tflite_ssd import read_tflite_ssd
import torch

from detector.models.bundle import postprocessor_of, preprocessing_of, read_bundle
from detector.models.checkpoint import checkpoint_format
from detector.models.labels import labels_for_classes
from detector.models.onnx_weights import float_ssdlite_weights, quantised_ssd
from detector.models.quant_weights import (SSD_FORMAT, ConvertedSSD, read_quant_ssd, ssd_postprocessor,
                                           ssd_preprocessing)
from detector.models.registry import CHECKPOINT_SUFFIXES, MODELS, ModelInfo, family
from detector.models.ssdlite import DetectorWeights
from detector.ops.preprocess import Preprocessing
from detector.ops.tflite_postprocess import TFLiteSSDPostprocess
from detector.util.download import WeightsUnavailable, cache_dir, download


def family_of(name_or_path) -> str:
    """The family of a detector name or path that passed ``registry.check_detector_name``: the
    registry's (``registry.family``), or for a checkpoint the one its recorded format belongs to."""
    found = family(name_or_path)
    if found is not None:
        return found
    return "tflite-ssd" if checkpoint_format(Path(str(name_or_path))) == SSD_FORMAT else "ssdlite-graph"


def downloaded_weights(info: ModelInfo) -> DetectorWeights:
    """A registry model whose weights download as a TF graph: converted once from the sha256-checked
    download, then cached. The URL may be a mirror (``info.mirror_env``); the hash is never relaxed."""
    converted = info.local_file()
    if converted is not None:
        return DetectorWeights.load(converted)
    url = info.download_url()
    try:
        archive = download(url, info.download_path(), info.sha256)
    except WeightsUnavailable as e:
        raise WeightsUnavailable(f"{info.name} is not cached and {e}; offline? pass {info.download_name} or its "
                                 f".pb with --model PATH") from None
    weights = weights_from_graph(archive)
    target = cache_dir() / info.converted
    try:
        weights.save(target)
        archive.unlink()  # the converted checkpoint is all we read from now on
    except OSError as e:
        raise WeightsUnavailable(f"cannot write the converted model to {str(target)!r} ({e.strerror}); "
                                 f"set LOOKOUT_CACHE to a writable folder") from None
    return weights


def float_weights(name_or_path) -> DetectorWeights:
    """Weights of the float SSDLite family: a registry name (an embedded model's from its ONNX file,
    ``models.onnx_weights``), a Lookout checkpoint (.pt) or a frozen graph (.pb/.tar.gz)."""
    name = str(name_or_path)
    info = MODELS.get(name)
    if info is not None:
        return float_ssdlite_weights(*_own_file(info.asset)) if info.weights == "embedded" else downloaded_weights(info)
    path = Path(name)
    if path.suffix == ".onnx":
        return float_ssdlite_weights(*_own_file(path))
    if path.suffix in CHECKPOINT_SUFFIXES:
        return DetectorWeights.load(path)
    return weights_from_graph(path)


def _own_file(path: Path) -> tuple[bytes, dict]:
    """(bytes, card) of one of Lookout's own SSD files (an embedded model's, or one ``lookout convert``
    wrote); ValueError where it is missing, damaged or not one."""
    found = read_bundle(path)
    if found is None:
        embedded = any(m.asset == path for m in MODELS.values())
        raise ValueError(f"{path} is missing or damaged; reinstall Lookout" if embedded else
                         f"{path.name} is not one of Lookout's own SSD files (its card names no SSD decoder): "
                         f"it runs in ONNX Runtime on the CPU only")
    return found


def quant_model(name_or_path) -> tuple[torch.nn.Module, tuple[str, ...], Preprocessing, TFLiteSSDPostprocess]:
    """A quantised SSD's torch model, labels, preprocessing and post-processing op: an embedded model's
    or a Lookout .onnx file's from that file (``models.onnx_weights``), else from a .tflite file or a
    Lookout checkpoint."""
    info = MODELS.get(str(name_or_path))
    if info is not None or Path(str(name_or_path)).suffix == ".onnx":
        data, card = _own_file(info.asset if info is not None else Path(str(name_or_path)))
        return quantised_ssd(data, card), tuple(card["labels"]), preprocessing_of(card), postprocessor_of(card)
    conv, labels = quant_weights(Path(str(name_or_path)))
    return conv.build(), labels, ssd_preprocessing(conv), ssd_postprocessor(conv)


def quant_weights(path: Path) -> tuple[ConvertedSSD, tuple[str, ...]]:
    """A quantised SSD's weights and labels from its .tflite file or Lookout checkpoint."""
    if path.suffix == ".tflite":
        conv = read_tflite_ssd(path)
        return conv, labels_for_classes(conv.num_classes)
    return read_quant_ssd(path)


def quant_ssd_graph(conv: ConvertedSSD) -> bytes:
    """A quantised SSD's integer ONNX graph, exported on its first torch-free load (then kept)."""
    from detector.convert.bundle_export import quant_ssd_graph as export
    return export(conv)
