"""What a run is asked to do (``RunConfig``: one stream's source, models, outputs and limits) and the
checks and choices that follow from it alone, before anything loads."""
from __future__ import annotations

import os
from dataclasses import dataclass, field

from detector.engine.regions import RegionSpec
from detector.events.settings import DEFAULT_EVENT_CLASSES
from detector.io.camera import CameraMode
from detector.io.sources import DEFAULT_MAX_PIXELS, IMAGE_EXTS, SourceOptions, input_files, is_live_spec
from detector.models.registry import DEFAULT_MODEL
from detector.runtime.options import LoadOptions, checked_iou_threshold, checked_score_threshold
from detector.util.write_guard import Named, check_dump_folder, check_writes


@dataclass(frozen=True)
class RunConfig:
    """Everything a run needs, from the command line or the window."""

    source: str = "0"
    live: bool | None = None        # None: live for cameras/streams, lossless for files and images
    play_realtime: bool = False     # --live on a file: pace it at its own frame rate
    loop: bool = False
    device: str = "auto"
    half: bool = False              # fp16 on CUDA (opt-in: fp32 is faster at batch 1 on an H200)
    backend: str = "auto"           # detector mode: auto, eager, fused, jit, onnxruntime
    model: str = DEFAULT_MODEL
    labels: str | None = None       # --labels: class names for an .onnx detector without its own
    int8: bool = False              # float SSDLite models as ONNX Runtime int8 (opt-in, VNNI CPUs)
    int8_calibration: str = ""      # frames to calibrate --int8 on ("": the demo clip)
    classifier: str | None = None
    classify: str = "off"
    classify_labels: tuple[str, ...] = ()  # --classify boxes on tracks of these labels only: sub labels voted per track
    classify_interval: float = 2.0  # with classify_labels: seconds between looks at one track
    states: tuple = ()              # ((name, (x1, y1, x2, y2), model path), ...): --state, engine.states
    state_interval: float = 5.0     # seconds between two looks at a state region without motion there
    state_hold: int = 3             # checks in a row a new state needs before it counts (no flicker)
    conf: float = LoadOptions.score_threshold
    iou: float = LoadOptions.iou_threshold
    classes: tuple[str, ...] = ()
    output: str | None = None
    codec: str | None = None        # video codec (None: H.264 for .mp4/.mkv/.mov, MJPEG for .avi)
    crf: int | None = None          # H.264/HEVC quality (lower = better, bigger); None: 23
    preset: str | None = None       # H.264/HEVC speed preset; None: veryfast
    bitrate: int | None = None      # bits/s instead of a quality target
    detections: str | None = None
    frame_timings: bool = False     # per-frame latencies in the JSONL (which then differs run to run)
    dump_dir: str | None = None
    dump_raw: bool = False
    dump_ext: str = "jpg"
    stats_json: str | None = None
    max_frames: int = 0
    duration: float = 0.0
    progress: bool = True
    queue_size: int = 8
    batch: int = 0                  # frames per detector call; 0: LOSSLESS_BATCH for lossless runs, 1 live
    reconnect_attempts: int = 5     # a live source that dies: tries (backoff 0.5 s, doubling) before giving up
    open_timeout_s: float = 10.0
    rtsp_transport: str = "tcp"
    camera: CameraMode = CameraMode()  # --width/--height/--fps/--fourcc for webcams
    track: bool = False             # tracking (on by itself when counters are given)
    counters: tuple = ()            # counting.Line / counting.Zone, pixels or fractions
    tracker_match: float = 0.8
    tracker_buffer: int = 0         # frames a lost track is kept at most (0: by time only, track_lost)
    # 3 s: 5 s (Frigate's max_disappeared) meets #36's counts on vtest.avi but either breaks the
    # frame-rate check over RTSP or, with lost tracks matched by overlap for 1 s only, loses line
    # crossings (docs/tracking.md, Choosing the defaults)
    track_lost: float = 3.0         # seconds of the source's clock a lost track is kept to be re-linked
    track_appearance: bool = True   # appearance vectors (runtime.onnx.appearance) to re-link lost tracks
    track_camera_motion: bool = True  # move tracks' predictions as the camera moves (ops.camera_motion)
    overwrite: bool = False         # replace existing output files (never an input: see check_run_writes)
    max_pixels: int = DEFAULT_MAX_PIXELS  # frames and images over this are refused or skipped, never decoded
    counters_file: str | None = None  # where the counters came from: an input, never written over
    # events (--events DIR; see detector/events). The confirmation defaults, measured on vtest.avi (795
    # frames, 10 fps; 149 tracks: 126 person, 3 car, 16 skis, 3 sports ball, 1 backpack): 8 frames,
    # median 0.5 and boxes of at least 0.08% of the frame make 93 person and 3 car events and none of
    # the classes not in the scene (skis last 1-7 frames; the balls' boxes are 0.06% of the frame, the
    # smallest person's 0.096%). 0.55 or 0.6 would lose the two low-scoring parked cars (median 0.42).
    events: str | None = None
    # Issue #36: confirmation by time (min_event_s, the median over the last second), so the same
    # events at any frame rate; 0.7 s is the 8 frames at 10 fps measured above. event_gap: as long
    # as the tracker keeps a lost track (track_lost), so a re-linked object continues its event (a
    # shorter gap ends the event first and the re-linked track starts another: docs/tracking.md).
    event_gap: float = 3.0          # seconds an object is gone before its event ends
    min_event_frames: int = 2       # frames a track is seen before it is an event
    min_event_s: float = 0.7        # seconds (source clock) a track is seen before it is an event
    event_threshold: float = 0.5    # median score (over its last second) a track needs to be an event
    event_thresholds: tuple = ()    # ((label, score), ...): per-class medians, over event_threshold
    event_classes: tuple = DEFAULT_EVENT_CLASSES  # labels that make events; (): every class
    min_area: tuple = (("", 0.0008),)  # ((label or "", area), ...): fraction of the frame below 1, else pixels
    max_area: tuple = ()
    loiter: float = 0.0             # seconds inside a zone that make a loiter event (0: off)
    count_above: tuple = ()         # ((zone, label or "", n), ...)
    pre_roll: float = 5.0
    post_roll: float = 5.0
    clip_annotated: bool = False
    max_clip: float = 300.0         # seconds an event clip runs before the next file continues it
    segment: float = 0.0            # --segment: seconds a video file of a run holds (0: one file)
    keep: float = 0.0               # --keep: seconds Lookout's own segments and clips are kept (0: no limit)
    min_free: str = ""              # --min-free: "5G" or "10%" kept free by deleting the oldest of them
    events_max_gb: float = 0.0      # retention (0: no limit)
    events_max_days: float = 0.0
    # secrets inside: never in a repr (and so never in a log line or a traceback's locals)
    mqtt: str | None = field(default=None, repr=False)
    webhooks: tuple = field(default=(), repr=False)
    webhook_secret: str = field(default="", repr=False)
    blur: tuple[str, ...] = ()      # class names blurred in every video and image written
    stream: str = ""                # the stream's name in a run of several (log lines, outputs, stats)
    weight: float = 1.0             # its share of detector calls against the other streams' under overload
    motion: bool = False            # skip the detector on frames where nothing moved (engine.motion)
    motion_keyframe: float = 2.0    # with motion: a full detection at least this often, in seconds
    regions: str = ""               # what the detector looks at: auto, grid, grid:CxR, off ("": by frame size; engine.regions)
    snapshot_dir: str | None = None  # the window's snapshots and recordings for this run (None: its setting)
    record_dir: str | None = None

    def __post_init__(self) -> None:
        """Every range check of the options, once, for the command line, the window and the API alike:
        ValueError, one line naming the option as the command line spells it."""
        checks = [
            (0 <= self.batch <= 64, f"expected --batch from 1 to 64 (0: automatic), got {self.batch}"),
            (self.max_frames >= 0 and self.duration >= 0,
             f"expected --max-frames and --duration >= 0, got {self.max_frames} and {self.duration}"),
            (self.crf is None or 0 <= self.crf <= 51, f"expected --crf between 0 and 51, got {self.crf}"),
            (0 < self.tracker_match <= 1, f"expected --tracker-match in (0, 1], got {self.tracker_match}"),
            (self.tracker_buffer >= 0, f"expected --tracker-buffer >= 0 frames (0: by time only), got {self.tracker_buffer}"),
            (0 < self.track_lost <= 600, f"expected --track-lost from above 0 to 600 seconds, got {self.track_lost}"),
            (self.classify in ("off", "frame", "boxes"), f"expected --classify off, frame or boxes, got {self.classify!r}"),
            (self.max_pixels >= 1, f"expected --max-pixels >= 1, got {self.max_pixels}"),
            (not self.labels or str(self.model).endswith(".onnx"),
             f"--labels names the classes of an .onnx --model; {self.model} has its own (drop --labels)"),
            (not self.labels or os.path.isfile(self.labels),
             f"expected --labels to name a file of class names, one a line; {self.labels!r} is not a file"),
            (not self.classify_labels or (self.classify == "boxes" and bool(self.classifier)),
             "--classify-labels needs --classify boxes and --classifier FILE.onnx (a model from lookout train)"),
            (self.classify_interval > 0, f"expected --classify-interval above 0 seconds, got {self.classify_interval}"),
            (self.state_interval > 0 and 1 <= self.state_hold <= 50,
             f"expected --state-interval above 0 and --state-hold from 1 to 50, got {self.state_interval} and {self.state_hold}"),
            (len({s[0] for s in self.states}) == len(self.states), "two --state regions have one name; name each its own"),
            (self.weight > 0, f"expected a stream weight above 0, got {self.weight}"),
            (self.motion_keyframe > 0, f"expected --motion-keyframe above 0 seconds, got {self.motion_keyframe}"),
            (self.event_gap > 0 and self.min_event_frames >= 1 and 0 <= self.event_threshold <= 1,
             f"expected --event-gap > 0, --min-event-frames >= 1 and --event-threshold in 0..1, got "
             f"{self.event_gap}, {self.min_event_frames} and {self.event_threshold}"),
            (0 <= self.min_event_s <= 600, f"expected --min-event-seconds from 0 to 600, got {self.min_event_s}"),
            (all(0 <= v <= 1 for _, v in self.event_thresholds),
             f"expected --event-threshold scores in 0..1, got {self.event_thresholds}"),
            (self.pre_roll >= 0 and self.post_roll >= 0 and self.loiter >= 0,
             f"expected --pre-roll, --post-roll and --loiter >= 0, got {self.pre_roll}, {self.post_roll}, {self.loiter}"),
            (self.segment == 0 or self.segment >= 1, f"expected --segment of at least 1s (or 0: one file), got "
                                                      f"{self.segment:g} s"),
            (self.max_clip >= 1, f"expected --max-clip of at least 1s, got {self.max_clip:g} s"),
            (self.events_max_gb >= 0 and self.events_max_days >= 0,
             f"expected --events-max-gb and --events-max-days >= 0, got {self.events_max_gb}, {self.events_max_days}"),
            (self.reconnect_attempts >= 0 and self.open_timeout_s > 0,
             f"expected --reconnect >= 0 and --open-timeout > 0, got {self.reconnect_attempts} and {self.open_timeout_s}"),
        ]
        if self.keep < 0:
            checks.append((False, f"expected --keep >= 0, got {self.keep:g} s"))
        from detector.io.retention import parse_min_free
        parse_min_free(self.min_free)  # ValueError, one line
        if (self.keep or self.min_free) and not (self.segment or self.events):
            checks.append((False, "--keep and --min-free delete old segments and event clips: give --segment "
                                  "(with --output) or --events too"))
        if self.segment and output_kind(self) != "video":
            checks.append((False, "--segment cuts the --output video: give --output NAME.mp4 (or .mkv, .mov)"))
        for ok, message in checks:
            if not ok:
                raise ValueError(message)
        RegionSpec.parse(self.regions)
        for flag, check, value in (("--conf", checked_score_threshold, self.conf),
                                   ("--iou", checked_iou_threshold, self.iou)):
            try:
                check(value)  # the loader's own check: one rule, one message
            except ValueError as e:
                raise ValueError(f"{flag}: {e}") from None


