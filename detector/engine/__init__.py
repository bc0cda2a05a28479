"""Capture thread, Engine, output thread, sessions (CLI and window) and run() for file and headless modes."""
