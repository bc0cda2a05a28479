"""Convert quantised TFLite MobileNet classifiers (V1 and V2; uint8 and int8) to Lookout's PyTorch models.

The flatbuffer is read with the small ``tflite`` package (generated accessors), never TensorFlow.
Weights are dequantised (per-tensor or per-channel scales), biases (int32) scaled by their own
scales; BatchNorm is already folded into them, so each BN becomes the identity plus the bias.
Each activation's quantisation (scale, zero point) is kept so the float model can round its
activations where the interpreter does, which keeps probabilities within a few thousandths.

Layouts: TFLite conv weights are OHWI, depthwise 1HWC; PyTorch wants OIHW and C1HW.
A file that is not a MobileNet fails with a ValueError naming the first op or tensor that doesn't fit.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import torch

from ..mobilenet_v1 import MobileNetV1
from ..mobilenet_v2 import MobileNetV2

SUPPORTED = {"CONV_2D", "DEPTHWISE_CONV_2D", "ADD", "AVERAGE_POOL_2D", "MEAN", "RESHAPE", "SOFTMAX",
             "QUANTIZE", "DEQUANTIZE", "SQUEEZE"}
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

    def dequantized(self) -> np.ndarray:
        if self.data is None:
            raise ValueError(f"tensor {self.name!r} has no constant data; expected weights")
        x = self.data.astype(np.float32)
        if self.scale is None or not len(self.scale):
            return x
        shape = [1] * x.ndim
        if len(self.scale) > 1:
            shape[self.axis] = -1
        zp = self.zero_point if self.zero_point is not None and len(self.zero_point) else np.zeros(1)
        return (x - zp.reshape(shape).astype(np.float32)) * self.scale.reshape(shape).astype(np.float32)

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
        ops.append(op)
    return ops, tensor(g.Inputs(0)), tensor(g.Outputs(0))


@dataclass
class ConvertedClassifier:
    """A quantised MobileNet: integer weights (``q - zero_point``) and per-layer requantisation.

    ``qparams``: conv module name -> {"scale": [...], "zp", "qmin", "qmax"}; residual block name ->
    {"a", "b", "zp", "qmin", "qmax"}; "head.pool" -> {"ratio", "zp", "qmin", "qmax"};
    "head.out_scale" -> {"value"}. ``input_zero_point``: the model's input is ``uint8 - input_zero_point``.
    """

    arch: str
    width: float
    resolution: int
    num_classes: int
    state_dict: dict[str, torch.Tensor]
    qparams: dict[str, dict]
    input_zero_point: float

    def build(self) -> torch.nn.Module:
        from ..checkpoint import load_strict
        from ..quant_sim import build_quantized
        return load_strict(build_quantized(self.arch, self.width, self.num_classes, self.qparams), self.state_dict,
                           f"classifier weights do not fit {self.arch} width {self.width}")


def _family(ops: list[Op]) -> str:
    for op in ops:
        if op.kind not in SUPPORTED:
            raise ValueError(f"not a MobileNet classifier: {op.where()} is not an op MobileNets use")
    return "mobilenet_v2" if any(op.kind == "ADD" for op in ops) else "mobilenet_v1"


def _qinfo(t: Tensor, what: str) -> tuple[float, float, int, int]:
    if t.scale is None or len(t.scale) != 1 or t.dtype not in ("UINT8", "INT8"):
        raise ValueError(f"not a quantised MobileNet: {what} tensor {t.name!r} is {t.dtype} without one "
                         f"scale; expected uint8/int8 activations")
    zp = float(t.zero_point[0]) if t.zero_point is not None else 0.0
    lo, hi = t.qrange()
    return float(t.scale[0]), zp, lo, hi


def convert_tflite(data: bytes) -> ConvertedClassifier:
    ops, inp, _ = read_tflite(data)
    arch = _family(ops)
    convs = [op for op in ops if op.kind in ("CONV_2D", "DEPTHWISE_CONV_2D")]
    if not convs or len(inp.shape) != 4 or inp.shape[1] != inp.shape[2] or inp.shape[3] != 3:
        raise ValueError(f"not a MobileNet classifier: expected a square RGB input and conv layers, got input "
                         f"{inp.shape} and {len(convs)} convolutions")
    in_scale, in_zp, _, _ = _qinfo(inp, "input")
    first_scale, first_zp, _, _ = _qinfo(convs[0].inputs[0], "first conv input")
    if not np.isclose(first_scale, in_scale, rtol=1e-6) or (first_zp - in_zp) not in (0.0, -128.0):
        raise ValueError(f"not supported: the input is requantised ({in_scale}, {in_zp}) -> "
                         f"({first_scale}, {first_zp}) before the first conv")
    stem_out = convs[0].inputs[1].shape[0]
    num_classes = convs[-1].inputs[1].shape[0]
    width = stem_out / 32.0
    model = (MobileNetV2 if arch == "mobilenet_v2" else MobileNetV1)(width, num_classes)
    layers = model.conv_layers()
    state: dict[str, torch.Tensor] = {}
    qparams: dict[str, dict] = {}
    li = 0
    last = ""
    block_in: dict[str, Tensor] = {}
    for op in ops:
        if op.kind in ("CONV_2D", "DEPTHWISE_CONV_2D"):
            if li >= len(layers):
                raise ValueError(f"not a {arch}: {op.where()} is one convolution more than it has")
            name, module = layers[li]
            li += 1
            if name.startswith("blocks.") and name.count(".") == 2 and name.rsplit(".", 1)[0] not in block_in:
                block_in[name.rsplit(".", 1)[0]] = op.inputs[0]
            _load_conv(op, name, module, state, qparams)
            last = name
        elif op.kind == "ADD":
            block = last.rsplit(".", 1)[0]
            if not block.startswith("blocks.") or not last.endswith("project"):
                raise ValueError(f"not a {arch}: {op.where()} adds where no residual block ends")
            a, b = op.inputs[0], op.inputs[1] if len(op.inputs) > 1 else None
            if a is None or b is None:
                raise ValueError(f"not a {arch}: {op.where()} does not add two tensors")
            # TF puts the block input first or second; match by name to the block's input.
            x_in = block_in.get(block)
            if x_in is not None and b.name == x_in.name:
                a, b = b, a
            sa, _, _, _ = _qinfo(a, "add input")
            sb, _, _, _ = _qinfo(b, "add input")
            so, zo, lo, hi = _qinfo(op.outputs[0], "add output")
            qparams[block] = {"a": sa / so, "b": sb / so, "zp": zo, "qmin": lo, "qmax": hi}
        elif op.kind in ("AVERAGE_POOL_2D", "MEAN"):
            si, _, _, _ = _qinfo(op.inputs[0], "pool input")
            so, zo, lo, hi = _qinfo(op.outputs[0], "pool output")
            qparams["head.pool"] = {"ratio": si / so, "zp": zo, "qmin": lo, "qmax": hi}
    if li != len(layers):
        raise ValueError(f"not a {arch} of width {width}: it has {li} convolutions, expected {len(layers)} "
                         f"(the first missing is {layers[li][0]})")
    if "head.pool" not in qparams:
        raise ValueError(f"not a {arch}: no average pooling before the logits")
    qparams["head.out_scale"] = {"value": _qinfo(convs[-1].outputs[0], "logits")[0]}
    return ConvertedClassifier(arch, width, inp.shape[1], num_classes, state, qparams, in_zp)


def _load_conv(op: Op, name: str, module, state: dict, qparams: dict) -> None:
    conv = module if name == "head.logits" else module[0]
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
    sx, _, _, _ = _qinfo(x_t, "conv input")
    so, zo, lo, hi = _qinfo(op.outputs[0], "conv output")
    # XNNPACK computes the requantisation scale in float32: s_in * s_w / s_out
    sw = np.asarray(w_t.scale, np.float32)
    scale = (np.float32(sx) * sw) / np.float32(so)
    state[f"{name}.conv.weight"] = torch.from_numpy(np.ascontiguousarray(w))
    state[f"{name}.conv.bias"] = torch.from_numpy(bias)
    state[f"{name}.scale"] = torch.from_numpy(scale.astype(np.float32)).view(1, -1, 1, 1)
    qparams[name] = {"zp": zo, "qmin": lo, "qmax": hi, "channels": int(len(scale))}
