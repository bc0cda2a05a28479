"""Screenshot of the real Lookout window on a real X server (Xvfb), for docs/screenshot.png.

usage: python tools/screenshot.py [OUT.png] [--seconds 5]
Starts Xvfb on a free display when DISPLAY is unset, opens the window on the demo clip with the xcb
platform, lets it play, grabs the window's pixels from the X server, and writes OUT.png plus
OUT.json: where the boxes were drawn (window coordinates) and the stats overlay's lines.
"""
from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def start_xvfb() -> subprocess.Popen | None:
    if os.environ.get("DISPLAY"):
        return None
    if not shutil.which("Xvfb"):
        sys.exit("screenshot: needs Xvfb (Debian package xvfb) or a DISPLAY")
    for n in range(90, 110):
        if not Path(f"/tmp/.X11-unix/X{n}").exists() and not Path(f"/tmp/.X{n}-lock").exists():
            proc = subprocess.Popen(["Xvfb", f":{n}", "-screen", "0", "1280x800x24", "-nolisten", "tcp"],
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            for _ in range(50):
                if Path(f"/tmp/.X11-unix/X{n}").exists():
                    os.environ["DISPLAY"] = f":{n}"
                    return proc
                time.sleep(0.1)
            proc.kill()
    sys.exit("screenshot: could not start Xvfb")


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("out", nargs="?", default=str(ROOT / "docs" / "screenshot.png"))
    ap.add_argument("--seconds", type=float, default=5.0)
    args = ap.parse_args()
    xvfb = start_xvfb()
    os.environ["QT_QPA_PLATFORM"] = "xcb"
    sys.path.insert(0, str(ROOT))
    try:
        from PyQt6.QtWidgets import QApplication

        from detector.engine.run import RunConfig
        from lookout_ui.app import build_window
        app = QApplication([])
        os.chdir(ROOT)
        from detector.analytics.counting import Line
        # The default COCO model, tracking on and one counting line across the path
        config = RunConfig(source="assets/demo_vtest.mp4", loop=True, track=True,
                           counters=(Line("path", (0.3, 0.2), (0.3, 0.8)),))
        win, session = build_window(config)
        win.move(0, 0)
        session.start()
        win.show()
        end = time.monotonic() + args.seconds
        while time.monotonic() < end or win.shown_seq < 3:
            app.processEvents()
            time.sleep(0.01)
        app.processEvents()
        geo = win.frameGeometry()
        shot = app.primaryScreen().grabWindow(0, geo.x(), geo.y(), geo.width(), geo.height())
        shot.save(args.out)
        origin = win.view.mapTo(win, win.view.rect().topLeft())
        offset = win.geometry().topLeft() - geo.topLeft()
        boxes = (win.view.widget_boxes() + [origin.x() + offset.x(), origin.y() + offset.y()] * 2).tolist()
        info = {"platform": app.platformName(), "display": os.environ["DISPLAY"], "boxes": boxes,
                "stats": win.view.stats_lines, "stats_origin": [origin.x() + offset.x(), origin.y() + offset.y()],
                "labels": list(win.view.result.detections.labels),
                "class_ids": [int(c) for c in win.view.result.detections.class_ids]}
        Path(args.out).with_suffix(".json").write_text(json.dumps(info, indent=1))
        win.close()
        app.processEvents()
        print(f"wrote {args.out} ({shot.width()}x{shot.height()}, {len(boxes)} boxes, platform {app.platformName()})")
    finally:
        if xvfb is not None:
            xvfb.terminate()
            xvfb.wait(5)
    return 0


if __name__ == "__main__":
    sys.exit(main())
