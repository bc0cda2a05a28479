"""Torch modules (MobileNetV1/V2, SSD/SSDLite, anchors, quantised layers), checkpoints, labels, the model registry."""
