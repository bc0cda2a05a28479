"""TF frozen graphs, TFLite SSDs and Lookout checkpoints -> Lookout's one-file ONNX models
(``models.bundle``: the graph with its card): the float SSDLite graph exported by torch (BatchNorm
folded), the quantised SSD as a graph of integer kernels (``qlinear_export``). ``python -m
detector.convert SOURCE OUT.onnx`` writes one (the embedded models are made so); the loader writes
one into the cache for a checkpoint. The torch backends build their models back from these files
(``models.onnx_weights``), so no checkpoint ships beside them."""
from __future__ import annotations

from pathlib import Path

import torch

from detector.convert.onnx_export import export_onnx
from detector.convert.qlinear_export import export_qlinear_ssd
from detector.convert.tf_detection import weights_from_graph
from detector.models.bundle import bundle_bytes
from detector.models.checkpoint import checkpoint_format
from detector.models.fold import fold_batchnorm
from detector.convert.tflite_ssd import read_tflite_ssd
from detector.models.labels import labels_for_classes
from detector.models.quant_weights import SSD_FORMAT, ConvertedSSD, read_quant_ssd, ssd_postprocessor, ssd_preprocessing
from detector.models.registry import MODELS
from detector.models.ssdlite import DetectorWeights, graph_postprocessor
from detector.util.files import replace_bytes, sha256_file


def quant_ssd_graph(conv: ConvertedSSD) -> bytes:
    """The quantised SSD as ONNX integer kernels (outputs identical to the torch model's)."""
    return export_qlinear_ssd(conv.build(), conv.input_size, conv.input_zero_point)


def float_ssdlite_graph(weights: DetectorWeights) -> bytes:
    """The float SSDLite as ONNX: BatchNorm folded, fp32."""
    return export_onnx(fold_batchnorm(weights.build()), torch.zeros(1, 3, *weights.preprocessing.size))


def model_source(src: Path, out: Path) -> tuple[str, str, str]:
    """(name, source, licence) for the card of a model converted from ``src`` into ``out``: the
    registry's words where ``out`` is an embedded model's file. The source names ``src`` and a
    digest of its bytes."""
    info = next((m for m in MODELS.values() if m.asset is not None and m.asset.name == out.name), None)
    made = f"converted by Lookout from {src.name} (sha256 {sha256_file(src)[:16]})"
    if info is None:
        return out.stem, made, ""
    return info.name, f"{info.source}; {made}", info.licence


def converted_bundle(src: Path, out: Path) -> bytes:
    """Lookout's ONNX file for the detector in ``src``: a quantised SSD's .tflite (integer kernels),
    a frozen graph (.pb, .tar.gz) or a Lookout checkpoint (.pt); ``out`` names it (the card's name)."""
    name, source, licence = model_source(src, out)
    if src.suffix == ".tflite" or checkpoint_format(src) == SSD_FORMAT:
        if src.suffix == ".tflite":
            conv = read_tflite_ssd(src)
            labels = labels_for_classes(conv.num_classes)
        else:
            conv, labels = read_quant_ssd(src)
        return bundle_bytes(quant_ssd_graph(conv), name, labels, ssd_preprocessing(conv), ssd_postprocessor(conv),
                            source, licence)
    weights = DetectorWeights.load(src) if src.suffix in (".pt", ".pth") else weights_from_graph(src)
    return bundle_bytes(float_ssdlite_graph(weights), name, weights.labels, weights.preprocessing,
                        graph_postprocessor(weights.build(), weights.preprocessing.size), source, licence)


def write_bundle(src: str | Path, out: str | Path | None = None) -> Path:
    """Convert ``src`` into Lookout's ONNX file ``out`` (default: beside ``src``, NAME.onnx),
    atomically. Returns its path."""
    src = Path(src)
    out = Path(out) if out is not None else src.with_suffix(".onnx")
    if not out.parent.is_dir():
        raise ValueError(f"cannot write {out}: {out.parent} is not a folder")
    if out.resolve() == src.resolve():
        raise ValueError(f"{out} is the file being converted; give another OUT")
    replace_bytes(out, converted_bundle(src, out))
    return out
