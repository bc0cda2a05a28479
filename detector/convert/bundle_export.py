"""Checkpoints -> Lookout's one-file ONNX models (``models.bundle``: the graph with its card): the
float SSDLite graph exported by torch, the quantised SSD as a graph of integer kernels
(``qlinear_export``). ``python -m detector.convert CKPT.pt --onnx-bundle`` writes one beside its
checkpoint (NAME.onnx); the loader writes one into the cache."""
from __future__ import annotations

from pathlib import Path

import torch

from detector.convert.onnx_export import export_onnx
from detector.convert.qlinear_export import export_qlinear_ssd
from detector.models.bundle import bundle_bytes, file_key
from detector.models.checkpoint import checkpoint_format
from detector.models.fold import fold_batchnorm
from detector.models.quant_weights import SSD_FORMAT, ConvertedSSD, read_quant_ssd, ssd_postprocessor, ssd_preprocessing
from detector.models.registry import MODELS
from detector.models.ssdlite import DetectorWeights, graph_postprocessor
from detector.util.files import replace_bytes


def quant_ssd_graph(conv: ConvertedSSD) -> bytes:
    """The quantised SSD as ONNX integer kernels (outputs identical to the torch model's)."""
    return export_qlinear_ssd(conv.build(), conv.input_size, conv.input_zero_point)


def float_ssdlite_graph(weights: DetectorWeights) -> bytes:
    """The float SSDLite as ONNX: BatchNorm folded, fp32."""
    return export_onnx(fold_batchnorm(weights.build()), torch.zeros(1, 3, *weights.preprocessing.size))


def checkpoint_source(ckpt: Path) -> tuple[str, str, str]:
    """(name, source, licence) for a checkpoint's card: the registry's words for an embedded one.
    The source names the checkpoint's ``file_key``, so a test can tell a stale export."""
    info = next((m for m in MODELS.values() if m.asset is not None and m.asset.name == ckpt.name), None)
    made = f"converted by Lookout from {ckpt.name} (checkpoint key {file_key(ckpt)})"
    if info is None:
        return ckpt.stem, made, ""
    return info.name, f"{info.source}; {made}", info.licence


def checkpoint_bundle(ckpt: Path) -> bytes:
    """Lookout's ONNX file for checkpoint ``ckpt``: its graph with its card."""
    name, source, licence = checkpoint_source(ckpt)
    if checkpoint_format(ckpt) == SSD_FORMAT:
        conv, labels = read_quant_ssd(ckpt)
        return bundle_bytes(quant_ssd_graph(conv), name, labels, ssd_preprocessing(conv), ssd_postprocessor(conv),
                            source, licence)
    weights = DetectorWeights.load(ckpt)
    model = weights.build()
    size = weights.preprocessing.size
    return bundle_bytes(float_ssdlite_graph(weights), name, weights.labels, weights.preprocessing,
                        graph_postprocessor(model, size), source, licence)


def write_bundle_beside(ckpt: str | Path) -> Path:
    """Export checkpoint ``ckpt``'s model beside it (NAME.onnx), so that even the first start needs
    no torch. Returns its path; ValueError if it could not be written."""
    ckpt = Path(ckpt)
    out = ckpt.with_suffix(".onnx")
    replace_bytes(out, checkpoint_bundle(ckpt))
    if not out.is_file():
        raise ValueError(f"could not write {out}")
    return out
