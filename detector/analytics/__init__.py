"""Tracking (ByteTrack-style) and counting (lines, zones)."""
