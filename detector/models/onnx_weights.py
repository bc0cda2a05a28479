"""The torch models of Lookout's own SSD files, rebuilt from the ONNX file's weights, so that the
torch backends (``--backend eager|fused|jit``, ``--device cuda``, ``--half``) need no second copy.

- A float SSDLite file (card decoder ``ssd_anchors``) holds the BatchNorm-folded model, its
  initializers named as that model's state dict (``backbone.stem.0.weight`` ...): they load by name
  into the folded structure (``DetectorWeights(folded=True)``), so eager runs the fused model's math.
- A quantised SSD file (decoder ``tflite_ssd``, ``convert.qlinear_export``) holds each conv as a
  ``QLinearConv``: uint8 weights and their zero point (the model's integer weights are
  ``q - zero point``), int32 biases, the float32 requantisation scale (as ``w_scale``; x and y
  scales are 1) and the output zero point (``-lo``; every conv's range spans 255 levels). The file's
  ``lookout.fusable_ops`` metadata gives each residual add's integers (multipliers, shift, zero
  points, range) and each output concatenation's requantisation (ratio, zero point). Convs and adds
  are matched to the model's modules in the order a forward pass runs them, which is the order the
  export wrote them in.

Reads the graph with the onnx package's ``numpy_helper``; imports torch.
"""
from __future__ import annotations

import json

import numpy as np
import torch

from detector.models.bundle import postprocessor_of, preprocessing_of
from detector.models.card import FUSABLE_OPS_KEY
from detector.models.quant_sim import QAdd, QConv, layers_in_order
from detector.models.quant_ssd import QuantizedSSD, build_float_ssd, build_quantized_ssd, quantised_convs
from detector.models.fold import fold_batchnorm
from detector.models.ssdlite import DetectorWeights, build_ssdlite


def _graph(data: bytes):
    """(initializers by name as NumPy arrays, nodes, metadata) of ONNX bytes."""
    import onnx
    from onnx import numpy_helper
    model = onnx.load_from_string(data)
    inits = {i.name: numpy_helper.to_array(i) for i in model.graph.initializer}
    return inits, list(model.graph.node), {p.key: p.value for p in model.metadata_props}


def float_ssdlite_weights(data: bytes, card: dict) -> DetectorWeights:
    """The folded SSDLite's weights of a Lookout ``ssd_anchors`` file; ValueError where a tensor
    the model needs is missing or has another shape."""
    inits, _, _ = _graph(data)
    labels = tuple(card["labels"])
    names = list(fold_batchnorm(build_ssdlite(len(labels))).state_dict())
    missing = [n for n in names if n not in inits]
    if missing:
        raise ValueError(f"{card.get('name') or 'this model'}: its ONNX file lacks {len(missing)} of the SSDLite's "
                         f"tensors (first: {missing[0]}); re-create it with lookout convert")
    state = {n: torch.from_numpy(np.array(inits[n], dtype=np.float32)) for n in names}
    return DetectorWeights(state, len(labels), labels, preprocessing_of(card), folded=True)


def quantised_ssd(data: bytes, card: dict) -> QuantizedSSD:
    """The integer-exact SSD (``quant_ssd.QuantizedSSD``) of a Lookout ``tflite_ssd`` file: the
    torch model its graph was exported from, integer for integer. ValueError where the graph does
    not fit it."""
    inits, nodes, meta = _graph(data)
    what = card.get("name") or "this model"
    if FUSABLE_OPS_KEY not in meta:
        raise ValueError(f"{what}: its ONNX file lacks the {FUSABLE_OPS_KEY} metadata the torch model is built "
                         f"from; re-create it with lookout convert")
    fusable = json.loads(meta[FUSABLE_OPS_KEY])
    model = build_quantized_ssd(len(card["labels"]), _placeholder_qparams(len(card["labels"])))
    events, _ = layers_in_order(model, int(card["input"]["size"][0]))
    convs = [m for m, _, _ in events if isinstance(m, QConv)]
    adds = [m for m, _, _ in events if isinstance(m, QAdd)]
    qconvs = [n for n in nodes if n.op_type == "QLinearConv"]
    if len(qconvs) != len(convs) or len(fusable["adds"]) != len(adds) or len(fusable["concats"]) != 2:
        raise ValueError(f"{what}: its graph has {len(qconvs)} integer convs and {len(fusable['adds'])} residual "
                         f"adds, expected {len(convs)} and {len(adds)} (SSD-MobileNetV2)")
    with torch.no_grad():
        for mod, node in zip(convs, qconvs):
            _set_conv(mod, node, inits, what)
        for mod, add in zip(adds, fusable["adds"]):
            zp_out = add["zero_points"][2]
            mod.a_mult, mod.b_mult = (float(v) for v in add["mult"])
            mod.shift = int(add["shift"])
            mod.lo, mod.hi = float(add["range"][0] - zp_out), float(add["range"][1] - zp_out)
        for requants, concat in zip((model.box_requant, model.cls_requant), fusable["concats"]):
            for rq, part in zip(requants, concat["parts"]):
                rq.ratio, rq.zp = float(np.float32(part["ratio"])), float(part["out_zero_point"])
    return model.eval()


def _set_conv(mod: QConv, node, inits: dict, what: str) -> None:
    """One ``QLinearConv`` (inputs x, x_scale, x_zp, w, w_scale, w_zp, y_scale, y_zp, bias) into ``mod``."""
    w, scale, w_zp, y_zp, bias = (inits[node.input[i]] for i in (3, 4, 5, 7, 8))
    weight = w.astype(np.float32) - np.float32(w_zp)
    if weight.shape != tuple(mod.conv.weight.shape):
        raise ValueError(f"{what}: a conv's weights are {list(weight.shape)}, expected {list(mod.conv.weight.shape)}")
    mod.conv.weight.copy_(torch.from_numpy(weight))
    mod.conv.bias.copy_(torch.from_numpy(bias.astype(np.float32)))
    mod.scale = torch.from_numpy(np.array(scale, dtype=np.float32).reshape(1, -1, 1, 1))
    mod.lo = -float(y_zp)
    mod.hi = mod.lo + 255.0


def _placeholder_qparams(num_classes: int) -> dict:
    """qparams that build the quantised SSD's structure; ``quantised_ssd`` then sets every number."""
    float_ssd = build_float_ssd(num_classes)
    convs = {name: {"channels": 1, "zp": 0.0, "qmin": 0, "qmax": 255} for name, _ in quantised_convs(float_ssd)}
    residual = {f"backbone.blocks.{i}": {"a": 1.0, "b": 1.0, "zp": 0.0, "qmin": 0, "qmax": 255}
                for i, b in enumerate(float_ssd.backbone.blocks) if b.use_residual}
    grid = [(1.0, 0.0)] * len(float_ssd.head.box)
    return {**convs, **residual, "outputs": {"box": grid, "cls": grid, "box_out": (1.0, 0.0), "cls_out": (1.0, 0.0)}}
