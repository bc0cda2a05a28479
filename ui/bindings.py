"""Every key and mouse action of the window, in one table: the window makes its QActions from
``KEYS`` and the F1 help is built from ``KEYS`` and ``MOUSE``, so the help cannot drift from what
is bound."""
from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Binding:
    key: str               # a QKeySequence in portable text: "Space", "Ctrl+O"
    slot: str              # the method it calls: the window's, or one of its controllers' ("streams.open_file")
    text: str              # its menu entry
    help: str              # its line in the F1 help
    menu: str              # "File", "View" or "Help"
    checkable: bool = False
    checked: bool = False
    attr: str = ""         # the window keeps the QAction as this attribute (its state is read back)


KEYS: tuple[Binding, ...] = (
    Binding("Ctrl+O", "streams.open_file", "Open file…", "open a video or image file (one more stream, in a tile)", "File"),
    Binding("Ctrl+K", "streams.open_camera", "Open webcam…", "open a webcam (one more stream)", "File"),
    Binding("Ctrl+U", "streams.open_url", "Open stream URL…", "open a stream URL (rtsp://, http://; one more stream)",
            "File"),
    Binding("Ctrl+N", "streams.show_start", "Sources…", "show the sources: cameras, files, the demo clip, recent ones",
            "File"),
    Binding("S", "recording.snapshot", "Snapshot", "save the annotated frame to the snapshot folder", "File"),
    Binding("R", "recording.toggle_record", "Record", "record on / off, into the recordings folder", "File",
            checkable=True, attr="act_record"),
    Binding("Ctrl+Q", "close", "Quit", "quit", "File"),
    Binding("Space", "toggle_pause", "Pause", "pause / resume", "View", checkable=True, attr="act_pause"),
    Binding("Right", "step", "Step", "one more frame while paused", "View"),
    Binding("I", "toggle_stats", "Stats overlay", "stats overlay on / off", "View", checkable=True, checked=True),
    Binding("T", "toggle_tracks", "Track IDs and trails", "track IDs and trails on / off", "View",
            checkable=True, checked=True),
    Binding("G", "toggle_regions", "Regions looked at", "show the regions the detector looked at (--regions: "
            "object, motion, sweep, grid, whole frame) on / off", "View", checkable=True),
    Binding("F", "toggle_fullscreen", "Fullscreen", "fullscreen on / off", "View"),
    Binding("Esc", "escape", "Back to the video",
            "close this help; cancel drawing a line or zone; from one stream big back to the grid; leave a "
            "text field: the keys work the shortcuts again", "View"),
    Binding("F1", "show_help", "Keys and mouse", "this help", "Help"),
)

# Mouse actions are the video's and the panel's own events; listed here so the help shows them.
MOUSE: tuple[tuple[str, str], ...] = (
    ("Click the video", "the keys work the shortcuts again (after typing in a text field)"),
    ("Drag on the video", "draw a counting line (after Draw line)"),
    ("Click corners, double-click", "draw a zone: click its corners, double-click to close it (after Draw zone)"),
    ("Double-click a line or zone", "in the counter list: rename it (its counts are kept)"),
    ("Click a tile", "several streams: select it; the panel's confidence, classes, classifier, tracking and "
                     "counters, pause, step, snapshot and record act on it"),
    ("Double-click a tile", "several streams: show it big; double-click the video (or Esc) for the grid again"),
    ("✕ on a tile", "stop that stream and close its tile"),
)
