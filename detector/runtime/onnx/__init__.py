"""The ONNX Runtime wing: sessions, exactness-checked graph rewrites, the torch-free detector, --int8."""
