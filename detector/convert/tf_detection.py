"""Convert a TF Object Detection API SSDLite-MobileNetV2 frozen graph into Lookout's SSD weights.

Every PyTorch tensor is looked up by its TF variable name; nothing is guessed by position. TF stores
convolutions as HWIO (regular) and HWC1 (depthwise); PyTorch wants OIHW and C1HW.
A graph that does not fit raises ValueError naming the missing or mis-shaped tensor.
"""
from __future__ import annotations

import tarfile
from pathlib import Path

import numpy as np
import torch

from detector.models.labels import labels_for_classes
from detector.models.ssdlite import DetectorWeights, build_ssdlite
from detector.convert.graphdef import read_graphdef

FE = "FeatureExtractor/MobilenetV2"
# SSDLite extra layers: (layer index in TF's name, 1x1 depth, output depth)
_EXTRA_NAMES = [(2, 256, 512), (3, 128, 256), (4, 128, 256), (5, 64, 128)]


def _conv_bn(prefix: str, scope: str, depthwise: bool = False) -> dict[str, tuple[str, str]]:
    """Map a ConvBNAct at ``prefix`` to TF's ``scope``: {torch name: (tf name, kind)}."""
    w = f"{scope}/depthwise_weights" if depthwise else f"{scope}/weights"
    return {f"{prefix}.0.weight": (w, "dw" if depthwise else "conv"),
            f"{prefix}.1.weight": (f"{scope}/BatchNorm/gamma", "vec"),
            f"{prefix}.1.bias": (f"{scope}/BatchNorm/beta", "vec"),
            f"{prefix}.1.running_mean": (f"{scope}/BatchNorm/moving_mean", "vec"),
            f"{prefix}.1.running_var": (f"{scope}/BatchNorm/moving_variance", "vec")}


def tf_name_map(num_blocks: int = 17, num_maps: int = 6) -> dict[str, tuple[str, str]]:
    """Every SSD parameter/buffer (except BN counters) -> (TF constant name, layout kind)."""
    m: dict[str, tuple[str, str]] = {}
    m.update(_conv_bn("backbone.stem", f"{FE}/Conv"))
    for i in range(num_blocks):
        scope = f"{FE}/expanded_conv" + (f"_{i}" if i else "")
        if i:
            m.update(_conv_bn(f"backbone.blocks.{i}.expand", f"{scope}/expand"))
        m.update(_conv_bn(f"backbone.blocks.{i}.depthwise", f"{scope}/depthwise", depthwise=True))
        m.update(_conv_bn(f"backbone.blocks.{i}.project", f"{scope}/project"))
    m.update(_conv_bn("backbone.head_conv", f"{FE}/Conv_1"))
    for j, (k, mid, out) in enumerate(_EXTRA_NAMES):
        m.update(_conv_bn(f"backbone.extras.{j}.0", f"{FE}/layer_19_1_Conv2d_{k}_1x1_{mid}"))
        m.update(_conv_bn(f"backbone.extras.{j}.1.0", f"{FE}/layer_19_2_Conv2d_{k}_3x3_s2_{out}_depthwise",
                          depthwise=True))
        m.update(_conv_bn(f"backbone.extras.{j}.1.1", f"{FE}/layer_19_2_Conv2d_{k}_3x3_s2_{out}"))
    for i in range(num_maps):
        for ours, theirs in (("box", "BoxEncodingPredictor"), ("cls", "ClassPredictor")):
            m.update(_conv_bn(f"head.{ours}.{i}.0", f"BoxPredictor_{i}/{theirs}_depthwise", depthwise=True))
            m[f"head.{ours}.{i}.1.weight"] = (f"BoxPredictor_{i}/{theirs}/weights", "conv")
            m[f"head.{ours}.{i}.1.bias"] = (f"BoxPredictor_{i}/{theirs}/biases", "vec")
    return m


def _to_torch_layout(arr: np.ndarray, kind: str) -> np.ndarray:
    if kind == "conv":   # HWIO -> OIHW
        return arr.transpose(3, 2, 0, 1)
    if kind == "dw":     # HWC1 -> C1HW
        return arr.transpose(2, 3, 0, 1)
    return arr


def read_graph_bytes(path: str | Path) -> bytes:
    """The frozen GraphDef bytes of a ``.pb`` file or a model-zoo ``.tar.gz`` holding one."""
    path = Path(path)
    if not path.is_file():
        raise ValueError(f"expected a frozen graph file (.pb or .tar.gz), got {str(path)!r}, which does not exist")
    if path.name.endswith((".tar.gz", ".tgz", ".tar")):
        try:
            with tarfile.open(path) as tar:
                members = [m for m in tar.getmembers() if m.isfile() and m.name.endswith("frozen_inference_graph.pb")]
                if not members:
                    raise ValueError(f"expected a frozen_inference_graph.pb inside {path.name}, found none")
                return tar.extractfile(members[0]).read()
        except (tarfile.TarError, EOFError, OSError) as e:
            raise ValueError(f"expected a readable .tar.gz model archive, got {path.name}: {e}") from None
    return path.read_bytes()


def convert_graph(data: bytes) -> tuple[dict[str, torch.Tensor], int]:
    """GraphDef bytes -> (state_dict for ``build_ssdlite``, number of classes incl. background)."""
    nodes = read_graphdef(data)
    consts = {n.name: n.attr.get("value") for n in nodes.values() if n.op == "Const"}
    cls0 = consts.get("BoxPredictor_0/ClassPredictor/weights")
    if cls0 is None:
        raise ValueError("not an SSDLite-MobileNetV2 detection graph: tensor "
                         "'BoxPredictor_0/ClassPredictor/weights' is missing")
    num_classes = int(cls0.shape[-1]) // 3  # 3 boxes per cell on the lowest layer
    reference = build_ssdlite(num_classes).state_dict()
    state: dict[str, torch.Tensor] = {}
    for name, (tf_name, kind) in tf_name_map().items():
        arr = consts.get(tf_name)
        if arr is None:
            raise ValueError(f"graph does not fit SSDLite-MobileNetV2: tensor {tf_name!r} (for {name}) is missing")
        t = torch.from_numpy(np.ascontiguousarray(_to_torch_layout(np.asarray(arr, np.float32), kind)))
        want = tuple(reference[name].shape)
        if tuple(t.shape) != want:
            raise ValueError(f"graph does not fit SSDLite-MobileNetV2: tensor {tf_name!r} has shape "
                             f"{tuple(arr.shape)}, expected one that becomes {want} for {name}")
        state[name] = t
    for name, value in reference.items():
        state.setdefault(name, value)  # BN step counters, unused at inference
    return state, num_classes


def weights_from_graph(path: str | Path) -> DetectorWeights:
    """Lookout weights from a TF OD API frozen graph (.pb or model-zoo .tar.gz)."""
    state, num_classes = convert_graph(read_graph_bytes(path))
    return DetectorWeights(state, num_classes, labels_for_classes(num_classes))
