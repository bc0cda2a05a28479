"""Hand-built ONNX detectors whose outputs are known constants (the ``onnx`` helper API), for the
foreign-layout tests: each takes an image input and returns the given arrays whatever the image."""
from __future__ import annotations

from pathlib import Path

import numpy as np

DTYPES = {np.dtype(np.float32): 1, np.dtype(np.uint8): 2, np.dtype(np.int64): 7}


def constant_detector(path: Path, image_shape: list, outputs: dict[str, np.ndarray], *, image_dtype=np.float32,
                      image_name: str = "images", size_input: str = "", metadata: dict | None = None) -> Path:
    """Write an ONNX model at ``path``: input ``image_name`` of ``image_shape`` (None = dynamic) and
    optionally a (1, 2) int64 original-size input; each output an Identity of its constant."""
    from onnx import TensorProto, helper, numpy_helper
    inputs = [helper.make_tensor_value_info(image_name, DTYPES[np.dtype(image_dtype)],
                                            [d if d is not None else "dyn" for d in image_shape])]
    if size_input:
        inputs.append(helper.make_tensor_value_info(size_input, TensorProto.INT64, [1, 2]))
    nodes, inits, outs = [], [], []
    for name, value in outputs.items():
        value = np.asarray(value)
        inits.append(numpy_helper.from_array(value, f"{name}_value"))
        nodes.append(helper.make_node("Identity", [f"{name}_value"], [name]))
        outs.append(helper.make_tensor_value_info(name, DTYPES[value.dtype], list(value.shape)))
    graph = helper.make_graph(nodes, "constant_detector", inputs, outs, inits)
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 17)])
    model.ir_version = 8
    if metadata:
        helper.set_model_props(model, metadata)
    path.write_bytes(model.SerializeToString())
    return path
