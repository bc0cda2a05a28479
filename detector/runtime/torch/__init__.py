"""The PyTorch wing (needs ``lookout[torch]``): eager, fused and TorchScript detectors, the quantised
detector in eager mode, the classifier. Every module here imports torch."""
