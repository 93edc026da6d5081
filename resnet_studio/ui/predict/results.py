"""The Predict tab's results: one entry per photo, the list model, the cards and the empty state.

- `PredictEntry`: one dropped photo and what the model said about it (or why it could not).
- `ResultsModel`: the entries in display order (newest drop first, or in the order added).
- `ResultsView` and `ResultDelegate`: cards flowing in as many columns as fit, each a
  thumbnail (with its Grad-CAM heat layer when that is on), the name and folder, then the
  top-k bars or the error.
- `DropHint`: the dashed drop zone shown while there are no results.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from PySide6.QtCore import QAbstractListModel, QModelIndex, QRect, QRectF, QSize, Qt
from PySide6.QtGui import QColor, QFont, QFontMetrics, QImage, QPainter, QPainterPath, QPen, QPixmap
from PySide6.QtWidgets import QAbstractItemView, QListView, QStyle, QStyledItemDelegate, QStyleOptionViewItem, QWidget

from .. import format as fmt
from ..cam_view import paint_heat
from ..widgets import palette_colors
from .bars import paint_probability_bars
from .jobs import THUMB, TOPK

__all__ = ["PredictEntry", "ResultsModel", "ResultsView", "ResultDelegate", "DropHint", "DROP_HINT_TEXT"]

DROP_HINT_TEXT = "Files or whole folders · or use Add photos… · or paste with Ctrl+V"


@dataclass
class PredictEntry:
    """One dropped photo and what the model said about it."""

    id: int
    name: str
    source: object  # a path (str) or the encoded bytes of a pasted image
    path: str | None
    batch: int
    predictions: list[tuple[str, float]] = field(default_factory=list)
    error: str | None = None
    done: bool = False
    thumb: QImage | None = None
    pixmap: QPixmap | None = field(default=None, repr=False)
    cam_class: int | None = None  # the class chosen for its Grad-CAM (None: the top class)
    cam_heat: QImage | None = None  # the heat layer at the thumbnail's size
    cam_label: str = ""
    cam_crop: tuple[float, float, float, float] | None = None
    cam_pixmap: QPixmap | None = field(default=None, repr=False)

    def clear_cam(self) -> None:
        self.cam_heat = None
        self.cam_pixmap = None
        self.cam_label = ""
        self.cam_crop = None

    def forget_prediction(self) -> None:
        """Back to waiting (another model): no result, no Grad-CAM, the top class again."""
        self.done = False
        self.predictions = []
        self.error = None
        self.cam_class = None
        self.clear_cam()

    def text_line(self) -> str:
        """The entry as a line of text for the clipboard: where it is, then its classes or its error."""
        where = self.path or self.name
        if self.error:
            return f"{where}\terror: {self.error}"
        return "\t".join([where, *(f"{label} {fmt.percent(prob)}" for label, prob in self.predictions)])


def _added(entry: PredictEntry) -> tuple[int, int]:
    return entry.batch, entry.id


def _newest_first(entry: PredictEntry) -> tuple[int, int]:
    return -entry.batch, entry.id


class ResultsModel(QAbstractListModel):
    """The entries in display order, found by id; `EntryRole` gives a row's PredictEntry."""

    EntryRole = Qt.ItemDataRole.UserRole + 1

    def __init__(self) -> None:
        super().__init__()
        self._entries: list[PredictEntry] = []  # display order
        self._by_id: dict[int, PredictEntry] = {}
        self.newest_first = True

    def rowCount(self, parent: QModelIndex | None = None) -> int:
        return len(self._entries) if parent is None or not parent.isValid() else 0

    def data(self, index: QModelIndex, role: int = Qt.ItemDataRole.DisplayRole):
        entry = self.entry_at(index)
        if entry is None:
            return None
        shown = {Qt.ItemDataRole.DisplayRole: entry.name, Qt.ItemDataRole.ToolTipRole: entry.path or entry.name}
        return entry if role == self.EntryRole else shown.get(role)

    def entry_at(self, index: QModelIndex | None) -> PredictEntry | None:
        valid = index is not None and index.isValid() and 0 <= index.row() < len(self._entries)
        return self._entries[index.row()] if valid else None

    def entries(self) -> list[PredictEntry]:
        return list(self._entries)

    def in_order_added(self) -> list[PredictEntry]:
        return sorted(self._entries, key=_added)

    def get(self, entry_id: int) -> PredictEntry | None:
        return self._by_id.get(entry_id)

    def add(self, entries: list[PredictEntry]) -> None:
        if not entries:
            return
        row = 0 if self.newest_first else len(self._entries)
        self.beginInsertRows(QModelIndex(), row, row + len(entries) - 1)
        self._entries[row:row] = entries
        self._by_id.update((e.id, e) for e in entries)
        self.endInsertRows()

    def changed(self, entry_ids: list[int]) -> None:
        wanted = set(entry_ids)
        rows = [row for row, e in enumerate(self._entries) if e.id in wanted]
        if rows:
            self.dataChanged.emit(self.index(min(rows)), self.index(max(rows)))

    def remove(self, entry_id: int) -> None:
        entry = self._by_id.pop(entry_id, None)
        if entry is not None:
            row = self._entries.index(entry)
            self.beginRemoveRows(QModelIndex(), row, row)
            del self._entries[row]
            self.endRemoveRows()

    def clear(self) -> None:
        self.beginResetModel()
        self._entries.clear()
        self._by_id.clear()
        self.endResetModel()

    def set_newest_first(self, newest_first: bool) -> None:
        if newest_first == self.newest_first:
            return
        self.newest_first = newest_first
        self.beginResetModel()
        self._entries.sort(key=_newest_first if newest_first else _added)
        self.endResetModel()


