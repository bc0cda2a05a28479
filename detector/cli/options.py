"""The command line's options, in groups shared by ``lookout`` and ``lookout batch``.

Each option's ``dest`` is the ``RunConfig`` field it sets and its default is that field's default, so
``config_from(args)`` copies them across by name and the defaults are written once (in RunConfig).
Options that are spelled differently from the field they feed (``--line`` -> ``counters``,
``--live`` -> ``live`` / ``play_realtime``) are converted in ``config_from``; every range check lives
in ``RunConfig.__post_init__``. Stdlib and the registry only: parsing loads no model and no torch.
"""
from __future__ import annotations

import argparse
import dataclasses
import os
from pathlib import Path

from detector.engine.run import RunConfig
from detector.models.registry import CLASSIFIERS, DEFAULT_CLASSIFIER, DEFAULT_MODEL, KNOWN_MODELS

D = {f.name: f.default for f in dataclasses.fields(RunConfig) if f.default is not dataclasses.MISSING}


def pixels(text: str) -> int:
    """'50M' or '33177600' -> a pixel count (argparse type)."""
    t = text.strip().upper()
    scale = 1_000_000 if t.endswith("M") else 1
    try:
        value = float(t[:-1] if scale > 1 else t) * scale
    except ValueError:
        value = 0.0
    if not 1 <= value < 2**62:  # nan and inf fail this too
        raise argparse.ArgumentTypeError(f"expected a pixel count like 50M or 33177600, got {text!r}")
    return int(value)


def bitrate(text: str | None) -> int | None:
    """'4M', '800k', '2500000' -> bits/s."""
    if text is None:
        return None
    t = text.strip().lower()
    scale = {"k": 1_000, "m": 1_000_000}.get(t[-1:], 1)
    try:
        value = float(t[:-1] if scale > 1 else t) * scale
    except ValueError:
        value = 0.0
    if not 1000 <= value < 2**40:  # nan and inf fail this too
        raise ValueError(f"expected --bitrate like 4M, 800k or 2500000 (bits/s, 1k to 1T), got {text!r}")
    return int(value)


def duration(text: str) -> float:
    """'10s', '10m', '1h', '2d' or plain seconds -> seconds (argparse type; its error is one line, exit 2)."""
    import argparse
    import re
    m = re.fullmatch(r"\s*(\d+(?:\.\d+)?)\s*([smhd]?)\s*", str(text).lower())
    if not m:
        raise argparse.ArgumentTypeError(f"expected a duration like 10s, 10m, 1h or 1d, got {text!r}")
    return float(m.group(1)) * {"": 1, "s": 1, "m": 60, "h": 3600, "d": 86400}[m.group(2)]


def add_video_options(ap) -> None:
    from detector.io.video_out import PRESETS
    ap.add_argument("--codec", choices=("h264", "hevc", "mpeg4", "mjpeg"), default=D["codec"],
                    help="video codec (default h264; mjpeg for .avi)")
    ap.add_argument("--preset", choices=PRESETS, default=D["preset"],
                    help="H.264/HEVC encoder speed preset (default veryfast; ultrafast: about 14%% more frames a "
                         "second through a lossless run on 2 cores, for a file 2.4-2.7x as big)")
    ap.add_argument("--segment", type=duration, default=D["segment"], metavar="DURATION",
                    help="cut the --output video into files DURATION long (10s, 10m, 1h), named by their start's "
                         "local time: {start} in the name (added before the extension if missing); each file "
                         "appears when complete, the detections file's lines name their segment")
    ap.add_argument("--keep", type=duration, default=D["keep"], metavar="AGE",
                    help="delete Lookout's own segments (--segment) and event clips older than AGE (7d, 12h); "
                         "never a file it did not write")
    ap.add_argument("--min-free", default=D["min_free"], metavar="SIZE",
                    help="keep this much free on their disk (5G, 500M, or 10%%) by deleting the oldest of them")
    quality = ap.add_mutually_exclusive_group()
    quality.add_argument("--crf", type=int, default=D["crf"], metavar="Q",
                         help="H.264/HEVC quality, 0-51, lower is better and bigger (default 23)")
    quality.add_argument("--bitrate", default=None, metavar="RATE", help="target bitrate instead, e.g. 4M or 800k")


