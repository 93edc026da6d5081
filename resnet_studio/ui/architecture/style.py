"""How the block diagram looks: its colours and fonts, and the small painting helpers its parts share.

`Colors` and `Fonts` are made from the widget's palette and font (and made again when
those change); the helpers paint an arrow head, diagonal hatching, a rounded label
("chip"), a shortcut's pen and the viridis colour bar, the same way wherever they appear.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from PySide6.QtCore import QLineF, QPointF, QRectF, Qt
from PySide6.QtGui import QBrush, QColor, QFont, QFontMetricsF, QLinearGradient, QPainter, QPalette, QPen, QPolygonF

__all__ = ["Colors", "Fonts", "mix", "viridis", "luminance", "arrow_head", "hatch", "chip", "shortcut_pen", "viridis_bar"]

# matplotlib's viridis, five stops: readable on light and dark backgrounds alike.
_VIRIDIS = [(0.267, 0.005, 0.329), (0.229, 0.322, 0.545), (0.128, 0.567, 0.551), (0.369, 0.789, 0.383), (0.993, 0.906, 0.144)]


# ---------------------------------------------------------------- colours


def mix(a: QColor, b: QColor, t: float) -> QColor:
    """The colour a fraction `t` of the way from `a` to `b`."""
    return QColor.fromRgbF(
        a.redF() + (b.redF() - a.redF()) * t,
        a.greenF() + (b.greenF() - a.greenF()) * t,
        a.blueF() + (b.blueF() - a.blueF()) * t,
    )


def viridis(t: float) -> QColor:
    """The viridis colour at `t` (0..1, clamped)."""
    t = min(1.0, max(0.0, t)) * (len(_VIRIDIS) - 1)
    i = min(int(t), len(_VIRIDIS) - 2)
    f = t - i
    a, b = _VIRIDIS[i], _VIRIDIS[i + 1]
    return QColor.fromRgbF(*(a[k] + (b[k] - a[k]) * f for k in range(3)))


def luminance(c: QColor) -> float:
    return 0.2126 * c.redF() + 0.7152 * c.greenF() + 0.0722 * c.blueF()


@dataclass
class Colors:
    """Every colour the diagram and its legend paint with, for one palette."""

    background: QColor
    text: QColor
    muted: QColor
    border: QColor
    edge: QColor
    frame_fill: QColor
    frame_border: QColor
    trainable: QColor
    frozen: QColor
    hatch: QColor
    identity: QColor
    projection: QColor
    selected: QColor

    @classmethod
    def from_palette(cls, pal: QPalette) -> Colors:
        base = pal.color(QPalette.ColorRole.Base)
        text = pal.color(QPalette.ColorRole.Text)
        dark = base.lightness() < 128
        blue = QColor(66, 133, 244)
        return cls(
            background=base,
            text=text,
            muted=mix(base, text, 0.62),
            border=mix(base, text, 0.45),
            edge=mix(base, text, 0.72),
            frame_fill=mix(base, text, 0.045 if not dark else 0.07),
            frame_border=mix(base, text, 0.16),
            trainable=mix(base, blue, 0.20 if not dark else 0.38),
            frozen=mix(base, QColor(128, 128, 128), 0.16 if not dark else 0.22),
            hatch=mix(base, text, 0.16 if not dark else 0.22),
            identity=mix(base, text, 0.55),
            projection=QColor(232, 119, 34) if not dark else QColor(255, 152, 64),
            selected=pal.color(QPalette.ColorRole.Highlight) if not dark else QColor(120, 180, 255),
        )


# ---------------------------------------------------------------- fonts


class Fonts:
    """The four fonts of the diagram (normal, bold, small, title) and their metrics."""

    def __init__(self, base: QFont) -> None:
        self.normal = QFont(base)
        self.bold = QFont(base)
        self.bold.setBold(True)
        self.small = QFont(base)
        size = base.pointSizeF() if base.pointSizeF() > 0 else 9.0
        self.small.setPointSizeF(max(7.0, size * 0.86))
        self.title = QFont(base)
        self.title.setPointSizeF(size * 1.3)
        self.title.setBold(True)
        self.fm = QFontMetricsF(self.normal)
        self.fm_bold = QFontMetricsF(self.bold)
        self.fm_small = QFontMetricsF(self.small)
        self.fm_title = QFontMetricsF(self.title)

    def metrics(self, style: str) -> QFontMetricsF:
        """The metrics of a text style: "bold", "small", or anything else for normal."""
        return {"bold": self.fm_bold, "small": self.fm_small}.get(style, self.fm)


# ---------------------------------------------------------------- painting helpers


def arrow_head(painter: QPainter, tip: QPointF, direction: QPointF, size: float = 7.0) -> None:
    length = math.hypot(direction.x(), direction.y()) or 1.0
    dx, dy = direction.x() / length, direction.y() / length
    back = QPointF(tip.x() - dx * size, tip.y() - dy * size)
    normal = QPointF(-dy * size * 0.45, dx * size * 0.45)
    painter.drawPolygon(QPolygonF([tip, back + normal, back - normal]))


def hatch(painter: QPainter, rect: QRectF, color: QColor, step: float = 7.0) -> None:
    """Diagonal hatching inside `rect`, clipped by arithmetic rather than a clip path
    (SVG export ignores clip paths, and the lines would spill out of the box)."""
    painter.setPen(QPen(color, 1.0))
    left, top, right, bottom = rect.left(), rect.top(), rect.right(), rect.bottom()
    k = left + top + step / 2
    while k < right + bottom:  # the line x + y = k, from lower left to upper right
        x0, x1 = max(left, k - bottom), min(right, k - top)
        if x1 > x0:
            painter.drawLine(QLineF(x0, k - x0, x1, k - x1))
        k += step


def chip(painter: QPainter, center: QPointF, text: str, font: QFont, fm: QFontMetricsF, fg: QColor, bg: QColor,
         border: QColor | None = None) -> None:
    """A rounded label centred on `center`."""
    w, h = fm.horizontalAdvance(text) + 10, fm.height() + 4
    rect = QRectF(center.x() - w / 2, center.y() - h / 2, w, h)
    painter.setPen(QPen(border, 1.0) if border is not None else Qt.PenStyle.NoPen)
    painter.setBrush(bg)
    painter.drawRoundedRect(rect, h / 2, h / 2)
    painter.setPen(fg)
    painter.setFont(font)
    painter.drawText(rect, Qt.AlignmentFlag.AlignCenter, text)


def shortcut_pen(color: QColor, projection: bool, padded: bool = False) -> QPen:
    """A shortcut's line: thin and solid for identity, thicker and dashed for a projection,
    dotted for the paper's option A (an identity, subsampled and zero-padded: no parameters)."""
    pen = QPen(color, 2.2 if projection else 1.8 if padded else 1.5)
    if padded and not projection:
        pen.setStyle(Qt.PenStyle.DotLine)
    if projection:
        pen.setStyle(Qt.PenStyle.DashLine)
        pen.setDashPattern([4, 2.5])
    return pen


def viridis_bar(painter: QPainter, rect: QRectF, border: QPen) -> None:
    """The colour scale: viridis from left to right inside `rect`, outlined with `border`."""
    grad = QLinearGradient(rect.topLeft(), rect.topRight())
    for i in range(9):
        grad.setColorAt(i / 8, viridis(i / 8))
    painter.setPen(border)
    painter.setBrush(QBrush(grad))
    painter.drawRect(rect)
