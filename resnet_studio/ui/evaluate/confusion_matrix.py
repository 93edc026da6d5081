"""The confusion matrix as a heatmap: rows are the true classes, columns the predicted ones.

Correct predictions (the diagonal) are shaded in the accent colour, mistakes in red,
each by its share of the true class's images, so a weak class stands out however
many images it has. Cells show counts, or with `set_normalized(True)` the share of
the row. Class names stay readable for about 50 classes; beyond that the cells keep a
minimum size and the view scrolls. Clicking a cell emits `cellSelected(true, pred)`;
clicking it again clears the selection (`cellSelected(-1, -1)`).
"""

from __future__ import annotations

import math

import numpy as np
from PySide6.QtCore import QPointF, QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QFont, QFontMetrics, QPainter, QPen
from PySide6.QtWidgets import QFrame, QScrollArea, QSizePolicy, QToolTip, QWidget

from .. import format as fmt
from ..widgets import palette_colors

__all__ = ["ConfusionMatrixView"]

MIN_CELL = 22
MAX_CELL = 64
MAX_LABEL = 150  # px: longer class names are elided (full name in the tooltip)
MISTAKE = QColor("#d64545")
PREDICTED, TRUE = "Predicted class", "True class"  # the axis titles


def _mix(a: QColor, b: QColor, t: float) -> QColor:
    t = max(0.0, min(1.0, t))
    return QColor(
        round(a.red() + (b.red() - a.red()) * t),
        round(a.green() + (b.green() - a.green()) * t),
        round(a.blue() + (b.blue() - a.blue()) * t),
    )


