"""Helpers every layer uses: whole-file writes, file hashes."""
