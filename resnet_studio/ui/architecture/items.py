"""The block diagram's scene items other than the boxes: the input and output pills, the
edges with their shape labels, the stage frames with their collapse toggles, the title,
and the colour scale.

Each paints with the colours and fonts of the `DiagramView` it is drawn for.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

from PySide6.QtCore import QPointF, QRectF, Qt
from PySide6.QtGui import QPainter, QPainterPath, QPen, QPolygonF
from PySide6.QtWidgets import QGraphicsItem

from .labels import value_text
from .style import arrow_head, chip, viridis_bar

if TYPE_CHECKING:
    from .diagram import DiagramView

__all__ = ["TerminalItem", "EdgeItem", "FrameItem", "TitleItem", "ScaleItem"]

_LEFT = Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter


class TerminalItem(QGraphicsItem):
    """The input image and the class scores: a pill with two lines."""

    def __init__(self, host: DiagramView, lines: list[str], tooltip: str = "") -> None:
        super().__init__()
        self.host = host
        self.lines = lines
        f = host.fonts
        self.w = max(f.fm.horizontalAdvance(t) for t in lines) + 24
        self.h = len(lines) * f.fm.height() + 12
        self.exit_x = self.w
        self.setToolTip(tooltip)
        self.setZValue(2)

    def boundingRect(self) -> QRectF:
        return QRectF(-1, -self.h / 2 - 1, self.w + 2, self.h + 2)

    def paint(self, painter: QPainter, option, widget=None) -> None:
        c, f = self.host.colors, self.host.fonts
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setPen(QPen(c.border, 1.0))
        painter.setBrush(c.background)
        rect = QRectF(0, -self.h / 2, self.w, self.h)
        painter.drawRoundedRect(rect, 10, 10)
        painter.setPen(c.text)
        y = rect.top() + 6
        for i, line in enumerate(self.lines):
            painter.setFont(f.bold if i == 0 else f.normal)
            painter.drawText(QRectF(rect.left(), y, self.w, f.fm.height()), Qt.AlignmentFlag.AlignCenter, line)
            y += f.fm.height()


class EdgeItem(QGraphicsItem):
    """A polyline with an arrow at its end and, optionally, a shape label on it."""

    def __init__(self, host: DiagramView, points: list[QPointF], label: str = "", label_at: QPointF | None = None,
                 arrow: bool = True) -> None:
        super().__init__()
        self.host = host
        self.points = points
        self.arrow = arrow
        self.label = label
        self.label_at = label_at
        path = QPainterPath(points[0])
        for p in points[1:]:
            path.lineTo(p)
        self.path = path
        rect = path.boundingRect().adjusted(-6, -6, 6, 6)
        if label and label_at is not None:
            f = host.fonts
            w, h = f.fm_small.horizontalAdvance(label) + 14, f.fm_small.height() + 6
            rect = rect.united(QRectF(label_at.x() - w / 2, label_at.y() - h / 2, w, h))
        self._bounds = rect
        self.setZValue(1)

    def boundingRect(self) -> QRectF:
        return self._bounds

    def paint(self, painter: QPainter, option, widget=None) -> None:
        c, f = self.host.colors, self.host.fonts
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setPen(QPen(c.edge, 1.3, Qt.PenStyle.SolidLine, Qt.PenCapStyle.RoundCap, Qt.PenJoinStyle.RoundJoin))
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.drawPath(self.path)
        if self.arrow:
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(c.edge)
            a, b = self.points[-2], self.points[-1]
            arrow_head(painter, b, b - a, 6)
        if self.label and self.label_at is not None:
            chip(painter, self.label_at, self.label, f.small, f.fm_small, c.text, c.background, c.frame_border)


class FrameItem(QGraphicsItem):
    """A stage's background and its gutter: names, block count, collapse toggle."""

    def __init__(self, host: DiagramView, rect: QRectF, lines: list[tuple[str, str]], toggle: str | None = None,
                 on_toggle: Callable[[], None] | None = None) -> None:
        super().__init__()
        self.host = host
        self.rect = rect
        self.lines = lines  # (text, "bold"|"normal"|"small")
        self.toggle = toggle
        self.on_toggle = on_toggle
        self.toggle_rect = QRectF()
        f = host.fonts
        y = rect.top() + 10
        for _, style in lines:
            y += f.metrics(style).height()
        if toggle:
            w = f.fm_small.horizontalAdvance(toggle) + 24
            self.toggle_rect = QRectF(rect.left() + 10, y + 6, w, f.fm_small.height() + 6)
            self.setAcceptHoverEvents(True)
        self.setZValue(0)

    def boundingRect(self) -> QRectF:
        return self.rect.adjusted(-1, -1, 1, 1)

    def paint(self, painter: QPainter, option, widget=None) -> None:
        c, f = self.host.colors, self.host.fonts
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setPen(QPen(c.frame_border, 1.0))
        painter.setBrush(c.frame_fill)
        painter.drawRoundedRect(self.rect, 10, 10)
        y = self.rect.top() + 10
        x = self.rect.left() + 12
        for text, style in self.lines:
            font, fm, color = {
                "bold": (f.bold, f.fm_bold, c.text),
                "small": (f.small, f.fm_small, c.muted),
            }.get(style, (f.normal, f.fm, c.text))
            painter.setFont(font)
            painter.setPen(color)
            painter.drawText(QRectF(x, y, self.rect.width(), fm.height()), _LEFT, text)
            y += fm.height()
        if self.toggle and not self.host.exporting:
            self._paint_toggle(painter)

    def _paint_toggle(self, painter: QPainter) -> None:
        c, f = self.host.colors, self.host.fonts
        r = self.toggle_rect
        painter.setPen(QPen(c.frame_border, 1.0))
        painter.setBrush(c.background)
        painter.drawRoundedRect(r, r.height() / 2, r.height() / 2)
        # a chevron: right when collapsed (expand), down when expanded (collapse)
        cx, cy, s = r.left() + 10, r.center().y(), 3.2
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(c.text)
        if self.toggle.startswith("expand"):
            tri = [QPointF(cx - s * 0.6, cy - s), QPointF(cx + s * 0.8, cy), QPointF(cx - s * 0.6, cy + s)]
        else:
            tri = [QPointF(cx - s, cy - s * 0.6), QPointF(cx + s, cy - s * 0.6), QPointF(cx, cy + s * 0.8)]
        painter.drawPolygon(QPolygonF(tri))
        painter.setFont(f.small)
        painter.setPen(c.text)
        painter.drawText(r.adjusted(18, 0, 0, 0), _LEFT, self.toggle)

    def hoverMoveEvent(self, event) -> None:
        on_toggle = self.toggle_rect.contains(event.pos())
        self.setCursor(Qt.CursorShape.PointingHandCursor if on_toggle else Qt.CursorShape.ArrowCursor)

    def mousePressEvent(self, event) -> None:
        if self.toggle and self.toggle_rect.contains(event.pos()) and event.button() == Qt.MouseButton.LeftButton:
            event.accept()
        else:
            event.ignore()

    def mouseReleaseEvent(self, event) -> None:
        if self.toggle and self.toggle_rect.contains(event.pos()) and self.on_toggle:
            self.on_toggle()


