"""One process's event outputs, shared by its streams: the store (log + index + retention), the MQTT
publisher and the webhook sender. Streams' recorder threads call ``event``/``count``/``announce``;
every call only queues, never waits on a network."""
from __future__ import annotations

import threading
import time

from detector.events.settings import parse_mqtt, webhook_secret
from detector.events.store import EventStore


class EventHub:
    def __init__(self, folder: str, max_gb: float = 0.0, max_days: float = 0.0, mqtt_url: str | None = None,
                 webhooks: tuple[str, ...] = (), secret: str = "", warn=print):
        self._lock = threading.Lock()
        self.warn = warn
        self.store = EventStore(folder, max_gb * 1e9, max_days)
        self.mqtt = None
        self.webhooks: list = []
        self.events = {"start": 0, "end": 0}
        self._listeners: list = []
        try:
            if mqtt_url:
                from detector.events.mqtt import MqttPublisher
                self.mqtt = MqttPublisher(parse_mqtt(mqtt_url), warn)
                self.mqtt.publish(f"{self.mqtt.target.prefix}/available", "online", retain=True)
                self.mqtt.start()
            if webhooks:
                from detector.events.webhook import WebhookSender
                for url in webhooks:
                    self.webhooks.append(WebhookSender(url, webhook_secret(secret), warn))
                    self.webhooks[-1].start()
        except Exception:
            self.close()
            raise

    def listen(self, fn) -> None:
        """Call ``fn(what, record)`` for every start and end, after it is in the log (on a recorder
        thread: a window hands it to its own thread, e.g. through a Qt signal, and returns at once)."""
        self._listeners.append(fn)

    def event(self, what: str, record: dict) -> None:
        with self._lock:
            self.events[what] += 1
        for fn in self._listeners:
            try:
                fn(what, dict(record))
            except Exception as e:  # a listener's bug must not stop the clips
                self.warn(f"lookout: warning: event listener failed: {type(e).__name__}: {e}")
        if self.mqtt is not None:
            self.mqtt.publish(f"{self.mqtt.target.prefix}/{record['stream']}/events", {"type": what, "event": record})
            if record.get("kind") == "state":
                self.mqtt.state(record["stream"], record["label"], record["to"])
            if record.get("sub_label") is not None:
                self.mqtt.sub_label(record["stream"], record["label"], record["sub_label"])
        for hook in self.webhooks:
            hook.post({"type": what, "event": record})

    def count(self, stream: str, where: tuple, n: int) -> None:
        if self.mqtt is not None:
            self.mqtt.publish("/".join((self.mqtt.target.prefix, stream, *where)), str(n), retain=True)

    def announce(self, stream: str, label: str, zone: str | None = None) -> None:
        if self.mqtt is not None:
            self.mqtt.announce(stream, label, zone)

    def close(self, timeout: float = 5.0) -> None:
        """Send what waits (up to ``timeout`` s each), stop the senders, close the store."""
        senders = [s for s in (self.mqtt, *self.webhooks) if s is not None and s.is_alive()]
        deadline = time.monotonic() + timeout
        for s in senders:  # one deadline for all: a receiver that is down costs the timeout once
            s.finish(max(deadline - time.monotonic(), 0.0))
        if self.mqtt is not None and self.mqtt.outbox.dropped:
            self.warn(f"lookout: warning: MQTT: {self.mqtt.outbox.dropped} message(s) dropped while "
                      f"{self.mqtt.target.masked} was unreachable (queue of {self.mqtt.outbox.maxlen} full)")
        for hook in self.webhooks:
            if hook.outbox.dropped:
                self.warn(f"lookout: warning: webhook {hook.stats()['url']}: {hook.outbox.dropped} message(s) "
                          f"dropped (queue of {hook.outbox.maxlen} full)")
        self.store.close()

    def stats(self) -> dict:
        out = {"folder": str(self.store.root), "started": self.events["start"], "ended": self.events["end"],
               "deleted_by_retention": self.store.deleted}
        if self.mqtt is not None:
            out["mqtt"] = self.mqtt.stats()
        if self.webhooks:
            out["webhooks"] = [h.stats() for h in self.webhooks]
        return out
