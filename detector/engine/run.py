"""File export and headless runs: capture thread -> Engine (this thread) -> output thread -> sinks.

Decoding (capture thread), inference (the calling thread) and drawing + encoding (output thread)
overlap; bounded queues between them keep memory flat however long the source is.
"""
from __future__ import annotations

import json
import os
import sys
import threading
import time
from dataclasses import dataclass, field

from detector.engine.capture import CapturePolicy
from detector.engine.output import OutputWorker, build_sinks
from detector.engine.pipeline import Models
from detector.engine.session import Session
from detector.io.camera import CameraMode
from detector.io.sinks import FileSink, SinkError
from detector.io.sources import DEFAULT_MAX_PIXELS, SourceError, SourceOptions, input_files, is_live_spec, mask_url
from detector.models.registry import DEFAULT_CLASSIFIER, DEFAULT_MODEL
from detector.util.files import replace_text
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
    int8: bool = False              # float SSDLite models as ONNX Runtime int8 (opt-in, VNNI CPUs)
    int8_calibration: str = ""      # frames to calibrate --int8 on ("": the demo clip)
    classifier: str | None = None
    classify: str = "off"
    conf: float = 0.3
    iou: float = 0.6
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
    tracker_buffer: int = 30
    overwrite: bool = False         # replace existing output files (never an input: see check_run_writes)
    max_pixels: int = DEFAULT_MAX_PIXELS  # frames and images over this are refused or skipped, never decoded
    counters_file: str | None = None  # where the counters came from: an input, never written over
    # events (--events DIR; see detector/events). The confirmation defaults, measured on vtest.avi (795
    # frames, 10 fps; 149 tracks: 126 person, 3 car, 16 skis, 3 sports ball, 1 backpack): 8 frames,
    # median 0.5 and boxes of at least 0.08% of the frame make 93 person and 3 car events and none of
    # the classes not in the scene (skis last 1-7 frames; the balls' boxes are 0.06% of the frame, the
    # smallest person's 0.096%). 0.55 or 0.6 would lose the two low-scoring parked cars (median 0.42).
    events: str | None = None
    stream: str = ""                # the stream's name in events and topics ("": from the source)
    event_gap: float = 2.0          # seconds an object is gone before its event ends
    min_event_frames: int = 8       # frames a track is seen before it is an event
    event_threshold: float = 0.5    # median score (of its last 10) a track needs to be an event
    min_area: tuple = (("", 0.0008),)  # ((label or "", area), ...): fraction of the frame below 1, else pixels
    max_area: tuple = ()
    loiter: float = 0.0             # seconds inside a zone that make a loiter event (0: off)
    count_above: tuple = ()         # ((zone, label or "", n), ...)
    pre_roll: float = 5.0
    post_roll: float = 5.0
    clip_annotated: bool = False
    events_max_gb: float = 0.0      # retention (0: no limit)
    events_max_days: float = 0.0
    # secrets inside: never in a repr (and so never in a log line or a traceback's locals)
    mqtt: str | None = field(default=None, repr=False)
    webhooks: tuple = field(default=(), repr=False)
    webhook_secret: str = field(default="", repr=False)

    def __post_init__(self) -> None:
        """Every range check of the options, once, for the command line, the window and the API alike:
        ValueError, one line naming the option as the command line spells it."""
        checks = [
            (0.0 <= self.conf <= 1.0, f"expected --conf between 0 and 1, got {self.conf}"),
            # IoU 0 would suppress every overlapping box, even a touching one
            (0.0 < self.iou <= 1.0, f"expected --iou above 0 and at most 1, got {self.iou}"),
            (0 <= self.batch <= 64, f"expected --batch from 1 to 64 (0: automatic), got {self.batch}"),
            (self.max_frames >= 0 and self.duration >= 0,
             f"expected --max-frames and --duration >= 0, got {self.max_frames} and {self.duration}"),
            (self.crf is None or 0 <= self.crf <= 51, f"expected --crf between 0 and 51, got {self.crf}"),
            (0 < self.tracker_match <= 1, f"expected --tracker-match in (0, 1], got {self.tracker_match}"),
            (self.tracker_buffer >= 1, f"expected --tracker-buffer >= 1 frame, got {self.tracker_buffer}"),
            (self.classify in ("off", "frame", "boxes"), f"expected --classify off, frame or boxes, got {self.classify!r}"),
            (self.max_pixels >= 1, f"expected --max-pixels >= 1, got {self.max_pixels}"),
            (self.event_gap > 0 and self.min_event_frames >= 1 and 0 <= self.event_threshold <= 1,
             f"expected --event-gap > 0, --min-event-frames >= 1 and --event-threshold in 0..1, got "
             f"{self.event_gap}, {self.min_event_frames} and {self.event_threshold}"),
            (self.pre_roll >= 0 and self.post_roll >= 0 and self.loiter >= 0,
             f"expected --pre-roll, --post-roll and --loiter >= 0, got {self.pre_roll}, {self.post_roll}, {self.loiter}"),
            (self.events_max_gb >= 0 and self.events_max_days >= 0,
             f"expected --events-max-gb and --events-max-days >= 0, got {self.events_max_gb}, {self.events_max_days}"),
            (self.reconnect_attempts >= 0 and self.open_timeout_s > 0,
             f"expected --reconnect >= 0 and --open-timeout > 0, got {self.reconnect_attempts} and {self.open_timeout_s}"),
        ]
        for ok, message in checks:
            if not ok:
                raise ValueError(message)


