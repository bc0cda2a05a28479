"""Detectors and the classifier in each runtime: host facts, load options, the detector interface,
the ONNX Runtime wing (no torch), the PyTorch wing, where weights come from, and the one loader."""