def add_stream_options(ap) -> None:
    """How sources are opened and how big a frame may be."""
    ap.add_argument("--reconnect", dest="reconnect_attempts", type=int, default=D["reconnect_attempts"], metavar="N",
                    help="a camera or stream that drops: reconnect tries (backoff from 0.5 s) before giving up")
    ap.add_argument("--open-timeout", dest="open_timeout_s", type=float, default=D["open_timeout_s"], metavar="S",
                    help="stream connect/read timeout")
    ap.add_argument("--rtsp-transport", choices=("tcp", "udp"), default=D["rtsp_transport"],
                    help="RTSP over TCP (default: works through NAT and firewalls) or UDP")
    ap.add_argument("--motion", action="store_true",
                    help="skip the detector on frames where nothing moved (their boxes carry over), with a full "
                         "detection at least every --motion-keyframe seconds: for mostly still cameras")
    ap.add_argument("--regions", default=D["regions"], metavar="MODE",
                    help="what the detector looks at: auto (squares around objects and motion, a sweep of the rest, "
                         "the whole frame now and then), grid or grid:CxR (the whole frame plus overlapping tiles, every "
                         "frame), off (the whole frame squeezed to the model's input). Default: auto when the frame's "
                         "longer side is at least 2.5x the model's input (768x576, 720p and up), off below (640x480); "
                         "images get grid. Small, distant people are found only with regions")
    ap.add_argument("--motion-keyframe", type=float, default=D["motion_keyframe"], metavar="S",
                    help="with --motion: detect at least this often (default 2 s)")
    ap.add_argument("--max-pixels", type=pixels, default=D["max_pixels"], metavar="N",
                    help=f"largest image or video frame decoded, e.g. 50M (default {D['max_pixels'] / 1e6:g}M: 8K "
                         f"video and 48 MP photos pass); bigger images are refused, or skipped in a folder, "
                         f"before they are decoded")


