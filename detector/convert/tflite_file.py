"""Reading quantised TFLite flatbuffers without TensorFlow: tensors, ops, quantisation, conv weights.

The flatbuffer is read with the small ``tflite`` package (generated accessors). Shared by the
classifier (``tflite_mobilenet``) and detector (``tflite_ssd``) converters.
Layouts: TFLite conv weights are OHWI, depthwise 1HWC; PyTorch wants OIHW and C1HW.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

_NUMPY = {"FLOAT32": np.float32, "INT32": np.int32, "UINT8": np.uint8, "INT8": np.int8, "INT64": np.int64,
          "FLOAT16": np.float16, "INT16": np.int16}


@dataclass
class Tensor:
    name: str
    shape: tuple[int, ...]
    dtype: str
    data: np.ndarray | None
    scale: np.ndarray | None
    zero_point: np.ndarray | None
    axis: int

    def qrange(self) -> tuple[int, int]:
        info = np.iinfo(_NUMPY[self.dtype])
        return int(info.min), int(info.max)


@dataclass
class Op:
    index: int
    kind: str
    inputs: list[Tensor | None]
    outputs: list[Tensor]
    stride: int = 1
    padding: str = ""
    activation: str = "NONE"
    custom_code: str = ""
    custom_options: bytes = b""

    def where(self) -> str:
        name = self.outputs[0].name if self.outputs else "?"
        return f"op {self.index} ({self.kind}, output {name!r})"


def read_tflite(data: bytes) -> tuple[list[Op], Tensor, Tensor]:
    """Ops in execution order, the input tensor and the output tensor of subgraph 0."""
    try:
        import tflite
    except ImportError:
        raise ValueError("reading .tflite files needs the 'tflite' package: pip install tflite") from None
    if len(data) < 8 or data[4:8] != b"TFL3":
        raise ValueError(f"not a TFLite model: expected the 'TFL3' flatbuffer identifier, got {bytes(data[4:8])!r}")
    try:
        return _read(tflite, data)
    except ValueError:
        raise
    except Exception as e:  # flatbuffer accessors fail with struct/index errors on damaged files
        raise ValueError(f"damaged or truncated .tflite file ({type(e).__name__}: {e})") from None


def _read(tflite, data: bytes):
    model = tflite.Model.GetRootAsModel(data, 0)
    if model.SubgraphsLength() < 1:
        raise ValueError("TFLite model has no subgraph")
    g = model.Subgraphs(0)
    op_names = {v: k for k, v in vars(tflite.BuiltinOperator).items() if not k.startswith("_")}
    type_names = {v: k for k, v in vars(tflite.TensorType).items() if not k.startswith("_")}
    pad_names = {v: k for k, v in vars(tflite.Padding).items() if not k.startswith("_")}
    act_names = {v: k for k, v in vars(tflite.ActivationFunctionType).items() if not k.startswith("_")}
    cache: dict[int, Tensor] = {}

    def tensor(i: int) -> Tensor | None:
        if i < 0:
            return None
        if i not in cache:
            t = g.Tensors(i)
            dtype = type_names.get(t.Type(), str(t.Type()))
            shape = tuple(int(v) for v in t.ShapeAsNumpy()) if t.ShapeLength() else ()
            buf = model.Buffers(t.Buffer())
            raw = buf.DataAsNumpy() if buf is not None and buf.DataLength() else None
            arr = None
            if raw is not None and not isinstance(raw, int):
                if dtype not in _NUMPY:
                    raise ValueError(f"tensor {t.Name().decode()!r} has unsupported type {dtype}")
                arr = np.frombuffer(raw.tobytes(), dtype=_NUMPY[dtype])
                if arr.size != int(np.prod(shape)):
                    raise ValueError(f"tensor {t.Name().decode()!r} holds {arr.size} values, expected shape {shape}")
                arr = arr.reshape(shape)
            q = t.Quantization()
            scale = q.ScaleAsNumpy() if q is not None and q.ScaleLength() else None
            zp = q.ZeroPointAsNumpy() if q is not None and q.ZeroPointLength() else None
            cache[i] = Tensor(t.Name().decode(errors="replace"), shape, dtype, arr,
                              None if scale is None else np.asarray(scale, np.float64),
                              None if zp is None else np.asarray(zp, np.int64),
                              q.QuantizedDimension() if q is not None else 0)
        return cache[i]

    ops = []
    for k in range(g.OperatorsLength()):
        o = g.Operators(k)
        code = model.OperatorCodes(o.OpcodeIndex())
        kind = op_names.get(max(code.BuiltinCode(), code.DeprecatedBuiltinCode()), "CUSTOM")
        op = Op(k, kind, [tensor(o.Inputs(j)) for j in range(o.InputsLength())],
                [tensor(o.Outputs(j)) for j in range(o.OutputsLength())])
        if kind in ("CONV_2D", "DEPTHWISE_CONV_2D"):
            opts = tflite.Conv2DOptions() if kind == "CONV_2D" else tflite.DepthwiseConv2DOptions()
            table = o.BuiltinOptions()
            opts.Init(table.Bytes, table.Pos)
            op.stride, op.padding = int(opts.StrideH()), pad_names.get(opts.Padding(), "?")
            op.activation = act_names.get(opts.FusedActivationFunction(), "?")
        if kind == "CUSTOM":
            op.custom_code = (code.CustomCode() or b"").decode(errors="replace")
            op.custom_options = o.CustomOptionsAsNumpy().tobytes() if o.CustomOptionsLength() else b""
        ops.append(op)
    return ops, tensor(g.Inputs(0)), tensor(g.Outputs(0))


def qinfo(t: Tensor, what: str) -> tuple[float, float, int, int]:
    if t.scale is None or len(t.scale) != 1 or t.dtype not in ("UINT8", "INT8"):
        raise ValueError(f"not a quantised model: {what} tensor {t.name!r} is {t.dtype} without one "
                         f"scale; expected uint8/int8 activations")
    zp = float(t.zero_point[0]) if t.zero_point is not None else 0.0
    lo, hi = t.qrange()
    return float(t.scale[0]), zp, lo, hi


def fused_activation_range(activation: str, scale: float, zero_point: float, lo: int, hi: int,
                           where: str) -> tuple[int, int]:
    """The quantised output range after a fused activation (RELU, RELU6, RELU_N1_TO_1), as TFLite
    clamps it: the real bounds quantised with the output's scale and zero point, within [lo, hi]."""
    bounds = {"NONE": (None, None), "RELU": (0.0, None), "RELU6": (0.0, 6.0), "RELU_N1_TO_1": (-1.0, 1.0)}
    if activation not in bounds:
        raise ValueError(f"not supported: {where} has fused activation {activation}")
    a, b = bounds[activation]
    if a is not None:
        lo = max(lo, int(zero_point + round(a / scale)))
    if b is not None:
        hi = min(hi, int(zero_point + round(b / scale)))
    return lo, hi


