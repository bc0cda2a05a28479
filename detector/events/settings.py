"""What an events run is told: parsed once from the options, checked before any model loads.

Stdlib only. Secrets (the broker password, the webhook secret) live here and in the sender threads,
and are never part of a repr, a log line, stats or an event: ``masked`` is what anything shows.
"""
from __future__ import annotations

import os
import re
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import unquote, urlsplit


_SAFE = re.compile(r"[^A-Za-z0-9_-]+")

# People, vehicles and animals (COCO names): what a camera on a door, a yard or a drive is for.
# Other classes (a chair, skis, a sports ball) are still tracked, drawn and counted, never alerted on.
DEFAULT_EVENT_CLASSES = ("person", "bicycle", "car", "motorcycle", "bus", "truck", "bird", "cat", "dog",
                         "horse", "sheep", "cow", "bear")


def parse_event_classes(text: str) -> tuple[str, ...]:
    """``--event-classes``: 'person,car' -> ('person', 'car'); 'all' -> () (every class)."""
    names = tuple(n.strip() for n in str(text).split(",") if n.strip())
    if not names:
        raise ValueError(f"--event-classes {text!r}: expected class names separated by commas, or all")
    return () if names == ("all",) else names


def parse_event_threshold(text: str) -> tuple[float | None, tuple[tuple[str, float], ...]]:
    """``--event-threshold``: '0.6' (every class), 'person=0.6,car=0.7' (those classes) or both
    ('0.5,person=0.6') -> (the default or None, ((label, score), ...)); scores in 0..1."""
    default, pairs = None, {}
    for item in (i.strip() for i in str(text).split(",")):
        label, sep, value = item.rpartition("=")
        try:
            v = float(value)
        except ValueError:
            v = -1.0
        if not item or not 0 <= v <= 1 or (sep and not label.strip()):
            raise ValueError(f"--event-threshold {text!r}: expected SCORE or LABEL=SCORE,... with scores "
                             f"from 0 to 1, e.g. person=0.6,car=0.7")
        if sep:
            pairs[label.strip()] = v
        else:
            default = v
    return default, tuple(pairs.items())


def safe_name(text: str) -> str:
    """A name usable in a file name and an MQTT topic level: letters, digits, _ and -."""
    return _SAFE.sub("_", text).strip("_") or "stream"


def stream_name(source: str) -> str:
    """The default ``stream``: ``cam0`` for webcam 0, the file stem for a file, the host for a URL."""
    s = str(source).strip()
    if s.isascii() and s.isdigit():  # '²' is a digit to Python, not a webcam index
        return f"cam{s}"
    if "://" in s:
        parts = urlsplit(s)
        return safe_name(f"{parts.hostname or 'stream'}{parts.path.replace('/', '_')}")
    return safe_name(Path(s.rstrip("/")).stem)


@dataclass(frozen=True)
class MqttTarget:
    host: str
    port: int
    prefix: str
    tls: bool
    username: str | None = None
    password: str | None = field(default=None, repr=False)

    @property
    def masked(self) -> str:
        user = f"{self.username}:***@" if self.username else ""
        return f"{'mqtts' if self.tls else 'mqtt'}://{user}{self.host}:{self.port}/{self.prefix}"


def hide_userinfo(url: str) -> str:
    """``url`` with whatever stands before its last '@' (user name and password) shown as ``***``:
    safe for any text, even a password holding '@', ':' or '/' (hiding too much is the safe side)."""
    head, sep, rest = url.partition("://")
    if not sep:
        head, rest = "", url
    if "@" in rest:
        rest = "***@" + rest.rsplit("@", 1)[1]
    return head + sep + rest


def parse_mqtt(url: str) -> MqttTarget:
    """``mqtt://[user:pass@]host[:port][/prefix]`` (``mqtts://``: TLS, port 8883). ValueError that
    never repeats the password."""
    shown = hide_userinfo(url)
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        raise ValueError(f"--mqtt {shown!r}: expected mqtt://[user:pass@]host[:port][/prefix]") from None
    if parts.scheme not in ("mqtt", "mqtts") or not parts.hostname:
        raise ValueError(f"--mqtt {shown!r}: expected mqtt://[user:pass@]host[:port][/prefix] (mqtts:// for TLS)")
    prefix = parts.path.strip("/") or "lookout"
    if any(c in prefix for c in "#+") or parts.query or parts.fragment:
        raise ValueError(f"--mqtt {shown!r}: the topic prefix may not hold #, + or ?")
    tls = parts.scheme == "mqtts"
    return MqttTarget(parts.hostname, port or (8883 if tls else 1883), prefix, tls,
                      unquote(parts.username) if parts.username else None,
                      unquote(parts.password) if parts.password is not None else None)


def check_webhook(url: str) -> str:
    parts = urlsplit(url)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ValueError(f"--webhook {hide_userinfo(url)!r}: expected an http:// or https:// URL")
    return url


def parse_area(option: str, spec: str) -> tuple[str, float]:
    """``[LABEL=]A``: a fraction of the frame (A < 1) or pixels (A >= 1); label '' for every class."""
    label, sep, value = spec.rpartition("=")
    try:
        a = float(value)
    except ValueError:
        a = -1.0
    if not (a >= 0 and a < 1e12):
        raise ValueError(f"{option} {spec!r}: expected [LABEL=]AREA, AREA a fraction of the frame (below 1) "
                         f"or pixels")
    return label.strip(), a


def parse_count_above(spec: str) -> tuple[str, str, int]:
    """``ZONE[:LABEL]=N`` -> (zone, label or '', N)."""
    head, sep, value = spec.rpartition("=")
    zone, _, label = head.partition(":")
    try:
        n = int(value)
    except ValueError:
        n = -1
    if not sep or not zone.strip() or n < 0:
        raise ValueError(f"--count-above {spec!r}: expected ZONE=N or ZONE:LABEL=N (N a whole number >= 0)")
    return zone.strip(), label.strip(), n


def webhook_secret(given: str | None) -> str:
    return given or os.environ.get("LOOKOUT_WEBHOOK_SECRET", "")


def check_rules(loiter: float, count_above, zones: list[str]) -> None:
    if loiter and not zones:
        raise ValueError("--loiter needs a zone: give --zone NAME=x1,y1,x2,y2,x3,y3,... (or --counters FILE)")
    for zone, _, _ in count_above:
        if zone not in zones:
            raise ValueError(f"--count-above {zone}: no zone of that name; the zones are: "
                             f"{', '.join(zones) or 'none (give --zone)'}")
