"""``--config cameras.toml``: the command line's options in a file, and one table per stream.

    model = "ssd-mobilenetv2-coco"          # any option, without its dashes (max_frames or max-frames)
    conf = 0.4
    detections = "out/{stream}.jsonl"

    [[streams]]
    name = "door"
    source = "rtsp://cam1.local/stream1"
    line = ["in=0.3,0,0.3,1"]
    motion = true

Options given on the command line win over the file. Unknown keys, values of the wrong type, stream
options that are not per-stream and duplicate names are refused in one line naming the file, the
line and the key, before anything loads.
"""
from __future__ import annotations

import argparse
import re
import sys

if sys.version_info >= (3, 11):
    import tomllib
else:  # pragma: no cover - Python 3.10
    import tomli as tomllib

from detector.engine.stream_names import NAME

PER_STREAM_KEYS = {"name", "source", "classes", "conf", "line", "zone", "counters_file", "output", "detections",
                   "dump_dir", "stats_json", "motion", "motion_keyframe", "regions", "weight", "width", "height", "fps",
                   "fourcc", "blur", "max_frames", "state", "state_interval", "state_hold", "classify_labels",
                   "classify_interval"}
NOT_IN_FILES = {"config", "help", "version", "list_models", "list_cameras", "source"}


def _keys_of(parser: argparse.ArgumentParser) -> dict[str, argparse.Action]:
    """Every spelling a file may use for an option: its dest and its long names without dashes."""
    keys: dict[str, argparse.Action] = {}
    for action in parser._actions:
        if not action.option_strings:
            continue
        names = {action.dest} | {o.lstrip("-").replace("-", "_") for o in action.option_strings if o.startswith("--")}
        for n in names - NOT_IN_FILES:
            keys[n] = action
    return keys


def _line_of(text: str, key: str, table: int | None) -> int:
    """The file line that sets ``key`` (in the ``table``-th [[streams]] table when given)."""
    lines, current, found = text.splitlines(), -1, 0
    for i, line in enumerate(lines, 1):
        if re.match(r"\s*\[\[\s*streams\s*\]\]", line):
            current += 1
        elif re.match(rf"\s*\"?{re.escape(key)}\"?\s*=", line) and (current == -1 if table is None else current == table):
            return i
    return found


def _type_error(action: argparse.Action, value) -> str | None:
    """Why ``value`` does not fit the option, or None."""
    if isinstance(action, (argparse._StoreTrueAction, argparse._StoreFalseAction)):
        return None if isinstance(value, bool) else "expected true or false"
    if isinstance(action, argparse._AppendAction):
        ok = isinstance(value, str) or (isinstance(value, list) and all(isinstance(v, str) for v in value))
        return None if ok else "expected a string or a list of strings"
    if action.type in (int,):
        return None if isinstance(value, int) and not isinstance(value, bool) else "expected a whole number"
    if action.type in (float,):
        return None if isinstance(value, (int, float)) and not isinstance(value, bool) else "expected a number"
    if action.dest in ("classes", "blur", "classify_labels"):
        ok = isinstance(value, str) or (isinstance(value, list) and all(isinstance(v, str) for v in value))
        return None if ok else "expected names as a string or a list"
    if callable(action.type):  # parsed from text, like --max-pixels 50M
        return None if isinstance(value, (str, int)) and not isinstance(value, bool) else "expected a number or text"
    if not isinstance(value, str):
        return "expected a string"
    if action.choices and value not in action.choices:
        return f"expected one of {', '.join(map(str, action.choices))}"
    return None


def _value(action: argparse.Action, value):
    if callable(action.type) and action.type not in (int, float) and isinstance(value, (str, int)):
        return action.type(str(value))
    if isinstance(action, argparse._AppendAction) and isinstance(value, str):
        return [value]
    return value


def read_config(path: str, parser: argparse.ArgumentParser) -> tuple[dict, list[dict]]:
    """(top-level options as parser dests, one dict of options per stream). ValueError, one line."""
    try:
        text = open(path, encoding="utf-8").read()
    except OSError as e:
        raise ValueError(f"--config {path!r}: cannot read it ({e.strerror})") from None
    except UnicodeDecodeError:
        raise ValueError(f"--config {path!r}: expected a UTF-8 TOML file") from None
    try:
        data = tomllib.loads(text)
    except tomllib.TOMLDecodeError as e:
        raise ValueError(f"--config {path}: not valid TOML ({e})") from None
    keys = _keys_of(parser)

    def check(key: str, value, table: int | None) -> tuple[str, object]:
        where = f"{path}:{_line_of(text, key, table)}"
        norm = key.replace("-", "_")
        action = keys.get(norm)
        if action is None:
            raise ValueError(f"{where}: unknown key {key!r}; the keys are the command line's options without their "
                             f"dashes (conf, classes, max_frames, ...)" + (", and name, source" if table is not None else ""))
        if table is not None and action.dest not in PER_STREAM_KEYS:
            raise ValueError(f"{where}: {key!r} applies to every stream: set it at the top of the file, not in "
                             f"a [[streams]] table")
        problem = _type_error(action, value)
        if problem:
            raise ValueError(f"{where}: {key}: {problem}, got {value!r:.60}")
        try:
            return action.dest, _value(action, value)
        except argparse.ArgumentTypeError as e:
            raise ValueError(f"{where}: {key}: {e}") from None

    top: dict = {}
    for key, value in data.items():
        if key == "streams":
            continue
        if isinstance(value, dict):
            raise ValueError(f"{path}:{_line_of(text, key, None)}: unknown table [{key}]; streams are [[streams]] tables")
        dest, v = check(key, value, None)
        top[dest] = v
    streams = data.get("streams", [])
    if not isinstance(streams, list) or not all(isinstance(s, dict) for s in streams):
        raise ValueError(f"{path}: streams must be [[streams]] tables")
    out, seen = [], {}
    for k, table in enumerate(streams):
        one: dict = {}
        for key in ("name", "source"):
            value = table.get(key)
            where = f"{path}:{_line_of(text, key, k) or _line_of(text, 'streams', None)}"
            if not isinstance(value, str) or not value.strip():
                raise ValueError(f"{where}: stream {k + 1} needs {key} = \"...\" (text)")
            one[key] = value
        if not NAME.fullmatch(one["name"]):
            raise ValueError(f"{path}:{_line_of(text, 'name', k)}: stream name {one['name']!r}: expected letters, "
                             f"digits, _ or -")
        if one["name"] in seen:
            raise ValueError(f"{path}:{_line_of(text, 'name', k)}: stream name {one['name']!r} is used twice "
                             f"(also on line {seen[one['name']]})")
        seen[one["name"]] = _line_of(text, "name", k)
        for key, value in table.items():
            if key not in ("name", "source"):
                dest, v = check(key, value, k)
                one[dest] = v
        out.append(one)
    return top, out