def add_model_options(ap) -> None:
    """Model, thresholds, classes, classifier, tracking and counting."""
    ap.add_argument("--device", default=D["device"], help="auto (CUDA when present), cpu or cuda")
    ap.add_argument("--half", action="store_true", help="fp16 on CUDA (fp32 is the default: exact, and "
                    "faster at batch 1 on the GPUs measured)")
    ap.add_argument("--backend", default=D["backend"], choices=("auto", "eager", "fused", "jit", "onnxruntime"),
                    help="detector runtime (auto: ONNX Runtime on CPU when installed, else TorchScript)")
    ap.add_argument("--int8", action="store_true",
                    help="run a float SSDLite model (e.g. ssdlite-mobilenetv2-person) as int8 in ONNX Runtime: "
                         "about 0.65x the time, 97.7%% of its boxes found (precision 97.4%%, scores within 0.03 on "
                         "average; measured on vtest.avi); CPUs with VNNI only; quantised once, then cached")
    ap.add_argument("--int8-calibration", default=D["int8_calibration"], metavar="SOURCE",
                    help="video, image or folder of your scenes to calibrate --int8 on (implies --int8; "
                         "default: the demo clip)")
    ap.add_argument("--model", default=DEFAULT_MODEL,
                    help=f"detector name ({', '.join(KNOWN_MODELS)}; default {DEFAULT_MODEL}) or path "
                         f"(any .onnx detector, .tflite SSD, .pt, .pb, model-zoo .tar.gz); see lookout models "
                         f"and docs/models.md")
    ap.add_argument("--labels", default=None, metavar="FILE",
                    help="class names for an .onnx --model whose file names none (one a line, class 0 first)")
    ap.add_argument("--classifier", default=D["classifier"],
                    help=f"classifier name ({', '.join(CLASSIFIERS)}; default {DEFAULT_CLASSIFIER}) or path to a "
                         f".tflite / .pt, or a .onnx from lookout train")
    ap.add_argument("--classify", default=D["classify"], choices=("off", "frame", "boxes"),
                    help="classify the whole frame or each detected box")
    ap.add_argument("--classify-labels", default="", metavar="LABELS",
                    help="with --classify boxes and a --classifier from lookout train: classify only tracked "
                         "objects of these labels (e.g. person), a few times per track (first sight, every "
                         "--classify-interval, when the box grows), voted over the track: sub_label and "
                         "sub_score in the outputs, events and MQTT (tracking turns on)")
    ap.add_argument("--classify-interval", type=float, default=D["classify_interval"], metavar="S",
                    help=f"seconds between two looks at one track with --classify-labels (default "
                         f"{D['classify_interval']:g})")
    ap.add_argument("--state", action="append", default=[], metavar="NAME=x1,y1,x2,y2:MODEL.onnx",
                    help="classify this region (pixels, or fractions of the frame) with a lookout train model "
                         "when something moves there and every --state-interval; a change held for --state-hold "
                         "checks is a state event (from/to, snapshot) and an MQTT topic / Home Assistant sensor; "
                         "repeatable")
    ap.add_argument("--state-interval", type=float, default=D["state_interval"], metavar="S",
                    help=f"seconds between two looks at a --state region where nothing moved (default "
                         f"{D['state_interval']:g})")
    ap.add_argument("--state-hold", type=int, default=D["state_hold"], metavar="N",
                    help=f"checks in a row a new state needs before it counts (default {D['state_hold']})")
    ap.add_argument("--conf", type=float, default=D["conf"], help=f"score threshold (default {D['conf']})")
    ap.add_argument("--iou", type=float, default=D["iou"], help=f"NMS IoU threshold (default {D['iou']})")
    ap.add_argument("--classes", default="", help="comma-separated class names to keep, e.g. person,car")
    ap.add_argument("--blur", default="", metavar="CLASSES", help="comma-separated class names to blur in every "
                    "video and image written, e.g. person (the detections files are unchanged)")
    track = ap.add_argument_group("tracking and counting")
    track.add_argument("--track", action="store_true", help="track objects across frames: stable IDs in the "
                       "JSONL (track_id), the video and the window (on by itself with --line / --zone)")
    track.add_argument("--line", action="append", default=[], metavar="NAME=x1,y1,x2,y2",
                       help="count tracks crossing this line, per class and direction (pixels, or fractions of "
                            "the frame when all four are in 0..1); repeatable")
    track.add_argument("--zone", action="append", default=[], metavar="NAME=x1,y1,x2,y2,x3,y3,...",
                       help="count tracks inside this polygon: now, most at once, entered; repeatable")
    track.add_argument("--counters", dest="counters_file", metavar="FILE",
                       help="lines and zones from a JSON file (the window saves one)")
    track.add_argument("--tracker-match", type=float, default=D["tracker_match"], metavar="M",
                       help=f"association cost limit, 1 - IoU x score (default {D['tracker_match']:g}; lower = stricter)")
    track.add_argument("--tracker-buffer", type=int, default=D["tracker_buffer"], metavar="FRAMES",
                       help="at most this many frames a lost track is kept (default 0: by --track-lost's time only)")
    track.add_argument("--track-lost", type=float, default=D["track_lost"], metavar="S",
                       help=f"seconds a lost track is kept to pick it up again where it reappears, at any frame "
                            f"rate (default {D['track_lost']:g})")
    track.add_argument("--no-appearance", dest="track_appearance", action="store_false",
                       help="re-link lost tracks without appearance vectors of the boxes (then only by overlap; "
                            "saves the embedding's CPU)")
    track.add_argument("--no-camera-motion", dest="track_camera_motion", action="store_false",
                       help="do not move the tracks' predictions with a panning or moving camera (a camera found "
                            "standing still is checked twice a second and costs next to nothing)")


