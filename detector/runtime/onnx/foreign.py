"""Any ONNX detector a user brings (``--model my.onnx``), in ONNX Runtime without torch.

What the file is, is read in this order, each overriding the one before:

1. inferred from the graph's inputs and outputs (``_infer``: the layouts of ``ops.detector_layouts``),
   where only one reading fits;
2. the exporter's own metadata: ``names`` (a list, or a dict from index to name, as Python literals
   or JSON), ``imgsz`` ([h, w] or one number), ``stride``;
3. ``--labels FILE`` (one name a line), where the file has no ``names``;
4. a card: the file's own ``lookout.card`` entry, else ``my.onnx.toml`` beside it (the card's keys,
   ``models.card``; ``[decoder] kind = ...`` one of ``DECODERS``, ``outputs`` mapping roles to output
   names where they can't be told apart).

Without a card, each layout gets what its exporters do: centre-size single tensors letterboxed
(centred, pad 114, RGB, /255), YOLOX grids letterboxed into the corner (BGR, 0-255), DETR-style
stretched (RGB, /255), SSD exports stretched (uint8 as is; float (x - 127.5) / 127.5).
Nothing in a model file runs as code: ONNX is a graph of known operators, and ``names`` is read as a
literal (``ast.literal_eval``), never evaluated.
"""
from __future__ import annotations

import ast
import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from detector.models.card import CARD_KEY, CardError, check_card, parse_card, read_onnx
from detector.ops.detector_layouts import DECODERS, FINAL, InputGeometry, decode, select
from detector.ops.preprocess import as_bgr_uint8
from detector.runtime.base import DetectorCore
from detector.runtime.options import LoadOptions
from detector.types.detections import Detections

ROLES = {"centre_size": ("predictions",), "yolox": ("predictions",), "detr": ("logits", "boxes"),
         "detr_postprocessed": ("labels", "boxes", "scores"), "ssd_postprocessed": ("boxes", "classes", "scores", "count"),
         "ssd_detection_output": ("detections",)}
DECODER_KEYS = ("kind", "outputs", "channels_first", "strides", "activation", "class_offset")
_INPUT_BY_KIND = {
    "centre_size": {"resize": "letterbox", "place": "centre", "pad": 114, "colour": "RGB", "mean": [0.0], "std": [255.0]},
    "yolox": {"resize": "letterbox", "place": "corner", "pad": 114, "colour": "BGR", "mean": [0.0], "std": [1.0]},
    "detr": {"resize": "stretch", "colour": "RGB", "mean": [0.0], "std": [255.0]},
    "detr_postprocessed": {"resize": "stretch", "colour": "RGB", "mean": [0.0], "std": [255.0]},
    "ssd_postprocessed": {"resize": "stretch", "colour": "RGB", "mean": [127.5], "std": [127.5]},
    "ssd_detection_output": {"resize": "stretch", "colour": "RGB", "mean": [127.5], "std": [127.5]},
}
_HOW = ("give a card: {file}.toml beside it with [input] size = [h, w] and [decoder] kind = one of "
        + ", ".join(DECODERS) + " (docs/models.md)")


class ModelFileError(ValueError):
    """A model file Lookout can't run; one line: what is missing and how to supply it."""


@dataclass(frozen=True)
class ForeignLayout:
    """What Lookout understood of a foreign detector: its card (checked: input, decoder, labels),
    the image input's name, the original-size input's name ("" if none), the output name of each
    role, and where each part came from (for ``lookout models inspect``)."""

    card: dict
    image_input: str
    size_input: str
    outputs: dict
    sources: dict


def _shape(arg) -> list:
    return [d if isinstance(d, int) else None for d in arg.shape]


def _literal(text: str):
    try:
        return json.loads(text)
    except ValueError:
        try:
            return ast.literal_eval(text)  # literals only: never code
        except (ValueError, SyntaxError):
            return None


def exporter_names(props: dict) -> list[str] | None:
    """``names`` from the exporter's metadata, as a list by class index, or None."""
    names = _literal(props["names"]) if "names" in props else None
    if isinstance(names, list) and all(isinstance(n, str) for n in names):
        return names
    if isinstance(names, dict) and names:
        try:
            by_index = {int(k): str(v) for k, v in names.items()}
        except (TypeError, ValueError):
            return None
        return [by_index.get(i, str(i)) for i in range(max(by_index) + 1)]
    return None


def _imgsz(props: dict) -> list[int] | None:
    v = _literal(props["imgsz"]) if "imgsz" in props else None
    if isinstance(v, int):
        return [v, v]
    if isinstance(v, list) and len(v) == 2 and all(isinstance(x, int) for x in v):
        return list(v)
    return None


