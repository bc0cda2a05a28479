"""Webhooks: a JSON POST to each URL per event start and end, from a thread a URL (so a receiver that
is down delays only its own messages).

Each body is signed when a secret is set: ``X-Lookout-Signature: sha256=<hex HMAC-SHA256 of the
body>`` (verify it over the raw bytes, before parsing). A receiver that fails, refuses or times out
is retried with backoff (0.5 s doubling to 10 s); messages wait in a bounded outbox meanwhile.
The secret is never logged; URLs are shown with any password masked.
"""
from __future__ import annotations

import hashlib
import hmac
import json
import threading
import time
import urllib.error
import urllib.request

from detector.events.outbox import Outbox
from detector.events.settings import hide_userinfo

TIMEOUT_S = 5.0


def signature(secret: str, body: bytes) -> str:
    return "sha256=" + hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


class WebhookSender(threading.Thread):
    def __init__(self, url: str, secret: str, warn, maxlen: int = 1000):
        super().__init__(name="lookout-webhook", daemon=True)
        self.url, self._secret, self.warn = url, secret, warn
        self.outbox = Outbox(maxlen)
        self.stop = threading.Event()
        self.sent = self.failed_tries = self.unsent = 0
        self._down: set[str] = set()

    def post(self, body: dict) -> None:
        """Queue one message (never blocks)."""
        self.outbox.offer((self.url, json.dumps(body).encode()))

    def _send(self, url: str, data: bytes) -> None:
        headers = {"Content-Type": "application/json", "User-Agent": "lookout"}
        if self._secret:
            headers["X-Lookout-Signature"] = signature(self._secret, data)
        req = urllib.request.Request(url, data=data, headers=headers, method="POST")
        with urllib.request.urlopen(req, timeout=TIMEOUT_S) as resp:
            resp.read()

    def run(self) -> None:
        backoff = 0.5
        while True:
            item = self.outbox.peek(0.2)
            if item is None:
                if self.stop.is_set():
                    return
                continue
            url, data = item
            try:
                self._send(url, data)
            except (OSError, urllib.error.URLError, ValueError) as e:  # refused, timed out, HTTP error
                self.failed_tries += 1
                if url not in self._down:
                    self._down.add(url)
                    why = getattr(e, "reason", None) or getattr(e, "code", None) or type(e).__name__
                    self.warn(f"lookout: warning: webhook {hide_userinfo(url)} failed ({hide_userinfo(str(why))}); "
                              f"retrying with backoff, messages wait (up to {self.outbox.maxlen})")
                if self.stop.wait(backoff):
                    return  # the run is over: what is left is counted as unsent
                backoff = min(backoff * 2, 10.0)
                continue
            self._down.discard(url)
            backoff = 0.5
            self.sent += 1
            self.outbox.done(item)

    def finish(self, timeout: float) -> None:
        """Send what is queued for up to ``timeout`` seconds (retrying), then stop."""
        deadline = time.monotonic() + timeout
        while len(self.outbox) and time.monotonic() < deadline and self.is_alive():
            time.sleep(0.05)  # retries go on meanwhile: a receiver back within the timeout gets them
        self.stop.set()
        self.outbox.wake()
        self.join(TIMEOUT_S + 1)
        self.unsent = len(self.outbox)

    def stats(self) -> dict:
        return {"url": hide_userinfo(self.url), "sent": self.sent, "failed_tries": self.failed_tries,
                "dropped": self.outbox.dropped, "unsent": self.unsent}
