"""The block diagram: a ResNet drawn the way the paper draws it, and live while training.

The diagram reads left to right, one row per stage (wrapped when a stage is long), like
a line of text: the stem, the residual blocks of layer1..layer4, the head. Each block
is a box with its main-path convolutions ("3×3 conv, 128, /2", as in He et al.,
Fig. 3); its shortcut leaves the input before the box, arcs over it and joins the
main path again at the ⊕ node. Projection shortcuts are orange and labelled with their
1×1 convolution. Tensor shapes are written on the edges between stages.

Everything drawn comes from `engine.architecture.describe`'s dictionary; this module
only lays it out and paints it.
"""

from __future__ import annotations

import math
import os
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from PySide6.QtCore import QEvent, QLineF, QPointF, QRectF, QSize, Qt, Signal
from PySide6.QtGui import (
    QBrush,
    QColor,
    QFont,
    QFontMetricsF,
    QImage,
    QLinearGradient,
    QPainter,
    QPainterPath,
    QPalette,
    QPen,
    QPolygonF,
)
from PySide6.QtWidgets import (
    QFileDialog,
    QFrame,
    QGraphicsItem,
    QGraphicsScene,
    QGraphicsView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QMessageBox,
    QSizePolicy,
    QSplitter,
    QToolButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from resnet_studio.engine.architecture import describe_depth
from resnet_studio.engine.errors import StudioError

__all__ = ["ArchitectureView", "COLLAPSE_ABOVE", "BLOCKS_PER_ROW"]

COLLAPSE_ABOVE = 6  # stages with more blocks start collapsed
BLOCKS_PER_ROW = 9  # a longer stage wraps onto further rows
_MAX_EXPORT_PIXELS = 12_000  # longest side of an exported PNG

# matplotlib's viridis, five stops: readable on light and dark backgrounds alike.
_VIRIDIS = [(0.267, 0.005, 0.329), (0.229, 0.322, 0.545), (0.128, 0.567, 0.551), (0.369, 0.789, 0.383), (0.993, 0.906, 0.144)]


# ---------------------------------------------------------------- colours and text


def _mix(a: QColor, b: QColor, t: float) -> QColor:
    return QColor.fromRgbF(
        a.redF() + (b.redF() - a.redF()) * t,
        a.greenF() + (b.greenF() - a.greenF()) * t,
        a.blueF() + (b.blueF() - a.blueF()) * t,
    )


def _viridis(t: float) -> QColor:
    t = min(1.0, max(0.0, t)) * (len(_VIRIDIS) - 1)
    i = min(int(t), len(_VIRIDIS) - 2)
    f = t - i
    a, b = _VIRIDIS[i], _VIRIDIS[i + 1]
    return QColor.fromRgbF(*(a[k] + (b[k] - a[k]) * f for k in range(3)))


def _luminance(c: QColor) -> float:
    return 0.2126 * c.redF() + 0.7152 * c.greenF() + 0.0722 * c.blueF()


@dataclass
class _Colors:
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
    chip: QColor

    @classmethod
    def from_palette(cls, pal: QPalette) -> _Colors:
        base = pal.color(QPalette.ColorRole.Base)
        text = pal.color(QPalette.ColorRole.Text)
        dark = base.lightness() < 128
        blue = QColor(66, 133, 244)
        return cls(
            background=base,
            text=text,
            muted=_mix(base, text, 0.62),
            border=_mix(base, text, 0.45),
            edge=_mix(base, text, 0.72),
            frame_fill=_mix(base, text, 0.045 if not dark else 0.07),
            frame_border=_mix(base, text, 0.16),
            trainable=_mix(base, blue, 0.20 if not dark else 0.38),
            frozen=_mix(base, QColor(128, 128, 128), 0.16 if not dark else 0.22),
            hatch=_mix(base, text, 0.16 if not dark else 0.22),
            identity=_mix(base, text, 0.55),
            projection=QColor(232, 119, 34) if not dark else QColor(255, 152, 64),
            selected=pal.color(QPalette.ColorRole.Highlight) if not dark else QColor(120, 180, 255),
            chip=base,
        )


class _Fonts:
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


def _shape(shape: list[int] | None) -> str:
    return "×".join(str(s) for s in shape) if shape else ""


def _count(n: int) -> str:
    if n >= 1e6:
        return f"{n / 1e6:.1f} M"
    if n >= 1e3:
        return f"{n / 1e3:.1f} K"
    return str(n)


def _value(v: float) -> str:
    return f"{v:.3g}" if 1e-3 <= abs(v) < 1e4 or v == 0 else f"{v:.2e}"


def _conv_line(layer: dict) -> str:
    """Fig. 3 of the paper: '3×3 conv, 128, /2'."""
    k = layer.get("kernel")
    k = f"{k}×{k}" if isinstance(k, int) else "×".join(map(str, k or []))
    stride = layer.get("stride")
    stride = stride if isinstance(stride, int) else max(stride or [1])
    return f"{k} conv, {layer['out_channels']}" + (f", /{stride}" if stride > 1 else "")


def _shortcut_label(block: dict) -> str:
    conv = next((l for l in block.get("shortcut_layers", []) if l["kind"] == "conv"), None)
    stride = conv["stride"] if conv else block.get("stride", 1)
    stride = stride if isinstance(stride, int) else max(stride)
    return f"1×1 conv, stride {stride}"


def _arrow_head(painter: QPainter, tip: QPointF, direction: QPointF, size: float = 7.0) -> None:
    length = math.hypot(direction.x(), direction.y()) or 1.0
    dx, dy = direction.x() / length, direction.y() / length
    back = QPointF(tip.x() - dx * size, tip.y() - dy * size)
    normal = QPointF(-dy * size * 0.45, dx * size * 0.45)
    painter.drawPolygon(QPolygonF([tip, back + normal, back - normal]))


def _hatch(painter: QPainter, rect: QRectF, color: QColor, step: float = 7.0) -> None:
    """Diagonal hatching inside `rect`, clipped by arithmetic rather than a clip path
    (SVG export ignores clip paths, and the lines would spill out of the box)."""
    painter.setPen(QPen(color, 1.0))
    l, t, r, b = rect.left(), rect.top(), rect.right(), rect.bottom()
    k = l + t + step / 2
    while k < r + b:  # the line x + y = k, from lower left to upper right
        x0, x1 = max(l, k - b), min(r, k - t)
        if x1 > x0:
            painter.drawLine(QLineF(x0, k - x0, x1, k - x1))
        k += step


def _chip(painter: QPainter, center: QPointF, text: str, font: QFont, fm: QFontMetricsF, fg: QColor, bg: QColor, border: QColor | None = None) -> QRectF:
    w, h = fm.horizontalAdvance(text) + 10, fm.height() + 4
    rect = QRectF(center.x() - w / 2, center.y() - h / 2, w, h)
    painter.setPen(QPen(border, 1.0) if border is not None else Qt.PenStyle.NoPen)
    painter.setBrush(bg)
    painter.drawRoundedRect(rect, h / 2, h / 2)
    painter.setPen(fg)
    painter.setFont(font)
    painter.drawText(rect, Qt.AlignmentFlag.AlignCenter, text)
    return rect


# ---------------------------------------------------------------- scene items


class _BoxItem(QGraphicsItem):
    """A stem, head or residual block (or a stack of repeated blocks).

    Local coordinates: the main path enters at (0, 0) and leaves at (exit_x, 0).
    Blocks have a split dot, the box, the shortcut arc and the ⊕ node; the stem and
    the head are a box only.
    """

    PAD = 8.0
    DOT_X = 6.0
    BOX_X = 18.0
    ADD_R = 9.0

    def __init__(self, view: ArchitectureView, key: str, title: str, lines: list[str], *,
                 trainable: bool, shortcut: str | None = None, shortcut_label: str = "",
                 repeat: list[str] | None = None, tooltip: str = "") -> None:
        super().__init__()
        self.view = view
        self.key = key  # what a click selects
        self.title = title
        self.lines = lines
        self.trainable = trainable
        self.shortcut = shortcut  # None (stem/head), "identity" or "projection"
        self.shortcut_label = shortcut_label
        self.repeat = repeat or []  # block names a stack stands for
        self.hover = False
        self.setAcceptHoverEvents(True)
        self.setCursor(Qt.CursorShape.PointingHandCursor)
        self.setToolTip(tooltip)
        self.setZValue(2)
        self._layout()

    # -- geometry
    def _layout(self) -> None:
        f = self.view._fonts
        self.tag = "" if self.trainable else "frozen"
        title_w = f.fm_bold.horizontalAdvance(self.title) + (f.fm_small.horizontalAdvance(self.tag) + 12 if self.tag else 0)
        if self.repeat:
            self.badge = f"× {len(self.repeat)}"
            title_w += f.fm_bold.horizontalAdvance(self.badge) + 18
        lines_w = max((f.fm.horizontalAdvance(t) for t in self.lines), default=0)
        w = max(title_w, lines_w) + 2 * self.PAD
        if self.shortcut == "projection":
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
            lift = f.fm_small.height() / 2 + 10 if self.shortcut == "projection" else 14
            self.arc_y = top - stack - lift
        self.box = QRectF(self.box_x, top, self.box_w, self.box_h)
        bottom = self.box_h / 2 + (f.fm_small.height() + 4 if self.shortcut else 0)
        arc_top = self.arc_y - (f.fm_small.height() / 2 + 4 if self.shortcut == "projection" else 3)
        self._bounds = QRectF(-2, arc_top, self.exit_x + 4, bottom - arc_top + 2)

    def boundingRect(self) -> QRectF:
        return self._bounds

    def shape(self) -> QPainterPath:
        path = QPainterPath()
        path.addRect(self.box.adjusted(-2, -10 if self.repeat else -2, 10 if self.repeat else 2, 2))
        return path

    # -- state
    def is_selected(self) -> bool:
        sel = self.view._selected
        return sel is not None and (sel == self.key or sel in self.repeat)

    def stat(self) -> float | None:
        stats = self.view._stats_for_display()
        if stats is None:
            return None
        names = self.repeat or [self.key]
        values = [stats[n] for n in names if n in stats]
        if not values:
            return None
        positive = [v for v in values if v > 0]
        # a stack shows the geometric mean of its blocks (the colour scale is logarithmic)
        return math.exp(sum(math.log(v) for v in positive) / len(positive)) if positive else 0.0

    # -- painting
    def paint(self, painter: QPainter, option, widget=None) -> None:
        c = self.view._colors
        f = self.view._fonts
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        stat = self.stat()
        fill = self.view._stat_color(stat) if stat is not None else (c.trainable if self.trainable else c.frozen)
        on_fill = QColor(Qt.GlobalColor.black) if _luminance(fill) > 0.5 else QColor(Qt.GlobalColor.white)
        if stat is None:
            on_fill = c.text
        if self.shortcut is not None:
            self._paint_shortcut(painter, c, f)
        box = self.box
        if self.repeat:  # the stack: two cards peeking out behind
            for off in (8.0, 4.0):
                painter.setPen(QPen(c.border, 1.0))
                painter.setBrush(_mix(fill, c.background, 0.35))
                painter.drawRoundedRect(box.translated(off, -off), 6, 6)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(fill)
        painter.drawRoundedRect(box, 6, 6)
        if not self.trainable and stat is None:
            self._paint_hatch(painter, box, c.hatch)
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
        painter.drawText(QRectF(x, y, box.width() - 2 * self.PAD, title_h), Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter, self.title)
        if self.tag:
            painter.setFont(f.small)
            painter.setPen(_mix(on_fill, fill, 0.3))
            painter.drawText(QRectF(x, y, box.width() - 2 * self.PAD, title_h), Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter, self.tag)
        y += title_h + 3
        painter.setFont(f.normal)
        painter.setPen(on_fill)
        for line in self.lines:
            painter.drawText(QRectF(x, y, box.width() - 2 * self.PAD, f.fm.height()), Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter, line)
            y += f.fm.height()
        if self.repeat:
            self._paint_badge(painter, c, f)
            self._paint_strip(painter, c)

    def _paint_hatch(self, painter: QPainter, box: QRectF, color: QColor) -> None:
        _hatch(painter, box.adjusted(2.5, 2.5, -2.5, -2.5), color)

    def _paint_badge(self, painter: QPainter, c: _Colors, f: _Fonts) -> None:
        w = f.fm_bold.horizontalAdvance(self.badge) + 12
        h = f.fm_bold.height() + 2
        rect = QRectF(self.box.right() - w - 5, self.box.top() + self.PAD - 1, w, h)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(c.text)
        painter.drawRoundedRect(rect, h / 2, h / 2)
        painter.setPen(c.background)
        painter.setFont(f.bold)
        painter.drawText(rect, Qt.AlignmentFlag.AlignCenter, self.badge)

    def _paint_strip(self, painter: QPainter, c: _Colors) -> None:
        """One cell per stacked block: its own colour when tinted, so a collapsed stage still shows which learn."""
        stats = self.view._stats_for_display()
        rect = QRectF(self.box.left() + self.PAD, self.box.bottom() - self.PAD - self.strip_h + 3, self.box.width() - 2 * self.PAD, self.strip_h - 2)
        n = len(self.repeat)
        cell = rect.width() / n
        painter.setPen(Qt.PenStyle.NoPen)
        for i, name in enumerate(self.repeat):
            if stats is not None and name in stats:
                color = self.view._stat_color(stats[name])
            else:
                color = _mix(c.background, c.text, 0.22 if i % 2 else 0.32)
            painter.setBrush(color)
            painter.drawRect(QRectF(rect.left() + i * cell, rect.top(), max(cell - 0.6, 0.6), rect.height()))

    def _paint_shortcut(self, painter: QPainter, c: _Colors, f: _Fonts) -> None:
        projection = self.shortcut == "projection"
        color = c.projection if projection else c.identity
        r = self.ADD_R
        # main path: in -> box, box -> ⊕, ⊕ -> out
        painter.setPen(QPen(c.edge, 1.3))
        painter.drawLine(QLineF(0, 0, self.box_x, 0))
        painter.drawLine(QLineF(self.box.right(), 0, self.add_x - r, 0))
        painter.setBrush(c.edge)
        _arrow_head(painter, QPointF(self.box_x, 0), QPointF(1, 0), 6)
        _arrow_head(painter, QPointF(self.add_x - r, 0), QPointF(1, 0), 6)
        # the shortcut: up from the split dot, over the box, down into ⊕
        path = QPainterPath(QPointF(self.DOT_X, 0))
        rad = 6.0
        path.lineTo(self.DOT_X, self.arc_y + rad)
        path.quadTo(self.DOT_X, self.arc_y, self.DOT_X + rad, self.arc_y)
        path.lineTo(self.add_x - rad, self.arc_y)
        path.quadTo(self.add_x, self.arc_y, self.add_x, self.arc_y + rad)
        path.lineTo(self.add_x, -r - 1)
        pen = QPen(color, 2.2 if projection else 1.5)
        if projection:
            pen.setStyle(Qt.PenStyle.DashLine)
            pen.setDashPattern([4, 2.5])
        painter.setPen(pen)
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.drawPath(path)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(color)
        _arrow_head(painter, QPointF(self.add_x, -r), QPointF(0, 1), 7)
        painter.drawEllipse(QPointF(self.DOT_X, 0), 3.0, 3.0)
        if projection:
            mid = QPointF((self.DOT_X + self.add_x) / 2, self.arc_y)
            _chip(painter, mid, self.shortcut_label, f.small, f.fm_small, color, c.background, color)
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
                self.view._select(self.key)
            elif self.view._selected not in self.repeat:  # a stack selects the block it shows
                self.view._select(self.repeat[0])

    def mouseDoubleClickEvent(self, event) -> None:
        if self.repeat:
            self.view.collapse_stage(self.repeat[0].split(".")[0], False)


class _TerminalItem(QGraphicsItem):
    """The input image and the class scores: a pill with two lines."""

    def __init__(self, view: ArchitectureView, lines: list[str], tooltip: str = "") -> None:
        super().__init__()
        self.view = view
        self.lines = lines
        f = view._fonts
        self.w = max(f.fm.horizontalAdvance(t) for t in lines) + 24
        self.h = len(lines) * f.fm.height() + 12
        self.exit_x = self.w
        self.setToolTip(tooltip)
        self.setZValue(2)

    def boundingRect(self) -> QRectF:
        return QRectF(-1, -self.h / 2 - 1, self.w + 2, self.h + 2)

    def paint(self, painter: QPainter, option, widget=None) -> None:
        c, f = self.view._colors, self.view._fonts
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


class _EdgeItem(QGraphicsItem):
    """A polyline with an arrow at its end and, optionally, a shape label on it."""

    def __init__(self, view: ArchitectureView, points: list[QPointF], label: str = "", label_at: QPointF | None = None,
                 arrow: bool = True) -> None:
        super().__init__()
        self.view = view
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
            f = view._fonts
            w, h = f.fm_small.horizontalAdvance(label) + 14, f.fm_small.height() + 6
            rect = rect.united(QRectF(label_at.x() - w / 2, label_at.y() - h / 2, w, h))
        self._bounds = rect
        self.setZValue(1)

    def boundingRect(self) -> QRectF:
        return self._bounds

    def paint(self, painter: QPainter, option, widget=None) -> None:
        c, f = self.view._colors, self.view._fonts
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setPen(QPen(c.edge, 1.3, Qt.PenStyle.SolidLine, Qt.PenCapStyle.RoundCap, Qt.PenJoinStyle.RoundJoin))
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.drawPath(self.path)
        if self.arrow:
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(c.edge)
            a, b = self.points[-2], self.points[-1]
            _arrow_head(painter, b, b - a, 6)
        if self.label and self.label_at is not None:
            _chip(painter, self.label_at, self.label, f.small, f.fm_small, c.text, c.background, c.frame_border)


class _FrameItem(QGraphicsItem):
    """A stage's background and its gutter: names, block count, collapse toggle."""

    def __init__(self, view: ArchitectureView, rect: QRectF, lines: list[tuple[str, str]], toggle: str | None = None,
                 on_toggle: Callable[[], None] | None = None) -> None:
        super().__init__()
        self.view = view
        self.rect = rect
        self.lines = lines  # (text, "bold"|"normal"|"small")
        self.toggle = toggle
        self.on_toggle = on_toggle
        self.toggle_rect = QRectF()
        f = view._fonts
        y = rect.top() + 10
        for _, style in lines:
            y += {"bold": f.fm_bold, "small": f.fm_small}.get(style, f.fm).height()
        if toggle:
            w = f.fm_small.horizontalAdvance(toggle) + 24
            self.toggle_rect = QRectF(rect.left() + 10, y + 6, w, f.fm_small.height() + 6)
            self.setAcceptHoverEvents(True)
        self.setZValue(0)

    def boundingRect(self) -> QRectF:
        return self.rect.adjusted(-1, -1, 1, 1)

    def paint(self, painter: QPainter, option, widget=None) -> None:
        c, f = self.view._colors, self.view._fonts
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
            painter.drawText(QRectF(x, y, self.rect.width(), fm.height()), Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter, text)
            y += fm.height()
        if self.toggle and not self.view._exporting:
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
            painter.drawText(r.adjusted(18, 0, 0, 0), Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter, self.toggle)

    def hoverMoveEvent(self, event) -> None:
        self.setCursor(Qt.CursorShape.PointingHandCursor if self.toggle_rect.contains(event.pos()) else Qt.CursorShape.ArrowCursor)

    def mousePressEvent(self, event) -> None:
        if self.toggle and self.toggle_rect.contains(event.pos()) and event.button() == Qt.MouseButton.LeftButton:
            event.accept()
        else:
            event.ignore()

    def mouseReleaseEvent(self, event) -> None:
        if self.toggle and self.toggle_rect.contains(event.pos()) and self.on_toggle:
            self.on_toggle()


class _TitleItem(QGraphicsItem):
    def __init__(self, view: ArchitectureView, title: str, subtitle: str) -> None:
        super().__init__()
        self.view, self.title, self.subtitle = view, title, subtitle
        f = view._fonts
        self.w = max(f.fm_title.horizontalAdvance(title), f.fm.horizontalAdvance(subtitle)) + 4
        self.h = f.fm_title.height() + 2 + f.fm.height()

    def boundingRect(self) -> QRectF:
        return QRectF(0, 0, self.w, self.h)

    def paint(self, painter: QPainter, option, widget=None) -> None:
        c, f = self.view._colors, self.view._fonts
        painter.setFont(f.title)
        painter.setPen(c.text)
        painter.drawText(QRectF(0, 0, self.w, f.fm_title.height()), Qt.AlignmentFlag.AlignLeft, self.title)
        painter.setFont(f.normal)
        painter.setPen(c.muted)
        painter.drawText(QRectF(0, f.fm_title.height() + 2, self.w, f.fm.height()), Qt.AlignmentFlag.AlignLeft, self.subtitle)


class _ScaleItem(QGraphicsItem):
    """The colour scale, in the scene so that exported pictures carry it; empty when not tinting."""

    BAR_W = 120.0

    def __init__(self, view: ArchitectureView) -> None:
        super().__init__()
        self.view = view
        f = view._fonts
        self.h = f.fm_small.height() + 4
        self.w = 2 * f.fm_small.horizontalAdvance("0.000000") + f.fm_small.horizontalAdvance("update/weight ratio (log)  ") + self.BAR_W + 16

    def boundingRect(self) -> QRectF:
        return QRectF(0, 0, self.w, self.h)

    def paint(self, painter: QPainter, option, widget=None) -> None:
        v = self.view
        rng = v._stat_range()
        if rng is None or v._stats_for_display() is None:
            return
        c, f = v._colors, v._fonts
        fm = f.fm_small
        painter.setFont(f.small)
        x = 0.0
        for text, color in ((f"{v._stats_label} (log scale)", c.muted), (_value(rng[0]), c.text)):
            w = fm.horizontalAdvance(text)
            painter.setPen(color)
            painter.drawText(QRectF(x, 0, w + 1, self.h), Qt.AlignmentFlag.AlignVCenter, text)
            x += w + 6
        bar = QRectF(x, 3, self.BAR_W, self.h - 6)
        grad = QLinearGradient(bar.topLeft(), bar.topRight())
        for i in range(9):
            grad.setColorAt(i / 8, _viridis(i / 8))
        painter.setPen(QPen(c.border, 0.8))
        painter.setBrush(QBrush(grad))
        painter.drawRect(bar)
        painter.setPen(c.text)
        hi = _value(rng[1])
        painter.drawText(QRectF(bar.right() + 6, 0, fm.horizontalAdvance(hi) + 1, self.h), Qt.AlignmentFlag.AlignVCenter, hi)


# ---------------------------------------------------------------- the graphics view


class _DiagramView(QGraphicsView):
    """Wheel zooms around the pointer, dragging pans; fits the diagram until the user zooms."""

    def __init__(self, scene: QGraphicsScene, parent: QWidget | None = None) -> None:
        super().__init__(scene, parent)
        self.setRenderHints(QPainter.RenderHint.Antialiasing | QPainter.RenderHint.TextAntialiasing)
        self.setDragMode(QGraphicsView.DragMode.ScrollHandDrag)
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.AnchorUnderMouse)
        self.setViewportUpdateMode(QGraphicsView.ViewportUpdateMode.SmartViewportUpdate)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.auto_fit = True

    def fit(self) -> None:
        rect = self.scene().itemsBoundingRect().adjusted(-12, -12, 12, 12)
        if rect.isEmpty():
            return
        self.resetTransform()
        self.fitInView(rect, Qt.AspectRatioMode.KeepAspectRatio)
        if self.transform().m11() > 1.25:  # a small network is not blown up past readable
            self.resetTransform()
            self.scale(1.25, 1.25)
            self.centerOn(rect.center())
        self.auto_fit = True

    def zoom(self, factor: float) -> None:
        scale = self.transform().m11()
        factor = min(max(factor, 0.04 / scale), 4.0 / scale)
        self.scale(factor, factor)
        self.auto_fit = False

    def wheelEvent(self, event) -> None:
        delta = event.angleDelta().y()
        if delta:
            self.zoom(1.0015 ** delta)
            event.accept()

    def keyPressEvent(self, event) -> None:
        key = event.key()
        if key in (Qt.Key.Key_Plus, Qt.Key.Key_Equal):
            self.zoom(1.25)
        elif key == Qt.Key.Key_Minus:
            self.zoom(0.8)
        elif key == Qt.Key.Key_0:
            self.fit()
        else:
            super().keyPressEvent(event)

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        if self.auto_fit:
            self.fit()