def add_event_options(ap) -> None:
    """Events, clips and alerts (detector/events); every dest a RunConfig field."""
    ev = ap.add_argument_group("events, clips and alerts (--events turns tracking on)")
    ev.add_argument("--events", metavar="DIR", default=D["events"],
                    help="write events to DIR: events.jsonl, the index events.db (lookout events DIR), clips/ "
                         "and snapshots/; nothing there that Lookout did not write is replaced or deleted")
    ev.add_argument("--event-gap", type=float, default=D["event_gap"], metavar="S",
                    help=f"an object's event ends when it has been gone this long (default {D['event_gap']:g} s)")
    ev.add_argument("--min-event-seconds", dest="min_event_s", type=float, default=D["min_event_s"], metavar="S",
                    help=f"seconds of video a track must be seen before it is an event, at any frame rate "
                         f"(default {D['min_event_s']:g})")
    ev.add_argument("--min-event-frames", type=int, default=D["min_event_frames"], metavar="N",
                    help=f"and frames it must be seen in (default {D['min_event_frames']})")
    ev.add_argument("--event-threshold", dest="event_threshold_spec", default=None, metavar="SCORE|LABEL=SCORE,...",
                    help=f"median score (over the last second) a track needs to be an event: one for every class, "
                         f"per class (person=0.6,car=0.7), or both (default {D['event_threshold']:g})")
    ev.add_argument("--event-classes", dest="event_classes_spec", default=None, metavar="NAMES",
                    help="classes that make events, comma-separated, or all (default: people, vehicles and "
                         f"animals: {','.join(D['event_classes'])}); other classes are still detected and drawn")
    ev.add_argument("--min-area", action="append", default=[], metavar="[LABEL=]A",
                    help="smallest box an event counts: a fraction of the frame (below 1) or pixels; per label "
                         "or for all (default 0.0008: smaller boxes on vtest were only false balls); repeatable")
    ev.add_argument("--max-area", action="append", default=[], metavar="[LABEL=]A", help="largest box, likewise")
    ev.add_argument("--loiter", type=float, default=D["loiter"], metavar="S",
                    help="a loiter event when a track stays inside a zone this long (needs --zone)")
    ev.add_argument("--count-above", action="append", default=[], metavar="ZONE[:LABEL]=N",
                    help="an event while a zone holds more than N tracks (of LABEL); repeatable")
    ev.add_argument("--pre-roll", type=float, default=D["pre_roll"], metavar="S",
                    help=f"seconds of video before an event in its clip (default {D['pre_roll']:g})")
    ev.add_argument("--post-roll", type=float, default=D["post_roll"], metavar="S",
                    help=f"seconds after its end (default {D['post_roll']:g})")
    ev.add_argument("--clip-annotated", action="store_true", help="draw boxes in clips (default: raw frames)")
    ev.add_argument("--max-clip", type=duration, default=D["max_clip"], metavar="DURATION",
                    help="an event clip ends at this length and the next file continues it (default 5m; 30s, 10m, 1h)")
    ev.add_argument("--events-max-gb", type=float, default=D["events_max_gb"], metavar="GB",
                    help="retention: delete the oldest events (clip, snapshots, row) past this size")
    ev.add_argument("--events-max-days", type=float, default=D["events_max_days"], metavar="DAYS",
                    help="retention: delete events older than this")
    ev.add_argument("--mqtt", metavar="URL", default=None,
                    help="publish events, counts and Home Assistant discovery to "
                         "mqtt://[user:pass@]host[:port][/prefix] (mqtts:// for TLS; prefix default lookout)")
    ev.add_argument("--webhook", dest="webhooks", action="append", default=[], metavar="URL",
                    help="POST each event start and end as JSON to URL; repeatable")
    ev.add_argument("--webhook-secret", default="", metavar="SECRET",
                    help="sign webhook bodies (X-Lookout-Signature: sha256=HMAC); or env LOOKOUT_WEBHOOK_SECRET")


