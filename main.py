"""Lookout's command line (the ``lookout`` script)."""
from __future__ import annotations

import argparse
import sys

import cv2


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(prog="lookout", description="Real-time object detection on video.")
    ap.add_argument("--source", required=True, help="video file")
    ap.add_argument("--output", required=True, help="annotated video to write")
    args = ap.parse_args(argv)
    from detector import Detector
    det = Detector.load(device="cpu")
    cap = cv2.VideoCapture(args.source)
    if not cap.isOpened():
        print(f"lookout: cannot open {args.source}", file=sys.stderr)
        return 1
    fps = cap.get(cv2.CAP_PROP_FPS) or 25.0
    out = None
    while True:
        ok, frame = cap.read()
        if not ok:
            break
        if out is None:
            out = cv2.VideoWriter(args.output, cv2.VideoWriter_fourcc(*"mp4v"), fps, frame.shape[1::-1])
        d = det.detect(frame)
        img = frame.copy()
        for (x1, y1, x2, y2), s in zip(d.xyxy.astype(int), d.scores):
            cv2.rectangle(img, (x1, y1), (x2, y2), (0, 200, 0), 2)
        out.write(img)
    if out is not None:
        out.release()
    return 0


if __name__ == "__main__":
    sys.exit(main())
