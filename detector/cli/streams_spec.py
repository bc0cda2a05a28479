"""With several streams, the outputs one stream alone can own must name the stream in their path."""
from __future__ import annotations

from detector.engine.stream_names import PLACEHOLDER

PER_STREAM = ("output", "dump_dir")


def check_templates(values: dict, several: bool, where: str = "") -> None:
    """With several streams, a video or dump folder given for all of them must name the stream."""
    if not several:
        return
    for key in PER_STREAM:
        path = values.get(key)
        if path and PLACEHOLDER not in path:
            flag = "--" + key.replace("_", "-")
            raise ValueError(f"{where}{flag} {path!r} is given for several streams: put {PLACEHOLDER} in it "
                             f"(e.g. out/{PLACEHOLDER}.mp4) so each stream writes its own")
