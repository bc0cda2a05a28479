"""Label lists that ship with the detection weights (index = the model's class id, 0 = background),
and labels files for classifiers."""
from __future__ import annotations

from pathlib import Path

PERSON = ("background", "person")

# COCO in the TF model zoo's 90-id numbering; ids the dataset never used are "class_<id>".
COCO90 = (
    'background', 'person', 'bicycle', 'car', 'motorcycle', 'airplane',
    'bus', 'train', 'truck', 'boat', 'traffic light', 'fire hydrant',
    'class_12', 'stop sign', 'parking meter', 'bench', 'bird', 'cat',
    'dog', 'horse', 'sheep', 'cow', 'elephant', 'bear',
    'zebra', 'giraffe', 'class_26', 'backpack', 'umbrella', 'class_29',
    'class_30', 'handbag', 'tie', 'suitcase', 'frisbee', 'skis',
    'snowboard', 'sports ball', 'kite', 'baseball bat', 'baseball glove', 'skateboard',
    'surfboard', 'tennis racket', 'bottle', 'class_45', 'wine glass', 'cup',
    'fork', 'knife', 'spoon', 'bowl', 'banana', 'apple',
    'sandwich', 'orange', 'broccoli', 'carrot', 'hot dog', 'pizza',
    'donut', 'cake', 'chair', 'couch', 'potted plant', 'bed',
    'class_66', 'dining table', 'class_68', 'class_69', 'toilet', 'class_71',
    'tv', 'laptop', 'mouse', 'remote', 'keyboard', 'cell phone',
    'microwave', 'oven', 'toaster', 'sink', 'refrigerator', 'class_83',
    'book', 'clock', 'vase', 'scissors', 'teddy bear', 'hair drier',
    'toothbrush',
)


def labels_of(label_set: str) -> tuple[str, ...]:
    """A named label list: "coco90" or "person"."""
    return {"coco90": COCO90, "person": PERSON}[label_set]


def labels_for_classes(num_classes: int) -> tuple[str, ...]:
    """The shipped list with ``num_classes`` entries (background included), else ``class_<id>`` names."""
    if num_classes == len(COCO90):
        return COCO90
    if num_classes == len(PERSON):
        return PERSON
    return ("background",) + tuple(f"class_{i}" for i in range(1, num_classes))


def find_labels(model_path: Path) -> Path:
    """A labels file beside a classifier: ``<model>.txt``, ``labels.txt`` or ``*labels*.txt``."""
    for cand in [model_path.with_suffix(".txt"), model_path.parent / "labels.txt",
                 *sorted(model_path.parent.glob("*labels*.txt"))]:
        if cand.is_file() and "coco" not in cand.name:
            return cand
    raise ValueError(f"no labels file for {model_path.name}: expected labels.txt beside it, or pass labels=PATH")


def read_labels(path: str | Path, num_classes: int) -> tuple[str, ...]:
    """One label a line (blank lines skipped); ValueError unless there are ``num_classes``."""
    labels = tuple(l.strip() for l in Path(path).read_text(encoding="utf-8").splitlines() if l.strip())
    if len(labels) != num_classes:
        raise ValueError(f"labels file {str(path)!r} lists {len(labels)} labels, expected {num_classes} "
                         f"(one per model output)")
    return labels