# Frames per detector call in lossless runs (files: every frame is waited for anyway): the best of
# the sizes measured for both models (docs/speed.md).
LOSSLESS_BATCH = 4
# Live streams share a call: the newest frame of each, of that many streams at most.
MAX_LIVE_BATCH = 8


def live_batch(live_streams: int, asked: int = 0) -> int:
    """Frames per detector call for ``live_streams`` live streams (``asked``: --batch, 0 for the default)."""
    return asked or min(MAX_LIVE_BATCH, max(1, live_streams))


def source_options(config: RunConfig) -> SourceOptions:
    return SourceOptions(open_timeout_s=config.open_timeout_s, rtsp_transport=config.rtsp_transport,
                         camera=config.camera, max_pixels=config.max_pixels)


def run_inputs(config: RunConfig) -> list[Named]:
    """Every file the run reads: the source (each image of a folder or glob), the counters file, the
    --int8 calibration frames, model and classifier files."""
    found = [Named("--source", f) for f in input_files(config.source)]
    found += [Named("--counters", config.counters_file)] if config.counters_file else []
    found += [Named("--int8-calibration", f) for f in input_files(config.int8_calibration)] \
        if config.int8_calibration else []
    for flag, path in (("--model", config.model), ("--classifier", config.classifier)):
        if path and os.path.exists(path):  # a file, not a registry name
            found.append(Named(flag, path))
    return found


