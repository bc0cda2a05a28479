"""Text on frames: drawn once, on a solid background, sized from the frame.

A shifted dark copy under the text (the old shadow) doubles every stroke at another spacing, so
"8" read as "8B" and "12" as "122"; a filled box behind a single pass of text reads the same on
light and dark video. Coordinates are pixels, x right and y down, (0, 0) the top-left corner.
"""
from __future__ import annotations

from dataclasses import dataclass

import cv2
import numpy as np

FONT = cv2.FONT_HERSHEY_SIMPLEX


@dataclass(frozen=True)
class TextStyle:
    """Font scale, stroke thickness and padding in pixels for one size of text."""

    scale: float
    thickness: int = 1
    pad: int = 2

    @staticmethod
    def for_frame(height: int, width: int, relative: float = 1.0) -> "TextStyle":
        """A style for an ``height`` x ``width`` frame: 0.64 at 576 rows for ``relative`` 1 (the rows
        of counts and headers), never below 0.35 where Hershey strokes stop being legible."""
        side = min(height, width)
        scale = max(0.35, side / 900 * relative)
        return TextStyle(scale, max(1, round(scale * 1.6)) if scale >= 0.9 else 1, max(2, round(side / 250)))

    def size(self, text: str) -> tuple[int, int]:
        """(width, height) in pixels of ``text``'s background box, padding included."""
        (tw, th), base = cv2.getTextSize(text, FONT, self.scale, self.thickness)
        return tw + 2 * self.pad, th + base + 2 * self.pad


def ink_for(background: tuple[int, int, int]) -> tuple[int, int, int]:
    """Black or white (BGR), whichever contrasts more with ``background`` (BGR)."""
    b, g, r = background
    return (0, 0, 0) if 0.299 * r + 0.587 * g + 0.114 * b > 150 else (255, 255, 255)


def draw_text(image: np.ndarray, text: str, x: int, y: int, style: TextStyle,
              background: tuple[int, int, int], ink: tuple[int, int, int] | None = None) -> tuple[int, int, int, int]:
    """Draw ``text`` once on a filled ``background`` box whose top-left corner is (x, y), in place on
    ``image`` (HxWx3 uint8 BGR). Returns the box (x1, y1, x2, y2), x2/y2 exclusive."""
    w, h = style.size(text)
    cv2.rectangle(image, (x, y), (x + w - 1, y + h - 1), background, -1)
    (_, th), _ = cv2.getTextSize(text, FONT, style.scale, style.thickness)
    cv2.putText(image, text, (x + style.pad, y + style.pad + th), FONT, style.scale,
                ink if ink is not None else ink_for(background), style.thickness, cv2.LINE_AA)
    return x, y, x + w, y + h


def draw_text_inside(image: np.ndarray, text: str, x: int, y: int, style: TextStyle,
                     background: tuple[int, int, int]) -> tuple[int, int, int, int]:
    """``draw_text`` with its box's top-left corner at (x, y), moved the least that keeps the whole box
    inside ``image`` (a caption anchored at a point near the frame's edge)."""
    h, w = image.shape[:2]
    tw, th = style.size(text)
    return draw_text(image, text, min(max(x, 0), max(w - tw, 0)), min(max(y, 0), max(h - th, 0)), style, background)
