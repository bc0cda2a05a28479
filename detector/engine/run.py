"""File export and headless runs: capture thread -> Engine (this thread) -> output thread -> sinks.

Decoding (capture thread), inference (the calling thread) and drawing + encoding (output thread)
overlap; bounded queues between them keep memory flat however long the source is.
"""
from __future__ import annotations

import json
import sys
import threading
import time
from dataclasses import dataclass, field
from typing import Iterator

from detector.engine.capture import capture_policy
from detector.engine.config import RunConfig, check_run_writes, lossless_run, make_analytics
from detector.engine.event_sinks import event_sink_for
from detector.engine.output import OutputWorker, build_sinks
from detector.engine.models import Models
from detector.engine.capture import CaptureThread
from detector.engine.output import SharedSink
from detector.engine.stream_engine import Engine
from detector.engine.regions import RegionPlanner, summary as regions_summary
from detector.engine.stats import Stats
from detector.engine.stream_names import split_source, unique_names
from detector.engine.states import state_watchers
from detector.engine.sub_labels import sub_labeller_for
from detector.engine.stream_parts import motion_gate, new_scheduler, stop_captures, stream_regions
from detector.engine.streams import Scheduler, Stream
from detector.types.results import Result
from detector.io.sinks import FileSink, SinkError
from detector.io.sources import ImageSource, SourceError, mask_url
from detector.models.registry import DEFAULT_CLASSIFIER
from detector.runtime.base import Detector
from detector.runtime.options import LoadOptions
from detector.util.files import replace_text


@dataclass
class RunReport:
    stats: dict
    bad_frames: int
    stopped_by: str = "end"        # end | max-frames | duration | signal | error
    error: str | None = None
    warnings: list[str] = field(default_factory=list)


def load_models(config: RunConfig, warn=print, throughput: bool | None = None) -> Models:
    """The run's models; ``throughput`` (default: the run is lossless) loads the detector for
    throughput rather than latency per call (``load_detector``)."""
    throughput = lossless_run(config) if throughput is None else throughput
    det = load_detector_for(config.model, config.device, config, throughput)
    if det.int8_agreement is not None:
        from detector.runtime.onnx.int8 import agreement_line
        warn(agreement_line(det.int8_agreement))
    classifier = None
    if config.classify_labels:  # asked for by name: a classifier that does not load is an error, not a warning
        from detector.runtime.loader import load_classifier
        classifier = load_classifier(config.classifier, device=det.device, throughput=throughput)
    elif config.classify != "off":
        classifier = load_classifier_or_warn(config.classifier or DEFAULT_CLASSIFIER, det.device, warn, throughput)
    return Models(det, classifier, config.classify if classifier else "off", list(config.classes) or None,
                  analytics=make_analytics(config), sub_labels=sub_labeller_for(config, classifier, det),
                  states=state_watchers(config))


def load_detector_for(model: str, device: str, config: RunConfig, throughput: bool = False) -> Detector:
    """``model`` on ``device`` with the run's backend options (--backend, --half, --conf, --iou): the
    command line's first load and the window's swaps alike."""
    from detector.runtime.onnx.int8 import int8_refusal
    from detector.runtime.loader import load_detector
    # --int8 concerns the float SSDLite models (the command line checked the first); a swap to an
    # integer model in the window loads that one as it is
    int8 = config.int8 and int8_refusal(model, device) is None
    return load_detector(model, LoadOptions(device=device, mode=config.backend, half=config.half,
                                            score_threshold=config.conf, iou_threshold=config.iou,
                                            int8=(config.int8_calibration or True) if int8 else False,
                                            throughput=throughput, labels=config.labels))


def fresh_models(models: Models, config: RunConfig) -> Models:
    """The same loaded models for another source: its own tracker and counters, nothing carried over."""
    m = models.snapshot()
    return Models(m.detector, m.classifier, m.classify, list(config.classes) or None, m.top_k,
                  analytics=make_analytics(config), sub_labels=sub_labeller_for(config, m.classifier, m.detector),
                  states=state_watchers(config))