def add_camera_options(ap) -> None:
    cam = ap.add_argument_group("webcams (the camera may grant another mode; Lookout reports what it got)")
    cam.add_argument("--width", type=int, default=0, help="capture width in pixels")
    cam.add_argument("--height", type=int, default=0, help="capture height in pixels")
    cam.add_argument("--fps", type=float, default=0.0, help="capture frame rate")
    cam.add_argument("--fourcc", default="", metavar="CODE", help="pixel format, e.g. MJPG or YUYV")


def config_from(args: argparse.Namespace, **overrides) -> RunConfig:
    """The RunConfig for parsed options (``overrides`` win): fields copied by name, the spelled-
    differently ones converted, then the checks that need the registry or a file. ValueError, one
    line, for any bad option; nothing heavy is loaded."""
    given = {**vars(args), **overrides}
    fields = {f.name for f in dataclasses.fields(RunConfig)}
    values = {k: v for k, v in given.items() if k in fields}
    from detector.io.sources import is_live_spec
    source = values.get("source", D["source"])
    live_flag, lossless_flag = given.get("live_flag", False), given.get("lossless", False)
    counters = _counters(given)
    values.update(
        live=True if live_flag else (False if lossless_flag else None),
        play_realtime=bool(live_flag) and not is_live_spec(source),
        int8=bool(given.get("int8") or given.get("int8_calibration")),
        classes=_names(given.get("classes", "")),
        blur=_names(given.get("blur", "")),
        classify_labels=_names(given.get("classify_labels", "")),
        states=_states(given.get("state", [])),
        bitrate=bitrate(given.get("bitrate")),
        camera=_camera_mode(given),
        counters=tuple(counters), track=bool(given.get("track")) or bool(counters),
        reconnect_attempts=max(int(values.get("reconnect_attempts", D["reconnect_attempts"])), 0),
        open_timeout_s=max(float(values.get("open_timeout_s", D["open_timeout_s"])), 0.5),
    )
    values.update(_event_values(given, values, counters))
    config = RunConfig(**values)
    _check_output(config)
    _check_int8(config)
    _check_classes(config.model, config.classes)
    _check_classes(config.model, config.blur, "--blur")
    _check_classes(config.model, config.classify_labels, "--classify-labels")
    _check_card_objects(config)
    _check_state_regions(config)
    return config


def _states(specs) -> tuple:
    """--state specs parsed and their models checked (a .onnx with a card; a pixel region inside the
    frame of a file source): ValueError, one line, before anything loads."""
    from detector.engine.states import parse_state
    out = tuple(parse_state(s) for s in ([specs] if isinstance(specs, str) else specs))
    from detector.convert.card_io import read_card
    for name, _, path in out:
        if not path.lower().endswith(".onnx") or not os.path.isfile(path):
            raise ValueError(f"--state {name}: model {path!r} is not an existing .onnx file; expected one written "
                             f"by lookout train")
        if read_card(path) is None:
            raise ValueError(f"--state {name}: {path} has no lookout.card (labels, preprocessing); expected a "
                             f"model written by lookout train")
    return out


def _check_state_regions(config: RunConfig) -> None:
    """A pixel --state region outside the frame of a file source (its size read from the file)."""
    if not config.states or not os.path.isfile(config.source):
        return
    from detector.engine.states import region_pixels
    from detector.io.sources import IMAGE_EXTS, image_size
    if os.path.splitext(config.source)[1].lower() in IMAGE_EXTS:
        size = image_size(config.source)
    else:
        import cv2
        cap = cv2.VideoCapture(config.source)
        size = (int(cap.get(cv2.CAP_PROP_FRAME_WIDTH)), int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT)))
        cap.release()
    if size and size[0] > 0 and size[1] > 0:
        for name, box, _ in config.states:
            try:
                region_pixels(box, *size)
            except ValueError as e:
                raise ValueError(f"--state {name}: " + str(e).removeprefix("--state ")) from None


