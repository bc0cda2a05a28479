"""Lookout's PyQt6 window. Imported only when a window is wanted; the engine never imports it."""
