"""Screenshot of the real Lookout window on a real X server (Xvfb), for docs/screenshot.png.

usage: python tools/screenshot.py [OUT.png] [--seconds 5] [--screen WxH] [--wm] [--window max|min|WxH]
                                  [--scale F] [--source [NAME=]SPEC ...] [--max-width PX]
Starts Xvfb on a free display when DISPLAY is unset (``--screen`` big; ``--wm``: with openbox on it),
opens the window on the demo clip (or ``--source``; a camera that is absent shows the start view)
with the xcb platform (``--source`` repeated: one stream each, in a grid of tiles), lets it play, grabs the window's pixels from the X server, and writes OUT.png
plus OUT.json: where the boxes were drawn (window coordinates), the stats overlay's lines, and the
window's size and minimum. ``--scale``: QT_SCALE_FACTOR. ``--max-width``: scale the PNG down to it.

The laptop screenshots in docs/ (issue #28):
    python tools/screenshot.py docs/window_1366x768.png --screen 1366x768 --wm --window max
    python tools/screenshot.py docs/window_minimum.png --screen 1366x768 --wm --window min
    python tools/screenshot.py docs/window_200pct.png --screen 2560x1440 --wm --window max --scale 2 --max-width 1280
    python tools/screenshot.py docs/start_view.png --screen 1366x768 --wm --source 0
The grid of several streams (issue #24):
    python tools/screenshot.py docs/window_grid.png --screen 1366x768 --wm --window max --max-width 1100 \
        --source north=assets/demo_vtest.mp4 --source south=assets/demo_vtest.mp4 \
        --source east=assets/demo_vtest.mp4 --source west=assets/demo_vtest.mp4
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


def start_xvfb(screen: str = "1280x800") -> subprocess.Popen | None:
    if os.environ.get("DISPLAY"):
        return None
    if not shutil.which("Xvfb"):
        sys.exit("screenshot: needs Xvfb (Debian package xvfb) or a DISPLAY")
    for n in range(90, 110):
        if not Path(f"/tmp/.X11-unix/X{n}").exists() and not Path(f"/tmp/.X{n}-lock").exists():
            proc = subprocess.Popen(["Xvfb", f":{n}", "-screen", "0", f"{screen}x24", "-nolisten", "tcp"],
                                    stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
            for _ in range(50):
                if Path(f"/tmp/.X11-unix/X{n}").exists():
                    os.environ["DISPLAY"] = f":{n}"
                    return proc
                time.sleep(0.1)
            proc.kill()
    sys.exit("screenshot: could not start Xvfb")


def _stats_rect(view, dx: int, dy: int) -> list[float] | None:
    """The stats overlay's panel in window coordinates (boxes under it are drawn dimmed)."""
    r = getattr(view, "stats_rect", None)
    return [r.x() + dx, r.y() + dy, r.right() + dx, r.bottom() + dy] if r is not None and view.show_stats else None


def _tile_info(win, tile, offset) -> dict:
    """A grid tile: its stream, caption, place and boxes in window coordinates."""
    o = tile.mapTo(win, tile.rect().topLeft())
    dx, dy = o.x() + offset.x(), o.y() + offset.y()
    return {"name": tile.stream.name, "caption": tile.caption, "rect": [dx, dy, dx + tile.width(), dy + tile.height()],
            "boxes": (tile.widget_boxes() + [dx, dy] * 2).tolist(),
            "class_ids": [int(c) for c in tile.result.detections.class_ids] if tile.result else []}