def _check_card_objects(config: RunConfig) -> None:
    """--classify-labels against what a lookout train model was trained on (its card's ``objects``),
    from the file's metadata alone (onnx, no runtime)."""
    path = config.classifier or ""
    if not config.classify_labels or not path.lower().endswith(".onnx"):
        return
    if not os.path.isfile(path):
        raise ValueError(f"--classifier {path!r} does not exist; expected a .onnx file written by lookout train")
    from detector.convert.card_io import read_card
    card = read_card(path)
    objects = (card or {}).get("objects") or []
    foreign = [n for n in config.classify_labels if objects and n not in objects]
    if foreign:
        raise ValueError(f"--classify-labels {', '.join(foreign)}: {os.path.basename(path)} was trained on crops "
                         f"of {', '.join(objects)}; use --classify-labels {','.join(objects)} or train one for "
                         f"{', '.join(foreign)}")


def _names(text) -> tuple[str, ...]:
    """'person, car' or ['person', 'car'] (a config file) -> ('person', 'car')."""
    items = text.split(",") if isinstance(text, str) else list(text)
    return tuple(str(c).strip() for c in items if str(c).strip())


def _event_values(given: dict, values: dict, counters: list) -> dict:
    """The event options as RunConfig values, checked (no model needed): ValueError, one line."""
    from detector.analytics.counting import Zone
    from detector.events import settings as ev
    # a label's own --min-area adds to the default floor for every class; "--min-area A" replaces it
    min_area = dict(D["min_area"]) | dict(ev.parse_area("--min-area", s) for s in given.get("min_area", []))
    out = {"min_area": tuple(min_area.items()),
           "max_area": tuple(ev.parse_area("--max-area", s) for s in given.get("max_area", [])),
           "count_above": tuple(ev.parse_count_above(s) for s in given.get("count_above", [])),
           "webhooks": tuple(ev.check_webhook(u) for u in given.get("webhooks", []))}
    if given.get("event_threshold_spec") is not None:
        default, pairs = ev.parse_event_threshold(given["event_threshold_spec"])
        out["event_thresholds"] = pairs
        if default is not None:
            out["event_threshold"] = default
        _check_classes(values.get("model", D["model"]), tuple(k for k, _ in pairs), "--event-threshold")
    if given.get("event_classes_spec") is not None:
        out["event_classes"] = ev.parse_event_classes(given["event_classes_spec"])
        _check_classes(values.get("model", D["model"]), out["event_classes"], "--event-classes")
    events = values.get("events")
    alerts = [f for f, v in (("--mqtt", given.get("mqtt")), ("--webhook", out["webhooks"])) if v]
    if alerts and not events:
        raise ValueError(f"{alerts[0]} sends events: give --events DIR too")
    if given.get("mqtt"):
        ev.parse_mqtt(given["mqtt"])
        try:
            import paho.mqtt.client  # noqa: F401
        except ImportError:
            raise ValueError("--mqtt needs paho-mqtt: pip install paho-mqtt") from None
    ev.check_rules(float(values.get("loiter") or 0), out["count_above"],
                   [c.name for c in counters if isinstance(c, Zone)])
    if events:
        out["track"] = True
    return out


def _counters(given: dict) -> list:
    from detector.analytics.counting import check_names, load_counters, parse_counter
    counters = load_counters(given["counters_file"]) if given.get("counters_file") else []
    counters += [parse_counter("line", s) for s in given.get("line", [])]
    counters += [parse_counter("zone", s) for s in given.get("zone", [])]
    check_names(counters)
    return counters


def _camera_mode(given: dict):
    from detector.io.camera import CameraMode, parse_fourcc
    w, h, fps = given.get("width", 0), given.get("height", 0), given.get("fps", 0.0)
    if w < 0 or h < 0 or fps < 0:
        raise ValueError(f"expected --width, --height and --fps >= 0, got {w}, {h}, {fps}")
    fourcc = given.get("fourcc", "")
    return CameraMode(w, h, fps, parse_fourcc(fourcc) if fourcc else "")


