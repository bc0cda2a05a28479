"""Integer-exact quantised models (MobileNet classifiers from ``quant_sim``, SSDs from ``quant_ssd``)
as ONNX graphs of integer kernels.

ONNX Runtime's ``QLinearConv`` accumulates in int32 and requantises as XNNPACK does
(``round_half_even(clamp(float(acc) * scale))`` + zero point), so each conv runs on uint8 data
instead of as a float conv followed by three elementwise passes. Scales are handed over so that
ORT's product ``x_scale * w_scale / y_scale`` is exactly the model's float32 ``scale``
(x_scale = y_scale = 1). Every activation travels as uint8 with zero point ``-lo`` (int8 models
shift by 128, which saturates at the same values). Residual adds keep XNNPACK's fixed-point
arithmetic in int64; the pool and the logits' dequantisation are the model's own float32 math.

The graph's metadata (``models.card.FUSABLE_OPS_KEY``) describes each residual add and each SSD output
concatenation with its integers, so that ``fused_ops`` can swap them for ONNX Runtime's
``QLinearAdd`` / ``QLinearConcat`` on a machine where those give the same integers.

The graph is read off one forward pass of the model (hooks record which layer fed which), so it
follows MobileNetV1, V2 and the SSD alike. ``tests/test_classifier.py`` checks the classifiers'
logits bit for bit, ``tests/test_coco_parity.py`` the SSD's raw outputs.
"""
from __future__ import annotations


import numpy as np
import torch
from torch import nn

from detector.models.layers import tf_same_pad
from detector.models.card import FUSABLE_OPS_KEY
from detector.models.quant_sim import QAdd, QAvgPool, QConv, QHead, layers_in_order


class _Graph:
    def __init__(self):
        from onnx import helper, numpy_helper
        self.helper, self.numpy_helper = helper, numpy_helper
        self.nodes, self.inits = [], []
        self.n = 0
        self.fusable = {"adds": [], "concats": []}  # see runtime/onnx/rewrites/fused_ops

    def const(self, value, dtype) -> str:
        self.n += 1
        name = f"c{self.n}"
        self.inits.append(self.numpy_helper.from_array(np.asarray(value, dtype=dtype), name))
        return name

    def node(self, op: str, inputs: list[str], domain: str = "", **attrs) -> str:
        self.n += 1
        out = f"t{self.n}"
        self.nodes.append(self.helper.make_node(op, inputs, [out], domain=domain or None, **attrs))
        return out


def _layers(model: nn.Module, size: int, input_zero_point: float):
    """(graph, {id(tensor): (graph name, uint8 zero point)}, recorded layers): every quantised layer of
    ``model`` written as integer ONNX ops, reading input "images" (``uint8 - input_zero_point``)."""
    from onnx import TensorProto
    events, x = layers_in_order(model, size)
    g = _Graph()
    zp_in = float(input_zero_point)
    shifted = g.node("Add", ["images", g.const(zp_in, np.float32)])
    names = {id(x): (g.node("Cast", [shifted], to=TensorProto.UINT8), zp_in)}
    for mod, args, out in events:
        if any(id(a) not in names for a in args):
            raise ValueError(f"expected each quantised layer to read another's output, got {type(mod).__name__} "
                             f"reading something else")
        names[id(out)] = (_emit(g, mod, args, names), -mod.lo)
    return g, names, events


