"""``lookout models inspect FILE``: what Lookout reads in an ONNX detector file, in words.

Lookout's own files (``models.bundle``) print their card; any other detector what ``foreign.describe``
understood and where each part came from. Both end with how a frame of a given size goes in and how
its boxes come back. A file that can't be run raises the loader's one-line error.
"""
from __future__ import annotations

from pathlib import Path

from detector.models.bundle import read_bundle
from detector.ops.detector_layouts import FINAL, InputGeometry


def _preprocessing(inp: dict) -> str:
    value = "the 0-255 values as uint8" if inp["dtype"] == "uint8" else \
        f"(value - {_nums(inp['mean'])}) / {_nums(inp['std'])} as float32"
    resize = (f"letterbox ({inp['place']}, pad {inp['pad']})" if inp["resize"] == "letterbox" else "stretch")
    return f"{resize}, {inp['interpolation']} resize, {inp['colour']}, {value}"


def _nums(v: list) -> str:
    return str(v[0]) if len(v) == 1 else "[" + ", ".join(str(x) for x in v) + "]"


def _labels(labels: list) -> str:
    if not labels:
        return "none (class indices)"
    shown = ", ".join(labels[:8]) + (f", ... ({len(labels)} in all)" if len(labels) > 8 else "")
    return f"{len(labels)}: {shown}"


def _mapping(inp: dict, frame_hw: tuple[int, int], postprocessed_in_frame: bool = False) -> list[str]:
    size = tuple(int(v) for v in inp["size"])
    geo = InputGeometry(frame_hw, size, inp["resize"] == "letterbox", inp.get("place", "centre") == "centre")
    left, top, nw, nh = geo.placed
    (H, W), (h, w) = frame_hw, size
    lines = [f"a {W}x{H} frame: resized to {nw}x{nh} at x {left}, y {top} of the {w}x{h} input"]
    if postprocessed_in_frame:
        lines.append("  boxes come back in the frame's pixels (the model is given the frame's size)")
    else:
        lines.append(f"  boxes back: x = (x_input - {left}) * {W / nw:.6g}, y = (y_input - {top}) * {H / nh:.6g}")
    return lines


def inspect_lines(path: str | Path, labels_file: str | Path | None = None,
                  frame_hw: tuple[int, int] = (576, 768)) -> list[str]:
    """The report's lines; ValueError (one line) for a file Lookout can't run."""
    path = Path(path)
    from detector.models.card import read_onnx
    read_onnx(path)  # not a file, not ONNX: said first, in one line
    own = read_bundle(path)
    if own is not None:
        card = own[1]
        inp, dec = card["input"], card["decoder"]
        return [f"{path.name}: Lookout's own detector file ({path.stat().st_size / 1e6:.1f} MB), card in its "
                f"lookout.card metadata",
                f"name: {card['name']}; licence: {card.get('licence') or '-'}",
                f"source: {card.get('source') or '-'}",
                f"input: images (1, 3, {inp['size'][0]}, {inp['size'][1]}) {inp['dtype']} {inp['layout']}",
                f"preprocessing: {_preprocessing(inp)}",
                f"labels: {_labels(card['labels'])} (index = class id, 0 = background)",
                f"decoder: {dec['kind']}: {dec['anchors']['shape'][0]} anchors, box scales {dec['box_scales']}"
                + (f", the TFLite op's max {dec['max_detections']} detections" if dec["kind"] == "tflite_ssd" else ""),
                "then: " + ("the TFLite op's NMS at --iou (each anchor's best class, all classes together), boxes above "
                            "--conf" if dec["kind"] == "tflite_ssd" else "per-class NMS at --iou, boxes above --conf"),
                *_mapping(inp, frame_hw)]
    from detector.runtime.onnx.foreign import describe
    layout, session = describe(path, labels_file)
    card, src = layout.card, layout.sources
    inp, dec = card["input"], card["decoder"]
    shapes = {o.name: [d if isinstance(d, int) else "?" for d in o.shape] for o in session.get_outputs()}
    image = next(i for i in session.get_inputs() if i.name == layout.image_input)
    params = ", ".join(f"{k} {v}" for k, v in dec.items() if k != "kind") or "no parameters"
    kind = dec["kind"]
    lines = [f"{path.name}: a foreign ONNX detector ({path.stat().st_size / 1e6:.1f} MB)"
             + (f"; card: {src['card']}" if "card" in src else "; no card (docs/models.md: my.onnx.toml)"),
             f"input: {image.name} {[d if isinstance(d, int) else '?' for d in image.shape]} {inp['dtype']} "
             f"{inp['layout']}, size {inp['size'][1]}x{inp['size'][0]} (from {src.get('size', 'the card')})"
             + (f"; {layout.size_input}: the frame's (width, height)" if layout.size_input else ""),
             f"preprocessing: {_preprocessing(inp)}" + ("" if "card" in src else f" (what {kind} exporters do)"),
             f"labels: {_labels(card['labels'])} (from {src['labels']})",
             f"decoder: {kind}, {params} (from {src['decoder']})",
             "outputs: " + ", ".join(f"{role} = {name}{shapes[name]}" for role, name in layout.outputs.items()),
             "then: " + ("boxes above --conf (the model's own selection, no NMS)" if kind in FINAL
                         else "boxes above --conf, per-class NMS at --iou"),
             *_mapping(inp, frame_hw, kind == "detr_postprocessed")]
    return lines
