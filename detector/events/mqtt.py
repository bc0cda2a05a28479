"""MQTT through paho-mqtt, from one thread of its own: event starts and ends, the number of each
label in view, zone counts, availability, and Home Assistant discovery.

Topics (``prefix`` from the URL, default ``lookout``):
  <prefix>/available              online / offline (retained; offline is also the last will)
  <prefix>/<stream>/events        {"type": "start"|"end", "event": {...}} per event
  <prefix>/<stream>/<label>       confirmed objects of that label in view now (retained)
  <prefix>/<stream>/<zone>/<label>  tracks of that label inside the zone now (retained)
  <prefix>/<stream>/<label>/sub_label  the sub label of the latest event of that label (retained)
  <prefix>/<stream>/state/<name>  a --state region's state (retained)
  homeassistant/{binary_sensor,sensor}/lookout_<stream>_.../config  discovery (retained)

The frame path only ``offer``s to a bounded outbox. This thread connects, reconnects with backoff
(0.5 s doubling to 2 s) and hands paho a message only while connected, at most ``INFLIGHT`` unacked
at a time (QoS 1: paho sends those again after a reconnect). A broker that is down costs no frame
time: messages wait, the oldest are dropped past the bound (counted), and one line says the broker
is unreachable, once per outage. The password is given to paho only; what is shown is ``masked``.
"""
from __future__ import annotations

import json
import threading
import time

from detector.events.outbox import Outbox
from detector.events.settings import MqttTarget, safe_name

INFLIGHT = 100
DISCOVERY_PREFIX = "homeassistant"