def _emit(g: _Graph, mod: nn.Module, args: tuple, names: dict) -> str:
    """One quantised layer as ONNX ops; returns the name of its uint8 output (zero point ``-mod.lo``)."""
    from onnx import TensorProto
    zp_out = -mod.lo
    if isinstance(mod, QConv):
        one = g.const(1.0, np.float32)
        (src, zp_x), = (names[id(a)] for a in args)
        conv = mod.conv
        w = conv.weight.detach().numpy().astype(np.float64)
        # uint8 weights: MLAS's u8s8 kernels on AVX2 without VNNI add pairs of products in
        # saturating int16 (vpmaddubsw), which broke exactness deep in MobileNetV2; u8u8 widens first.
        zp = 128.0 if w.min() >= -128 and w.max() <= 127 else -w.min()
        if w.max() + zp > 255:
            raise ValueError(f"weights of a quantised conv span {w.max() - w.min():.0f} levels, expected <= 255")
        w_q, w_zp = (w + zp).astype(np.uint8), g.const(zp, np.uint8)
        k, s = conv.kernel_size[0], conv.stride[0]
        h, wd = args[0].shape[-2:]
        (t, b), (left, r) = tf_same_pad(h, k, s), tf_same_pad(wd, k, s)
        scale = mod.scale.detach().numpy().reshape(-1).astype(np.float32)
        return g.node("QLinearConv", [src, one, g.const(zp_x, np.uint8), g.const(w_q, w_q.dtype),
                                      g.const(scale, np.float32), w_zp, one, g.const(zp_out, np.uint8),
                                      g.const(conv.bias.detach().numpy(), np.int32)],
                      kernel_shape=[k, k], strides=[s, s], pads=[t, left, b, r], group=conv.groups)
    if isinstance(mod, QAdd):
        (a, zp_a), (b_, zp_b) = (names[id(t_)] for t_ in args)
        # XNNPACK's fixed-point add in int32: |a * A + b * B| < 255 * 2**22 (multipliers < 2**21),
        # so with the zero points, the rounding term and a 2**30 bias (which makes integer division
        # floor division) the sum stays below 2**31. Zero points fold into the constants:
        # 10 int32 ops instead of 13 int64 ones (3.6 -> ms a frame, see the commit).
        bias = 2 ** 30
        const = -zp_a * mod.a_mult - zp_b * mod.b_mult + 2 ** (mod.shift - 1) + bias
        term = lambda src, mult: g.node("Mul", [g.node("Cast", [src], to=TensorProto.INT32),  # noqa: E731
                                                g.const(mult, np.int32)])
        acc = g.node("Add", [g.node("Add", [term(a, mod.a_mult), term(b_, mod.b_mult)]), g.const(const, np.int32)])
        q = g.node("Sub", [g.node("Div", [acc, g.const(2 ** mod.shift, np.int32)]),
                           g.const(bias // 2 ** mod.shift - zp_out, np.int32)])
        q = g.node("Clip", [q, g.const(mod.lo + zp_out, np.int32), g.const(mod.hi + zp_out, np.int32)])
        out = g.node("Cast", [q], to=TensorProto.UINT8)
        g.fusable["adds"].append({"a": a, "b": b_, "out": out, "mult": [int(mod.a_mult), int(mod.b_mult)],
                                  "shift": int(mod.shift), "zero_points": [int(zp_a), int(zp_b), int(zp_out)],
                                  "range": [int(mod.lo + zp_out), int(mod.hi + zp_out)]})
        return out
    # QAvgPool
    (src, zp_x), = (names[id(a)] for a in args)
    n = args[0].shape[-1] * args[0].shape[-2]
    v = g.node("Sub", [g.node("Cast", [src], to=TensorProto.FLOAT), g.const(zp_x, np.float32)])
    acc = g.node("ReduceSum", [v, g.const([2, 3], np.int64)], keepdims=1)
    acc = g.node("Mul", [acc, g.const(np.float32(mod.ratio / n), np.float32)])
    q = g.node("Round", [g.node("Clip", [acc, g.const(mod.lo, np.float32), g.const(mod.hi, np.float32)])])
    return g.node("Cast", [g.node("Add", [q, g.const(zp_out, np.float32)])], to=TensorProto.UINT8)


def _model_bytes(g: _Graph, name: str, size: int, outputs: list[tuple[str, object, list]]) -> bytes:
    import json
    from onnx import helper, TensorProto
    graph = helper.make_graph(
        g.nodes, name, [helper.make_tensor_value_info("images", TensorProto.FLOAT, ["batch", 3, size, size])],
        [helper.make_tensor_value_info(n, t, shape) for n, t, shape in outputs], g.inits)
    onnx_model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    onnx_model.ir_version = 8
    helper.set_model_props(onnx_model, {FUSABLE_OPS_KEY: json.dumps(g.fusable, sort_keys=True)})
    return onnx_model.SerializeToString()


def export_qlinear(model: nn.Module, size: int, input_zero_point: float) -> bytes:
    """ONNX bytes: input "images" (N, 3, size, size) float32 holding ``uint8 - input_zero_point``,
    output (N, classes) float32 logits, equal to ``model``'s to the last bit. ValueError if the
    model is not a quantised MobileNet from ``quant_sim``."""
    from onnx import TensorProto
    heads = [m for m in model.modules() if isinstance(m, QHead)]
    if len(heads) != 1:
        raise ValueError(f"expected a quantised MobileNet with one QHead, got {len(heads)}")
    head = heads[0]
    g, names, events = _layers(model, size, input_zero_point)
    logits = [names[id(out)] for mod, _, out in events if mod is head.logits]
    if not logits:
        raise ValueError("expected the head's logits conv among the quantised layers, found none")
    (y, zp_out), = logits
    deq = g.node("DequantizeLinear", [y, g.const(head.out_scale, np.float32), g.const(zp_out, np.uint8)])
    out = g.node("Flatten", [deq], axis=1)
    return _model_bytes(g, "lookout_quantized_mobilenet", size,
                        [(out, TensorProto.FLOAT, ["batch", head.logits.conv.out_channels])])


def export_qlinear_ssd(model: nn.Module, size: int, input_zero_point: float) -> bytes:
    """ONNX bytes of a ``quant_ssd.QuantizedSSD``: input as ``export_qlinear``'s, outputs "boxes"
    (N, A, 4) and "logits" (N, A, C+1) float32 holding the uint8 values the model returns, equal to
    its to the last bit (the concatenations' requantisation in float32, ties to even, as the model's)."""
    from onnx import TensorProto
    g, names, events = _layers(model, size, input_zero_point)
    produced = {id(mod): names[id(out)] for mod, _, out in events}
    outputs = []
    for kind, width, requants in (("box", 4, model.box_requant), ("cls", model.head.num_classes, model.cls_requant)):
        parts, described = [], []
        for pred, rq in zip(getattr(model.head, kind), requants):
            src, zp = produced[id(pred)]
            flat = g.node("Reshape", [g.node("Transpose", [src], perm=[0, 2, 3, 1]), g.const([0, -1, width], np.int64)])
            described.append({"src": flat, "ratio": float(np.float32(rq.ratio)), "zero_point": int(zp),
                              "out_zero_point": int(rq.zp)})
            v = g.node("Sub", [g.node("Cast", [flat], to=TensorProto.FLOAT), g.const(zp, np.float32)])
            q = g.node("Round", [g.node("Mul", [v, g.const(np.float32(rq.ratio), np.float32)])])
            parts.append(g.node("Clip", [g.node("Add", [q, g.const(rq.zp, np.float32)]),
                                         g.const(0.0, np.float32), g.const(255.0, np.float32)]))
        out = g.node("Concat", parts, axis=1)
        g.fusable["concats"].append({"parts": described, "axis": 1, "out": out})
        outputs.append((out, TensorProto.FLOAT, ["batch", "anchors", width]))
    return _model_bytes(g, "lookout_quantized_ssd", size, outputs)
