"""Checkpoints -> ONNX Runtime bundles (``onnx_format``): the float SSDLite graph exported by torch,
the quantised SSD as a graph of integer kernels (``qlinear_export``). ``python -m detector.convert
CKPT.pt --onnx-bundle`` writes one beside its checkpoint; the loader writes one into the cache."""
from __future__ import annotations

from pathlib import Path

import torch

from detector.convert.onnx_export import export_onnx
from detector.convert.onnx_format import beside_paths, file_key, save_bundle_meta
from detector.convert.qlinear_export import export_qlinear_ssd
from detector.models.checkpoint import checkpoint_format
from detector.models.fold import fold_batchnorm
from detector.models.quant_weights import SSD_FORMAT, ConvertedSSD, read_quant_ssd, ssd_postprocessor, ssd_preprocessing
from detector.models.ssdlite import DetectorWeights, graph_postprocessor
from detector.util.files import replace_bytes


def quant_ssd_graph(conv: ConvertedSSD) -> bytes:
    """The quantised SSD as ONNX integer kernels (outputs identical to the torch model's)."""
    return export_qlinear_ssd(conv.build(), conv.input_size, conv.input_zero_point)


def write_quant_bundle(conv: ConvertedSSD, labels: tuple[str, ...], key: str, onnx_path: Path, meta_path: Path,
                       graph: bytes | None = None) -> None:
    """The bundle of a quantised SSD at ``onnx_path`` + ``meta_path`` (``graph``: already exported)."""
    replace_bytes(onnx_path, graph if graph is not None else quant_ssd_graph(conv))
    save_bundle_meta(key, labels, ssd_preprocessing(conv), ssd_postprocessor(conv), meta=meta_path)


def write_float_bundle(weights: DetectorWeights, key: str, onnx_path: Path, meta_path: Path) -> None:
    """The bundle of a float SSDLite at ``onnx_path`` + ``meta_path``: BatchNorm folded, fp32."""
    model = weights.build()
    size = weights.preprocessing.size
    replace_bytes(onnx_path, export_onnx(fold_batchnorm(model), torch.zeros(1, 3, *size)))
    save_bundle_meta(key, weights.labels, weights.preprocessing, graph_postprocessor(model, size), meta=meta_path)


def write_bundle_beside(ckpt: str | Path) -> tuple[Path, Path]:
    """Export checkpoint ``ckpt``'s bundle beside it (NAME.onnx, NAME.onnx.npz), so that even the
    first start needs no torch. Returns the two paths; ValueError if they could not be written."""
    ckpt = Path(ckpt)
    onnx_path, meta_path = beside_paths(ckpt)
    if checkpoint_format(ckpt) == SSD_FORMAT:
        conv, labels = read_quant_ssd(ckpt)
        write_quant_bundle(conv, labels, file_key(ckpt), onnx_path, meta_path)
    else:
        write_float_bundle(DetectorWeights.load(ckpt), file_key(ckpt), onnx_path, meta_path)
    if not meta_path.is_file():
        raise ValueError(f"could not write {meta_path}")
    return onnx_path, meta_path