# Frames per detector call in lossless runs (files: every frame is waited for anyway). Measured on
# the 2-core benchmark machine (tools/bench.py --sections batching, 4 runs, ms a frame vs batch 1):
# person SSDLite 0.87-0.97x at 2, 0.87-0.96x at 4, 0.85-1.07x at 8; COCO SSD 0.91-0.97x at 2,
# 0.88-0.92x at 4, 0.87-0.90x at 8. 4 is the best for both; 8 holds more frames for little more.
LOSSLESS_BATCH = 4


@dataclass
class RunReport:
    stats: dict
    bad_frames: int
    stopped_by: str = "end"        # end | max-frames | duration | signal | error
    error: str | None = None
    warnings: list[str] = field(default_factory=list)


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


def check_run_writes(config: RunConfig) -> None:
    """WriteRefused (a ValueError, one line) for an output over an input, two outputs on one file, or
    an existing output without ``overwrite``: stdlib and file names only, so it runs before any load."""
    inputs = run_inputs(config)
    check_writes([Named("--output", config.output or ""), Named("--detections", config.detections or ""),
                  Named("--stats-json", config.stats_json or "")], inputs, config.overwrite)
    if config.dump_dir:
        check_dump_folder(Named("--dump-dir", config.dump_dir), config.dump_ext, inputs, config.overwrite)
    if config.events:
        from detector.events.settings import check_events_dir
        check_events_dir(config.events, inputs)


def lossless_run(config: RunConfig) -> bool:
    """Every frame in order (files and images unless --live), as ``run`` captures them."""
    live = is_live_spec(config.source) if config.live is None else config.live
    return not (live or config.play_realtime)


def load_models(config: RunConfig, warn=print, throughput: bool | None = None) -> Models:
    """The run's models; ``throughput`` (default: the run is lossless) loads the detector for
    throughput rather than latency per call (``load_detector``)."""
    throughput = lossless_run(config) if throughput is None else throughput
    det = load_detector_for(config.model, config.device, config, throughput)
    if getattr(det, "int8_agreement", None) is not None:
        from detector.runtime.int8_detector import agreement_line
        warn(agreement_line(det.int8_agreement))
    classifier = None
    if config.classify != "off":
        classifier = load_classifier_or_warn(config.classifier or DEFAULT_CLASSIFIER, det.device, warn, throughput)
    return Models(det, classifier, config.classify if classifier else "off", list(config.classes) or None,
                  analytics=make_analytics(config))


