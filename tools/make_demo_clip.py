"""Cut assets/demo_vtest.mp4 from OpenCV's vtest.avi: frames 100-159, same size and rate.

usage: python tools/make_demo_clip.py [../shared/media/vtest.avi] [assets/demo_vtest.mp4]
"""
import sys

import cv2

src = sys.argv[1] if len(sys.argv) > 1 else "../shared/media/vtest.avi"
dst = sys.argv[2] if len(sys.argv) > 2 else "assets/demo_vtest.mp4"
cap = cv2.VideoCapture(src)
cap.set(cv2.CAP_PROP_POS_FRAMES, 100)
size = (int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT)))
out = cv2.VideoWriter(dst, cv2.VideoWriter_fourcc(*"mp4v"), cap.get(cv2.CAP_PROP_FPS), size)
for _ in range(60):
    ok, frame = cap.read()
    if not ok:
        sys.exit(f"{src} ended before frame 160")
    out.write(frame)
out.release()
print(f"wrote {dst}")
