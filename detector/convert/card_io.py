"""The model card a trained Lookout classifier carries inside its one ONNX file.

The card is JSON in the ONNX ``metadata_props`` under the key ``lookout.card``:

    {"format": 1, "name": "doorstep", "task": "classify", "labels": ["delivery", "none", "resident"],
     "input": {"size": [224, 224], "layout": "NCHW", "dtype": "float32", "colour": "RGB",
               "mean": [128, 128, 128], "std": [1, 1, 1], "resize": "stretch"},
     "decoder": {"kind": "softmax"}, "source": "...", "licence": "..."}

``input``: the graph's input is (N, 3, H, W) float32, ``(rgb - mean) / std`` with rgb in 0..255
(pixel units, as ``runtime.classifier.ClassifierPreprocessing``), the crop stretched to H x W
(no aspect-preserving crop). ``decoder`` "softmax": the single output is (N, len(labels)) logits.
Reading and checking are ``models.card``'s (one schema for every model file); writing needs the ``onnx``
package (the base install).
"""
from __future__ import annotations

import json

from detector.models.card import CARD_FORMAT, CARD_KEY  # noqa: F401  (the one key and format: models.card)


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
    """``card`` if it is a classify card this version runs (``models.card.check_card`` and a softmax
    over two labels or more); ValueError (one line naming ``where``) if not."""
    from detector.models.card import CardError
    from detector.models.card import check_card as check_any
    try:
        card = check_any(card, where)
    except CardError as e:
        raise ValueError(str(e)) from None
    if card.get("task") != "classify" or len(card.get("labels") or ()) < 2 or \
            (card.get("decoder") or {}).get("kind") != "softmax" or len(card["input"].get("size") or ()) != 2:
        raise ValueError(f"{where}: its {CARD_KEY} card is not a classify card (softmax over two labels or more, "
                         f"an input size); train it again with lookout train")
    return card


def read_card(path: str) -> dict | None:
    """The card of the ONNX file ``path`` (checked), or None when it has none; ValueError for a file
    that is not ONNX or a card this version does not read."""
    from detector.models.card import read_onnx
    _, props = read_onnx(path)
    raw = props.get(CARD_KEY)
    if raw is None:
        return None
    try:
        card = json.loads(raw)
    except json.JSONDecodeError:
        raise ValueError(f"{path}: its {CARD_KEY} card is not JSON; train it again with lookout train") from None
    return check_card(card, str(path))
