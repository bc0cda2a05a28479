"""A stream's event sink on the process's one EventHub for its events folder: what a headless run
(run.StreamRun) and the window (live_events.LiveEvents) both build for ``--events DIR``, so both
write the same events.jsonl, index, clips and snapshots."""
from __future__ import annotations

from detector.engine.config import RunConfig


def event_sink_for(config: RunConfig, hubs: dict, fps: float, live: bool, warn):
    """This stream's EventSink; ``hubs`` (events folder -> EventHub) is the process's, filled here
    the first time a folder is named, and closed by whoever owns it once its streams have stopped."""
    from detector.events.hub import EventHub
    from detector.events.rules import RuleSettings
    from detector.events.settings import stream_name
    from detector.events.sink import EventSink
    if config.events not in hubs:
        days = min(d for d in (config.events_max_days, config.keep / 86400) if d) if (
            config.events_max_days or config.keep) else 0.0
        hubs[config.events] = EventHub(config.events, config.events_max_gb, days, config.mqtt,
                                       config.webhooks, config.webhook_secret, warn)
        from detector.io.retention import parse_min_free
        hubs[config.events].store.min_free = parse_min_free(config.min_free)
    rules = RuleSettings(config.min_event_frames, config.event_threshold, config.event_gap, config.min_area,
                         config.max_area, config.loiter, config.count_above, min_s=config.min_event_s,
                         classes=config.event_classes or None, thresholds=config.event_thresholds)
    return EventSink(hubs[config.events], config.stream or stream_name(config.source), rules, fps, live,
                     config.pre_roll, config.post_roll, config.clip_annotated, config.max_clip)
