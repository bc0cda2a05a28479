"""Lookout's engine: models, pipeline and sinks. Never imports Qt."""
from .detections import Classification, Detections
from .detector import Detector
from .classifier import Classifier

__all__ = ["Classification", "Classifier", "Detections", "Detector"]
