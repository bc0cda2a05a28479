"""Inputs on Ray: a pool of actors, each holding loaded models, taking inputs one after another.

Actors, not Ray Data: an input is a whole video whose frames must stay in order in one engine (the
tracker, the video encoder), so the unit of work is the input; the pool just keeps every worker busy.
A worker process that dies is restarted by Ray (``max_restarts``) and its input retried
(``max_task_retries``), on whichever node has room.
"""
from __future__ import annotations

import importlib.util
import logging
import os
import socket
import threading
import time
from typing import Callable

from detector.batch.inputs import BatchInput
from detector.batch.job import BatchSettings, base_record, process_input

RETRIES = 2
INSTALL_HINT = "Ray is not installed: pip install -e '.[cluster]' (or pip install 'ray>=2.9'), or run with --ray off"


def ray_installed() -> bool:
    return importlib.util.find_spec("ray") is not None


class BatchWorker:
    """The actor: models loaded once in ``__init__``, then ``process`` per input."""

    def __init__(self, settings: BatchSettings, threads: int):
        os.environ["OMP_NUM_THREADS"] = str(threads)  # ONNX Runtime's and torch's pools: T threads
        from detector.runtime.host import tune_process
        from detector.engine.run import load_models
        import ray
        tune_process()
        self.settings = settings
        self.models = load_models(settings.config, warn=lambda m: None)
        self.node = ray.get_runtime_context().get_node_id()[:8]

    def ready(self) -> dict:
        return {"node": self.node, "pid": os.getpid()}

    def process(self, inp: BatchInput) -> dict:
        return process_input(self.models, self.settings, inp, node=self.node)


def connect(address: str) -> dict:
    """Start a local Ray instance sized to this machine (``local``) or join a cluster; its resources."""
    if address != "local":
        _probe(address)
    import ray
    kwargs = dict(include_dashboard=False, logging_level=logging.ERROR, log_to_driver=False)
    try:
        if address == "local":
            ray.init(num_cpus=os.cpu_count(), **kwargs)
        else:
            ray.init(address=address, **kwargs)
    except (ConnectionError, RuntimeError, ValueError) as e:
        raise ValueError(f"cannot reach the Ray cluster at {address!r} ({str(e).splitlines()[0]}); start one "
                         f"with 'ray start --head' and pass its address, or use --ray local") from None
    res = ray.cluster_resources()
    return {"cpus": float(res.get("CPU", 0)), "gpus": float(res.get("GPU", 0)), "nodes": len(ray.nodes())}


def _probe(address: str, timeout: float = 5.0) -> None:
    """Fail in seconds, not minutes: Ray keeps retrying an address where nothing listens."""
    hostport = address.split("://", 1)[-1]
    host, _, port = hostport.rpartition(":")
    if address == "auto" or not port.isdigit():
        return  # 'auto' (RAY_ADDRESS or a local head) and named clusters are Ray's to resolve
    try:
        socket.create_connection((host or "127.0.0.1", int(port)), timeout=timeout).close()
    except OSError as e:
        raise ValueError(f"cannot reach a Ray cluster at {address!r} ({e.strerror or e}); start one with "
                         f"'ray start --head' and pass the address it prints, or use --ray local") from None


def run_on_ray(settings: BatchSettings, inputs: list[BatchInput], on_record: Callable[[dict], None],
               stop: threading.Event, address: str, workers: int, threads: int) -> dict:
    """Process ``inputs``, calling ``on_record`` as each finishes; returns facts about the run
    (start-up seconds, workers, nodes). Inputs not finished when ``stop`` is set are recorded
    'interrupted' and leave nothing behind."""
    import ray
    t0 = time.monotonic()
    res = connect(address)
    try:
        workers = workers or max(1, int(res["cpus"] // threads))
        if workers * threads > res["cpus"]:
            raise ValueError(f"--workers {workers} x --threads-per-worker {threads} needs {workers * threads} CPUs, "
                             f"but the Ray cluster has {res['cpus']:g}; lower one of them")
        wants_gpu = settings.config.device in ("auto", "cuda") and res["gpus"] > 0
        gpus = min(1.0, res["gpus"] / workers) if wants_gpu else 0
        actor = ray.remote(BatchWorker).options(num_cpus=threads, num_gpus=gpus, max_restarts=RETRIES,
                                                max_task_retries=RETRIES)
        pool = [actor.remote(settings, threads) for _ in range(workers)]
        placed = ray.get([a.ready.remote() for a in pool])
        facts = {"startup_s": round(time.monotonic() - t0, 2), "workers": workers, "threads_per_worker": threads,
                 "gpus_per_worker": gpus, "nodes": sorted({p["node"] for p in placed})}
        _dispatch(pool, inputs, on_record, stop)
        return facts
    finally:
        ray.shutdown()  # kills the actors; a stage folder they leave is removed by the caller


def _dispatch(pool, inputs, on_record, stop) -> None:
    import ray
    from ray.exceptions import RayActorError, RayError
    queue = list(inputs)
    idle = list(pool)
    pending: dict = {}
    while (queue or pending) and not stop.is_set():
        while idle and queue:
            a, inp = idle.pop(), queue.pop(0)
            pending[a.process.remote(inp)] = (a, inp)
        if not pending:  # every worker is gone
            break
        done, _ = ray.wait(list(pending), num_returns=1, timeout=0.25)
        for f in done:
            a, inp = pending.pop(f)
            try:
                on_record(ray.get(f))
                idle.append(a)
            except RayActorError as e:  # died RETRIES + 1 times on this input; its actor is gone for good
                rec = base_record(inp, "failed", f"the worker processing it died {RETRIES + 1} times "
                                                 f"(killed, or out of memory?): {str(e).splitlines()[0]}")
                rec["attempts"] = RETRIES + 1
                on_record(rec)
            except RayError as e:
                on_record(base_record(inp, "failed", str(e).splitlines()[0]))
                idle.append(a)
    if pending:  # stopped: end the attempts now, so none writes after the caller cleans up
        for a in pool:
            ray.kill(a, no_restart=True)
        ray.wait(list(pending), num_returns=len(pending), timeout=10)
    for a, inp in pending.values():
        on_record(base_record(inp, "interrupted"))
    for inp in queue:
        on_record(base_record(inp, "not run", "all workers died" if not stop.is_set() else None))
