"""A small reader for TensorFlow frozen graphs (GraphDef protobufs), without TensorFlow or protobuf.

Only the fields Lookout's converter needs are decoded: node name, op, inputs and attributes, and
constant tensors (dtype, shape, raw or repeated values). Everything else is skipped by wire type.
A buffer that is not a well-formed protobuf raises ``ValueError`` naming the byte offset.
"""
from __future__ import annotations

import struct
from dataclasses import dataclass, field

import numpy as np

# tensorflow/core/framework/types.proto enum values -> numpy dtypes
_TF_DTYPES = {1: np.float32, 2: np.float64, 3: np.int32, 4: np.uint8, 5: np.int16, 6: np.int8,
              9: np.int64, 10: np.bool_, 17: np.uint16, 19: np.float16}
_DT_STRING = 7


def _varint(buf: bytes, pos: int) -> tuple[int, int]:
    result = shift = 0
    while True:
        if pos >= len(buf):
            raise ValueError(f"truncated protobuf: varint runs past the end at byte {pos}")
        b = buf[pos]
        pos += 1
        result |= (b & 0x7F) << shift
        if not b & 0x80:
            return result, pos
        shift += 7
        if shift > 70:
            raise ValueError(f"malformed protobuf: varint longer than 10 bytes at byte {pos}")


def _fields(buf: bytes):
    """Yield (field_number, wire_type, value) for each field of one message.

    value is an int for varint/fixed types and a bytes slice for length-delimited fields.
    """
    if not isinstance(buf, (bytes, bytearray, memoryview)):
        raise ValueError(f"malformed protobuf: expected an embedded message, got a {type(buf).__name__} field")
    pos, end = 0, len(buf)
    while pos < end:
        key, pos = _varint(buf, pos)
        num, wt = key >> 3, key & 7
        if num == 0:
            raise ValueError(f"malformed protobuf: field number 0 at byte {pos}")
        if wt == 0:
            val, pos = _varint(buf, pos)
        elif wt == 1:
            if pos + 8 > end:
                raise ValueError(f"truncated protobuf: 64-bit field past the end at byte {pos}")
            val = int.from_bytes(buf[pos:pos + 8], "little")
            pos += 8
        elif wt == 2:
            n, pos = _varint(buf, pos)
            if pos + n > end:
                raise ValueError(f"truncated protobuf: {n}-byte field runs past the end at byte {pos}")
            val = buf[pos:pos + n]
            pos += n
        elif wt == 5:
            if pos + 4 > end:
                raise ValueError(f"truncated protobuf: 32-bit field past the end at byte {pos}")
            val = int.from_bytes(buf[pos:pos + 4], "little")
            pos += 4
        else:
            raise ValueError(f"malformed protobuf: unsupported wire type {wt} at byte {pos}")
        yield num, wt, val


def _packed(val, wt: int, fmt: str) -> list:
    """Repeated scalars come packed (one bytes field) or one per field; handle both."""
    if wt == 2:
        if fmt in "fd":
            size = struct.calcsize(fmt)
            return list(struct.unpack(f"<{len(val) // size}{fmt}", val))
        out, pos = [], 0
        while pos < len(val):
            v, pos = _varint(val, pos)
            out.append(v)
        return out
    if fmt == "f":
        return [struct.unpack("<f", val.to_bytes(4, "little"))[0]]
    if fmt == "d":
        return [struct.unpack("<d", val.to_bytes(8, "little"))[0]]
    return [val]


def _signed(v: int) -> int:
    return v - (1 << 64) if v >= 1 << 63 else v


def _shape(buf: bytes) -> tuple[int, ...]:
    dims = []
    for num, _, val in _fields(buf):
        if num == 2:
            size = 0
            for dn, _, dv in _fields(val):
                if dn == 1:
                    size = _signed(dv)
            dims.append(size)
    return tuple(dims)