def load_detector_for(model: str, device: str, config: RunConfig, throughput: bool = False):
    """``model`` on ``device`` with the run's backend options (--backend, --half, --conf, --iou): the
    command line's first load and the window's swaps alike."""
    from detector.runtime.int8_detector import int8_refusal
    from detector.runtime.loader import load_detector
    # --int8 concerns the float SSDLite models (the command line checked the first); a swap to an
    # integer model in the window loads that one as it is
    int8 = config.int8 and int8_refusal(model, device) is None
    return load_detector(model, device, config.conf, config.iou, config.half, config.backend,
                         (config.int8_calibration or True) if int8 else False, throughput)


def fresh_models(models: Models, config: RunConfig) -> Models:
    """The same loaded models for another source: its own tracker and counters, nothing carried over."""
    m = models.snapshot()
    return Models(m.detector, m.classifier, m.classify, list(config.classes) or None, m.top_k,
                  analytics=make_analytics(config))


def make_analytics(config: RunConfig):
    """The stream's tracker and counters when tracking is asked for (or implied by counters)."""
    if not (config.track or config.counters):
        return None
    from detector.analytics.counting import Analytics
    from detector.analytics.tracker import Tracker
    return Analytics(Tracker(match_threshold=config.tracker_match, track_buffer=config.tracker_buffer),
                     list(config.counters))


def load_classifier_or_warn(name: str, device, warn, throughput: bool = False):
    """The classifier, or None with one line saying why it is off and how to turn it on."""
    try:
        from detector.runtime.classifier import Classifier
    except ImportError:
        warn("lookout: classifier unavailable in this build; detecting only")
        return None
    try:
        return Classifier.load(name, device=str(device), throughput=throughput)
    except ValueError as e:
        warn(f"lookout: classifier off: {e}")
        return None


def run(config: RunConfig, stop: threading.Event | None = None, models: Models | None = None,
        warn=lambda msg: print(msg, file=sys.stderr)) -> RunReport:
    """Process ``config.source`` into the configured sinks. Raises ValueError for errors found before
    the first frame (bad source, unwritable output, unknown model); failures mid-run end the run
    cleanly and are returned in the report."""
    stop = stop or threading.Event()
    check_run_writes(config)
    live = not lossless_run(config)
    policy = CapturePolicy(live=live, play_realtime=config.play_realtime,
                           loop=config.loop, queue_size=config.queue_size,
                           reconnect_attempts=config.reconnect_attempts, source=source_options(config))
    models = models or load_models(config, warn)
    session = Session(models, log=lambda msg: warn(f"lookout: {msg}"))
    stats = session.stats
    worker = None
    hub = event_sink = None
    sinks: list[FileSink] = []
    report = RunReport({}, 0)
    try:
        source = session.open(config.source, policy)
        stats.info.update({"source": mask_url(config.source), "model": models.detector.name,
                           "device": str(models.detector.device)})
        if models.analytics is not None and all(source.size):
            models.analytics.start(source.size)  # a counter outside the frame: ValueError, nothing written
        sinks = build_sinks(config, source.fps, policy.live, warn)
        if config.events:
            hub, event_sink = _event_outputs(config, source.fps, policy.live, warn)
            sinks.append(event_sink)
        worker = OutputWorker(sinks, stats, config.queue_size)
        worker.start()
        batch = config.batch or (1 if policy.live else LOSSLESS_BATCH)
        stats.info["batch"] = batch
        report.stopped_by = _drive(config, session, worker, stop, batch)
    except (SourceError, SinkError) as e:
        if worker is None:  # nothing written yet: a plain user error
            raise
        report.stopped_by, report.error = "error", str(e)
    finally:
        session.close_source()
        if worker is not None:
            worker.finish()
            if worker.error is not None and report.error is None:
                report.stopped_by, report.error = "error", str(worker.error)
        for s in sinks:
            try:
                s.close()
            except SinkError as e:
                if report.error is None:
                    report.stopped_by, report.error = "error", str(e)
        # the rates end with the last sink: the senders' flush below (up to 5 s for a broker that is
        # down) is not processing time
        summary = stats.summary()
        if hub is not None:
            hub.close()
    report.stats = summary
    if hub is not None:
        report.stats["events"] = {**hub.stats(), "streams": [event_sink.stats()]}
    report.bad_frames = stats.get("bad_frames")
    if report.bad_frames:
        report.warnings.append(f"{report.bad_frames} frame(s) of {mask_url(config.source)} could not be decoded and were skipped")
    missing = stats.get("missing_frames")
    if missing:
        report.warnings.append(f"the last {missing} frame(s) of {mask_url(config.source)} could not be read "
                               f"(file cut short?); everything before them was processed")
    report.stats["stopped_by"] = report.stopped_by
    det = models.detector
    report.stats["detector"] = {"name": getattr(det, "name", type(det).__name__), "runtime": getattr(det, "mode", ""),
                                "device": str(getattr(det, "device", "")),
                                **({"int8_agreement": det.int8_agreement}
                                   if getattr(det, "int8_agreement", None) is not None else {})}
    if models.analytics is not None:
        report.stats["counts"] = models.analytics.totals()
    if config.stats_json:
        _write_json(config.stats_json, report.stats)
    return report


