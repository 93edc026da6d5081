"""The box of the block diagram: a stem, a head, a residual block or a stack of repeated blocks.

A residual block is drawn as in He et al., Fig. 2: the main path enters a box of
convolutions, the shortcut leaves before it, arcs over it (orange and dashed when it
is a 1×1 projection) and joins again at the ⊕ node. A box is filled by whether it
trains, or by its block statistic while the gradient tint is on; clicking selects it.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

from PySide6.QtCore import QLineF, QPointF, QRectF, Qt
from PySide6.QtGui import QColor, QPainter, QPainterPath, QPen
from PySide6.QtWidgets import QGraphicsItem

from .style import Colors, Fonts, arrow_head, chip, hatch, luminance, mix, shortcut_pen

if TYPE_CHECKING:
    from .diagram import DiagramView

__all__ = ["BoxItem"]


#: the shortcuts drawn with a label over their arc: a 1x1 projection, and option A's zero-padded identity
_LABELLED = ("projection", "zero-padded")

class BoxItem(QGraphicsItem):
    """A stem, head or residual block (or a stack of repeated blocks).

    Local coordinates: the main path enters at (0, 0) and leaves at (exit_x, 0).
    Blocks have a split dot, the box, the shortcut arc and the ⊕ node; the stem and
    the head are a box only.
    """

    PAD = 8.0
    DOT_X = 6.0
    BOX_X = 18.0
    ADD_R = 9.0

    def __init__(self, host: DiagramView, key: str, title: str, lines: list[str], *,
                 trainable: bool, shortcut: str | None = None, shortcut_label: str = "",
                 repeat: list[str] | None = None, tooltip: str = "", block: dict | None = None) -> None:
        super().__init__()
        self.host = host
        self.key = key  # what a click selects
        self.title = title
        self.lines = lines
        self.trainable = trainable
        self.shortcut = shortcut  # None (stem/head), "identity", "zero-padded" (option A) or "projection"
        self.shortcut_label = shortcut_label
        self.repeat = repeat or []  # block names a stack stands for
        self.block = block  # a single residual block's description (its tooltip follows the statistics)
        self.hover = False
        self.setAcceptHoverEvents(True)
        self.setCursor(Qt.CursorShape.PointingHandCursor)
        self.setToolTip(tooltip)
        self.setZValue(2)
        self._layout()

    # -- geometry
    def _layout(self) -> None:
        f = self.host.fonts
        self.tag = "" if self.trainable else "frozen"
        title_w = f.fm_bold.horizontalAdvance(self.title) + (f.fm_small.horizontalAdvance(self.tag) + 12 if self.tag else 0)
        if self.repeat:
            self.badge = f"× {len(self.repeat)}"
            title_w += f.fm_bold.horizontalAdvance(self.badge) + 18
        lines_w = max((f.fm.horizontalAdvance(t) for t in self.lines), default=0)
        w = max(title_w, lines_w) + 2 * self.PAD
        if self.shortcut in _LABELLED:
            w = max(w, f.fm_small.horizontalAdvance(self.shortcut_label) + 4)
        self.box_w = math.ceil(max(w, 92.0))
        self.strip_h = 7.0 if self.repeat else 0.0
        self.box_h = math.ceil(self.PAD + f.fm_bold.height() + 3 + len(self.lines) * f.fm.height() + self.PAD + self.strip_h)
        top = -self.box_h / 2
        if self.shortcut is None:
            self.box_x = 0.0
            self.exit_x = self.box_w
            self.arc_y = top
        else:
            self.box_x = self.BOX_X
            self.add_x = self.box_x + self.box_w + 24
            self.exit_x = self.add_x + self.ADD_R
            stack = 8.0 if self.repeat else 0.0
            lift = f.fm_small.height() / 2 + 10 if self.shortcut in _LABELLED else 14
            self.arc_y = top - stack - lift
        self.box = QRectF(self.box_x, top, self.box_w, self.box_h)
        bottom = self.box_h / 2 + (f.fm_small.height() + 4 if self.shortcut else 0)
        arc_top = self.arc_y - (f.fm_small.height() / 2 + 4 if self.shortcut in _LABELLED else 3)
        self._bounds = QRectF(-2, arc_top, self.exit_x + 4, bottom - arc_top + 2)

    def boundingRect(self) -> QRectF:
        return self._bounds

    def shape(self) -> QPainterPath:
        path = QPainterPath()
        path.addRect(self.box.adjusted(-2, -10 if self.repeat else -2, 10 if self.repeat else 2, 2))
        return path

    # -- state
    def is_selected(self) -> bool:
        sel = self.host.selected
        return sel is not None and (sel == self.key or sel in self.repeat)

    def stat(self) -> float | None:
        """The statistic the box is tinted by (a stack's geometric mean), or None."""
        return self.host.stats.shown_value(self.repeat or [self.key])

    # -- painting
    def paint(self, painter: QPainter, option, widget=None) -> None:
        c = self.host.colors
        f = self.host.fonts
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        stat = self.stat()
        fill = self.host.stats.color(stat) if stat is not None else (c.trainable if self.trainable else c.frozen)
        on_fill = QColor(Qt.GlobalColor.black) if luminance(fill) > 0.5 else QColor(Qt.GlobalColor.white)
        if stat is None:
            on_fill = c.text
        if self.shortcut is not None:
            self._paint_shortcut(painter, c, f)
        box = self.box
        if self.repeat:  # the stack: two cards peeking out behind
            for off in (8.0, 4.0):
                painter.setPen(QPen(c.border, 1.0))
                painter.setBrush(mix(fill, c.background, 0.35))
                painter.drawRoundedRect(box.translated(off, -off), 6, 6)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(fill)
        painter.drawRoundedRect(box, 6, 6)
        if not self.trainable and stat is None:
            hatch(painter, box.adjusted(2.5, 2.5, -2.5, -2.5), c.hatch)
        selected = self.is_selected()
        pen = QPen(c.selected if (selected or self.hover) else c.border, 2.6 if selected else (1.8 if self.hover else 1.0))
        painter.setPen(pen)
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.drawRoundedRect(box, 6, 6)

        # text
        x = box.left() + self.PAD
        y = box.top() + self.PAD
        painter.setFont(f.bold)
        painter.setPen(on_fill)
        title_h = f.fm_bold.height()
        left = Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter
        painter.drawText(QRectF(x, y, box.width() - 2 * self.PAD, title_h), left, self.title)
        if self.tag:
            painter.setFont(f.small)
            painter.setPen(mix(on_fill, fill, 0.3))
            right = Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
            painter.drawText(QRectF(x, y, box.width() - 2 * self.PAD, title_h), right, self.tag)
        y += title_h + 3
        painter.setFont(f.normal)
        painter.setPen(on_fill)
        for line in self.lines:
            painter.drawText(QRectF(x, y, box.width() - 2 * self.PAD, f.fm.height()), left, line)
            y += f.fm.height()
        if self.repeat:
            self._paint_badge(painter, c, f)
            self._paint_strip(painter, c)

    def _paint_badge(self, painter: QPainter, c: Colors, f: Fonts) -> None:
        w = f.fm_bold.horizontalAdvance(self.badge) + 12
        h = f.fm_bold.height() + 2
        rect = QRectF(self.box.right() - w - 5, self.box.top() + self.PAD - 1, w, h)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(c.text)
        painter.drawRoundedRect(rect, h / 2, h / 2)
        painter.setPen(c.background)
        painter.setFont(f.bold)
        painter.drawText(rect, Qt.AlignmentFlag.AlignCenter, self.badge)

    def _paint_strip(self, painter: QPainter, c: Colors) -> None:
        """One cell per stacked block: its own colour when tinted, so a collapsed stage still shows which learn."""
        stats = self.host.stats.displayed()
        rect = QRectF(self.box.left() + self.PAD, self.box.bottom() - self.PAD - self.strip_h + 3,
                      self.box.width() - 2 * self.PAD, self.strip_h - 2)
        n = len(self.repeat)
        cell = rect.width() / n
        painter.setPen(Qt.PenStyle.NoPen)
        for i, name in enumerate(self.repeat):
            if stats is not None and name in stats:
                color = self.host.stats.color(stats[name])
            else:
                color = mix(c.background, c.text, 0.22 if i % 2 else 0.32)
            painter.setBrush(color)
            painter.drawRect(QRectF(rect.left() + i * cell, rect.top(), max(cell - 0.6, 0.6), rect.height()))

    def _paint_shortcut(self, painter: QPainter, c: Colors, f: Fonts) -> None:
        projection = self.shortcut == "projection"
        padded = self.shortcut == "zero-padded"
        color = c.projection if projection else c.identity
        r = self.ADD_R
        # main path: in -> box, box -> ⊕, ⊕ -> out
        painter.setPen(QPen(c.edge, 1.3))
        painter.drawLine(QLineF(0, 0, self.box_x, 0))
        painter.drawLine(QLineF(self.box.right(), 0, self.add_x - r, 0))
        painter.setBrush(c.edge)
        arrow_head(painter, QPointF(self.box_x, 0), QPointF(1, 0), 6)
        arrow_head(painter, QPointF(self.add_x - r, 0), QPointF(1, 0), 6)
        # the shortcut: up from the split dot, over the box, down into ⊕
        path = QPainterPath(QPointF(self.DOT_X, 0))
        rad = 6.0
        path.lineTo(self.DOT_X, self.arc_y + rad)
        path.quadTo(self.DOT_X, self.arc_y, self.DOT_X + rad, self.arc_y)
        path.lineTo(self.add_x - rad, self.arc_y)
        path.quadTo(self.add_x, self.arc_y, self.add_x, self.arc_y + rad)
        path.lineTo(self.add_x, -r - 1)
        painter.setPen(shortcut_pen(color, projection, padded))
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.drawPath(path)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(color)
        arrow_head(painter, QPointF(self.add_x, -r), QPointF(0, 1), 7)
        painter.drawEllipse(QPointF(self.DOT_X, 0), 3.0, 3.0)
        if self.shortcut in _LABELLED and self.shortcut_label:
            mid = QPointF((self.DOT_X + self.add_x) / 2, self.arc_y)
            chip(painter, mid, self.shortcut_label, f.small, f.fm_small, color, c.background, color)
        # ⊕ and the ReLU after it (Fig. 2)
        painter.setPen(QPen(c.edge, 1.4))
        painter.setBrush(c.background)
        painter.drawEllipse(QPointF(self.add_x, 0), r, r)
        painter.drawLine(QLineF(self.add_x - r * 0.55, 0, self.add_x + r * 0.55, 0))
        painter.drawLine(QLineF(self.add_x, -r * 0.55, self.add_x, r * 0.55))
        painter.setFont(f.small)
        painter.setPen(c.muted)
        painter.drawText(QRectF(self.add_x - 20, r + 2, 40, f.fm_small.height()), Qt.AlignmentFlag.AlignCenter, "relu")

    # -- interaction
    def hoverEnterEvent(self, event) -> None:
        self.hover = True
        self.update()

    def hoverLeaveEvent(self, event) -> None:
        self.hover = False
        self.update()

    def mousePressEvent(self, event) -> None:
        if event.button() == Qt.MouseButton.LeftButton:
            event.accept()
        else:
            event.ignore()

    def mouseReleaseEvent(self, event) -> None:
        if event.button() == Qt.MouseButton.LeftButton and self.shape().contains(event.pos()):
            if not self.repeat:
                self.host.blockClicked.emit(self.key)
            elif self.host.selected not in self.repeat:  # a stack selects the block it shows
                self.host.blockClicked.emit(self.repeat[0])

    def mouseDoubleClickEvent(self, event) -> None:
        if self.repeat:
            self.host.collapseRequested.emit(self.repeat[0].split(".")[0], False)
