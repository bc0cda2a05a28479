"""Faster R-CNN box coder (TF OD API's ``FasterRcnnBoxCoder``), in NumPy float32.

Encodings are ``[ty, tx, th, tw]`` per anchor, scaled by (10, 10, 5, 5); boxes are
``[ymin, xmin, ymax, xmax]`` in the anchors' (normalised) coordinates.
"""
from __future__ import annotations

import numpy as np


class FasterRcnnBoxCoder:
    def __init__(self, scale_factors: tuple[float, float, float, float] = (10.0, 10.0, 5.0, 5.0)):
        self.scale_factors = tuple(float(s) for s in scale_factors)

    def decode(self, rel_codes: np.ndarray, anchors: np.ndarray) -> np.ndarray:
        """rel_codes (..., A, 4) and anchors (A, 4) -> boxes (..., A, 4) [ymin, xmin, ymax, xmax], float32."""
        rel_codes = np.asarray(rel_codes, dtype=np.float32)
        anchors = np.asarray(anchors, dtype=np.float32)
        ha = anchors[:, 2] - anchors[:, 0]
        wa = anchors[:, 3] - anchors[:, 1]
        yca = anchors[:, 0] + ha / 2
        xca = anchors[:, 1] + wa / 2
        sy, sx, sh, sw = (np.float32(s) for s in self.scale_factors)
        ty, tx = rel_codes[..., 0] / sy, rel_codes[..., 1] / sx
        th, tw = rel_codes[..., 2] / sh, rel_codes[..., 3] / sw
        h, w = np.exp(th) * ha, np.exp(tw) * wa
        yc, xc = ty * ha + yca, tx * wa + xca
        return np.stack([yc - h / 2, xc - w / 2, yc + h / 2, xc + w / 2], axis=-1)
