"""Rewrites of the integer graphs that ONNX Runtime runs faster, used only where checked exact here."""
