"""``watch()``, the Python API's core loop over several streams (README "Python API"): two streams
of the demo clip through one detector, every frame of each in order with the people the detector
finds on that frame alone, and a clean stop (``break`` or ``stop``) that leaves no thread behind."""
from __future__ import annotations

import threading

import numpy as np
import pytest

from conftest import DEMO_CLIP, read_all_frames


def _lookout_threads(before: set[int] = frozenset()) -> list[str]:
    """Lookout's threads alive now, other than those in ``before`` (idents)."""
    return [t.name for t in threading.enumerate() if t.name.startswith("lookout") and t.ident not in before]


def _idents() -> set[int]:
    return {t.ident for t in threading.enumerate()}


@pytest.fixture(scope="module")
def models():
    from detector.engine.run import RunConfig, load_models
    return load_models(RunConfig(source=str(DEMO_CLIP)), warn=lambda m: None)


def test_watch_two_sources_every_frame_in_order_with_the_detectors_boxes(models):
    from detector.engine.run import watch
    before = _idents()
    got: dict[str, list] = {"north": [], "south": []}
    # the whole frame, as the detector alone below (the clip's default is regions: test_regions)
    for name, result in watch({"north": str(DEMO_CLIP), "south": str(DEMO_CLIP)}, models=models, regions="off"):
        got[name].append(result)
    assert not _lookout_threads(before)  # captures, openers and output threads all joined by the end
    frames = read_all_frames(DEMO_CLIP)
    detector = models.detector
    for name, results in got.items():
        assert [r.frame.index for r in results] == list(range(len(frames))), name  # every frame, in order
        assert all(r.frame.stream == name for r in results)
        for i in (0, 30, 59):  # the boxes the detector finds on that frame alone (batched: last digits aside)
            alone = detector.detect(frames[i])
            d = results[i].detections
            assert d.labels == alone.labels and "person" in d.labels
            np.testing.assert_allclose(d.xyxy, alone.xyxy, atol=1.0)


@pytest.mark.parametrize("how", ["break", "stop"])
def test_watch_stopped_early_leaves_no_thread(models, how):
    from detector.engine.run import watch
    stop, before = threading.Event(), _idents()
    seen: dict[str, int] = {}
    stream = watch([f"a={DEMO_CLIP}", f"b={DEMO_CLIP}"], stop=stop, models=models, loop=True)
    for name, result in stream:
        seen[name] = seen.get(name, 0) + 1
        if min(seen.get("a", 0), seen.get("b", 0)) >= 5:
            if how == "break":
                break
            stop.set()  # the loop ends by itself at its next turn
    if how == "break":
        stream.close()  # what a for loop's break leaves to the garbage collector, done now
    assert set(seen) == {"a", "b"} and min(seen.values()) >= 5
    assert not _lookout_threads(before)
