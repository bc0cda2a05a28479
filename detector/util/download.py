"""Downloads that are verified before they are kept, and the cache they are kept in.

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
from pathlib import Path

from detector.util.files import commit, sha256_file


class WeightsUnavailable(ValueError):
    """Weights cannot be had (offline, hash mismatch, cache not writable); the message says what to do."""


def cache_dir() -> Path:
    """``$LOOKOUT_CACHE``, else ``$XDG_CACHE_HOME/lookout``, else ``~/.cache/lookout``."""
    if os.environ.get("LOOKOUT_CACHE"):
        return Path(os.environ["LOOKOUT_CACHE"])
    base = os.environ.get("XDG_CACHE_HOME") or os.path.join(os.path.expanduser("~"), ".cache")
    return Path(base) / "lookout"


def download(url: str, dest: Path, sha256: str, timeout: float = 30.0) -> Path:
    """Fetch ``url`` to ``dest`` if not there yet, verified by sha256. Raises WeightsUnavailable.

    ``sha256`` may be a prefix of the digest (torchvision names its files by the first 8 hex digits).
    """
    if dest.is_file() and sha256_file(dest).startswith(sha256):
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
        commit(tmp, dest)
        return dest
    except (urllib.error.URLError, OSError, TimeoutError) as e:
        reason = getattr(e, "reason", None) or getattr(e, "strerror", None) or e
        raise WeightsUnavailable(f"cannot download {url} ({reason})") from None
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)
