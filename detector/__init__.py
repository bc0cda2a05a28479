"""Lookout's engine: models, pipeline and sinks. Never imports Qt.

``Detector`` and ``Classifier`` load on first use (PEP 562), without torch: they are the interfaces,
whose ``load`` is ``runtime.loader``'s, and the ONNX Runtime paths start without torch.
"""
from detector.types.detections import Classification, Detections

__all__ = ["Classification", "Classifier", "Detections", "Detector", "Tracker"]


def __getattr__(name: str):
    if name == "Detector":
        from detector.runtime.loader import Detector
        return Detector
    if name == "Tracker":
        from detector.analytics.tracker import Tracker
        return Tracker
    if name == "Classifier":
        from detector.runtime.loader import Classifier
        return Classifier
    raise AttributeError(f"module 'detector' has no attribute {name!r}")
