"""Detectors and the classifier in each runtime, the one backend choice and the one detector loader."""