def check_run_writes(config: RunConfig, inputs: list[Named] | None = None) -> None:
    """WriteRefused (a ValueError, one line) for an output over an input (``inputs``: every input of
    the run; default this config's), two outputs on one file, or an existing output without
    ``overwrite``: stdlib and file names only, so it runs before any load."""
    inputs = run_inputs(config) if inputs is None else inputs
    if output_kind(config) == "images":  # the folder is made when missing: then it holds nothing yet
        made = os.path.isdir(config.output)
        outputs = [Named("--output", t) for t in image_targets(config)] if made else []
        check_writes([Named("--output", os.path.normpath(config.output))] if not made else [], inputs, config.overwrite)
    else:
        outputs = [Named("--output", config.output or "")]
    check_writes(outputs + [Named("--detections", config.detections or ""),
                            Named("--stats-json", config.stats_json or "")], inputs, config.overwrite)
    if config.dump_dir:
        check_dump_folder(Named("--dump-dir", config.dump_dir), config.dump_ext, inputs, config.overwrite)
    if config.events:
        from detector.events.store import check_events_dir
        check_events_dir(config.events, inputs)


def output_kind(config: RunConfig) -> str | None:
    """What --output writes: "video" (a video name), "image" (an image name, for one image), "images"
    (a folder, ``DIR/`` or an existing one, for a folder or glob of images), or None."""
    out = config.output
    if not out:
        return None
    if out.endswith(("/", os.sep)) or os.path.isdir(out):
        return "images"
    return "image" if os.path.splitext(out)[1].lower() in IMAGE_EXTS else "video"


def image_targets(config: RunConfig) -> list[str]:
    """The files ``--output DIR/`` writes: each source image under its own name in DIR."""
    return [os.path.join(config.output, os.path.basename(f)) for f in input_files(config.source)]


def lossless_run(config: RunConfig) -> bool:
    """Every frame in order (files and images unless --live), as ``run`` captures them."""
    live = is_live_spec(config.source) if config.live is None else config.live
    return not (live or config.play_realtime)


def make_analytics(config: RunConfig):
    """The stream's tracker and counters when tracking is asked for (or implied by counters or by
    --classify-labels, whose votes are per track)."""
    if not (config.track or config.counters or config.classify_labels):
        return None
    from detector.analytics.counting import Analytics
    from detector.analytics.tracker import Tracker
    embed = None
    if config.track_appearance:
        from detector.runtime.host import ort_installed
        if ort_installed():
            from detector.runtime.onnx.appearance import Appearance
            embed = Appearance.shared()
    return Analytics(Tracker(match_threshold=config.tracker_match, track_buffer=config.tracker_buffer or None,
                             lost_s=config.track_lost, embed=embed, camera_motion=config.track_camera_motion),
                     list(config.counters))