class _Canvas(QWidget):
    def __init__(self, view: ConfusionMatrixView) -> None:
        super().__init__()
        self.view = view
        self.setMouseTracking(True)
        self.hover: tuple[int, int] | None = None
        self.cell = MAX_CELL
        self.left = 0.0
        self.top = 0.0
        self.vertical_labels = False

    # -- geometry
    def layout_for(self, available: QSize) -> None:
        n = max(1, len(self.view.classes))
        font = self.font()
        fm = QFontMetrics(font)
        widest = min(MAX_LABEL, max((fm.horizontalAdvance(c) for c in self.view.classes), default=20))
        self.left = widest + fm.height() + 18  # row names + the "True class" axis title
        title_h = fm.height() + 6
        width = available.width() - self.left - 8

        def fit(labels_h: float) -> int:
            room = min(width, available.height() - title_h - labels_h - 8)
            return int(max(MIN_CELL, min(MAX_CELL, room / n)))

        # column names across their cells when they all fit, sideways otherwise
        self.cell = fit(fm.height() + 6)
        self.vertical_labels = widest + 6 > self.cell
        if self.vertical_labels:
            self.cell = fit(widest + 8)
        labels_h = (widest + 8) if self.vertical_labels else fm.height() + 6
        self.top = title_h + labels_h
        # room for the axis titles, centred on the grid, where they are wider than a small grid
        bold = QFont(font)
        bold.setBold(True)
        bfm = QFontMetrics(bold)
        grid = n * self.cell
        width = max(self.left + grid + 8, self.left + grid / 2 + bfm.horizontalAdvance(PREDICTED) / 2 + 6)
        height = max(self.top + grid + 8, self.top + grid / 2 + bfm.horizontalAdvance(TRUE) / 2 + 6)
        self.setFixedSize(int(math.ceil(width)), int(math.ceil(height)))

    def cell_rect(self, row: int, col: int) -> QRectF:
        return QRectF(self.left + col * self.cell, self.top + row * self.cell, self.cell, self.cell)

    def cell_at(self, pos: QPointF) -> tuple[int, int] | None:
        n = len(self.view.classes)
        col = int((pos.x() - self.left) // self.cell) if pos.x() >= self.left else -1
        row = int((pos.y() - self.top) // self.cell) if pos.y() >= self.top else -1
        return (row, col) if 0 <= row < n and 0 <= col < n else None

    # -- painting
    def paintEvent(self, event) -> None:
        view = self.view
        n = len(view.classes)
        if n == 0:
            return
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        colors = palette_colors(self)
        base = self.palette().color(self.backgroundRole())
        dark = base.lightness() < 128
        empty = _mix(base, colors["text"], 0.045)
        accent = QColor(colors["accent"])
        counts = view.counts
        totals = counts.sum(axis=1)
        fractions = np.divide(counts, np.maximum(totals[:, None], 1))
        font = QFont(self.font())
        fm = QFontMetrics(font)
        small = QFont(font)
        small.setPointSizeF(max(6.5, font.pointSizeF() * (0.92 if self.cell >= 34 else 0.78)))
        sfm = QFontMetrics(small)
        bold = QFont(font)
        bold.setBold(True)

        # axis titles
        painter.setFont(bold)
        painter.setPen(colors["muted"])
        grid_w = n * self.cell
        bfm = QFontMetrics(bold)
        # centred on the grid, as wide as the title (layout_for left room for one wider than the grid)
        title_w = max(grid_w, bfm.horizontalAdvance(PREDICTED) + 4)
        painter.drawText(QRectF(self.left + grid_w / 2 - title_w / 2, 0, title_w, fm.height() + 4),
                         Qt.AlignmentFlag.AlignCenter, PREDICTED)
        title_h = max(grid_w, bfm.horizontalAdvance(TRUE) + 4)
        painter.save()
        painter.translate(fm.height() / 2 + 2, self.top + grid_w / 2)
        painter.rotate(-90)
        painter.drawText(QRectF(-title_h / 2, -fm.height() / 2, title_h, fm.height()), Qt.AlignmentFlag.AlignCenter, TRUE)
        painter.restore()

        # class names
        painter.setFont(font)
        label_w = self.left - fm.height() - 14
        for i, name in enumerate(view.classes):
            highlight = (self.hover is not None and self.hover[0] == i) or (view.selected is not None and view.selected[0] == i)
            painter.setPen(colors["text"] if highlight else colors["muted"])
            text = fm.elidedText(name, Qt.TextElideMode.ElideRight, int(label_w))
            painter.drawText(QRectF(fm.height() + 8, self.top + i * self.cell, label_w, self.cell),
                             Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignRight, text)
        for j, name in enumerate(view.classes):
            highlight = (self.hover is not None and self.hover[1] == j) or (view.selected is not None and view.selected[1] == j)
            painter.setPen(colors["text"] if highlight else colors["muted"])
            x = self.left + j * self.cell
            if self.vertical_labels:
                text = fm.elidedText(name, Qt.TextElideMode.ElideRight, int(self.top - fm.height() - 12))
                painter.save()
                painter.translate(x + self.cell / 2 + fm.ascent() / 2 - 1, self.top - 4)
                painter.rotate(-90)
                painter.drawText(QPointF(0, 0), text)
                painter.restore()
            else:
                painter.drawText(QRectF(x, self.top - fm.height() - 4, self.cell, fm.height()),
                                 Qt.AlignmentFlag.AlignCenter, fm.elidedText(name, Qt.TextElideMode.ElideRight, self.cell))

        # cells
        painter.setFont(small)
        show_zero = n <= 12
        gap = 1.0 if self.cell < 30 else 2.0
        for i in range(n):
            for j in range(n):
                rect = self.cell_rect(i, j).adjusted(gap / 2, gap / 2, -gap / 2, -gap / 2)
                count = int(counts[i, j])
                share = float(fractions[i, j])
                if count == 0:
                    fill = empty
                else:
                    hue = accent if i == j else MISTAKE
                    # even one image shows clearly; a full row is the full colour
                    fill = _mix(empty, hue, 0.18 + 0.82 * share ** 0.7)
                painter.setPen(Qt.PenStyle.NoPen)
                painter.setBrush(fill)
                painter.drawRoundedRect(rect, 3, 3)
                if count or show_zero:
                    text = _percent(share) if view.normalized and totals[i] else str(count)
                    if count == 0:
                        text = "0" if not view.normalized else "·"
                    if sfm.horizontalAdvance(text) + 4 <= rect.width():
                        light_text = fill.lightness() < 150 or (dark and count == 0)
                        painter.setPen(QColor("white") if light_text and count else colors["text"] if count else colors["muted"])
                        painter.drawText(rect, Qt.AlignmentFlag.AlignCenter, text)
        # hover and selection outlines
        if self.hover is not None:
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.setPen(QPen(colors["text"], 1))
            painter.drawRoundedRect(self.cell_rect(*self.hover).adjusted(0.5, 0.5, -0.5, -0.5), 3, 3)
        if view.selected is not None:
            painter.setBrush(Qt.BrushStyle.NoBrush)
            painter.setPen(QPen(colors["text"], 2.5))
            painter.drawRoundedRect(self.cell_rect(*view.selected).adjusted(1, 1, -1, -1), 3, 3)

    # -- mouse
    def mouseMoveEvent(self, event) -> None:
        cell = self.cell_at(event.position())
        if cell != self.hover:
            self.hover = cell
            self.update()
        if cell is not None:
            QToolTip.showText(event.globalPosition().toPoint(), self.view.describe(*cell), self)
        else:
            QToolTip.hideText()

    def leaveEvent(self, event) -> None:
        self.hover = None
        self.update()

    def mousePressEvent(self, event) -> None:
        if event.button() != Qt.MouseButton.LeftButton:
            return
        cell = self.cell_at(event.position())
        if cell is not None:
            self.view.click_cell(*cell)


def _percent(share: float) -> str:
    pct = share * 100
    if pct == 0:
        return "0"
    if pct < 1:
        return "<1%"
    return f"{pct:.0f}%"


class ConfusionMatrixView(QScrollArea):
    """A scrollable, clickable confusion-matrix heatmap."""

    cellSelected = Signal(int, int)  # (true, predicted); (-1, -1) when cleared

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.classes: list[str] = []
        self.counts = np.zeros((0, 0), dtype=np.int64)
        self.normalized = False
        self.selected: tuple[int, int] | None = None
        self.canvas = _Canvas(self)
        self.setWidget(self.canvas)
        self.setWidgetResizable(False)
        self.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Expanding)
        self.setMinimumSize(220, 180)

    def set_data(self, classes: list[str], counts) -> None:
        self.classes = [str(c) for c in classes]
        self.counts = np.asarray(counts, dtype=np.int64).reshape(len(self.classes), len(self.classes))
        self.selected = None
        self._relayout()

    def set_normalized(self, normalized: bool) -> None:
        self.normalized = bool(normalized)
        self.canvas.update()

    def selection(self) -> tuple[int, int] | None:
        return self.selected

    def select_cell(self, true: int, pred: int) -> None:
        """Select a cell (as a click does, without toggling it off); (-1, -1) clears."""
        n = len(self.classes)
        new = (true, pred) if 0 <= true < n and 0 <= pred < n else None
        if new != self.selected:
            self.selected = new
            self.canvas.update()
            self.cellSelected.emit(*(new if new else (-1, -1)))

    def click_cell(self, true: int, pred: int) -> None:
        if self.selected == (true, pred):
            self.select_cell(-1, -1)
        else:
            self.select_cell(true, pred)

    def cell_center(self, true: int, pred: int):
        """Where a cell is, in the canvas's coordinates (for tests and tooltips)."""
        return self.canvas.cell_rect(true, pred).center().toPoint()

    def describe(self, true: int, pred: int) -> str:
        count = int(self.counts[true, pred])
        total = int(self.counts[true].sum())
        share = f" ({count / total:.1%} of {self.classes[true]})" if total else ""
        what = "correct" if true == pred else f"predicted as <b>{fmt.escape(self.classes[pred])}</b>"
        return (f"<b>{fmt.escape(self.classes[true])}</b> {what}: {count} image{'s' if count != 1 else ''}{share}"
                "<br><i>Click to show these images</i>")

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self._relayout()

    def _relayout(self) -> None:
        self.canvas.layout_for(self.viewport().size())
        self.canvas.update()
