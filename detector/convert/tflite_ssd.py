"""Convert a quantised TFLite SSD-MobileNetV2 detector (TF OD API export with the
``TFLite_Detection_PostProcess`` op, e.g. Coral's ``ssd_mobilenet_v2_coco_quant_postprocess``) to
Lookout's integer-exact model (``detector.models.quant_ssd``).

What is read: every conv's integer weights and requantisation (as for the classifiers), the
residual adds, the scale and zero point of each predictor output and of the two concatenations,
the logistic's, the anchors (quantised, centre-size ``[y, x, h, w]``) and the post-processing
op's own settings (box-coder scales, IoU, score threshold, max detections, fast or regular NMS).
A file that is not such a detector fails with a ValueError naming the first thing that doesn't fit.
"""
from __future__ import annotations

from pathlib import Path

import numpy as np
import torch

from detector.models.quant_weights import ConvertedSSD
from detector.convert.tflite_file import Op, Tensor, load_quantized_conv, qinfo, read_tflite, residual_add

POSTPROCESS_OP = "TFLite_Detection_PostProcess"
SUPPORTED = {"CONV_2D", "DEPTHWISE_CONV_2D", "ADD", "RESHAPE", "CONCATENATION", "LOGISTIC", "CUSTOM",
             "QUANTIZE", "DEQUANTIZE", "SQUEEZE"}


def _not_ssd(what: str) -> ValueError:
    return ValueError(f"not a quantised SSD-MobileNetV2 detector: {what}")


def _postprocess_settings(op: Op) -> dict:
    from flatbuffers import flexbuffers
    try:
        opts = dict(flexbuffers.Loads(op.custom_options))
    except Exception as e:  # damaged options: flexbuffers raises index/struct errors
        raise _not_ssd(f"the options of {op.where()} cannot be read ({type(e).__name__})") from None
    need = ("y_scale", "x_scale", "h_scale", "w_scale", "nms_iou_threshold", "nms_score_threshold",
            "max_detections", "num_classes")
    missing = [k for k in need if k not in opts]
    if missing:
        raise _not_ssd(f"{op.where()} lacks the settings {', '.join(missing)}")
    return {"scales": tuple(float(opts[k]) for k in ("y_scale", "x_scale", "h_scale", "w_scale")),
            "iou_threshold": float(np.float32(opts["nms_iou_threshold"])),
            "score_threshold": float(np.float32(opts["nms_score_threshold"])),
            "max_detections": int(opts["max_detections"]), "num_classes": int(opts["num_classes"]),
            "max_classes_per_detection": int(opts.get("max_classes_per_detection", 1)),
            "use_regular_nms": bool(opts.get("use_regular_nms", False)),
            "detections_per_class": int(opts.get("detections_per_class", 100))}


def _dequantized_anchors(t: Tensor) -> np.ndarray:
    if t is None or t.data is None or len(t.shape) != 2 or t.shape[1] != 4:
        raise _not_ssd("the post-processing op's third input is not a constant (A, 4) anchor tensor")
    if t.scale is None:
        return t.data.astype(np.float32)
    # As the op dequantises them: (float(q) - zero_point) * scale, in float32.
    zp = np.float32(t.zero_point[0]) if t.zero_point is not None else np.float32(0)
    return ((t.data.astype(np.float32) - zp) * np.float32(t.scale[0])).astype(np.float32)


