"""``lookout train`` and ``lookout crops``: your own classes on MobileNetV2 features (needs lookout[torch]
for training; the trained ONNX file runs without it)."""
