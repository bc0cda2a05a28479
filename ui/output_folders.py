"""Where snapshots and recordings go: folders the user sees and can change, remembered between runs,
and file names that never overwrite what is already there."""
from __future__ import annotations

import os
from pathlib import Path

from PyQt6.QtCore import QSettings, QStandardPaths

KINDS = {"snapshots": QStandardPaths.StandardLocation.PicturesLocation,
         "recordings": QStandardPaths.StandardLocation.MoviesLocation}


def app_settings() -> QSettings:
    return QSettings("Lookout", "Lookout")


def default_folder(kind: str) -> Path:
    """The platform's Pictures (snapshots) or Videos (recordings) folder, under Lookout/."""
    base = QStandardPaths.writableLocation(KINDS[kind]) or str(Path.home())
    return Path(base) / "Lookout"


class OutputFolders:
    """The snapshot and recording folders: a command-line folder for this run, else the remembered
    setting, else the default. ``set`` remembers the user's choice."""

    def __init__(self, settings: QSettings, snapshots: str | None = None, recordings: str | None = None):
        self.settings = settings
        self._given = {"snapshots": snapshots, "recordings": recordings}

    def folder(self, kind: str) -> Path:
        given = self._given[kind]
        if given:
            return Path(given).expanduser().absolute()
        saved = self.settings.value(f"output/{kind}", "", type=str)
        return Path(saved) if saved else default_folder(kind)

    def set(self, kind: str, folder: str) -> None:
        self._given[kind] = None  # the user's choice now wins over the command line's
        self.settings.setValue(f"output/{kind}", str(Path(folder).absolute()))


def claim_fresh(folder: Path, stem: str, suffix: str, reserve=lambda path: path) -> Path:
    """A name ``folder/stem[-N]suffix`` that no file has, held by creating ``reserve(name)`` exclusively
    (the name itself for a file written at once; a recording's partial file for one finished later),
    so neither an old file nor one started at the same moment is overwritten. OSError if the folder
    cannot be written."""
    folder.mkdir(parents=True, exist_ok=True)
    for n in range(10_000):
        path = folder / f"{stem}{'' if n == 0 else f'-{n}'}{suffix}"
        if path.exists():
            continue
        try:
            os.close(os.open(reserve(path), os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644))
            return path
        except FileExistsError:
            continue
    raise OSError(f"no free file name like {folder / stem}{suffix}")
