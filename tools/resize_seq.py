"""A resized copy of a MOTChallenge-layout sequence, its ground truth scaled alike: a stand-in for a
camera of another size (people as many pixels smaller as the frame).

usage: python tools/resize_seq.py SEQ FACTOR [--out DIR]

Frames (``SEQ/img1/*.jpg``) are resized with INTER_AREA (as a camera's own downscale averages) and
saved as JPEG quality 95; every ``SEQ/gt/*.txt`` gets its x, y, w, h columns multiplied by the
factors of width and height; ``seqinfo.ini`` gets the new size. Writes ``DIR/NAME-WxH`` (DIR:
beside SEQ) and refuses to write into an existing folder.
"""
from __future__ import annotations

import argparse
import configparser
import glob
import os
import sys

import cv2
import numpy as np


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("seq")
    ap.add_argument("factor", type=float)
    ap.add_argument("--out", help="where the copy goes (default: beside SEQ)")
    a = ap.parse_args()
    frames = sorted(glob.glob(os.path.join(a.seq, "img1", "*.jpg")))
    if not frames or not 0 < a.factor <= 1:
        sys.exit(f"expected a sequence folder with img1/*.jpg and a factor in (0, 1], got {a.seq!r} and {a.factor}")
    h, w = cv2.imread(frames[0]).shape[:2]
    W, H = round(w * a.factor), round(h * a.factor)
    name = os.path.basename(os.path.normpath(a.seq))
    dst = os.path.join(a.out or os.path.dirname(os.path.normpath(a.seq)), f"{name}-{W}x{H}")
    if os.path.exists(dst):
        sys.exit(f"{dst} exists: remove it or give another --out")
    os.makedirs(os.path.join(dst, "img1"))
    os.makedirs(os.path.join(dst, "gt"))
    for f in frames:
        small = cv2.resize(cv2.imread(f), (W, H), interpolation=cv2.INTER_AREA)
        cv2.imwrite(os.path.join(dst, "img1", os.path.basename(f)), small, [cv2.IMWRITE_JPEG_QUALITY, 95])
    for g in glob.glob(os.path.join(a.seq, "gt", "*.txt")):
        rows = np.loadtxt(g, delimiter=",", ndmin=2)
        rows[:, 2:6] *= np.array([W / w, H / h, W / w, H / h])
        fmt = ["%d", "%d", "%.2f", "%.2f", "%.2f", "%.2f"] + ["%g"] * (rows.shape[1] - 6)
        np.savetxt(os.path.join(dst, "gt", os.path.basename(g)), rows, delimiter=",", fmt=fmt)
    info = configparser.ConfigParser()
    info.optionxform = str
    info.read(os.path.join(a.seq, "seqinfo.ini"))
    if info.has_section("Sequence"):
        info["Sequence"].update(name=os.path.basename(dst), imWidth=str(W), imHeight=str(H))
        with open(os.path.join(dst, "seqinfo.ini"), "w") as fh:
            info.write(fh, space_around_delimiters=False)
    print(f"{dst}: {len(frames)} frames, {W}x{H}")


if __name__ == "__main__":
    main()
