"""Lookout's engine: models, pipeline and sinks. Never imports Qt."""
from .detections import Classification, Detections
from .detector import Detector

__all__ = ["Classification", "Detections", "Detector"]
