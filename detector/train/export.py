"""The trained model as one self-describing ONNX file: the float graph with its card, quantised to
int8 by ONNX Runtime (static, QDQ, per-channel weights) with activation ranges calibrated on
training images, then checked against the float model on the validation images."""
from __future__ import annotations

import logging
import os
import sys
import tempfile

import numpy as np
import onnx

from detector.convert.card_io import make_card, write_card
from detector.train.backbones import Base
from detector.train.dataset import decode
from detector.train.features import BATCH, onnx_bytes, preprocessing, session, to_input
from detector.train.fit import TrainedClassifier


def float_model(model: TrainedClassifier, base: Base, card: dict) -> onnx.ModelProto:
    proto = onnx.load_from_string(onnx_bytes(model, base.size, "logits"))
    return write_card(proto, card)


def card_for(name: str, labels: list[str], base: Base, extra: dict) -> dict:
    return make_card(name, labels, base.size, list(base.mean), list(base.std),
                     f"lookout train, from {base.source}", f"yours (the training images'); base: {base.licence}", extra)


class _Calibration:
    """ONNX Runtime's calibration reader over training images, a batch at a time."""

    def __init__(self, paths: list[str], base: Base):
        self.paths, self.pre, self.k = paths, preprocessing(base), 0

    def get_next(self):
        while self.k < len(self.paths):
            chunk = self.paths[self.k:self.k + BATCH]
            self.k += BATCH
            imgs = [im for im in (decode(p) for p in chunk) if im is not None]
            if imgs:
                return {"images": to_input(imgs, self.pre)}
        return None

    def rewind(self):
        self.k = 0


def quantise(proto: onnx.ModelProto, calibration: list[str], base: Base) -> onnx.ModelProto:
    """``proto`` as 8-bit integers (QDQ: uint8 activations with ranges from ``calibration``, uint8
    per-channel weights with a zero point each). Asymmetric weights, as the quantised bases' own:
    symmetric int8 weights lose about a bit on channels whose weights are not centred on zero, and
    agreed with float on 0.95-0.96 of 100 validation images where uint8 weights agreed on all 100
    (COCO body, docs/classify.md).
    The pooled features and the head after them stay float: standardising the features divides by
    each one's spread, which would multiply the int8 rounding of the quieter ones (that cost the
    agreement with float several points on cats and dogs: docs/classify.md); they are 1280 x classes
    weights, nothing to save."""
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static
    names = [n.name for n in proto.graph.node]
    pool = next(i for i, n in enumerate(proto.graph.node) if n.op_type in ("ReduceMean", "GlobalAveragePool"))
    with tempfile.TemporaryDirectory(prefix="lookout-train-") as tmp:
        src, dst = os.path.join(tmp, "float.onnx"), os.path.join(tmp, "int8.onnx")
        onnx.save(proto, src)
        quiet = logging.getLogger().level
        logging.getLogger().setLevel(logging.ERROR)  # its advice to pre-process: the exporter already folded
        try:
            quantize_static(src, dst, _Calibration(calibration, base), quant_format=QuantFormat.QDQ,
                            per_channel=True, activation_type=QuantType.QUInt8, weight_type=QuantType.QUInt8,
                            calibrate_method=CalibrationMethod.MinMax, nodes_to_exclude=names[pool:],
                            # ranges folded in every 4 batches: ORT otherwise keeps every intermediate
                            # tensor of every calibration image (3 GB for 200 images)
                            extra_options={"CalibMaxIntermediateOutputs": 4})
        finally:
            logging.getLogger().setLevel(quiet)
        return onnx.load(dst)


def run_model(proto: onnx.ModelProto, base: Base, paths: list[str], desc: str, progress: bool = True) -> np.ndarray:
    """(len(paths), classes) probabilities of ``proto`` on these images in ONNX Runtime (NaN rows for
    images that do not decode)."""
    sess = session(proto.SerializeToString())
    pre = preprocessing(base)
    out = None
    bar = None
    if progress:
        from tqdm import tqdm
        bar = tqdm(total=len(paths), unit="image", desc=desc, dynamic_ncols=True, file=sys.stderr)
    for k in range(0, len(paths), BATCH):
        chunk = list(range(k, min(k + BATCH, len(paths))))
        imgs = {i: decode(paths[i]) for i in chunk}
        ok = [i for i in chunk if imgs[i] is not None]
        if ok:
            logits = sess.run(None, {"images": to_input([imgs[i] for i in ok], pre)})[0]
            if out is None:
                out = np.full((len(paths), logits.shape[1]), np.nan, np.float32)
            e = np.exp(logits - logits.max(1, keepdims=True))
            out[ok] = e / e.sum(1, keepdims=True)
        if bar is not None:
            bar.update(len(chunk))
    if bar is not None:
        bar.close()
    return out