def convert_tflite_ssd(data: bytes) -> ConvertedSSD:
    ops, inp, _ = read_tflite(data)
    post = [op for op in ops if op.kind == "CUSTOM" and op.custom_code == POSTPROCESS_OP]
    if not post:
        convs = sum(op.kind in ("CONV_2D", "DEPTHWISE_CONV_2D") for op in ops)
        raise _not_ssd(f"it has no {POSTPROCESS_OP} op ({len(ops)} ops, {convs} convolutions; a classifier "
                       f"goes to --classifier, a detector needs its post-processing op)")
    for op in ops:
        if op.kind not in SUPPORTED or (op.kind == "CUSTOM" and op.custom_code != POSTPROCESS_OP):
            raise _not_ssd(f"{op.where()} is not an op SSD-MobileNetV2 uses")
    post_op = post[0]
    settings = _postprocess_settings(post_op)
    if settings["use_regular_nms"] or settings["max_classes_per_detection"] != 1:
        raise ValueError("not supported: the post-processing op uses regular NMS or several classes per box; "
                         "Lookout runs the fast (class-agnostic, one class per box) variant")
    if len(inp.shape) != 4 or inp.shape[1] != inp.shape[2] or inp.shape[3] != 3 or inp.dtype != "UINT8":
        raise _not_ssd(f"expected a square uint8 RGB input, got {inp.dtype} {inp.shape}")
    _, in_zp, _, _ = qinfo(inp, "input")

    from detector.models.quant_ssd import build_float_ssd
    num_classes = settings["num_classes"] + 1
    model = build_float_ssd(num_classes)
    backbone = model.backbone.conv_layers()
    heads = [(f"{kind}.{i}", getattr(model.head, kind)[i]) for i in range(len(model.head.box)) for kind in ("box", "cls")]
    layers = [(f"backbone.{n}", m[0]) for n, m in backbone] + [(f"head.{n}", m) for n, m in heads]
    state: dict[str, torch.Tensor] = {}
    qparams: dict[str, dict] = {}
    produced: dict[str, str] = {}  # tensor name -> conv module that wrote it
    block_in: dict[str, Tensor] = {}
    reshaped: dict[str, str] = {}  # reshape output tensor -> its input
    concats, logistic = [], None
    li, last = 0, ""
    for op in ops:
        if op.kind in ("CONV_2D", "DEPTHWISE_CONV_2D"):
            if li >= len(layers):
                raise _not_ssd(f"{op.where()} is one convolution more than it has")
            name, conv = layers[li]
            li += 1
            if name.startswith("backbone.blocks.") and name.count(".") == 3:
                block_in.setdefault(name.rsplit(".", 1)[0], op.inputs[0])
            load_quantized_conv(op, name, conv, state, qparams)
            produced[op.outputs[0].name] = name
            if name.startswith("head."):
                _check_predictor_input(op, name, produced)
            last = name
        elif op.kind == "ADD":
            block, q = residual_add(op, last, "backbone.blocks.", block_in, "quantised SSD-MobileNetV2 detector")
            qparams[block] = q
        elif op.kind in ("RESHAPE", "SQUEEZE"):
            reshaped[op.outputs[0].name] = reshaped.get(op.inputs[0].name, op.inputs[0].name)
        elif op.kind == "CONCATENATION":
            concats.append(op)
        elif op.kind == "LOGISTIC":
            logistic = op
    if li != len(layers):
        raise _not_ssd(f"it has {li} convolutions, expected {len(layers)} (the first missing is {layers[li][0]})")
    qparams["outputs"] = _concat_params(concats, reshaped, produced, len(model.head.box))
    if logistic is None or post_op.inputs[1] is None or post_op.inputs[1].name != logistic.outputs[0].name:
        raise _not_ssd("the class scores reach the post-processing op without a logistic (sigmoid)")
    s_in, z_in, _, _ = qinfo(logistic.inputs[0], "logistic input")
    cls_scale, cls_zp = qparams["outputs"]["cls_out"]
    if (s_in, z_in) != (cls_scale, cls_zp):
        raise _not_ssd("the logistic does not read the class concatenation")
    s_out, z_out, _, _ = qinfo(logistic.outputs[0], "scores")
    qparams["scores"] = {"scale": s_out, "zp": z_out}
    box_t = post_op.inputs[0]
    if reshaped.get(box_t.name, box_t.name) not in (c.outputs[0].name for c in concats):
        raise _not_ssd("the box encodings reach the post-processing op from something other than a concatenation")
    anchors_t = post_op.inputs[2] if len(post_op.inputs) > 2 else None
    anchors = _dequantized_anchors(anchors_t)
    n_anchors = int(box_t.shape[1])
    if anchors.shape[0] != n_anchors:
        raise _not_ssd(f"{anchors.shape[0]} anchors for {n_anchors} box encodings")
    return ConvertedSSD(num_classes, int(inp.shape[1]), in_zp, state, qparams, anchors, settings)


def _check_predictor_input(op: Op, name: str, produced: dict[str, str]) -> None:
    """A predictor must read its feature map: block 13's expansion, the last conv, then the extras."""
    i = int(name.rsplit(".", 1)[1])
    taps = ["backbone.blocks.13.expand", "backbone.head_conv"] + [f"backbone.extras.{k}.1" for k in range(4)]
    src = produced.get(op.inputs[0].name, op.inputs[0].name)
    if src != taps[i]:
        raise _not_ssd(f"{op.where()} ({name}) reads {src!r}, expected the feature map {taps[i]!r}")


def _concat_params(concats: list[Op], reshaped: dict, produced: dict, maps: int) -> dict:
    """Scale and zero point of each predictor output and of the box and class concatenations."""
    out: dict = {}
    for op in concats:
        kind = "box" if op.outputs[0].shape[-1] == 4 else "cls"
        srcs = [produced.get(reshaped.get(t.name, t.name)) for t in op.inputs]
        want = [f"head.{kind}.{i}" for i in range(maps)]
        if srcs != want:
            raise _not_ssd(f"{op.where()} concatenates {srcs}, expected the predictors {want} in order")
        out[kind] = [qinfo(t, "predictor output")[:2] for t in op.inputs]
        out[kind + "_out"] = qinfo(op.outputs[0], "concatenation output")[:2]
    if set(out) != {"box", "cls", "box_out", "cls_out"}:
        raise _not_ssd(f"expected one concatenation of box encodings and one of class logits, got {len(concats)}")
    return out


def read_tflite_ssd(path: str | Path) -> ConvertedSSD:
    """``convert_tflite_ssd`` of a file; ValueError naming the file and what doesn't fit."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"expected a .tflite detector file, got {str(path)!r}, which does not exist")
    try:
        return convert_tflite_ssd(path.read_bytes())
    except ValueError as e:
        raise ValueError(f"{path.name}: {e}") from None
