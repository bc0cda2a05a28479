"""The zero-shot baseline for docs/classify.md: an ImageNet classifier's scores for the ImageNet
classes that match each of your classes, on a validation folder (DATA/<class>/ images).

    python tools/zero_shot.py ../shared/models/mobilenet_v2_1.0_224_quant.tflite /work/data/cls/cats_vs_dogs/val \
        --map cats=281-285 --map dogs=151-268

``--map NAME=FIRST-LAST``: ImageNet-1k class indices (0-based, torchvision's order; a 1001-output
TFLite model's background row is skipped). Each image goes to the class whose ImageNet classes hold
the most probability. Prints the accuracy per class and overall.
"""
from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("classifier")
    ap.add_argument("data")
    ap.add_argument("--map", action="append", required=True, metavar="NAME=FIRST-LAST")
    a = ap.parse_args()
    from detector import Classifier
    from detector.train.dataset import decode
    clf = Classifier.load(a.classifier)
    offset = 1 if len(clf.labels) == 1001 else 0
    groups = {}
    for m in a.map:
        name, span = m.split("=")
        lo, hi = (int(v) for v in span.split("-"))
        groups[name] = np.arange(lo + offset, hi + offset + 1)
    names = list(groups)
    right = {n: 0 for n in names}
    total = {n: 0 for n in names}
    for name in names:
        files = sorted(p for p in (Path(a.data) / name).iterdir() if p.is_file())
        for k in range(0, len(files), 32):
            imgs = [decode(str(p)) for p in files[k:k + 32]]
            crops = [im[:, :, ::-1] for im in imgs if im is not None]  # BGR, as Lookout's frames
            probs = clf._probs(crops)
            scores = np.stack([probs[:, groups[n]].sum(1) for n in names], 1)
            right[name] += int((scores.argmax(1) == names.index(name)).sum())
            total[name] += len(crops)
    for n in names:
        print(f"{n}: {right[n] / total[n]:.4f} ({right[n]}/{total[n]})")
    print(f"zero-shot accuracy {sum(right.values()) / sum(total.values()):.4f} "
          f"({sum(right.values())}/{sum(total.values())}) with {Path(a.classifier).name}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
