"""The window and ``--output`` at the same moment of the demo clip, side by side (issue #34: one
renderer), and the window's label overlaps over its first frames.

usage: python tools/screen_vs_output.py [OUT.png] [--frames 100] [--screen 1366x768]

Runs the real window on a real X server (Xvfb, as tools/screenshot.py) on the demo clip, looped, with every
frame in order (``--lossless``), tracking on and a counting line; paused, it steps one frame at a
time (a step is one detector call, up to 4 frames of the file: the newest is shown), and counts
overlapping label pairs (``label_layout.overlapping_pairs``) over the labels each shown frame has on
screen; after ``--frames`` frames it grabs the window. Then
runs ``lookout --output`` with the same options (``--loop --max-frames``),
takes the output's frame of the same index, and writes both side by side to OUT.png (default
docs/window_vs_output.png) with OUT.json: the frame index, the labels, and the overlaps counted.
"""
from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))
sys.path.insert(0, str(ROOT / "tools"))

from screenshot import start_xvfb  # noqa: E402

DEMO = ROOT / "assets" / "demo_vtest.mp4"
LINE = "path=0.3,0.2,0.3,0.8"


def window_shot(frames: int, screen: str) -> tuple[np.ndarray, dict]:
    xvfb = start_xvfb(screen)
    os.environ["QT_QPA_PLATFORM"] = "xcb"
    try:
        from PyQt6.QtCore import QSettings
        from PyQt6.QtWidgets import QApplication

        from detector.analytics.counting import Line
        from detector.engine.run import RunConfig
        from detector.ops.label_layout import overlapping_pairs
        from lookout_ui.app import build_window
        app = QApplication([])
        config = RunConfig(source=str(DEMO), live=False, loop=True, track=True,
                           counters=(Line("path", (0.3, 0.2), (0.3, 0.8)),))
        settings_dir = tempfile.TemporaryDirectory()
        settings = QSettings(str(Path(settings_dir.name) / "lookout.ini"), QSettings.Format.IniFormat)
        win, session = build_window(config, settings=settings)
        win.move(0, 0)
        session.start()
        win.resize(1180, 680)
        win.show()
        def wait_for(done) -> None:
            while not done():
                app.processEvents()
                time.sleep(0.005)

        wait_for(lambda: win.view.result is not None)
        win.act_pause.trigger()  # then one detector call a step, every frame through the tracker
        seen, pairs, labels = 0, 0, 0
        while seen < frames:
            last = win.view.result.frame.index
            pairs += overlapping_pairs(win.view.label_rects)
            labels += len(win.view.label_rects)
            seen += 1
            while seen < frames and win.view.result.frame.index <= last:
                # a step is one detector call (up to 4 frames); at the clip's end the step goes to
                # the read that finds the end, so step again when nothing came
                session.step()
                t = time.monotonic()
                while win.view.result.frame.index <= last and time.monotonic() - t < 3:
                    app.processEvents()
                    time.sleep(0.005)
        win.timer.stop()  # the frame below is the one shown
        win.view.repaint()
        app.processEvents()
        app.sync()
        time.sleep(0.2)
        geo = win.frameGeometry()
        shot = app.primaryScreen().grabWindow(0, geo.x(), geo.y(), geo.width(), geo.height()).toImage()
        shot = shot.convertToFormat(shot.Format.Format_RGB888)
        ptr = shot.constBits()
        ptr.setsize(shot.sizeInBytes())
        rgb = np.frombuffer(ptr, np.uint8).reshape(shot.height(), shot.bytesPerLine())[:, : shot.width() * 3]
        image = cv2.cvtColor(rgb.reshape(shot.height(), shot.width(), 3), cv2.COLOR_RGB2BGR)
        info = {"frame": win.view.result.frame.index, "shown_frames": seen, "labels_on_screen": labels,
                "overlapping_label_pairs_on_screen": pairs, "labels": list(win.view.result.detections.labels),
                "track_ids": [int(t) for t in win.view.result.detections.track_ids]
                if win.view.result.detections.track_ids is not None else []}
        win.close()
        app.processEvents()
        return image, info
    finally:
        if xvfb is not None:
            xvfb.terminate()
            xvfb.wait(5)


def output_frame(index: int, work: Path) -> np.ndarray:
    out = work / "out.mp4"
    subprocess.run([sys.executable, str(ROOT / "main.py"), "--source", str(DEMO), "--loop", "--max-frames", str(index + 1),
                    "--output", str(out), "--track", "--line", LINE, "--no-progress", "-y"], check=True, cwd=ROOT)
    cap = cv2.VideoCapture(str(out))
    cap.set(cv2.CAP_PROP_POS_FRAMES, index)
    ok, frame = cap.read()
    if not ok:
        sys.exit(f"screen_vs_output: frame {index} not in the output")
    return frame


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("out", nargs="?", default=str(ROOT / "docs" / "window_vs_output.png"))
    ap.add_argument("--frames", type=int, default=100, help="window frames to count label overlaps over (looped clip)")
    ap.add_argument("--screen", default="1366x768")
    args = ap.parse_args()
    shot, info = window_shot(args.frames, args.screen)
    with tempfile.TemporaryDirectory() as d:
        frame = output_frame(info["frame"], Path(d))
    scaled = cv2.resize(frame, (round(frame.shape[1] * shot.shape[0] / frame.shape[0]), shot.shape[0]),
                        interpolation=cv2.INTER_AREA)
    gap = np.full((shot.shape[0], 12, 3), 255, np.uint8)
    cv2.imwrite(args.out, np.hstack([shot, gap, scaled]), [cv2.IMWRITE_PNG_COMPRESSION, 9])
    Path(args.out).with_suffix(".json").write_text(json.dumps(info, indent=1))
    print(json.dumps(info))
    return 0


if __name__ == "__main__":
    sys.exit(main())
