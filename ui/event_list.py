"""The side panel's "Events" list (``--events DIR``): the last events, newest first, each with its
time, stream, label and a thumbnail of its snapshot; a double-click plays its clip.

Records come from ``EventHub.listen`` on a recorder thread: ``hear`` only queues them, and the
window's timer calls ``pull`` on the GUI thread. Snapshots are read and shrunk on a thread of this
list's own, so the GUI thread never waits on the disk.
"""
from __future__ import annotations

import queue
from concurrent.futures import ThreadPoolExecutor
from datetime import datetime
from pathlib import Path

from PyQt6.QtCore import QSize, Qt, QUrl
from PyQt6.QtGui import QDesktopServices, QIcon, QImage, QPixmap
from PyQt6.QtWidgets import QListWidget, QListWidgetItem

MAX_EVENTS = 50
THUMB = QSize(64, 48)
ROLE = Qt.ItemDataRole.UserRole  # the item's newest record (the "end" one once the event ended)


class EventList(QListWidget):
    def __init__(self, folder: str, say, parent=None):
        """``folder``: the events folder (records' paths are relative to it); ``say(text)``: a line
        for the status bar."""
        super().__init__(parent)
        self.root, self.say = Path(folder), say
        self.setIconSize(THUMB)
        self.setFixedHeight(4 * (THUMB.height() + 6))  # four rows show; the rest scroll
        self.setToolTip("double-click an event to play its clip")
        self.itemDoubleClicked.connect(self.play)
        self._inbox: queue.Queue = queue.Queue()   # (what, record) from the recorder threads
        self._thumbs: queue.Queue = queue.Queue()  # (event id, QImage) from the thumbnail thread
        self._loader = ThreadPoolExecutor(max_workers=1, thread_name_prefix="lookout-thumbs")
        self._items: dict[str, QListWidgetItem] = {}

    def hear(self, what: str, record: dict) -> None:
        """The hub's listener (any thread): queue it and return."""
        self._inbox.put((what, record))

    def pull(self) -> None:
        """New records into the list and finished thumbnails onto their rows (GUI thread)."""
        while True:
            try:
                what, record = self._inbox.get_nowait()
            except queue.Empty:
                break
            self._show(what, record)
        while True:
            try:
                event_id, image = self._thumbs.get_nowait()
            except queue.Empty:
                break
            item = self._items.get(event_id)
            if item is not None and not image.isNull():
                item.setIcon(QIcon(QPixmap.fromImage(image)))

    def _show(self, what: str, record: dict) -> None:
        item = self._items.get(record["id"])
        if item is None:
            item = QListWidgetItem(_text(record))
            # newest first, by when the object was first seen (an event is announced only once its
            # track is confirmed, so a quicker one can be announced before an older one)
            row = 0
            while row < self.count() and self.item(row).data(ROLE)["start_time"] > record["start_time"]:
                row += 1
            self.insertItem(row, item)
            self._items[record["id"]] = item
            while self.count() > MAX_EVENTS:
                gone = self.takeItem(self.count() - 1)
                self._items = {k: v for k, v in self._items.items() if v is not gone}
        item.setData(ROLE, record)
        item.setToolTip(f"{record['stream']}: {record['label']} ({record['kind']}), " +
                        ("clip " + record["clip"] if what == "end" and record.get("clip") else "still open"))
        if what == "end" and record.get("snapshot"):  # written just before the end was announced
            self._loader.submit(self._load_thumb, record["id"], self.root / record["snapshot"])

    def _load_thumb(self, event_id: str, path: Path) -> None:
        image = QImage(str(path))  # QImage (unlike QPixmap) may be made off the GUI thread
        if not image.isNull():
            image = image.scaled(THUMB, Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.SmoothTransformation)
        self._thumbs.put((event_id, image))

    def play(self, item: QListWidgetItem) -> None:
        record = item.data(ROLE) or {}
        if record.get("end_time") is None:
            self.say(f"event {record.get('id', '')} is still open: its clip is not finished yet")
        elif not record.get("clip"):
            self.say(f"event {record['id']} has no clip")
        elif not (self.root / record["clip"]).exists():  # the clip's post-roll is still being written
            self.say(f"the clip of {record['id']} is still being written; try again in a few seconds")
        else:
            QDesktopServices.openUrl(QUrl.fromLocalFile(str((self.root / record["clip"]).resolve())))

    def close_loader(self) -> None:
        """Stop the thumbnail thread (the window is closing); a snapshot being read is finished."""
        self._loader.shutdown(wait=True, cancel_futures=True)


def _text(record: dict) -> str:
    when = datetime.fromisoformat(record["start_time"].replace("Z", "+00:00")).astimezone()  # local time
    kind = "" if record["kind"] == "object" else f" ({record['kind']})"
    return f"{when:%H:%M:%S}  {record['stream']}  {record['label']}{kind}"
