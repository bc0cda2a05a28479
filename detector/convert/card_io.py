"""The model card a trained Lookout classifier carries inside its one ONNX file.

The card is JSON in the ONNX ``metadata_props`` under the key ``lookout.card``:

    {"format": 1, "name": "doorstep", "task": "classify", "labels": ["delivery", "none", "resident"],
     "input": {"size": [224, 224], "layout": "NCHW", "dtype": "float32", "colour": "RGB",
               "mean": [128, 128, 128], "std": [1, 1, 1], "resize": "stretch"},
     "decoder": {"kind": "softmax"}, "source": "...", "licence": "..."}

``input``: the graph's input is (N, 3, H, W) float32, ``(rgb - mean) / std`` with rgb in 0..255
(pixel units, as ``runtime.classifier.ClassifierPreprocessing``), the crop stretched to H x W
(no aspect-preserving crop). ``decoder`` "softmax": the single output is (N, len(labels)) logits.
Reading needs only the ``onnx`` package (the base install); so does writing.
"""
from __future__ import annotations

import json

CARD_KEY = "lookout.card"
CARD_FORMAT = 1


def make_card(name: str, labels: list[str], size: int, mean: list[float], std: list[float], source: str,
              licence: str, extra: dict | None = None) -> dict:
    """A classify card for a square ``size`` input (see the module docstring for each field)."""
    card = {"format": CARD_FORMAT, "name": name, "task": "classify", "labels": list(labels),
            "input": {"size": [int(size), int(size)], "layout": "NCHW", "dtype": "float32", "colour": "RGB",
                      "mean": [float(m) for m in mean], "std": [float(s) for s in std], "resize": "stretch"},
            "decoder": {"kind": "softmax"}, "source": source, "licence": licence}
    card.update(extra or {})
    return card


def write_card(model, card: dict):
    """``model`` (an ``onnx.ModelProto``) with ``card`` set under ``CARD_KEY`` (replacing an older one)."""
    kept = [p for p in model.metadata_props if p.key != CARD_KEY]
    del model.metadata_props[:]
    model.metadata_props.extend(kept)
    entry = model.metadata_props.add()
    entry.key, entry.value = CARD_KEY, json.dumps(card, sort_keys=True)
    return model


def check_card(card: dict, where: str) -> dict:
    """``card`` if it is a classify card this version reads; ValueError (one line naming ``where``) if not."""
    try:
        ok = (card["format"] == CARD_FORMAT and card["task"] == "classify" and len(card["labels"]) >= 2
              and card["input"]["layout"] == "NCHW" and card["input"]["colour"] == "RGB"
              and card["decoder"]["kind"] == "softmax" and len(card["input"]["mean"]) == 3
              and len(card["input"]["std"]) == 3 and len(card["input"]["size"]) == 2)
    except (KeyError, TypeError):
        ok = False
    if not ok:
        raise ValueError(f"{where}: its {CARD_KEY} card is not a format-{CARD_FORMAT} classify card "
                         f"(RGB, NCHW, softmax, two labels or more); train it again with lookout train")
    return card


def read_card(path: str) -> dict | None:
    """The card of the ONNX file ``path`` (checked), or None when it has none; ValueError for a file
    ONNX cannot read or a card this version does not read."""
    import onnx
    try:
        model = onnx.load(str(path), load_external_data=False)
    except Exception as e:  # onnx raises DecodeError, OSError and more for a file that is not a model
        raise ValueError(f"{path}: not a readable ONNX model ({type(e).__name__}); expected a file from "
                         f"lookout train") from None
    raw = next((p.value for p in model.metadata_props if p.key == CARD_KEY), None)
    if raw is None:
        return None
    try:
        card = json.loads(raw)
    except json.JSONDecodeError:
        raise ValueError(f"{path}: its {CARD_KEY} card is not JSON; train it again with lookout train") from None
    return check_card(card, str(path))