def load_classifier_or_warn(name: str, device, warn, throughput: bool = False):
    """The classifier, or None with one line saying why it is off and how to turn it on."""
    from detector.runtime.loader import load_classifier
    try:
        return load_classifier(name, device=device, throughput=throughput)
    except ValueError as e:
        warn(f"lookout: classifier off: {e}")
        return None


def run(config: RunConfig, stop: threading.Event | None = None, models: Models | None = None,
        warn=lambda msg: print(msg, file=sys.stderr)) -> RunReport:
    """Process ``config.source`` into the configured sinks: ``run_streams`` with one stream. Raises
    ValueError for errors found before the first frame (bad source, unwritable output, unknown model);
    failures mid-run end the run cleanly and are returned in the report."""
    return run_streams([config], stop, models, warn)[0]


def run_streams(configs: list[RunConfig], stop: threading.Event | None = None, models: Models | None = None,
                warn=lambda msg: print(msg, file=sys.stderr)) -> list[RunReport]:
    """Several streams through one set of models (see ``streams.Scheduler``), each into its own
    sinks; configs naming the same ``detections`` or ``stats_json`` file share one, with each line or
    entry keyed by stream. A stream that cannot open, fails or ends does so alone. Returns one report
    per stream, in order. With one stream, errors before the first frame raise, as ``run`` says.
    The same loop as ``watch`` (a ``StreamSet``), each result handed to its stream's output thread."""
    stop = stop or threading.Event()
    check_streams_writes(configs)
    models = models or load_models(configs[0], warn)
    several = len(configs) > 1
    if several:  # the shared detector runs at the lowest threshold; each stream keeps its own
        models.set_thresholds(conf=min(c.conf for c in configs))
    streams = StreamSet(configs, models, warn, named=several)
    with streams:
        stopped_by = _drive(configs[0], streams.runs, streams.scheduler, stop)
        streams.join_openers()
        if several and not any(r.stream for r in streams.runs):
            raise streams.runs[0].open_error
        for r in streams.runs:
            if r.stream is not None and r.report.stopped_by == "end":
                r.report.stopped_by = stopped_by
    reports = [r.reported(models) for r in streams.runs]
    _write_stats(configs, reports)
    return reports


def watch(sources, stop: threading.Event | None = None, models: Models | None = None,
          warn=lambda msg: print(msg, file=sys.stderr), **options) -> Iterator[tuple[str, Result]]:
    """Several streams through one detector, for a Python program: yields ``(stream name, Result)`` as
    results come, each stream's in its frame order, until every source has ended or ``stop`` is set.
    Stopping early (``break``, or closing the generator) stops the captures and joins every thread
    it started.

    ``sources``: a list of sources (``"door=rtsp://..."`` names one; others are named after their
    source, as on the command line) or a dict {name: source}. ``options``: RunConfig fields for
    every stream (model, conf, classes, track, counters, motion, ...). No files are written."""
    named = list(sources.items()) if isinstance(sources, dict) else [split_source(s) for s in sources]
    names = unique_names(named)
    configs = [RunConfig(**{"live": None, **options, "source": src, "stream": name})
               for name, (_, src) in zip(names, named)]
    stop = stop or threading.Event()
    models = models or load_models(configs[0], warn)
    with StreamSet(configs, models, warn, named=True) as streams:
        for stream, result in streams.scheduler.results(stop):
            yield stream.name, result


