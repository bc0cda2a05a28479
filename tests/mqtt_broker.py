"""A real Mosquitto broker for the event tests: loopback only, a free port, optional password file,
persistence (so a persistent subscriber's queued messages survive a restart); started and stopped by
the test. Skips with the reason when mosquitto is not installed (.ci/run installs it)."""
from __future__ import annotations

import getpass
import shutil
import socket
import subprocess
import time
from pathlib import Path

import pytest

MOSQUITTO = shutil.which("mosquitto") or ("/usr/sbin/mosquitto" if Path("/usr/sbin/mosquitto").exists() else None)


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


class Broker:
    def __init__(self, folder: Path, user: str | None = None, password: str | None = None):
        if MOSQUITTO is None or shutil.which("mosquitto_sub") is None:
            pytest.skip("needs mosquitto and mosquitto_sub (apt-get install mosquitto mosquitto-clients)")
        self.folder, self.port = folder, free_port()
        folder.mkdir(parents=True, exist_ok=True)
        conf = [f"listener {self.port} 127.0.0.1", "persistence true", f"persistence_location {folder}/",
                "autosave_interval 1", f"log_dest file {folder}/mosquitto.log",
                f"user {getpass.getuser()}"]  # as root it would switch to "mosquitto", who can't read the test's folder
        if user:
            pw = folder / "passwd"
            subprocess.run(["mosquitto_passwd", "-c", "-b", str(pw), user, password], check=True, capture_output=True)
            conf += ["allow_anonymous false", f"password_file {pw}"]
        else:
            conf += ["allow_anonymous true"]
        self.conf = folder / "mosquitto.conf"
        self.conf.write_text("\n".join(conf) + "\n")
        self.proc: subprocess.Popen | None = None
        self.user, self.password = user, password

    def start(self) -> None:
        self.proc = subprocess.Popen([MOSQUITTO, "-c", str(self.conf)], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.DEVNULL)
        deadline = time.monotonic() + 10
        while time.monotonic() < deadline:
            try:
                socket.create_connection(("127.0.0.1", self.port), timeout=0.2).close()
                return
            except OSError:
                time.sleep(0.05)
        raise RuntimeError("mosquitto did not start")

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.terminate()  # SIGTERM: it saves its persistence file first
            try:
                self.proc.wait(10)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self.proc = None

    def subscribe(self, out: Path, *topics: str, client_id: str = "lookout-test-sub", persistent: bool = True):
        """mosquitto_sub writing 'retain topic payload' lines to ``out``; QoS 1, a persistent session
        (messages for it wait in the broker while it is away, even over a restart)."""
        cmd = ["mosquitto_sub", "-h", "127.0.0.1", "-p", str(self.port), "-q", "1", "-F", "%r %t %p",
               "-i", client_id]
        if persistent:
            cmd += ["-c"]
        if self.user:
            cmd += ["-u", self.user, "-P", self.password]
        for t in topics:
            cmd += ["-t", t]
        return subprocess.Popen(cmd, stdout=open(out, "w"), stderr=subprocess.DEVNULL)

    def url(self, prefix: str = "lookout") -> str:
        cred = f"{self.user}:{self.password}@" if self.user else ""
        return f"mqtt://{cred}127.0.0.1:{self.port}/{prefix}"


def read_messages(path: Path) -> list[tuple[bool, str, str]]:
    out = []
    for line in path.read_text().splitlines():
        retain, topic, payload = line.split(" ", 2)
        out.append((retain == "1", topic, payload))
    return out


def stop_process(p: subprocess.Popen) -> None:
    p.terminate()
    try:
        p.wait(5)
    except subprocess.TimeoutExpired:
        p.kill()
        p.wait()