def _card_beside(path: Path) -> dict | None:
    toml = path.with_name(path.name + ".toml")
    if not toml.is_file():
        return None
    import tomllib
    try:
        card = tomllib.loads(toml.read_text(encoding="utf-8"))
    except (OSError, UnicodeDecodeError, tomllib.TOMLDecodeError) as e:
        raise ModelFileError(f"{toml.name}: not a readable TOML card ({e})") from None
    check_card(card, toml.name)
    return card


def _check_decoder(decoder: dict, where: str) -> None:
    unknown = sorted(set(decoder) - set(DECODER_KEYS))
    if unknown:
        raise CardError(f"{where}: unknown decoder key {unknown[0]!r}; the decoder's keys are {', '.join(DECODER_KEYS)}")
    if decoder.get("kind") not in DECODERS:
        raise CardError(f"{where}: decoder kind must be one of {', '.join(DECODERS)}, got {decoder.get('kind')!r}")


def _infer_kind(outs: list, n_classes: int | None, input_hw, two_inputs: bool, file: str) -> tuple[str, dict, dict]:
    """(decoder kind, its params, role -> output name) read from the outputs' shapes and names;
    ModelFileError when no layout, or more than one, fits."""
    shapes = {o.name: _shape(o) for o in outs}
    named = lambda *words: [o.name for o in outs if any(w in o.name.lower() for w in words)]  # noqa: E731
    desc = ", ".join(f"{o.name}{shapes[o.name]}" for o in outs)
    if len(outs) == 1:
        o, s = outs[0].name, shapes[outs[0].name]
        if len(s) == 4 and s[-1] == 7:
            return "ssd_detection_output", {}, {"detections": o}
        if len(s) == 3 and s[1] and s[2]:
            a, b = s[1], s[2]
            cells = _grid_cells(input_hw)
            if n_classes is not None:  # the labels' count decides; a count that fits nothing is said later
                if a == 4 + n_classes and b != 4 + n_classes:
                    return "centre_size", {"channels_first": True}, {"predictions": o}
                if b == 5 + n_classes and a == cells:
                    return "yolox", {}, {"predictions": o}
                if b == 4 + n_classes:
                    return "centre_size", {"channels_first": False}, {"predictions": o}
            if a < b:
                return "centre_size", {"channels_first": True}, {"predictions": o}
            elif a != cells:
                return "centre_size", {"channels_first": False}, {"predictions": o}
            elif n_classes is None:
                raise ModelFileError(f"{file}: output {o}{s} may be centre-size boxes (N x (4 + classes)) or a YOLOX "
                                     f"grid (N x (5 + classes)): give its labels (--labels or names) or " +
                                     _HOW.format(file=file))
    if len(outs) == 2:
        boxes = [o.name for o in outs if len(shapes[o.name]) == 3 and shapes[o.name][-1] == 4]
        if len(boxes) == 2:  # four classes, or three and "no object": the names tell
            boxes = [b for b in boxes if "box" in b.lower()]
        if len(boxes) == 1:
            logits = next(o.name for o in outs if o.name != boxes[0])
            k = shapes[logits][-1]
            act = "softmax" if n_classes is not None and k == n_classes + 1 else "sigmoid"
            return "detr", {"activation": act}, {"logits": logits, "boxes": boxes[0]}
    if len(outs) == 3 and two_inputs:
        boxes, labels, scores = named("box"), named("label", "class"), named("score")
        if len(boxes) == len(labels) == len(scores) == 1:
            return "detr_postprocessed", {}, {"labels": labels[0], "boxes": boxes[0], "scores": scores[0]}
    if len(outs) in (3, 4):
        boxes, classes, scores = named("box"), named("class", "label"), named("score")
        count = named("num", "count")
        if len(boxes) == len(classes) == len(scores) == 1 and len(count) == len(outs) - 3:
            roles = {"boxes": boxes[0], "classes": classes[0], "scores": scores[0], **({"count": count[0]} if count else {})}
            return "ssd_postprocessed", {}, roles
    raise ModelFileError(f"{file}: no decoder accepts the outputs {desc}; " + _HOW.format(file=file))


def _class_count(kind: str, decoder: dict, roles: dict, shapes: dict) -> int | None:
    """How many classes the outputs score, where their shapes say."""
    if kind == "centre_size":
        s = shapes[roles["predictions"]]
        k = s[1] if decoder.get("channels_first", True) else s[2]
        return k - 4 if isinstance(k, int) else None
    if kind == "yolox":
        k = shapes[roles["predictions"]][-1]
        return k - 5 if isinstance(k, int) else None
    if kind == "detr":
        k = shapes[roles["logits"]][-1]
        return None if not isinstance(k, int) else k - 1 if decoder.get("activation") == "softmax" else k
    return None