class StreamSet:
    """The core loop's streams: every source opens at once (a thread each, so one slow to open or to
    fail holds up no other) and joins ``scheduler`` as it is ready. On exit the captures stop first (a
    source still opening gives up at its own timeout), the openers are joined, then each stream's
    outputs finish and the shared sinks and event hubs close. ``run_streams`` drives it into sinks,
    ``watch`` yields its results. ``named`` False (the one stream of a run): the stream opens on
    entry, before any frame, and its errors raise with nothing written."""

    def __init__(self, configs: list[RunConfig], models: Models, warn, named: bool):
        self.configs, self.named = configs, named
        self.runs = [StreamRun(c, models, warn, named) for c in configs]
        self.scheduler = new_scheduler([], sum(r.policy.live for r in self.runs), configs[0].batch,
                                       expected=len(self.runs))
        for r in self.runs:  # what the stats say each stream's detector calls hold, at most
            r.stats.info["batch"] = self.scheduler.batch_live if r.policy.live else self.scheduler.batch_lossless
        self.shared: dict[str, SharedSink] = {}
        self.hubs: dict = {}  # events folder -> the process's EventHub for it (shared by its streams)
        self._lock = threading.Lock()
        self._openers: list[threading.Thread] = []

    def __enter__(self) -> "StreamSet":
        try:
            for r in self.runs:
                r.capture.start()  # every source opens at once
            if not self.named:
                self.runs[0].open(self.shared, False, self._lock, self.hubs)
                self.scheduler.add(self.runs[0].stream)
                return self
            for r in self.runs:
                share = len([c for c in self.configs if c.detections == r.config.detections]) > 1
                t = threading.Thread(target=r.open_into, args=(self.scheduler, self.shared, share, self._lock,
                                                               self.hubs),
                                     name=f"lookout-open-{r.config.stream}", daemon=True)
                t.start()
                self._openers.append(t)
        except BaseException:
            self.__exit__(None, None, None)
            raise
        return self

    def join_openers(self, timeout: float = 5.0) -> None:
        for t in self._openers:
            t.join(timeout)

    def __exit__(self, *exc) -> None:
        stop_captures([r.capture for r in self.runs], join_timeout=0)  # each is joined in its finish()
        self.join_openers()
        for r in self.runs:
            r.finish()
        for sink in self.shared.values():
            sink.close_all()
        for hub in self.hubs.values():
            hub.close()


def check_streams_writes(configs: list[RunConfig]) -> None:
    """Each stream's own checks with every stream's inputs counted; two streams may share a
    detections or stats file (written keyed by stream), never a video or a dump folder."""
    from detector.util.write_guard import WriteRefused, same_file
    from detector.engine.config import run_inputs
    inputs = [i for c in configs for i in run_inputs(c)]
    for c in configs:
        check_run_writes(c, inputs)
    for k, c in enumerate(configs):
        for d in configs[:k]:
            for flag, a, b in (("--output", c.output, d.output), ("--dump-dir", c.dump_dir, d.dump_dir)):
                if a and b and same_file(a, b):
                    raise WriteRefused(f"streams {d.stream} and {c.stream} would both write {flag} {a}; give each "
                                       f"stream its own (put {{stream}} in the path)")


