"""Top-k classes as horizontal bars: `label  [bar]  12.3 %`, the first in the accent colour."""

from __future__ import annotations

from PySide6.QtCore import QRectF, Qt
from PySide6.QtGui import QColor, QFont, QFontMetrics, QPainter

from .. import format as fmt

__all__ = ["paint_probability_bars"]


def paint_probability_bars(
    painter: QPainter,
    rect: QRectF,
    predictions: list[tuple[str, float]],
    colors: dict[str, QColor],
    font: QFont,
    row_height: float = 20.0,
    label_fraction: float = 0.42,
) -> None:
    """Draw `label  [bar]  12.3 %` rows, the first one in the accent colour."""
    painter.save()
    painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
    fm = QFontMetrics(font)
    pct_width = fm.horizontalAdvance("100.0 %") + 6
    widest = max((fm.horizontalAdvance(str(label)) for label, _ in predictions), default=0) * 1.08 + 12
    label_width = max(60.0, min(widest, rect.width() * label_fraction))
    bar_left = rect.left() + label_width + 8
    bar_width = max(20.0, rect.right() - pct_width - bar_left - 6)
    bar_height = min(10.0, row_height * 0.5)
    for i, (label, prob) in enumerate(predictions):
        top = rect.top() + i * row_height
        if top + row_height > rect.bottom() + 1:
            break
        prob = max(0.0, min(1.0, float(prob)))
        row_font = QFont(font)
        row_font.setBold(i == 0)
        painter.setFont(row_font)
        painter.setPen(colors["text"] if i == 0 else colors["muted"])
        label_rect = QRectF(rect.left(), top, label_width, row_height)
        painter.drawText(
            label_rect,
            Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft,
            QFontMetrics(row_font).elidedText(str(label), Qt.TextElideMode.ElideRight, int(label_width)),
        )
        bar_top = top + (row_height - bar_height) / 2
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(colors["track"])
        painter.drawRoundedRect(QRectF(bar_left, bar_top, bar_width, bar_height), bar_height / 2, bar_height / 2)
        if prob > 0:
            painter.setBrush(colors["accent"] if i == 0 else colors["bar_other"])
            filled = max(bar_height, bar_width * prob)
            painter.drawRoundedRect(QRectF(bar_left, bar_top, filled, bar_height), bar_height / 2, bar_height / 2)
        painter.setPen(colors["text"] if i == 0 else colors["muted"])
        painter.drawText(
            QRectF(rect.right() - pct_width, top, pct_width, row_height),
            Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignRight,
            fmt.percent(prob),
        )
    painter.restore()
