"""Images per class as horizontal stacked bars (training solid, validation light), so imbalance shows."""

from __future__ import annotations

from PySide6.QtCore import QRectF, QSize, Qt
from PySide6.QtGui import QFontMetrics, QPainter
from PySide6.QtWidgets import QSizePolicy, QWidget

from ..widgets import palette_colors

__all__ = ["ClassBars"]


class ClassBars(QWidget):
    """Images per class as horizontal stacked bars (train solid, validation light), so imbalance shows."""

    ROW = 24

    def __init__(self) -> None:
        super().__init__()
        self._rows: list[tuple[str, int, int]] = []  # (class, train, val)
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)

    def set_counts(self, rows: list[tuple[str, int, int]]) -> None:
        self._rows = rows
        self.updateGeometry()
        self.update()

    def rows(self) -> list[tuple[str, int, int]]:
        return list(self._rows)

    def sizeHint(self) -> QSize:
        return QSize(360, self.ROW * len(self._rows) + 28)

    def minimumSizeHint(self) -> QSize:
        return QSize(220, self.sizeHint().height())

    def paintEvent(self, event) -> None:
        if not self._rows:
            return
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        colors = palette_colors(self)
        fm = QFontMetrics(self.font())
        name_w = min(max(fm.horizontalAdvance(name) for name, _, _ in self._rows) + 8, int(self.width() * 0.35))
        count_w = fm.horizontalAdvance("88,888") + 10
        left = name_w + 8
        width = max(20, self.width() - left - count_w - 4)
        peak = max(t + v for _, t, v in self._rows) or 1
        light = colors["bar_other"]
        for i, (name, train, val) in enumerate(self._rows):
            top = i * self.ROW
            painter.setPen(colors["text"])
            painter.drawText(
                QRectF(0, top, name_w, self.ROW),
                Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter,
                fm.elidedText(name, Qt.TextElideMode.ElideRight, name_w),
            )
            h = self.ROW * 0.58
            y = top + (self.ROW - h) / 2
            wt = width * train / peak
            wv = width * val / peak
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(colors["accent"])
            painter.drawRoundedRect(QRectF(left, y, max(wt, 2), h), 3, 3)
            if wv > 0:
                painter.setBrush(light)
                painter.drawRoundedRect(QRectF(left + wt, y, wv, h), 3, 3)
            painter.setPen(colors["muted"])
            painter.drawText(
                QRectF(left + wt + wv + 6, top, count_w, self.ROW),
                Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
                f"{train + val:,}",
            )
        # legend
        y = len(self._rows) * self.ROW + 8
        x = left
        for label, color in (("training", colors["accent"]), ("validation", light)):
            painter.setPen(Qt.PenStyle.NoPen)
            painter.setBrush(color)
            painter.drawRoundedRect(QRectF(x, y + 3, 12, 10), 2, 2)
            painter.setPen(colors["muted"])
            painter.drawText(QRectF(x + 16, y, 100, 16), Qt.AlignmentFlag.AlignVCenter, label)
            x += 16 + fm.horizontalAdvance(label) + 18