def _event_outputs(config: RunConfig, fps: float, live: bool, warn):
    """The process's event hub and this stream's event sink (see detector/events)."""
    from detector.events.hub import EventHub
    from detector.events.rules import RuleSettings
    from detector.events.settings import stream_name
    from detector.events.sink import EventSink
    hub = EventHub(config.events, config.events_max_gb, config.events_max_days, config.mqtt, config.webhooks,
                   config.webhook_secret, warn)
    try:
        rules = RuleSettings(config.min_event_frames, config.event_threshold, config.event_gap, config.min_area,
                             config.max_area, config.loiter, config.count_above)
        sink = EventSink(hub, config.stream or stream_name(config.source), rules, fps, live,
                         config.pre_roll, config.post_roll, config.clip_annotated)
    except Exception:
        hub.close()
        raise
    return hub, sink


def _drive(config: RunConfig, session: Session, worker: OutputWorker, stop: threading.Event, batch: int) -> str:
    """Feed every result to the output thread until the source ends or a limit or ``stop`` says so;
    a progress bar (files) or a one-line status (live) on a terminal. Returns why it stopped."""
    live, stats = session.capture.policy.live, session.stats
    bar = None
    if config.progress and not live and sys.stderr.isatty():
        from tqdm import tqdm
        total = config.max_frames or session.source.total or None
        bar = tqdm(total=total, unit="frame", dynamic_ncols=True, file=sys.stderr)
    last_line = time.monotonic()
    t_start = time.monotonic()
    n = 0
    try:
        for result in session.results(stop, batch, config.max_frames):
            worker.put(result)
            n += 1
            if bar is not None:
                bar.update(1)
            elif live and sys.stderr.isatty() and time.monotonic() - last_line > 1.0:
                print("\r" + stats.line(), end="", file=sys.stderr, flush=True)
                last_line = time.monotonic()
            if worker.failed.is_set():
                return "error"
            if config.max_frames and n >= config.max_frames:
                return "max-frames"
            if config.duration and time.monotonic() - t_start >= config.duration:
                return "duration"
        return "signal" if stop.is_set() else "end"
    finally:
        if bar is not None:
            bar.close()
        elif live and sys.stderr.isatty():
            print(file=sys.stderr)


def _write_json(path: str, data: dict) -> None:
    try:
        replace_text(path, json.dumps(data, indent=2))
    except OSError as e:
        raise SinkError(f"cannot write stats to {path!r} ({e.strerror}); pick another --stats-json path") from None