def _grid_cells(input_hw) -> int | None:
    if not input_hw or not all(input_hw):
        return None
    return sum((input_hw[0] // s) * (input_hw[1] // s) for s in (8, 16, 32))


def describe(path: str | Path, labels_file: str | Path | None = None, spin: bool = True) -> tuple[ForeignLayout, object]:
    """(what Lookout understood, the ONNX Runtime session) of the detector file ``path``;
    ModelFileError / CardError (one line) when it can't be run. ``spin``: as ``optimise.ort_session``'s."""
    path = Path(path)
    data, props = read_onnx(path)
    sources: dict[str, str] = {}
    card = parse_card(props[CARD_KEY], f"{path.name}'s {CARD_KEY} entry") if CARD_KEY in props else None
    if card is not None:
        sources["card"] = f"the file's own {CARD_KEY} entry"
    else:
        card = _card_beside(path)
        if card is not None:
            sources["card"] = path.name + ".toml"
    raw = card or {}
    from detector.runtime.host import default_threads
    from detector.runtime.onnx.session import plain_ort_session
    try:
        session = plain_ort_session(data, default_threads(), spin)
    except ValueError:
        raise  # ONNX Runtime missing: its own line
    except Exception as e:  # noqa: BLE001 ORT's load errors have no common public base
        raise ModelFileError(f"{path.name}: ONNX Runtime cannot load it ({str(e).splitlines()[0][:200]})") from None
    inputs = session.get_inputs()
    images = [i for i in inputs if len(i.shape) == 4]
    if len(images) != 1 or len(inputs) > 2:
        raise ModelFileError(f"{path.name}: expected one image input (N, 3, H, W) or (N, H, W, 3), got "
                             + ", ".join(f"{i.name}{_shape(i)}" for i in inputs))
    image = images[0]
    size_input = next((i.name for i in inputs if i is not image), "")
    inp = dict(raw.get("input", {}))
    s = _shape(image)
    if "layout" not in inp:
        inp["layout"] = "NCHW" if s[1] == 3 else "NHWC" if s[3] == 3 else None
        if inp["layout"] is None:
            raise ModelFileError(f"{path.name}: cannot tell the layout of input {image.name}{s}: " + _HOW.format(file=path.name))
        sources["layout"] = "the input's shape"
    if "dtype" not in inp:
        inp["dtype"] = "uint8" if "uint8" in image.type else "float32"
    if "size" not in inp:
        hw = s[2:4] if inp["layout"] == "NCHW" else s[1:3]
        if all(isinstance(v, int) for v in hw):
            inp["size"], sources["size"] = hw, "the input's shape"
        elif _imgsz(props):
            inp["size"], sources["size"] = _imgsz(props), "the file's imgsz metadata"
        else:
            raise ModelFileError(f"{path.name}: input {image.name}{s} has no fixed size and no imgsz metadata: "
                                 + _HOW.format(file=path.name))
    labels = raw.get("labels")
    if labels is not None:
        sources["labels"] = sources["card"]
    elif exporter_names(props) is not None:
        labels, sources["labels"] = exporter_names(props), "the file's names metadata"
    elif labels_file is not None:
        try:
            labels = [ln.strip() for ln in Path(labels_file).read_text(encoding="utf-8").splitlines() if ln.strip()]
        except (OSError, UnicodeDecodeError) as e:
            raise ModelFileError(f"cannot read --labels {labels_file}: {e}") from None
        sources["labels"] = f"--labels {Path(labels_file).name}"
    decoder = dict(raw.get("decoder") or {})
    if decoder:
        _check_decoder(decoder, sources["card"])
        roles = decoder.pop("outputs", None) or {}
        kind = decoder["kind"]
        if not roles:
            outs = session.get_outputs()
            if len(outs) == len(ROLES[kind]) == 1:
                roles = {ROLES[kind][0]: outs[0].name}
            else:
                _, _, roles = _infer_kind(outs, len(labels) if labels else None, inp["size"], bool(size_input), path.name)
        sources["decoder"] = sources["card"]
    else:
        kind, params, roles = _infer_kind(session.get_outputs(), len(labels) if labels else None, inp["size"],
                                          bool(size_input), path.name)
        decoder = {"kind": kind, **params}
        sources["decoder"] = "the outputs' shapes and names"
    missing = [r for r in ROLES[kind] if r not in roles and r != "count"]
    names = {o.name for o in session.get_outputs()}
    if missing or not set(roles.values()) <= names:
        raise ModelFileError(f"{path.name}: decoder {kind} needs outputs {', '.join(ROLES[kind])}; map them to "
                             f"{', '.join(sorted(names))} under [decoder.outputs] in {path.name}.toml")
    for key, value in _INPUT_BY_KIND[kind].items():
        inp.setdefault(key, value)
    if inp.get("interpolation", "cv2_linear") != "cv2_linear":
        raise CardError(f"{sources.get('card', path.name)}: input interpolation {inp['interpolation']!r} is for "
                        f"Lookout's own TF models; another detector is resized by OpenCV (cv2_linear)")
    classes = _class_count(kind, decoder, roles, {o.name: _shape(o) for o in session.get_outputs()})
    if labels is None:
        sources["labels"] = "none: class indices (give --labels FILE or labels in the card)"
    elif classes is not None and len(labels) != classes:
        raise ModelFileError(f"{path.name}: {sources['labels']} lists {len(labels)} labels, but the model scores "
                             f"{classes} classes: give one name a line, class 0 first")
    full = check_card({"format": 1, "name": raw.get("name") or path.stem, "task": "detect",
                       "labels": list(labels or []), "input": inp, "decoder": decoder,
                       "source": raw.get("source", ""), "licence": raw.get("licence", "")}, path.name)
    return ForeignLayout(full, image.name, size_input, roles, sources), session


class ForeignOnnxDetector(DetectorCore):
    """A foreign ONNX detector (``describe``) on the CPU in ONNX Runtime: frames in, ``Detections``
    in the frame's pixels out; class ids are the model's own (from 0), labels by ``card["labels"]``."""

    def __init__(self, layout: ForeignLayout, session, name: str, options: LoadOptions | None = None):
        options = options or LoadOptions()
        self.layout, self.session = layout, session
        self.card = layout.card
        inp = self.card["input"]
        self._mean = np.asarray(inp["mean"], np.float32)
        self._std = np.asarray(inp["std"], np.float32)
        size = tuple(int(v) for v in inp["size"])
        labels = tuple(self.card["labels"])
        super().__init__(labels, None, size, name, "onnxruntime", "cpu", options.score_threshold, options.iou_threshold)

    def network_input(self, bgr: np.ndarray) -> tuple[np.ndarray, InputGeometry]:
        """The (1, ...) array the network takes for one BGR frame, and where the frame sits in it."""
        inp = self.card["input"]
        geo = InputGeometry(bgr.shape[:2], self.input_size, inp["resize"] == "letterbox", inp["place"] == "centre")
        img = geo.to_input(bgr, int(inp["pad"]))
        if inp["colour"] == "RGB":
            img = img[..., ::-1]
        x = np.ascontiguousarray(img)[None] if inp["dtype"] == "uint8" else \
            ((img.astype(np.float32) - self._mean) / self._std)[None]
        if inp["layout"] == "NCHW":
            x = x.transpose(0, 3, 1, 2)
        return np.ascontiguousarray(x), geo

    def _label(self, i: int) -> str:
        return self.labels[i] if 0 <= i < len(self.labels) else str(i)

    def detect_batch(self, images: list[np.ndarray], timings: dict | None = None) -> list[Detections]:
        if not isinstance(images, (list, tuple)) or not images:
            raise ValueError(f"expected a non-empty list of images, got {type(images).__name__}")
        post, kind = self._post, self.card["decoder"]["kind"]
        roles = self.layout.outputs
        out = []
        for image in images:
            bgr = as_bgr_uint8(image)
            x, geo = self.network_input(bgr)
            feeds = {self.layout.image_input: x}
            if self.layout.size_input:
                h, w = bgr.shape[:2]
                typ = next(i.type for i in self.session.get_inputs() if i.name == self.layout.size_input)
                feeds[self.layout.size_input] = np.array([[w, h]], np.float32 if "float" in typ else np.int64)
            names = list(roles.values())
            with self._lock:
                got = self.session.run(names, feeds)
            raw = dict(zip(roles, got))
            xyxy, scores, ids = decode(kind, raw, self.card["decoder"], self.input_size)
            if kind != "detr_postprocessed":
                xyxy = geo.to_frame(xyxy)
            keep = select(xyxy, scores, ids, post.score_threshold, post.iou_threshold, kind in FINAL)
            out.append(Detections(xyxy[keep].reshape(-1, 4).astype(np.float32), scores[keep].astype(np.float32),
                                  ids[keep].astype(np.int64), tuple(self._label(int(i)) for i in ids[keep]),
                                  image_hw=bgr.shape[:2]))
        return out