class _Legend(QWidget):
    """The key: trainable, frozen, the two shortcuts; the colour scale while tinting."""

    def __init__(self, owner: ArchitectureView) -> None:
        super().__init__(owner)
        self.owner = owner
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)

    def sizeHint(self) -> QSize:
        return QSize(600, int(self.fontMetrics().height() * 1.9))

    def minimumSizeHint(self) -> QSize:
        return QSize(100, self.sizeHint().height())

    def paintEvent(self, event) -> None:
        o = self.owner
        c = o._colors
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

        def swatch(fill: QColor, hatch: bool) -> None:
            nonlocal x
            r = QRectF(x, cy - 7, sw, 14)
            p.setPen(QPen(c.border, 1.0))
            p.setBrush(fill)
            p.drawRoundedRect(r, 3, 3)
            if hatch:
                _hatch(p, r.adjusted(1.5, 1.5, -1.5, -1.5), c.hatch)
            x += sw + 6

        def line(color: QColor, dashed: bool) -> None:
            nonlocal x
            pen = QPen(color, 2.2 if dashed else 1.5)
            if dashed:
                pen.setStyle(Qt.PenStyle.DashLine)
                pen.setDashPattern([4, 2.5])
            p.setPen(pen)
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
        rng = o._stat_range()
        if rng is not None and o._tint_button.isChecked():
            lo, hi = rng
            x += 8
            label(f"{o._stats_label}, log scale:", c.muted)
            label(_value(lo))
            x -= 10
            bar = QRectF(x, cy - 6, 110, 12)
            grad = QLinearGradient(bar.topLeft(), bar.topRight())
            for i in range(9):
                grad.setColorAt(i / 8, _viridis(i / 8))
            p.setPen(QPen(c.border, 1.0))
            p.setBrush(QBrush(grad))
            p.drawRect(bar)
            x += bar.width() + 6
            label(_value(hi))
        elif o._stats:
            label("gradient tint off", c.muted)
        p.end()


