"""Immutable values every layer passes on: Detections, Frame, Result."""