def _check_output(config: RunConfig) -> None:
    from detector.engine.config import output_kind
    from detector.io.sinks import VIDEO_SUFFIXES
    from detector.io.sources import IMAGE_EXTS, is_live_spec
    from detector.io.video_out import PRESET_ENCODERS, pick_encoder
    kind, src = output_kind(config), config.source
    images_in = not is_live_spec(src) and (Path(src).is_dir() or any(c in src for c in "*?[")
                                           or Path(src).suffix.lower() in IMAGE_EXTS)
    one_image = images_in and Path(src).is_file()
    if kind == "image" and not one_image:
        raise ValueError(f"--output {config.output!r} is an image name, for an image source; for a "
                         f"{'folder of images give --output DIR/' if images_in else 'video or stream give a video name (.mp4)'}")
    if kind == "images" and (not images_in or one_image):
        raise ValueError(f"--output {config.output!r} is a folder, for a folder or glob of images; for "
                         f"{'one image give an image name (.jpg, .png)' if one_image else 'a video or stream give a video name (.mp4)'}")
    if kind == "video" and images_in:
        raise ValueError(f"--output {config.output!r}: an image source writes images: give "
                         f"{'an image name (.jpg, .png)' if one_image else 'a folder, --output DIR/'}")
    if kind in ("image", "images"):
        if config.preset:
            raise ValueError("--preset applies to video; an image source writes images")
        return
    if config.output and Path(config.output).suffix.lower() not in VIDEO_SUFFIXES:
        raise ValueError(f"cannot write video {config.output!r}: expected a name ending in {', '.join(VIDEO_SUFFIXES)}")
    if config.output:
        choice = pick_encoder(Path(config.output), config.codec)  # a codec the container can't hold fails here
        if config.preset and choice.encoder not in PRESET_ENCODERS:
            raise ValueError(f"--preset applies to H.264 and HEVC; {config.output!r} gets {choice.codec}: "
                             f"drop --preset or use --codec h264")
    elif config.preset:
        raise ValueError("--preset applies to the annotated video: give --output NAME.mp4 (--video in lookout batch)")


def check_source_size(config: RunConfig) -> None:
    """An image source over --max-pixels is refused from its header, before any model loads (a
    folder's images are checked one by one as they come, and skipped)."""
    from detector.io.sources import IMAGE_EXTS, image_refusal
    if Path(config.source).suffix.lower() in IMAGE_EXTS and Path(config.source).is_file():
        refusal = image_refusal(config.source, config.max_pixels)
        if refusal:
            raise ValueError(f"image {config.source!r}: {refusal}")


def _check_int8(config: RunConfig) -> None:
    """--int8 (or --int8-calibration) where it can be had: said before anything heavy loads."""
    if not config.int8:
        return
    if config.int8_calibration:
        from detector.io.sources import is_live_spec
        spec = config.int8_calibration
        if is_live_spec(spec) or not (Path(spec).exists() or any(c in spec for c in "*?[")):
            raise ValueError(f"--int8-calibration {spec!r}: expected a video file, image or folder of images "
                             f"from the scenes you will run on")
    from detector.runtime.onnx.int8 import int8_refusal
    refusal = int8_refusal(config.model, config.device, config.half, config.backend)
    if refusal:
        raise ValueError(refusal)


def _check_classes(model: str, classes: tuple[str, ...], option: str = "--classes") -> None:
    """Unknown --classes (or --blur) names fail before any model loads, for the named models (whose
    labels are known)."""
    from detector.models.registry import MODELS
    from detector.models.labels import labels_of
    if not classes or model not in MODELS:
        return
    known = [n for n in labels_of(MODELS[model].label_set)[1:] if not n.startswith("class_")]
    unknown = [c for c in classes if c not in known]
    if unknown:
        raise ValueError(f"{option}: unknown class {', '.join(map(repr, unknown))} for {model}; "
                         f"its classes are: {', '.join(known)}")