class StreamRun:
    """One stream of a run: its capture thread, engine, sinks, output thread and report."""

    def __init__(self, config: RunConfig, models: Models, warn, named: bool):
        self.config, self.warn = config, warn
        self.prefix = f"lookout: {config.stream}: " if named else "lookout: "
        self.named = named
        self.stats = Stats()
        self.policy = capture_policy(config)
        self.models = fresh_models(models, config) if named else models  # own tracker, counters, classes
        self.capture = CaptureThread(config.source, self.policy, self.stats, log=lambda m: warn(self.prefix + m),
                                     stream=config.stream if named else "")
        self.stream: Stream | None = None
        self.regions: RegionPlanner | None = None
        self.worker: OutputWorker | None = None
        self.sinks: list[FileSink] = []
        self.open_error: Exception | None = None
        self.event_sink = None
        self.summary: dict | None = None
        self.report = RunReport({}, 0)

    def open_into(self, scheduler: Scheduler, shared: dict, share_detections: bool, lock: threading.Lock,
                  hubs: dict | None = None) -> None:
        """``open``, then hand the stream to the scheduler (or tell it the stream will not come)."""
        try:
            self.open(shared, share_detections, lock, hubs)
        except Exception as e:  # reported as this stream's failure; the others go on
            self.open_error = self.open_error or e
            self.report.stopped_by, self.report.error = "error", str(e)
            self.warn(f"{self.prefix}error: {e}")
        if self.stream is not None:
            scheduler.add(self.stream)
        else:
            scheduler.gone()

    def open(self, shared: dict, share_detections: bool, lock: threading.Lock, hubs: dict | None = None) -> None:
        """Wait for the source, then start the outputs (``lock``: one stream at a time builds its
        sinks, some of which are shared, as are the event ``hubs``). One stream: errors raise (nothing
        written); one of several: the stream is reported as failed and the others go on."""
        hubs = {} if hubs is None else hubs
        try:
            source = self.capture.wait_open(timeout=max(60.0, self.config.open_timeout_s + 5))
            self.stats.info.update({"source": mask_url(self.config.source), "policy": "live" if self.policy.live else "lossless",
                                    "model": self.models.detector.name, "device": self.models.detector.device,
                                    **({"stream": self.config.stream} if self.named else {})})
            if self.models.analytics is not None and all(source.size):
                self.models.analytics.start(source.size)  # a counter outside the frame: ValueError, nothing written
            with lock:
                self.sinks = build_sinks(self.config, source.fps, self.policy.live, self.warn, shared=shared,
                                         share_detections=share_detections)
                if self.config.events:
                    self.event_sink = event_sink_for(self.config, hubs, source.fps, self.policy.live, self.warn)
                    self.sinks.append(self.event_sink)
        except (SourceError, SinkError, ValueError) as e:
            self.capture.stop()
            if not self.named:
                raise
            self.open_error = e
            self.report.stopped_by, self.report.error = "error", str(e)
            self.warn(f"{self.prefix}error: {e}")
            return
        self.worker = OutputWorker(self.sinks, self.stats, self.config.queue_size, self.config.blur,
                                   warn=lambda m: self.warn(self.prefix + m))
        self.worker.start()
        gate = motion_gate(self.config, self.policy.live)
        engine = Engine(self.models, self.stats, min_score=self.config.conf if self.named else None)
        self.regions = stream_regions(self.config, self.models, self.policy.live, isinstance(source, ImageSource))
        self.stream = Stream(self.config.stream, self.capture, engine, gate, self.config.weight, self.config.max_frames,
                             self.regions)

    def finish(self) -> None:
        """Stop the capture, write what is queued, close the sinks; errors into the report."""
        self.capture.stop()
        if self.stream is not None and self.stream.error is not None and self.report.error is None:
            self.report.stopped_by, self.report.error = "error", str(self.stream.error)
        if self.worker is not None:
            self.worker.finish()
            if self.worker.error is not None and self.report.error is None:
                self.report.stopped_by, self.report.error = "error", str(self.worker.error)
        for s in self.sinks:
            try:
                s.close()
            except SinkError as e:
                if self.report.error is None:
                    self.report.stopped_by, self.report.error = "error", str(e)
        # the rates end with the last sink: the event senders' flush (up to 5 s for a broker that is
        # down) is not processing time
        self.summary = self.stats.summary()

    def reported(self, models: Models) -> RunReport:
        report, stats, config = self.report, self.stats, self.config
        report.stats = self.summary or stats.summary()
        if self.event_sink is not None:
            report.stats["events"] = {**self.event_sink.hub.stats(), "streams": [self.event_sink.stats()]}
        report.bad_frames = stats.get("bad_frames")
        where = mask_url(config.source)
        if report.bad_frames:
            report.warnings.append(f"{report.bad_frames} frame(s) of {where} could not be decoded and were skipped")
        missing = stats.get("missing_frames")
        if missing:
            report.warnings.append(f"the last {missing} frame(s) of {where} could not be read "
                                   f"(file cut short?); everything before them was processed")
        report.stats["stopped_by"] = report.stopped_by
        report.stats["regions"] = regions_summary(self.regions, stats.get("inferred"), stats.get("detector_calls"))
        if config.motion:
            report.stats["frames"]["motion_skipped"] = stats.get("motion_skipped")
        det = models.detector
        report.stats["detector"] = {"name": det.name, "model": det.model_info, "runtime": det.mode, "device": det.device,
                                    **({"int8_agreement": det.int8_agreement} if det.int8_agreement is not None else {})}
        if self.models.analytics is not None:
            report.stats["counts"] = self.models.analytics.totals()
        return report