class ResultsView(QListView):
    """Result cards flowing in as many columns as fit (one in a narrow window)."""

    MIN_CARD = 470

    def __init__(self) -> None:
        super().__init__()
        self.setViewMode(QListView.ViewMode.ListMode)
        self.setFlow(QListView.Flow.LeftToRight)
        self.setWrapping(True)
        self.setResizeMode(QListView.ResizeMode.Adjust)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOn)
        self.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.verticalScrollBar().setSingleStep(24)
        self.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.setUniformItemSizes(True)
        self.setMouseTracking(True)
        self.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.setFrameShape(QListView.Shape.NoFrame)
        self.card_width = self.MIN_CARD
        self.bar_rows = TOPK  # min(top-k, the model's classes): the height of a card
        self.waiting_text = "Predicting…"  # on a card without a result yet
        self.drag_active = False
        self.cam_enabled = False  # draw Grad-CAM heat layers over the thumbnails
        self.cam_opacity = 0.55
        self.setItemDelegate(ResultDelegate(self))

    def set_bar_rows(self, rows: int) -> None:
        if rows and rows != self.bar_rows:
            self.bar_rows = rows
            self.scheduleDelayedItemsLayout()

    def resizeEvent(self, event) -> None:
        available = max(1, self.viewport().width() - 1)
        columns = max(1, available // self.MIN_CARD)
        width = max(300, available // columns)
        if width != self.card_width:
            self.card_width = width
            self.scheduleDelayedItemsLayout()
        super().resizeEvent(event)

    def paintEvent(self, event) -> None:
        super().paintEvent(event)
        if self.drag_active:
            painter = QPainter(self.viewport())
            _paint_drop_zone(painter, QRectF(self.viewport().rect()).adjusted(4, 4, -4, -4), palette_colors(self), True, 10)


class ResultDelegate(QStyledItemDelegate):
    """A card: thumbnail, file name and folder, then the top-k bars (or the error)."""

    PAD = 12
    BAR_ROW = 21

    def __init__(self, view: ResultsView) -> None:
        super().__init__(view)
        self.view = view

    def sizeHint(self, option: QStyleOptionViewItem, index: QModelIndex) -> QSize:
        fm = QFontMetrics(option.font)
        text_h = fm.height() * 2 + 12 + self.view.bar_rows * self.BAR_ROW  # name, folder, gap, bars, slack
        return QSize(self.view.card_width, max(THUMB, text_h) + 2 * self.PAD)

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: QModelIndex) -> None:
        entry = index.data(ResultsModel.EntryRole)
        if entry is None:
            return
        colors = palette_colors(self.view)
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        rect = QRect(option.rect)
        self._paint_frame(painter, rect, option.state, colors)
        thumb_rect = QRectF(rect.left() + self.PAD, rect.top() + self.PAD, THUMB, THUMB)
        self._paint_thumbnail(painter, thumb_rect, entry, colors, option.font)
        left = thumb_rect.right() + 16
        self._paint_text(painter, QRectF(left, rect.top() + self.PAD, max(60, rect.right() - self.PAD - left),
                                         rect.height() - 2 * self.PAD), entry, colors, option.font)
        painter.restore()

    def _paint_frame(self, painter: QPainter, rect: QRect, state, colors: dict) -> None:
        """Selection or hover shading, the line under the card and the one between columns."""
        if state & QStyle.StateFlag.State_Selected:
            selected = QColor(colors["accent"])
            selected.setAlpha(40)
            painter.fillRect(rect, selected)
        elif state & QStyle.StateFlag.State_MouseOver:
            hover = QColor(colors["track"])
            hover.setAlphaF(0.05)
            painter.fillRect(rect, hover)
        painter.setPen(QPen(colors["track"], 1))
        painter.drawLine(rect.left() + self.PAD, rect.bottom(), rect.right() - self.PAD, rect.bottom())
        if rect.right() < self.view.viewport().width() - 20:
            painter.drawLine(rect.right(), rect.top() + self.PAD, rect.right(), rect.bottom() - self.PAD)

    def _paint_thumbnail(self, painter: QPainter, box: QRectF, entry: PredictEntry, colors: dict, font: QFont) -> None:
        """The picture fitted into a rounded square, its heat layer over it; a sign while there is none."""
        clip = QPainterPath()
        clip.addRoundedRect(box, 6, 6)
        painter.fillPath(clip, colors["track"])
        if entry.thumb is not None and entry.pixmap is None:
            entry.pixmap = QPixmap.fromImage(entry.thumb)
        if entry.pixmap is None or entry.pixmap.isNull():
            painter.setPen(colors["error"] if entry.error else colors["muted"])
            sign = QFont(font)
            sign.setPointSizeF(sign.pointSizeF() * (2.0 if entry.error else 1.0))
            painter.setFont(sign)
            painter.drawText(box, Qt.AlignmentFlag.AlignCenter, "\u26a0" if entry.error else "…")
            return
        pm = entry.pixmap
        ratio = min(THUMB / pm.width(), THUMB / pm.height())
        w, h = pm.width() * ratio, pm.height() * ratio
        target = QRectF(box.center().x() - w / 2, box.center().y() - h / 2, w, h)
        painter.save()
        painter.setClipPath(clip)
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        painter.drawPixmap(target, pm, QRectF(pm.rect()))
        if self.view.cam_enabled and entry.cam_heat is not None:
            _paint_cam(painter, entry, target, self.view.cam_opacity, font)
        painter.restore()

    def _paint_text(self, painter: QPainter, column: QRectF, entry: PredictEntry, colors: dict, font: QFont) -> None:
        """Name (bold) and folder, then the bars, the error, or what the entry waits for."""
        fm = QFontMetrics(font)
        bold = QFont(font)
        bold.setBold(True)
        small = QFont(font)
        small.setPointSizeF(small.pointSizeF() * 0.9)
        folder = str(Path(entry.path).parent) if entry.path else "Pasted from the clipboard"
        y = column.top()
        for text, line_font, color in ((entry.name, bold, colors["text"]), (folder, small, colors["muted"])):
            painter.setFont(line_font)
            painter.setPen(color)
            painter.drawText(
                QRectF(column.left(), y, column.width(), fm.height()),
                Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
                QFontMetrics(line_font).elidedText(text, Qt.TextElideMode.ElideMiddle, int(column.width())),
            )
            y += fm.height() + 1
        body = QRectF(column.left(), y + 5, min(column.width(), 640), column.bottom() - y - 5)
        top_left = Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop
        if entry.error:
            painter.setFont(bold)
            painter.setPen(colors["error"])
            painter.drawText(QRectF(body.left(), body.top(), body.width(), fm.height() + 2), top_left, "Could not read this file")
            message = entry.error
            if message.startswith(entry.name + ": "):  # the name is already the title
                message = fmt.sentence(message[len(entry.name) + 2 :])
            painter.setFont(font)
            painter.setPen(colors["text"])
            painter.drawText(body.adjusted(0, fm.height() + 4, 0, 0), top_left | Qt.TextFlag.TextWordWrap, message)
        elif entry.done:
            paint_probability_bars(painter, body, entry.predictions, colors, font, self.BAR_ROW)
        else:
            painter.setFont(font)
            painter.setPen(colors["muted"])
            painter.drawText(body, top_left, self.view.waiting_text)


def _paint_cam(painter: QPainter, entry: PredictEntry, target: QRectF, opacity: float, font: QFont) -> None:
    """The heat layer over a thumbnail, the unseen border dimmed, and which class it explains."""
    if entry.cam_pixmap is None:
        entry.cam_pixmap = QPixmap.fromImage(entry.cam_heat)
    paint_heat(painter, target, entry.cam_pixmap, opacity, entry.cam_crop)
    if entry.cam_label:
        small = QFont(font)
        small.setPointSizeF(small.pointSizeF() * 0.8)
        painter.setFont(small)
        fm = QFontMetrics(small)
        band = QRectF(target.left(), target.bottom() - fm.height() - 3, target.width(), fm.height() + 3)
        painter.fillRect(band, QColor(0, 0, 0, 150))
        painter.setPen(QColor("white"))
        label = fm.elidedText(entry.cam_label, Qt.TextElideMode.ElideRight, int(band.width() - 8))
        painter.drawText(band.adjusted(4, 0, -4, 0), Qt.AlignmentFlag.AlignCenter, label)


def _paint_drop_zone(painter: QPainter, zone: QRectF, colors: dict, active: bool, radius: float) -> None:
    """A dashed rounded outline, tinted in the accent colour while something is dragged over it."""
    painter.setRenderHint(QPainter.RenderHint.Antialiasing)
    painter.setPen(QPen(colors["accent"] if active else colors["muted"], 2 if active else 1.5, Qt.PenStyle.DashLine))
    if active:
        fill = QColor(colors["accent"])
        fill.setAlpha(24)
        painter.setBrush(fill)
    painter.drawRoundedRect(zone, radius, radius)


class DropHint(QWidget):
    """The empty state: a dashed drop zone that says what to do."""

    def __init__(self) -> None:
        super().__init__()
        self.active = False
        self.title = "Drop photos here"
        self.subtitle = DROP_HINT_TEXT

    def set_subtitle(self, text: str) -> None:
        if text != self.subtitle:
            self.subtitle = text
            self.update()

    def paintEvent(self, event) -> None:
        painter = QPainter(self)
        colors = palette_colors(self)
        zone = QRectF(self.rect()).adjusted(24, 20, -24, -24)
        _paint_drop_zone(painter, zone, colors, self.active, 14)
        center = zone.center()
        _paint_picture_icon(painter, QRectF(center.x() - 30, center.y() - 70, 60, 46), colors["muted"])
        title = QFont(self.font())
        title.setPointSizeF(title.pointSizeF() * 1.5)
        title.setBold(True)
        painter.setFont(title)
        painter.setPen(colors["text"])
        height = QFontMetrics(title).height()
        painter.drawText(QRectF(zone.left(), center.y() - 10, zone.width(), height), Qt.AlignmentFlag.AlignCenter, self.title)
        painter.setFont(self.font())
        painter.setPen(colors["muted"])
        painter.drawText(
            QRectF(zone.left() + 20, center.y() - 6 + height, zone.width() - 40, 60),
            Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop | Qt.TextFlag.TextWordWrap,
            self.subtitle,
        )


def _paint_picture_icon(painter: QPainter, icon: QRectF, color: QColor) -> None:
    """A simple picture: a frame, two mountains and a sun."""
    painter.setPen(QPen(color, 2))
    painter.setBrush(Qt.BrushStyle.NoBrush)
    painter.drawRoundedRect(icon, 6, 6)
    mountains = QPainterPath()
    mountains.moveTo(icon.left() + 8, icon.bottom() - 8)
    mountains.lineTo(icon.left() + 24, icon.top() + 20)
    mountains.lineTo(icon.left() + 34, icon.bottom() - 16)
    mountains.lineTo(icon.left() + 40, icon.top() + 28)
    mountains.lineTo(icon.right() - 8, icon.bottom() - 8)
    painter.drawPath(mountains)
    painter.drawEllipse(QRectF(icon.right() - 19, icon.top() + 8, 9, 9))