def load_quantized_conv(op: Op, name: str, conv, state: dict, qparams: dict) -> None:
    """Integer weights of TFLite conv ``op`` into ``state`` for the ``QConv`` named ``name`` (shaped like
    nn.Conv2d ``conv``), its requantisation into ``qparams[name]``; ValueError if it does not fit."""
    want = tuple(conv.weight.shape)
    depthwise = conv.groups > 1
    if (op.kind == "DEPTHWISE_CONV_2D") != depthwise:
        raise ValueError(f"does not fit: {op.where()} where {name} expects a "
                         f"{'depthwise' if depthwise else 'regular'} convolution")
    x_t, w_t = op.inputs[0], op.inputs[1]
    b_t = op.inputs[2] if len(op.inputs) > 2 else None
    if w_t.data is None or w_t.scale is None:
        raise ValueError(f"does not fit: {op.where()} has no quantised constant weights")
    zw = w_t.zero_point if w_t.zero_point is not None and len(w_t.zero_point) else np.zeros(1, np.int64)
    axis_shape = [1] * w_t.data.ndim
    if len(zw) > 1:
        axis_shape[w_t.axis] = -1
    w = w_t.data.astype(np.float32) - zw.reshape(axis_shape).astype(np.float32)
    w = w.transpose(3, 0, 1, 2) if depthwise else w.transpose(0, 3, 1, 2)  # 1HWC -> C1HW, OHWI -> OIHW
    if tuple(w.shape) != want:
        raise ValueError(f"does not fit: tensor {w_t.name!r} of {op.where()} has shape {w_t.shape}, "
                         f"expected one that becomes {want} for {name}")
    stride = conv.stride[0]
    if op.stride != stride:
        raise ValueError(f"does not fit: {op.where()} has stride {op.stride}, expected {stride} for {name}")
    bias = b_t.data.astype(np.float32) if b_t is not None and b_t.data is not None else np.zeros(want[0], np.float32)
    sx, _, _, _ = qinfo(x_t, "conv input")
    so, zo, lo, hi = qinfo(op.outputs[0], "conv output")
    lo, hi = fused_activation_range(op.activation, so, zo, lo, hi, op.where())
    # XNNPACK computes the requantisation scale in float32: s_in * s_w / s_out
    sw = np.asarray(w_t.scale, np.float32)
    scale = (np.float32(sx) * sw) / np.float32(so)
    state[f"{name}.conv.weight"] = torch.from_numpy(np.ascontiguousarray(w))
    state[f"{name}.conv.bias"] = torch.from_numpy(bias)
    state[f"{name}.scale"] = torch.from_numpy(scale.astype(np.float32)).view(1, -1, 1, 1)
    qparams[name] = {"zp": zo, "qmin": lo, "qmax": hi, "channels": int(len(scale))}


def residual_add(op: Op, last_conv: str, blocks_prefix: str, block_in: dict, model: str) -> tuple[str, dict]:
    """A residual block's ADD: (block name, its qparams {"a", "b", "zp", "qmin", "qmax"} with "a" the
    block input's scale ratio). ``last_conv``: the conv module that ran just before it (the block's
    projection); ``block_in``: block name -> the tensor its first conv read. ValueError naming the op
    if it is not where a residual block ends."""
    block = last_conv.rsplit(".", 1)[0]
    if not block.startswith(blocks_prefix) or not last_conv.endswith("project"):
        raise ValueError(f"not a {model}: {op.where()} adds where no residual block ends")
    a, b = op.inputs[0], op.inputs[1] if len(op.inputs) > 1 else None
    if a is None or b is None:
        raise ValueError(f"not a {model}: {op.where()} does not add two tensors")
    x_in = block_in.get(block)  # TF puts the block input first or second: match it by name
    if x_in is not None and b.name == x_in.name:
        a, b = b, a
    sa, _, _, _ = qinfo(a, "add input")
    sb, _, _, _ = qinfo(b, "add input")
    so, zo, lo, hi = qinfo(op.outputs[0], "add output")
    return block, {"a": sa / so, "b": sb / so, "zp": zo, "qmin": lo, "qmax": hi}