def _drive(config: RunConfig, runs: list[StreamRun], scheduler: Scheduler, stop: threading.Event) -> str:
    """Feed every result to its stream's output thread until every stream has ended, ``--duration``
    has passed or ``stop`` is set; a progress bar (files) or a one-line status (live) on a terminal.
    Returns why the run stopped."""
    live = any(r.policy.live for r in runs)
    bar = None
    if config.progress and not live and sys.stderr.isatty():
        from tqdm import tqdm
        one = runs[0]
        total = (one.config.max_frames or (one.capture.source.total if one.capture.source else 0)) if len(runs) == 1 else 0
        bar = tqdm(total=total or None, unit="frame", dynamic_ncols=True, file=sys.stderr)
    last_line = t_start = time.monotonic()
    try:
        for stream, result in scheduler.results(stop):
            r = next(x for x in runs if x.stream is stream)
            r.worker.put(result)
            if stream.limit and stream.taken >= stream.limit and stream.done:
                r.report.stopped_by = "max-frames"
                r.capture.stop(join_timeout=0)
            if r.worker.failed.is_set() and not stream.done:
                stream.done = True  # its outputs failed: this stream stops, the others go on
                r.capture.stop(join_timeout=0)
            if bar is not None:
                bar.update(1)
            elif live and len(runs) == 1 and sys.stderr.isatty() and time.monotonic() - last_line > 1.0:
                print("\r" + stream.stats.line(), end="", file=sys.stderr, flush=True)
                last_line = time.monotonic()
            if len(runs) == 1 and r.worker.failed.is_set():
                return "error"
            if config.duration and time.monotonic() - t_start >= config.duration:
                return "duration"
        if stop.is_set():
            return "signal"
        ran = [r for r in runs if r.stream is not None]
        return "max-frames" if ran and all(r.report.stopped_by == "max-frames" for r in ran) else "end"
    finally:
        if bar is not None:
            bar.close()
        elif live and len(runs) == 1 and sys.stderr.isatty():
            print(file=sys.stderr)


def _write_stats(configs: list[RunConfig], reports: list[RunReport]) -> None:
    """Each stream's --stats-json; streams sharing one file get {"streams": {name: stats}, "totals"}."""
    groups: dict[str, list[tuple[RunConfig, RunReport]]] = {}
    for c, r in zip(configs, reports):
        if c.stats_json:
            groups.setdefault(c.stats_json, []).append((c, r))
    for path, members in groups.items():
        if len(members) == 1:
            _write_json(path, members[0][1].stats)
            continue
        totals: dict[str, int] = {}
        for _, r in members:
            for k, v in r.stats["frames"].items():
                totals[k] = totals.get(k, 0) + v
        _write_json(path, {"streams": {c.stream: r.stats for c, r in members},
                           "totals": {"frames": totals, "failed": [c.stream for c, r in members if r.error]}})


def _write_json(path: str, data: dict) -> None:
    try:
        replace_text(path, json.dumps(data, indent=2))
    except OSError as e:
        raise SinkError(f"cannot write stats to {path!r} ({e.strerror}); pick another --stats-json path") from None
