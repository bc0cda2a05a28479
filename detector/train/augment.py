"""Augmentation for crops from cameras: what differs between two sightings of one thing at the door
is framing (the detector's box), scale, side, light, focus and compression, so those are what vary.
NumPy / OpenCV on HxWx3 uint8 RGB; every random draw comes from the ``rng`` passed in (``--seed``)."""
from __future__ import annotations

import cv2
import numpy as np


def camera_crop(rgb: np.ndarray, rng: np.random.Generator) -> np.ndarray:
    """One augmented copy of ``rgb`` (HxWx3 uint8), the same size or smaller: a shifted, rescaled box
    (70-100% of the area, aspect 3:4 to 4:3), mirrored half the time, brightness and contrast changed,
    sometimes blurred, sometimes at a lower resolution, sometimes JPEG-compressed again."""
    h, w = rgb.shape[:2]
    area = rng.uniform(0.7, 1.0) * h * w
    aspect = np.exp(rng.uniform(np.log(3 / 4), np.log(4 / 3)))
    cw = int(min(w, max(8, round(np.sqrt(area * aspect)))))
    ch = int(min(h, max(8, round(np.sqrt(area / aspect)))))
    x0, y0 = int(rng.integers(0, w - cw + 1)), int(rng.integers(0, h - ch + 1))
    out = rgb[y0:y0 + ch, x0:x0 + cw]
    if rng.random() < 0.5:
        out = out[:, ::-1]
    alpha, beta = rng.uniform(0.7, 1.3), rng.uniform(-25, 25)
    out = cv2.convertScaleAbs(np.ascontiguousarray(out), alpha=alpha, beta=beta)
    if rng.random() < 0.3:
        out = cv2.GaussianBlur(out, (0, 0), rng.uniform(0.5, 1.5))
    if rng.random() < 0.3:  # a small, far-away subject: fewer pixels than the model's input
        f = rng.uniform(0.3, 0.6)
        small = cv2.resize(out, (max(4, int(cw * f)), max(4, int(ch * f))), interpolation=cv2.INTER_AREA)
        out = cv2.resize(small, (cw, ch), interpolation=cv2.INTER_LINEAR)
    if rng.random() < 0.5:
        ok, buf = cv2.imencode(".jpg", out, [cv2.IMWRITE_JPEG_QUALITY, int(rng.integers(30, 85))])
        if ok:
            out = cv2.imdecode(buf, cv2.IMREAD_COLOR)
    return out