class MqttPublisher(threading.Thread):
    def __init__(self, target: MqttTarget, warn, maxlen: int = 5000, client_id: str | None = None):
        super().__init__(name="lookout-mqtt", daemon=True)
        import paho.mqtt.client as mqtt  # checked by the command line before anything loads
        self.mqtt, self.target, self.warn = mqtt, target, warn
        self.outbox = Outbox(maxlen)
        self.stop = threading.Event()
        self.available = f"{target.prefix}/available"
        self.client = mqtt.Client(mqtt.CallbackAPIVersion.VERSION2, client_id=client_id or "",
                                  clean_session=True)
        if target.username:
            self.client.username_pw_set(target.username, target.password)
        if target.tls:
            self.client.tls_set()
        self.client.will_set(self.available, "offline", qos=1, retain=True)
        self.client.on_connect = self._on_connect
        self.client.on_disconnect = self._on_disconnect
        self._connected = threading.Event()
        self._ever_connected = False
        self._inflight: list = []
        self._entities: list[tuple[str, str, bytes]] = []  # discovery configs, sent again on each connect
        self._down_since: float | None = None
        self._deadline = float("inf")
        self._refused: str | None = None
        self.sent = self.outages = 0
        self.unsent = 0
        self.down_s = 0.0
        self.cpu_s = 0.0

    # -- called from the output thread -----------------------------------------------------------
    def publish(self, topic: str, payload, retain: bool = False) -> None:
        data = payload if isinstance(payload, bytes) else (
            payload.encode() if isinstance(payload, str) else json.dumps(payload).encode())
        self.outbox.offer((topic, data, retain))

    def announce(self, stream: str, label: str, zone: str | None = None) -> None:
        """Home Assistant entities for a label of a stream (or of a zone): occupancy and count."""
        p = self.target.prefix
        state = f"{p}/{stream}/{zone}/{label}" if zone else f"{p}/{stream}/{label}"
        uid = safe_name(f"lookout_{stream}_{zone}_{label}" if zone else f"lookout_{stream}_{label}")
        where = f"{stream} {zone}" if zone else stream
        device = {"identifiers": [safe_name(f"lookout_{stream}")], "name": f"Lookout {stream}", "manufacturer": "Lookout"}
        common = {"state_topic": state, "availability_topic": self.available, "device": device}
        occupancy = {**common, "name": f"{where} {label} occupancy", "unique_id": f"{uid}_occupancy",
                     "device_class": "occupancy", "value_template": "{{ 'ON' if value | int > 0 else 'OFF' }}"}
        count = {**common, "name": f"{where} {label} count", "unique_id": f"{uid}_count",
                 "state_class": "measurement", "unit_of_measurement": label}
        for component, payload in (("binary_sensor", occupancy), ("sensor", count)):
            topic = f"{DISCOVERY_PREFIX}/{component}/{payload['unique_id']}/config"
            data = json.dumps(payload).encode()
            self._entities.append((topic, data))
            self.outbox.offer((topic, data, True))

    def sub_label(self, stream: str, label: str, sub_label: str) -> None:
        """The latest sub label of ``label`` on ``stream`` (``--classify-labels``), retained, and its Home
        Assistant ``sensor`` the first time."""
        self._sensor(stream, f"{self.target.prefix}/{stream}/{label}/sub_label", f"lookout_{stream}_{label}_sub_label",
                     f"{stream} {label} sub label", "mdi:tag", sub_label)

    def state(self, stream: str, name: str, state: str) -> None:
        """A --state region's new state, retained, and its Home Assistant ``sensor`` the first time."""
        self._sensor(stream, f"{self.target.prefix}/{stream}/state/{name}", f"lookout_{stream}_state_{name}",
                     f"{stream} {name}", "mdi:eye", state)

    def _sensor(self, stream: str, topic: str, uid: str, name: str, icon: str, value: str) -> None:
        """``value`` retained on ``topic``, and a Home Assistant ``sensor`` for it (retained) the first time."""
        uid = safe_name(uid)
        if not any(uid in t for t, _ in self._entities):
            device = {"identifiers": [safe_name(f"lookout_{stream}")], "name": f"Lookout {stream}",
                      "manufacturer": "Lookout"}
            config = {"state_topic": topic, "availability_topic": self.available, "device": device,
                      "name": name, "unique_id": uid, "icon": icon}
            t, data = f"{DISCOVERY_PREFIX}/sensor/{uid}/config", json.dumps(config).encode()
            self._entities.append((t, data))
            self.outbox.offer((t, data, True))
        self.publish(topic, value, retain=True)

    # -- paho callbacks (this thread, inside loop()) ----------------------------------------------
    def _on_connect(self, client, userdata, flags, reason, properties=None):
        if getattr(reason, "is_failure", False):
            self._refused = str(reason)  # "Not authorized", "Bad user name or password": paho's words
            return
        self._refused = None
        self._connected.set()

    def _on_disconnect(self, client, userdata, flags, reason, properties=None):
        self._connected.clear()

    # -- the thread ------------------------------------------------------------------------------
    def run(self) -> None:
        backoff, next_try = 0.5, 0.0
        handshake = 0.0
        while True:
            if self.stop.is_set() and (not len(self.outbox) and not self._inflight or not self._connected.is_set()
                                       or time.monotonic() > self._deadline):
                break
            if self.client.socket() is None:
                if time.monotonic() < next_try:
                    self.stop.wait(0.05)
                    continue
                try:
                    if self._ever_connected:
                        self.client.reconnect()
                    else:
                        self.client.connect(self.target.host, self.target.port, keepalive=15)
                    handshake = time.monotonic()
                    self._ever_connected = True
                except (OSError, ValueError) as e:
                    self._outage(e)
                    next_try, backoff = time.monotonic() + backoff, min(backoff * 2, 2.0)
                continue
            rc = self.client.loop(0.05)
            if rc != self.mqtt.MQTT_ERR_SUCCESS:
                self._connected.clear()
                self._outage(None)
                next_try, backoff = time.monotonic() + backoff, min(backoff * 2, 2.0)
                continue
            if not self._connected.is_set():
                if time.monotonic() - handshake > 10:  # no CONNACK: start again
                    self.client.disconnect()
                continue
            if self._down_since is not None:
                self.down_s += time.monotonic() - self._down_since
                self._down_since = None
                backoff = 0.5
                self._resend_state()
            self._pump()
        self._close()
        self.cpu_s = time.thread_time()  # what publishing cost, all told (this thread's CPU time)

    def _resend_state(self) -> None:
        self.client.publish(self.available, "online", qos=1, retain=True)
        for topic, data in self._entities:
            self.client.publish(topic, data, qos=1, retain=True)

    def _pump(self) -> None:
        self._inflight = [m for m in self._inflight if not m.is_published()]
        while len(self._inflight) < INFLIGHT:
            item = self.outbox.peek(0)
            if item is None:
                return
            topic, data, retain = item
            info = self.client.publish(topic, data, qos=1, retain=retain)
            if info.rc != self.mqtt.MQTT_ERR_SUCCESS:
                return  # the connection just went: the next loop() sees it
            self.sent += 1
            self._inflight.append(info)
            self.outbox.done(item)

    def _outage(self, error: Exception | None) -> None:
        if self._down_since is not None:
            return
        self._down_since = time.monotonic()
        self.outages += 1
        why = f" ({getattr(error, 'strerror', None) or type(error).__name__})" if error is not None else ""
        verb = "lost" if self.outages > 1 or self._connected_before else "unreachable"
        if self._refused:
            verb, why = "refused the connection", f" ({self._refused})"
        self.warn(f"lookout: warning: MQTT broker {self.target.masked} {verb}{why}; events are still written, "
                  f"messages wait (up to {self.outbox.maxlen}) and are sent when it is back")

    @property
    def _connected_before(self) -> bool:
        return self.sent > 0

    def _close(self) -> None:
        if self._connected.is_set():
            info = self.client.publish(self.available, "offline", qos=1, retain=True)
            deadline = time.monotonic() + 2
            while not info.is_published() and time.monotonic() < deadline and self.client.loop(0.05) == 0:
                pass
            self.client.disconnect()
            self.client.loop(0.05)
        else:
            try:
                self.client.disconnect()
            except Exception:  # never connected: nothing to close
                pass
        if self._down_since is not None:
            self.down_s += time.monotonic() - self._down_since
        self.unsent = len(self.outbox) + len([m for m in self._inflight if not m.is_published()])

    def finish(self, timeout: float) -> None:
        """Send what waits for up to ``timeout`` seconds (reconnecting meanwhile if the broker is down:
        a broker back a moment after the source ended still gets the news), then say offline and stop."""
        deadline = time.monotonic() + timeout
        while (len(self.outbox) or self._inflight) and time.monotonic() < deadline and self.is_alive():
            time.sleep(0.05)
        self._deadline = time.monotonic() + 1.0
        self.stop.set()
        self.outbox.wake()
        self.join(timeout + 5)

    def stats(self) -> dict:
        return {"broker": self.target.masked, "sent": self.sent, "dropped": self.outbox.dropped,
                "unsent": self.unsent, "outages": self.outages, "down_s": round(self.down_s, 2), "thread_cpu_s": round(self.cpu_s, 3)}
