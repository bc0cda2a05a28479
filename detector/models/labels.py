"""Label lists that ship with the detection weights; index = the model's class id (0 = background)."""

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