def start_wm() -> subprocess.Popen:
    if not shutil.which("openbox"):
        sys.exit("screenshot: --wm needs openbox (Debian package openbox)")
    proc = subprocess.Popen(["openbox"], stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    time.sleep(1.0)  # let it take the display before the window maps
    return proc


def main() -> int:
    ap = argparse.ArgumentParser()
    ap.add_argument("out", nargs="?", default=str(ROOT / "docs" / "screenshot.png"))
    ap.add_argument("--seconds", type=float, default=5.0)
    ap.add_argument("--screen", default="1280x800", help="Xvfb screen size (when it starts Xvfb)")
    ap.add_argument("--wm", action="store_true", help="run openbox on the display (a real window manager)")
    ap.add_argument("--window", default="", help="max (maximised), min (its minimum size) or WxH")
    ap.add_argument("--scale", type=float, default=0.0, help="QT_SCALE_FACTOR, e.g. 2 for 200%%")
    ap.add_argument("--source", dest="sources", action="append", metavar="[NAME=]SPEC",
                    help="the source (default: the demo clip); repeat for several streams")
    ap.add_argument("--max-width", type=int, default=0, help="scale the PNG down to this width")
    args = ap.parse_args()
    xvfb = start_xvfb(args.screen)
    wm = start_wm() if args.wm else None
    os.environ["QT_QPA_PLATFORM"] = "xcb"
    if args.scale:
        os.environ["QT_SCALE_FACTOR"] = f"{args.scale:g}"
    sys.path.insert(0, str(ROOT))
    try:
        import tempfile

        from PyQt6.QtCore import QSettings, Qt
        from PyQt6.QtWidgets import QApplication

        from detector.engine.run import RunConfig
        from lookout_ui.app import build_window
        app = QApplication([])
        os.chdir(ROOT)
        from detector.analytics.counting import Line
        # The default COCO model, tracking on and one counting line across the path
        from detector.engine.stream_names import split_source, unique_names
        named = [split_source(s) for s in args.sources or ["assets/demo_vtest.mp4"]]
        configs = [RunConfig(source=src, stream=name, loop=True, track=True,
                             counters=(Line("path", (0.3, 0.2), (0.3, 0.8)),))
                   for name, (_, src) in zip(unique_names(named), named)]
        settings_dir = tempfile.TemporaryDirectory()  # leave the user's remembered settings alone
        settings = QSettings(str(Path(settings_dir.name) / "lookout.ini"), QSettings.Format.IniFormat)
        win, session = build_window(configs, settings=settings)
        win.move(0, 0)
        session.start()
        if args.window == "max":
            win.showMaximized()
        else:
            if args.window == "min":
                win.resize(win.minimumSize().expandedTo(win.minimumSizeHint()))
            elif args.window:
                w, h = (int(v) for v in args.window.split("x"))
                win.resize(w, h)
            win.show()
        end = time.monotonic() + args.seconds
        playing = all(c.source.endswith("demo_vtest.mp4") for c in configs)

        def shown() -> bool:
            return all(t.seq >= 3 for t in win.streams.grid.tiles) if len(configs) > 1 else win.shown_seq >= 3

        while time.monotonic() < end or (playing and not shown()):
            app.processEvents()
            time.sleep(0.01)
        win.timer.stop()  # no newer frame between the paint and the grab: the boxes below are the ones shown
        win.view.repaint()
        for tile in win.streams.grid.tiles:
            tile.repaint()
        app.processEvents()
        app.sync()
        time.sleep(0.2)
        geo = win.frameGeometry()
        shot = app.primaryScreen().grabWindow(0, geo.x(), geo.y(), geo.width(), geo.height())
        scale_png = args.max_width and shot.width() > args.max_width
        if scale_png:
            shot = shot.scaledToWidth(args.max_width, Qt.TransformationMode.SmoothTransformation)
        shot.save(args.out, "PNG", 0)  # 0: the smallest file (zlib's highest compression)
        origin = win.view.mapTo(win, win.view.rect().topLeft())
        offset = win.geometry().topLeft() - geo.topLeft()
        boxes = (win.view.widget_boxes() + [origin.x() + offset.x(), origin.y() + offset.y()] * 2).tolist()
        info = {"platform": app.platformName(), "display": os.environ["DISPLAY"], "boxes": boxes,
                "window": [win.width(), win.height()], "grabbed": [geo.width(), geo.height()], "minimum": [win.minimumSize().width(), win.minimumSize().height()],
                "scale": args.scale or 1, "png_scaled_to": args.max_width if scale_png else None,
                "showing": type(win.stage.currentWidget()).__name__,
                "stats": win.view.stats_lines, "stats_origin": [origin.x() + offset.x(), origin.y() + offset.y()],
                "stats_rect": _stats_rect(win.view, origin.x() + offset.x(), origin.y() + offset.y()),
                "labels": list(win.view.result.detections.labels) if win.view.result else [],
                "class_ids": [int(c) for c in win.view.result.detections.class_ids] if win.view.result else [],
                "tiles": [_tile_info(win, t, offset) for t in win.streams.grid.tiles] if len(configs) > 1 else []}
        Path(args.out).with_suffix(".json").write_text(json.dumps(info, indent=1))
        win.close()
        app.processEvents()
        print(f"wrote {args.out} ({shot.width()}x{shot.height()}, {len(boxes)} boxes, platform {app.platformName()})")
    finally:
        if wm is not None:
            wm.terminate()
            wm.wait(5)
        if xvfb is not None:
            xvfb.terminate()
            xvfb.wait(5)
    return 0


if __name__ == "__main__":
    sys.exit(main())