class TitleItem(QGraphicsItem):
    """The network's name over a line of its size, parameters and multiply-adds (GMACs)."""

    def __init__(self, host: DiagramView, title: str, subtitle: str) -> None:
        super().__init__()
        self.host, self.title, self.subtitle = host, title, subtitle
        f = host.fonts
        self.w = max(f.fm_title.horizontalAdvance(title), f.fm.horizontalAdvance(subtitle)) + 4
        self.h = f.fm_title.height() + 2 + f.fm.height()

    def boundingRect(self) -> QRectF:
        return QRectF(0, 0, self.w, self.h)

    def paint(self, painter: QPainter, option, widget=None) -> None:
        c, f = self.host.colors, self.host.fonts
        painter.setFont(f.title)
        painter.setPen(c.text)
        painter.drawText(QRectF(0, 0, self.w, f.fm_title.height()), Qt.AlignmentFlag.AlignLeft, self.title)
        painter.setFont(f.normal)
        painter.setPen(c.muted)
        painter.drawText(QRectF(0, f.fm_title.height() + 2, self.w, f.fm.height()), Qt.AlignmentFlag.AlignLeft, self.subtitle)


class ScaleItem(QGraphicsItem):
    """The colour scale, in the scene so that exported pictures carry it; empty when not tinting."""

    BAR_W = 120.0

    def __init__(self, host: DiagramView) -> None:
        super().__init__()
        self.host = host
        f = host.fonts
        self.h = f.fm_small.height() + 4
        fm = f.fm_small
        self.w = 2 * fm.horizontalAdvance("0.000000") + fm.horizontalAdvance("update/weight ratio (log)  ") + self.BAR_W + 16

    def boundingRect(self) -> QRectF:
        return QRectF(0, 0, self.w, self.h)

    def paint(self, painter: QPainter, option, widget=None) -> None:
        stats = self.host.stats
        rng = stats.range()
        if rng is None or stats.displayed() is None:
            return
        c, f = self.host.colors, self.host.fonts
        fm = f.fm_small
        painter.setFont(f.small)
        x = 0.0
        for text, color in ((f"{stats.label} (log scale)", c.muted), (value_text(rng[0]), c.text)):
            w = fm.horizontalAdvance(text)
            painter.setPen(color)
            painter.drawText(QRectF(x, 0, w + 1, self.h), Qt.AlignmentFlag.AlignVCenter, text)
            x += w + 6
        bar = QRectF(x, 3, self.BAR_W, self.h - 6)
        viridis_bar(painter, bar, QPen(c.border, 0.8))
        painter.setPen(c.text)
        hi = value_text(rng[1])
        painter.drawText(QRectF(bar.right() + 6, 0, fm.horizontalAdvance(hi) + 1, self.h), Qt.AlignmentFlag.AlignVCenter, hi)