# ---------------------------------------------------------------- the widget


class ArchitectureView(QWidget):
    """The ResNet block diagram with its toolbar, legend and a details panel.

    Feed it `set_description(describe(...))` or `show_depth(...)`; during training,
    `set_block_stats({"layer3.5": grad_norm, ...})` after each epoch.
    """

    blockSelected = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._desc: dict[str, Any] | None = None
        self._collapsed: dict[str, bool] = {}
        self._selected: str | None = None
        self._stats: dict[str, float] = {}
        self._stats_label = "gradient norm"
        self._boxes: dict[str, _BoxItem] = {}
        self._scale_item: _ScaleItem | None = None
        self._exporting = False
        self._colors = _Colors.from_palette(self.palette())
        self._fonts = _Fonts(self.font())

        self._scene = QGraphicsScene(self)
        self._view = _DiagramView(self._scene, self)
        self._view.setBackgroundBrush(self._colors.background)

        bar = QHBoxLayout()
        bar.setContentsMargins(0, 0, 0, 0)
        bar.setSpacing(4)

        def button(text: str, tip: str, slot, checkable: bool = False) -> QToolButton:
            b = QToolButton(self)
            b.setText(text)
            b.setToolTip(tip)
            b.setAutoRaise(True)
            b.setCheckable(checkable)
            if slot is not None:
                b.clicked.connect(slot)
            bar.addWidget(b)
            return b

        self._fit_button = button("Fit", "Fit the whole diagram in the view (0)", self.fit)
        self._expand_button = button("Expand all", "Show every block of every stage", lambda: self._set_all_collapsed(False))
        self._collapse_button = button("Collapse all", f"Show long stages (more than {COLLAPSE_ABOVE} blocks) as their first block and a stack", lambda: self._set_all_collapsed(True))
        bar.addSpacing(10)
        self._png_button = button("Export PNG…", "Save the diagram as a PNG image", self._on_export_png)
        self._svg_button = button("Export SVG…", "Save the diagram as an SVG drawing", self._on_export_svg)
        bar.addSpacing(10)
        self._tint_button = button("Gradient tint", "Colour each block by how strongly it learns (reported after each epoch)", None, True)
        self._tint_button.setChecked(True)
        self._tint_button.setEnabled(False)
        bar.addStretch(1)
        self._legend = _Legend(self)

        # details panel
        self._details_title = QLabel(self)
        self._details_title.setWordWrap(True)
        self._details_title.setTextFormat(Qt.TextFormat.RichText)
        self._details_title.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        self._details_title.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self._tree = QTreeWidget(self)
        self._tree.setHeaderLabels(["Layer", "Kernel", "Channels", "Output", "Params"])
        self._tree.setRootIsDecorated(True)
        self._tree.setUniformRowHeights(True)
        self._tree.setAlternatingRowColors(True)
        header = self._tree.header()
        header.setStretchLastSection(False)
        header.setSectionResizeMode(QHeaderView.ResizeMode.ResizeToContents)
        for col in (1, 2, 4):
            self._tree.headerItem().setTextAlignment(col, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        details = QWidget(self)
        dl = QVBoxLayout(details)
        dl.setContentsMargins(6, 0, 0, 0)
        dl.addWidget(self._details_title)
        dl.addWidget(self._tree, 1)

        split = QSplitter(Qt.Orientation.Horizontal, self)
        split.addWidget(self._view)
        split.addWidget(details)
        split.setStretchFactor(0, 3)
        split.setStretchFactor(1, 1)
        split.setChildrenCollapsible(False)
        split.setSizes([900, 380])
        self._splitter = split

        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.setSpacing(4)
        layout.addLayout(bar)
        layout.addWidget(self._legend)
        layout.addWidget(split, 1)
        self._tint_button.toggled.connect(self._on_tint_toggle)
        self._show_details()

    # -- public API
    def set_description(self, desc: dict[str, Any]) -> None:
        """Draw a description (engine.architecture.describe's dictionary)."""
        old = self._desc
        same_net = old is not None and old.get("depth") == desc.get("depth")
        if not same_net:
            self._collapsed = {}
            self._stats = {}
        self._desc = desc
        names = {b["name"] for b in self._all_blocks()} | {"stem", "head"}
        if self._selected not in names:
            self._selected = None
        self._update_tint_button()
        self._rebuild(refit=not same_net or self._view.auto_fit)
        self._show_details()

    def show_depth(self, depth: int, image_size: int = 224, num_classes: int = 1000, trainable: str = "all") -> None:
        """Describe and draw a fresh ResNet-`depth` (what the setup panel has chosen).

        A choice that cannot be drawn (an image too small for five halvings) is said in
        the view instead of raised.
        """
        try:
            desc = describe_depth(depth, image_size=image_size, num_classes=num_classes, trainable=trainable)
        except StudioError as exc:
            self._show_message(str(exc))
            return
        self.set_description(desc)

    def _show_message(self, text: str) -> None:
        self._desc = None
        self._selected = None
        self._scene.clear()
        self._boxes = {}
        self._scale_item = None
        item = self._scene.addSimpleText(text, self._fonts.normal)
        item.setBrush(self._colors.muted)
        self._scene.setSceneRect(item.boundingRect().adjusted(-20, -20, 20, 20))
        self._view.resetTransform()
        self._show_details()

    def description(self) -> dict[str, Any] | None:
        return self._desc

    def set_block_stats(self, stats: dict[str, float], label: str = "gradient norm") -> None:
        """Tint blocks by a per-block number (e.g. EpochEnd.block_grad_norms), log-scaled.

        `label` names the number in the legend ("gradient norm", "update/weight").
        """
        self._stats = {str(k): float(v) for k, v in stats.items() if v is not None and math.isfinite(float(v))}
        self._stats_label = label
        self._update_tint_button()
        self._refresh()

    def clear_block_stats(self) -> None:
        self._stats = {}
        self._update_tint_button()
        self._refresh()

    def collapse_stage(self, name: str, collapsed: bool) -> None:
        """Show a stage as its first block and a stack of the rest (or every block)."""
        if self._stage(name) is None:
            raise KeyError(f"no stage {name!r}")
        self._collapsed[name] = bool(collapsed)
        self._rebuild(refit=self._view.auto_fit)

    def is_collapsed(self, name: str) -> bool:
        stage = self._stage(name)
        if stage is None:
            raise KeyError(f"no stage {name!r}")
        return self._is_collapsed(stage)

    def selected_block(self) -> str | None:
        return self._selected

    def select_block(self, name: str | None) -> None:
        self._select(name)

    def drawn_blocks(self) -> list[str]:
        """Keys of the boxes drawn: block names, plus 'layer3.1-35' for a stack."""
        return [k for k in self._boxes]

    def block_rect(self, name: str) -> QRectF | None:
        """The scene rectangle of a block's box (or of the stack that holds it)."""
        for box in self._boxes.values():
            if box.key == name or name in box.repeat:
                return box.mapRectToScene(box.box)
        return None

    def fit(self) -> None:
        self._view.fit()

    def export_png(self, path: str) -> bool:
        """Save the diagram as a PNG at twice the screen scale (smaller for huge diagrams)."""
        rect = self._export_rect()
        if rect.isEmpty():
            return False
        scale = min(2.0, _MAX_EXPORT_PIXELS / max(rect.width(), rect.height()))
        image = QImage(max(1, int(rect.width() * scale)), max(1, int(rect.height() * scale)), QImage.Format.Format_ARGB32)
        image.fill(self._colors.background)
        painter = QPainter(image)
        painter.setRenderHints(QPainter.RenderHint.Antialiasing | QPainter.RenderHint.TextAntialiasing)
        self._render(painter, QRectF(image.rect()), rect)
        painter.end()
        return bool(image.save(str(path), "PNG"))

    def export_svg(self, path: str) -> bool:
        from PySide6.QtSvg import QSvgGenerator

        rect = self._export_rect()
        if rect.isEmpty():
            return False
        gen = QSvgGenerator()
        gen.setFileName(str(path))
        gen.setSize(rect.size().toSize())
        gen.setViewBox(QRectF(0, 0, rect.width(), rect.height()))
        gen.setResolution(96)
        gen.setTitle(self._title_text())
        gen.setDescription("ResNet block diagram exported from ResNet Studio")
        painter = QPainter()
        if not painter.begin(gen):
            return False
        painter.fillRect(QRectF(0, 0, rect.width(), rect.height()), self._colors.background)
        self._render(painter, QRectF(0, 0, rect.width(), rect.height()), rect)
        painter.end()
        try:
            return os.path.getsize(path) > 0
        except OSError:
            return False

    # -- selection and details
    def _select(self, name: str | None) -> None:
        if name == self._selected:
            return
        self._selected = name
        for box in self._boxes.values():
            box.update()
        self._show_details()
        if name is not None:
            self.blockSelected.emit(name)

    def _show_details(self) -> None:
        self._tree.clear()
        desc = self._desc
        if desc is None:
            self._details_title.setText("<i>No network to show.</i>")
            return
        item = self._find(self._selected) if self._selected else None
        if item is None:
            self._details_title.setText(
                f"<b>{self._title_text()}</b><br>{self._subtitle_text()}<br><br>"
                "<span>Click a block to see its layers, shapes and parameters.</span>"
            )
            for group in [desc["stem"], *desc["stages"], desc["head"]]:
                row = QTreeWidgetItem([f"{group['name']} ({group.get('paper_name', '')})", "", "", _shape(group["out_shape"]), f"{group['params']:,}"])
                self._align(row)
                self._tree.addTopLevelItem(row)
            self._fit_details()
            return
        text = [f"<b>{item['name']}</b>"]
        if "type" in item:
            stage = self._stage(item["name"].split(".")[0])
            text[0] += f" &nbsp;·&nbsp; {item['type']}"
            text.append(f"{item['in_channels']} → {item['out_channels']} channels, stride {item['stride']}")
            sc = item["shortcut"]
            text.append(f"Shortcut: {sc}" + (f" ({_shortcut_label(item)}, {item['out_channels']} channels)" if sc == "projection" else ""))
            if stage is not None and self._is_collapsed(stage) and item["name"] != stage["blocks"][0]["name"]:
                rest = stage["blocks"][1:]
                text.append(f"<i>Stage collapsed: {len(rest)} blocks like this one ({rest[0]['name']} … {rest[-1]['name']}).</i>")
        else:
            text[0] += f" &nbsp;·&nbsp; {item.get('paper_name', '')}"
        state = "trainable" if item.get("trainable") else "frozen"
        text.append(f"Output {_shape(item['out_shape'])} &nbsp;·&nbsp; {item['params']:,} parameters ({state})")
        if item.get("mult_adds"):
            text.append(f"{item['mult_adds'] / 1e6:,.1f} M multiply-adds")
        if item["name"] in self._stats:
            text.append(f"{self._stats_label.capitalize()}: {_value(self._stats[item['name']])}")
        self._details_title.setText("<br>".join(text))
        for layer in item["layers"]:
            self._tree.addTopLevelItem(self._layer_row(layer, item["name"]))
        if item.get("shortcut_layers"):
            group = QTreeWidgetItem(["shortcut (projection)", "", "", "", f"{sum(l['params'] for l in item['shortcut_layers']):,}"])
            self._align(group)
            for layer in item["shortcut_layers"]:
                group.addChild(self._layer_row(layer, item["name"]))
            self._tree.addTopLevelItem(group)
            group.setExpanded(True)
        elif item.get("shortcut") == "identity":
            row = QTreeWidgetItem(["shortcut (identity)", "", "", "", "–"])
            self._align(row)
            self._tree.addTopLevelItem(row)
        self._fit_details()

    def _fit_details(self) -> None:
        """Widen the details panel (never narrow it) so that no column is cut off."""
        header = self._tree.header()
        needed = sum(max(header.sectionSizeHint(i), self._tree.sizeHintForColumn(i)) for i in range(header.count()))
        needed += 2 * self._tree.frameWidth() + self._tree.verticalScrollBar().sizeHint().width() + 16
        sizes = self._splitter.sizes()
        if len(sizes) == 2 and 0 < sizes[1] < needed and sum(sizes) > needed + 300:
            self._splitter.setSizes([sum(sizes) - needed, needed])

    def _layer_row(self, layer: dict, owner: str) -> QTreeWidgetItem:
        name = layer["name"].removeprefix(owner + ".")
        kind = layer["kind"]
        label = {"add": "⊕ add shortcut", "batchnorm": f"{name} (batch norm)", "linear": f"{name} (linear)"}.get(
            kind, name if name.startswith(kind) else f"{name} ({kind})")
        kernel = layer.get("kernel")
        kernel = f"{kernel}×{kernel}" if isinstance(kernel, int) else ("×".join(map(str, kernel)) if kernel else "")
        stride = layer.get("stride")
        stride = stride if isinstance(stride, int) or stride is None else max(stride)
        if kernel and stride and stride > 1:
            kernel += f" /{stride}"
        ch = layer["in_channels"], layer["out_channels"]
        channels = f"{ch[0]} → {ch[1]}" if ch[0] != ch[1] else str(ch[1])
        row = QTreeWidgetItem([label, kernel, channels, _shape(layer["out_shape"]), f"{layer['params']:,}" if layer["params"] else "–"])
        self._align(row)
        return row

    @staticmethod
    def _align(row: QTreeWidgetItem) -> None:
        for col in (1, 2, 4):
            row.setTextAlignment(col, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)

    # -- helpers over the description
    def _all_blocks(self) -> list[dict]:
        return [b for s in (self._desc or {}).get("stages", []) for b in s["blocks"]]

    def _stage(self, name: str) -> dict | None:
        return next((s for s in (self._desc or {}).get("stages", []) if s["name"] == name), None)

    def _find(self, name: str) -> dict | None:
        if self._desc is None:
            return None
        if name in ("stem", "head"):
            return self._desc[name]
        return next((b for b in self._all_blocks() if b["name"] == name), None)

    def _is_collapsed(self, stage: dict) -> bool:
        default = len(stage["blocks"]) > COLLAPSE_ABOVE
        return len(stage["blocks"]) > 2 and self._collapsed.get(stage["name"], default)

    def _title_text(self) -> str:
        d = self._desc or {}
        return f"ResNet-{d.get('depth', '?')}" + (f"  ·  {d['block']} blocks" if d.get("block") else "")

    def _subtitle_text(self) -> str:
        d = self._desc or {}
        if not d:
            return ""
        part = d.get("trainable_part")
        return (
            f"{d['image_size']}×{d['image_size']} input  ·  {d['num_classes']} classes  ·  "
            f"{_count(d['total_params'])} parameters ({_count(d['trainable_params'])} trainable"
            + (f": {part}" if part and part != "all" else "")
            + f")  ·  {d['mult_adds'] / 1e9:.2f} G multiply-adds"
        )

    # -- statistics
    def _stats_for_display(self) -> dict[str, float] | None:
        return self._stats if self._stats and self._tint_button.isChecked() else None

    def _stat_range(self) -> tuple[float, float] | None:
        positive = [v for v in self._stats.values() if v > 0]
        return (min(positive), max(positive)) if positive else None

    def _stat_color(self, value: float) -> QColor:
        rng = self._stat_range()
        if rng is None or value <= 0:
            return _viridis(0.0)
        lo, hi = rng
        t = 0.5 if hi <= lo else (math.log(value) - math.log(lo)) / (math.log(hi) - math.log(lo))
        return _viridis(t)

    def _update_tint_button(self) -> None:
        self._tint_button.setEnabled(bool(self._stats))

    def _on_tint_toggle(self, _checked: bool) -> None:
        self._refresh()

    def _refresh(self) -> None:
        for box in self._boxes.values():
            if box.shortcut is not None and not box.repeat:
                block = self._find(box.key)
                if block is not None:
                    box.setToolTip(self._block_tooltip(block))
            box.update()
        self._legend.update()
        if self._scale_item is not None:
            self._scale_item.update()
        self._show_details()

    # -- toolbar
    def _set_all_collapsed(self, collapsed: bool) -> None:
        for stage in (self._desc or {}).get("stages", []):
            self._collapsed[stage["name"]] = collapsed and len(stage["blocks"]) > COLLAPSE_ABOVE
        self._rebuild(refit=True)

    def _on_export_png(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export diagram as PNG", f"resnet{(self._desc or {}).get('depth', '')}.png", "PNG image (*.png)")
        if path and not self.export_png(path):
            QMessageBox.warning(self, "Export failed", f"Could not write {path}.")

    def _on_export_svg(self) -> None:
        path, _ = QFileDialog.getSaveFileName(self, "Export diagram as SVG", f"resnet{(self._desc or {}).get('depth', '')}.svg", "SVG drawing (*.svg)")
        if path and not self.export_svg(path):
            QMessageBox.warning(self, "Export failed", f"Could not write {path}.")

    def _render(self, painter: QPainter, target: QRectF, source: QRectF) -> None:
        """The scene without its controls (the collapse toggles) and without hover."""
        self._exporting = True
        hovered = [b for b in self._boxes.values() if b.hover]
        for b in hovered:
            b.hover = False
        try:
            self._scene.render(painter, target, source)
        finally:
            self._exporting = False
            for b in hovered:
                b.hover = True

    def _export_rect(self) -> QRectF:
        return self._scene.itemsBoundingRect().adjusted(-16, -16, 16, 16)

    # -- palette
    def changeEvent(self, event) -> None:
        if event.type() in (QEvent.Type.PaletteChange, QEvent.Type.FontChange, QEvent.Type.StyleChange):
            self._colors = _Colors.from_palette(self.palette())
            self._fonts = _Fonts(self.font())
            self._view.setBackgroundBrush(self._colors.background)
            if self._desc is not None:
                self._rebuild(refit=self._view.auto_fit)
            self._legend.update()
        super().changeEvent(event)

    # -- layout
    def _rebuild(self, refit: bool) -> None:
        self._scene.clear()
        self._boxes = {}
        self._scale_item = None
        desc = self._desc
        if desc is None:
            return
        f = self._fonts
        margin = 12.0
        gutter_pad = 12.0

        # 1. the items of each group, split into rows
        groups: list[dict] = []
        input_item = _TerminalItem(self, ["image", _shape(desc.get("input_shape") or [3, desc["image_size"], desc["image_size"]])], "The input image")
        stem = desc["stem"]
        groups.append({"name": "stem", "lines": [("stem", "bold"), (stem.get("paper_name", "conv1"), "small")],
                       "rows": [[input_item, self._box_for_group(stem)]], "out": _shape(stem["out_shape"])})
        for stage in desc["stages"]:
            blocks = stage["blocks"]
            if self._is_collapsed(stage):
                items = [self._box_for_block(blocks[0]), self._box_for_stack(blocks[1:])]
                rows = [items]
            else:
                items = [self._box_for_block(b) for b in blocks]
                n_rows = math.ceil(len(items) / BLOCKS_PER_ROW)
                per_row = math.ceil(len(items) / n_rows)
                rows = [items[i:i + per_row] for i in range(0, len(items), per_row)]
            toggle = None
            if len(blocks) > 2:
                toggle = f"expand {len(blocks)}" if self._is_collapsed(stage) else "collapse"
            btype = blocks[0]["type"] if blocks else ""
            groups.append({"name": stage["name"], "rows": rows, "toggle": toggle, "out": _shape(stage["out_shape"]),
                           "lines": [(stage["name"], "bold"), (stage.get("paper_name", ""), "small"), (f"{len(blocks)} × {btype}", "normal")]})
        head = desc["head"]
        out_item = _TerminalItem(self, ["scores", f"{desc['num_classes']} classes"], "One score per class")
        groups.append({"name": "head", "lines": [("head", "bold"), (head.get("paper_name", "fc"), "small")],
                       "rows": [[self._box_for_group(head), out_item]], "out": None})

        # 2. the gutter's width, from the widest text in it
        gutter = 0.0
        for g in groups:
            for text, style in g["lines"]:
                fm = {"bold": f.fm_bold, "small": f.fm_small}.get(style, f.fm)
                gutter = max(gutter, fm.horizontalAdvance(text))
            if g.get("toggle"):
                gutter = max(gutter, f.fm_small.horizontalAdvance("expand 36") + 24)
        gutter = math.ceil(gutter + 2 * gutter_pad)
        x0 = margin + gutter + 26  # where each row starts

        # 3. place rows top to bottom
        title = _TitleItem(self, self._title_text(), self._subtitle_text())
        title.setPos(margin, 0)
        self._scene.addItem(title)
        scale = _ScaleItem(self)
        scale.setPos(margin, title.h + 4)
        self._scene.addItem(scale)
        self._scale_item = scale
        y = title.h + 4 + scale.h + 12
        edge_gap = 28.0
        row_gap = 22.0  # inside a stage, between wrapped rows
        group_gap = 40.0  # between stages: room for the shape label
        placed: list[tuple[dict, list[tuple[float, list[QGraphicsItem]]], float, float]] = []
        max_right = 0.0
        for g in groups:
            top = y
            y += 10  # frame padding
            rows_placed = []
            for row in g["rows"]:
                up = max(-it.boundingRect().top() for it in row)
                down = max(it.boundingRect().bottom() for it in row)
                main_y = y + up
                x = x0
                for it in row:
                    it.setPos(x, main_y)
                    self._scene.addItem(it)
                    x += it.exit_x + edge_gap
                max_right = max(max_right, x - edge_gap)
                rows_placed.append((main_y, row))
                y = main_y + down + row_gap
            y -= row_gap
            y += 10
            min_h = sum({"bold": f.fm_bold, "small": f.fm_small}.get(s, f.fm).height() for _, s in g["lines"]) + 20 + (f.fm_small.height() + 12 if g.get("toggle") else 0)
            y = max(y, top + min_h)
            placed.append((g, rows_placed, top, y))
            y += group_gap

        # 4. frames (one width for all, a tidy column) and the edges
        right = max_right + 26
        for g, rows_placed, top, bottom in placed:
            name = g["name"]
            on_toggle = (lambda n=name: self.collapse_stage(n, not self.is_collapsed(n))) if g.get("toggle") else None
            frame = _FrameItem(self, QRectF(margin, top, right - margin, bottom - top), g["lines"], g.get("toggle"), on_toggle)
            self._scene.addItem(frame)
            for main_y, row in rows_placed:  # straight edges within a row
                for a, b in zip(row, row[1:]):
                    start = QPointF(a.pos().x() + a.exit_x, main_y)
                    end = QPointF(b.pos().x(), main_y)
                    self._scene.addItem(_EdgeItem(self, [start, end], arrow=not self._draws_own_entry(b)))
        # row-to-row connectors: out to the right, back along the gap, in from the left
        all_rows = [(gi, main_y, row) for gi, (g, rows_placed, top, bottom) in enumerate(placed) for main_y, row in rows_placed]
        for (ga, ya, ra), (gb, yb, rb) in zip(all_rows, all_rows[1:]):
            last, first = ra[-1], rb[0]
            sx = last.pos().x() + last.exit_x
            turn_r = sx + 14
            if ga != gb:
                gap_y = (placed[ga][3] + placed[gb][2]) / 2
            else:
                gap_y = ya + last.boundingRect().bottom() + row_gap / 2
                gap_y = max(gap_y, max(it.pos().y() + it.boundingRect().bottom() for it in ra) + 4)
            turn_l = x0 - 14
            points = [QPointF(sx, ya), QPointF(turn_r, ya), QPointF(turn_r, gap_y), QPointF(turn_l, gap_y), QPointF(turn_l, yb), QPointF(first.pos().x(), yb)]
            label = placed[ga][0]["out"] if ga != gb else ""
            at = QPointF(x0 + 70, gap_y) if label else None
            self._scene.addItem(_EdgeItem(self, points, label, at, arrow=not self._draws_own_entry(first)))

        self._scene.setSceneRect(self._scene.itemsBoundingRect().adjusted(-12, -12, 12, 12))
        self._legend.update()
        if refit:
            self._view.fit()

    @staticmethod
    def _draws_own_entry(item: QGraphicsItem) -> bool:
        """A residual block draws its own arrow into the box, after the split dot."""
        return isinstance(item, _BoxItem) and item.shortcut is not None

    def _box_for_group(self, group: dict) -> _BoxItem:
        lines = []
        layers = group["layers"]
        kinds = [l["kind"] for l in layers]
        for layer in layers:
            kind = layer["kind"]
            if kind == "conv":
                lines.append(_conv_line(layer))
            elif kind == "batchnorm":
                lines.append("batch norm, relu" if "relu" in kinds else "batch norm")
            elif kind == "maxpool":
                lines.append(f"{layer['kernel']}×{layer['kernel']} max pool, /{layer['stride']}")
            elif kind == "avgpool":
                lines.append("global avg pool")
            elif kind == "linear":
                lines.append(f"fc, {layer['in_channels']} → {layer['out_channels']}")
        tip = (f"<b>{group['name']}</b> ({group.get('paper_name', '')})<br>Output {_shape(group['out_shape'])}<br>"
               f"{group['params']:,} parameters, {'trainable' if group.get('trainable') else 'frozen'}")
        box = _BoxItem(self, group["name"], group["name"], lines, trainable=bool(group.get("trainable")), tooltip=tip)
        self._boxes[group["name"]] = box
        return box

    def _box_for_block(self, block: dict) -> _BoxItem:
        lines = [_conv_line(l) for l in block["layers"] if l["kind"] == "conv"]
        box = _BoxItem(self, block["name"], block["name"], lines, trainable=bool(block.get("trainable")),
                       shortcut=block["shortcut"], shortcut_label=_shortcut_label(block) if block["shortcut"] == "projection" else "",
                       tooltip=self._block_tooltip(block))
        self._boxes[block["name"]] = box
        return box

    def _box_for_stack(self, blocks: list[dict]) -> _BoxItem:
        first, last = blocks[0], blocks[-1]
        key = f"{first['name']}-{last['name'].rsplit('.', 1)[-1]}"
        lines = [_conv_line(l) for l in first["layers"] if l["kind"] == "conv"]
        projection = any(b["shortcut"] == "projection" for b in blocks)
        tip = (f"<b>{first['name']} … {last['name']}</b>: {len(blocks)} {first['type']} blocks, {first['shortcut']} shortcuts<br>"
               f"{first['in_channels']} → {first['out_channels']} channels, output {_shape(last['out_shape'])}<br>"
               f"{sum(b['params'] for b in blocks):,} parameters<br><i>Double-click to expand the stage.</i>")
        box = _BoxItem(self, key, f"{first['name']} … {last['name'].rsplit('.', 1)[-1]}", lines,
                       trainable=all(b.get("trainable") for b in blocks),
                       shortcut="projection" if projection else "identity", repeat=[b["name"] for b in blocks], tooltip=tip)
        self._boxes[key] = box
        return box

    def _block_tooltip(self, b: dict) -> str:
        tip = (f"<b>{b['name']}</b> · {b['type']}<br>{b['in_channels']} → {b['out_channels']} channels, stride {b['stride']}, "
               f"{b['shortcut']} shortcut<br>Output {_shape(b['out_shape'])} · {b['params']:,} parameters · "
               f"{'trainable' if b.get('trainable') else 'frozen'}")
        if b["name"] in self._stats:
            tip += f"<br>{self._stats_label}: {_value(self._stats[b['name']])}"
        return tip