def parse_tensor(buf: bytes) -> np.ndarray:
    """Decode a TensorProto into a numpy array of its own dtype and shape."""
    dtype_enum, shape, content = 0, (), None
    floats, ints, halfs, strings = [], [], [], []
    for num, wt, val in _fields(buf):
        if num == 1:
            dtype_enum = val
        elif num == 2:
            shape = _shape(val)
        elif num == 4:
            content = bytes(val)
        elif num == 5:
            floats += _packed(val, wt, "f")
        elif num == 6:
            floats += _packed(val, wt, "d")
        elif num in (7, 10, 11):
            ints += [_signed(v) for v in _packed(val, wt, "q")]
        elif num == 13:
            halfs += _packed(val, wt, "q")
        elif num == 8:
            strings.append(bytes(val))
    if dtype_enum == _DT_STRING:
        return np.array(strings, dtype=object)
    if dtype_enum not in _TF_DTYPES:
        raise ValueError(f"unsupported tensor dtype enum {dtype_enum}; expected one of {sorted(_TF_DTYPES)}")
    dtype = np.dtype(_TF_DTYPES[dtype_enum])
    count = int(np.prod(shape)) if shape else 1
    if content is not None:
        if len(content) != count * dtype.itemsize:
            raise ValueError(f"tensor content has {len(content)} bytes, expected {count * dtype.itemsize} "
                             f"for shape {shape} {dtype}")
        return np.frombuffer(content, dtype=dtype).reshape(shape).copy()
    if halfs:
        vals = np.array(halfs, dtype=np.uint16).view(np.float16)
    else:
        vals = np.array(floats if dtype.kind == "f" else ints, dtype=dtype)
    if vals.size == count:
        return vals.reshape(shape)
    if vals.size == 1:  # TF stores a splat constant as one value
        return np.full(shape, vals[0], dtype=dtype)
    if vals.size == 0:
        return np.zeros(shape, dtype=dtype)
    raise ValueError(f"tensor holds {vals.size} values, expected {count} for shape {shape}")


@dataclass
class Node:
    name: str
    op: str
    inputs: list[str] = field(default_factory=list)
    attr: dict[str, object] = field(default_factory=dict)


def _attr_value(buf: bytes):
    for num, wt, val in _fields(buf):
        if num == 2:
            return bytes(val)
        if num in (3, 6):
            return _signed(val)
        if num == 4:
            return struct.unpack("<f", val.to_bytes(4, "little"))[0]
        if num == 5:
            return bool(val)
        if num == 7:
            return _shape(val)
        if num == 8:
            return parse_tensor(val)
        if num == 1:  # ListValue: only int lists (strides, ksize) and strings matter here
            ints, strs = [], []
            for ln, lwt, lv in _fields(val):
                if ln == 3:
                    ints += [_signed(v) for v in _packed(lv, lwt, "q")]
                elif ln == 2:
                    strs.append(bytes(lv))
            return ints or strs
    return None


def _node(buf: bytes) -> Node:
    node = Node(name="", op="")
    for num, _, val in _fields(buf):
        if num == 1:
            node.name = bytes(val).decode()
        elif num == 2:
            node.op = bytes(val).decode()
        elif num == 3:
            node.inputs.append(bytes(val).decode())
        elif num == 5:
            key, value = "", None
            for en, _, ev in _fields(val):
                if en == 1:
                    key = bytes(ev).decode()
                elif en == 2:
                    value = _attr_value(ev)
            node.attr[key] = value
    return node


def read_graphdef(data: bytes) -> dict[str, Node]:
    """Parse a serialized GraphDef into {node name: Node}.

    Raises ValueError when the bytes are not a GraphDef (truncated, not protobuf, or no nodes).
    """
    if not data:
        raise ValueError("empty graph file: expected a serialized TensorFlow GraphDef (.pb)")
    view = memoryview(data)
    nodes: dict[str, Node] = {}
    try:
        for num, wt, val in _fields(view):
            if num == 1 and wt == 2:
                n = _node(val)
                nodes[n.name] = n
    except UnicodeDecodeError as e:
        raise ValueError(f"not a TensorFlow GraphDef: node text is not UTF-8 ({e.reason})") from None
    except (TypeError, AttributeError, struct.error) as e:  # a field of the wrong wire type
        raise ValueError(f"not a TensorFlow GraphDef: a field has the wrong type ({e})") from None
    if not nodes:
        raise ValueError("not a TensorFlow GraphDef: no graph nodes found in the file")
    return nodes
