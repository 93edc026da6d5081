"""The key over the block diagram: trainable, frozen, the two kinds of shortcut, and the
colour scale while the blocks are tinted by a statistic."""

from __future__ import annotations

from PySide6.QtCore import QLineF, QRectF, QSize, Qt
from PySide6.QtGui import QColor, QPainter, QPen
from PySide6.QtWidgets import QSizePolicy, QWidget

from .diagram import DiagramView
from .labels import value_text
from .style import hatch, shortcut_pen, viridis_bar

__all__ = ["Legend"]


class Legend(QWidget):
    """The key: trainable, frozen, the two shortcuts; the colour scale while tinting."""

    def __init__(self, diagram: DiagramView, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.diagram = diagram
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)

    def sizeHint(self) -> QSize:
        return QSize(600, int(self.fontMetrics().height() * 1.9))

    def minimumSizeHint(self) -> QSize:
        return QSize(100, self.sizeHint().height())

    def paintEvent(self, event) -> None:
        c = self.diagram.colors
        stats = self.diagram.stats
        p = QPainter(self)
        p.setRenderHint(QPainter.RenderHint.Antialiasing)
        fm = self.fontMetrics()
        h = self.height()
        cy = h / 2
        x = 4.0
        sw = 22.0

        def label(text: str, color: QColor | None = None) -> None:
            nonlocal x
            p.setPen(color or c.text)
            p.setFont(self.font())
            w = fm.horizontalAdvance(text)
            p.drawText(QRectF(x, 0, w + 2, h), Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft, text)
            x += w + 16

        def swatch(fill: QColor, hatched: bool) -> None:
            nonlocal x
            r = QRectF(x, cy - 7, sw, 14)
            p.setPen(QPen(c.border, 1.0))
            p.setBrush(fill)
            p.drawRoundedRect(r, 3, 3)
            if hatched:
                hatch(p, r.adjusted(1.5, 1.5, -1.5, -1.5), c.hatch)
            x += sw + 6

        def line(color: QColor, dashed: bool) -> None:
            nonlocal x
            p.setPen(shortcut_pen(color, dashed))
            p.drawLine(QLineF(x, cy, x + sw, cy))
            x += sw + 6

        swatch(c.trainable, False)
        label("trainable")
        swatch(c.frozen, True)
        label("frozen")
        line(c.identity, False)
        label("identity shortcut")
        line(c.projection, True)
        label("projection (1×1 conv)")
        if self.diagram.has_padded_shortcuts():
            p.setPen(shortcut_pen(c.identity, False, True))
            p.drawLine(QLineF(x, cy, x + sw, cy))
            x += sw + 6
            label("identity, zero-padded (option A)")
        rng = stats.range()
        if rng is not None and stats.shown:
            lo, hi = rng
            x += 8
            label(f"{stats.label}, log scale:", c.muted)
            label(value_text(lo))
            x -= 10
            bar = QRectF(x, cy - 6, 110, 12)
            viridis_bar(p, bar, QPen(c.border, 1.0))
            x += bar.width() + 6
            label(value_text(hi))
        elif stats.values:
            label("gradient tint off", c.muted)
        p.end()
