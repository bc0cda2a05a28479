"""The per-class report at the end of ``lookout train``: accuracy, confusion matrix, worst examples."""
from __future__ import annotations

import numpy as np


def confusion(targets: np.ndarray, predicted: np.ndarray, k: int) -> np.ndarray:
    """(k, k) counts: row = true class, column = predicted."""
    m = np.zeros((k, k), np.int64)
    np.add.at(m, (targets, predicted), 1)
    return m


def report(labels: list[str], targets: np.ndarray, probs: np.ndarray, paths: list[str], worst: int = 5) -> str:
    """Lines of text: accuracy overall and per class, the confusion matrix, and the ``worst`` images
    (lowest probability for their true class)."""
    k = len(labels)
    pred = probs.argmax(1)
    m = confusion(targets, pred, k)
    width = max(8, max(len(n) for n in labels) + 1)
    lines = [f"validation accuracy {float((pred == targets).mean()):.4f} ({int((pred == targets).sum())}/{len(targets)})"]
    for i, name in enumerate(labels):
        n = int(m[i].sum())
        lines.append(f"  {name:<{width}} {m[i, i] / max(n, 1):.4f} ({int(m[i, i])}/{n})")
    lines.append("confusion matrix (rows: true, columns: predicted):")
    lines.append(" " * (width + 2) + "".join(f"{n[:width - 1]:>{width}}" for n in labels))
    for i, name in enumerate(labels):
        lines.append(f"  {name:<{width}}" + "".join(f"{int(v):>{width}}" for v in m[i]))
    true_p = probs[np.arange(len(targets)), targets]
    order = np.argsort(true_p, kind="stable")[:worst]
    lines.append(f"worst {len(order)} validation images (probability of their true class):")
    for i in order:
        lines.append(f"  {true_p[i]:.3f} {labels[targets[i]]} -> {labels[pred[i]]} {probs[i, pred[i]]:.3f}  {paths[i]}")
    return "\n".join(lines)
