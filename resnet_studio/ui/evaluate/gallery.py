"""The Evaluate tab's gallery: thumbnails of the images one filter picks (the mistakes first).

- `GalleryModel`: the engine SampleResults shown and a cache of their thumbnails.
- `GalleryDelegate`: a thumbnail with its confidence as a badge, then "true: …" and
  "→ predicted".
- `MistakesGallery`: the list in icon mode, or a line saying why it is empty. Only what
  is painted is read: the delegate asks, and the files are read in the background a few
  at a time (TaskSlot "thumbnails"), one job after the other.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

from PySide6.QtCore import QAbstractListModel, QModelIndex, QRect, QRectF, QSize, Qt, QTimer, Signal
from PySide6.QtGui import QColor, QFont, QFontMetrics, QPainter, QPainterPath, QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView,
    QListView,
    QStackedWidget,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QWidget,
)

from .. import format as fmt
from ..tasks import TaskGroup
from ..widgets import muted_label, palette_colors
from .jobs import read_thumbnails

__all__ = ["THUMB", "GalleryModel", "GalleryDelegate", "MistakesGallery"]

THUMB = 112  # px: the side of a thumbnail's box


class GalleryModel(QAbstractListModel):
    """SampleResults (SampleRole), their file names and a tooltip; thumbnails by path."""

    SampleRole = Qt.ItemDataRole.UserRole + 1

    def __init__(self) -> None:
        super().__init__()
        self.samples: list = []
        self.classes: list[str] = []
        self.thumbs: dict[str, QPixmap | None] = {}  # None: the file could not be read
        self.request: Callable[[str], None] = lambda path: None  # asks for a thumbnail about to be shown

    def rowCount(self, parent: QModelIndex | None = None) -> int:
        return 0 if parent is not None and parent.isValid() else len(self.samples)

    def data(self, index: QModelIndex, role: int = Qt.ItemDataRole.DisplayRole):
        if not index.isValid() or not 0 <= index.row() < len(self.samples):
            return None
        s = self.samples[index.row()]
        if role == self.SampleRole:
            return s
        if role == Qt.ItemDataRole.DisplayRole:
            return Path(s.path).name
        if role == Qt.ItemDataRole.ToolTipRole:
            return (f"{s.path}\ntrue: {self.classes[s.true]}\npredicted: {self.classes[s.pred]} "
                    f"({fmt.percent(s.confidence)})\nprobability of the true class: {fmt.percent(s.true_prob)}")
        return None

    def set_samples(self, samples: list, classes: list[str]) -> None:
        self.beginResetModel()
        self.samples = list(samples)
        self.classes = list(classes)
        self.endResetModel()

    def add_thumbnails(self, items) -> None:
        """[(path, QImage or None)] read in the background: cached, and the rows repainted."""
        for path, image in items:
            self.thumbs[path] = QPixmap.fromImage(image) if image is not None else None
        paths = {path for path, _ in items}
        rows = [i for i, s in enumerate(self.samples) if s.path in paths]
        if rows:
            self.dataChanged.emit(self.index(min(rows)), self.index(max(rows)))


class GalleryDelegate(QStyledItemDelegate):
    """A thumbnail with its confidence, then 'true: …' and '→ predicted'."""

    PAD = 6

    def sizeHint(self, option: QStyleOptionViewItem, index: QModelIndex) -> QSize:
        fm = QFontMetrics(option.font)
        return QSize(THUMB + 2 * self.PAD + 8, THUMB + 2 * self.PAD + 2 * fm.height() + 6)

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: QModelIndex) -> None:
        sample = index.data(GalleryModel.SampleRole)
        if sample is None:
            return
        model: GalleryModel = index.model()
        colors = palette_colors(option.widget)
        rect = QRect(option.rect)
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        self._paint_background(painter, option, colors)
        box = QRectF(rect.left() + (rect.width() - THUMB) / 2, rect.top() + self.PAD, THUMB, THUMB)
        if sample.path not in model.thumbs:
            model.request(sample.path)  # only what is on screen is read
        self._paint_thumbnail(painter, box, model.thumbs.get(sample.path), colors["track"])
        self._paint_badge(painter, box, option.font, fmt.percent(sample.confidence))
        self._paint_labels(painter, option, box.bottom() + 4, sample, model.classes, colors)
        painter.restore()

    @staticmethod
    def _paint_background(painter: QPainter, option: QStyleOptionViewItem, colors: dict) -> None:
        if option.state & QStyle.StateFlag.State_Selected:
            fill = QColor(colors["accent"])
            fill.setAlpha(60)
        elif option.state & QStyle.StateFlag.State_MouseOver:
            fill = QColor(colors["track"])
        else:
            return
        painter.setBrush(fill)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.drawRoundedRect(QRectF(option.rect).adjusted(1, 1, -1, -1), 6, 6)

    @staticmethod
    def _paint_thumbnail(painter: QPainter, box: QRectF, pm: QPixmap | None, track: QColor) -> None:
        clip = QPainterPath()
        clip.addRoundedRect(box, 5, 5)
        painter.fillPath(clip, track)
        if pm is None or pm.isNull():
            return
        ratio = min(THUMB / pm.width(), THUMB / pm.height())
        w, h = pm.width() * ratio, pm.height() * ratio
        painter.save()
        painter.setClipPath(clip)
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        painter.drawPixmap(QRectF(box.center().x() - w / 2, box.center().y() - h / 2, w, h), pm, QRectF(pm.rect()))
        painter.restore()

    @staticmethod
    def _paint_badge(painter: QPainter, box: QRectF, font: QFont, text: str) -> None:
        """The confidence, white on a dark patch in the picture's top right corner."""
        small = QFont(font)
        small.setPointSizeF(small.pointSizeF() * 0.85)
        small.setBold(True)
        painter.setFont(small)
        fm = QFontMetrics(small)
        width = fm.horizontalAdvance(text)
        badge = QRectF(box.right() - width - 12, box.top() + 4, width + 8, fm.height() + 2)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(QColor(0, 0, 0, 160))
        painter.drawRoundedRect(badge, 4, 4)
        painter.setPen(QColor("white"))
        painter.drawText(badge, Qt.AlignmentFlag.AlignCenter, text)

    def _paint_labels(self, painter: QPainter, option: QStyleOptionViewItem, y: float, sample, classes, colors: dict) -> None:
        fm = QFontMetrics(option.font)
        left = option.rect.left() + self.PAD
        width = option.rect.width() - 2 * self.PAD
        painter.setFont(option.font)
        painter.setPen(colors["muted"])
        true_text = fm.elidedText(f"true: {classes[sample.true]}", Qt.TextElideMode.ElideRight, width)
        painter.drawText(QRectF(left, y, width, fm.height()), Qt.AlignmentFlag.AlignLeft, true_text)
        bold = QFont(option.font)
        bold.setBold(True)
        painter.setFont(bold)
        painter.setPen(colors["error"] if not sample.correct else colors["text"])
        pred_text = QFontMetrics(bold).elidedText(f"→ {classes[sample.pred]}", Qt.TextElideMode.ElideRight, width)
        painter.drawText(QRectF(left, y + fm.height(), width, fm.height()), Qt.AlignmentFlag.AlignLeft, pred_text)


class MistakesGallery(QStackedWidget):
    """The gallery's list, or a message when there is nothing to show."""

    currentSampleChanged = Signal(object)  # the SampleResult selected

    def __init__(self, tasks: TaskGroup, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.model = GalleryModel()
        self.model.request = self._request
        self.view = QListView()
        self.view.setModel(self.model)
        self.view.setItemDelegate(GalleryDelegate(self.view))
        self.view.setViewMode(QListView.ViewMode.IconMode)
        self.view.setResizeMode(QListView.ResizeMode.Adjust)
        self.view.setMovement(QListView.Movement.Static)
        self.view.setUniformItemSizes(True)
        self.view.setSpacing(4)
        self.view.setMouseTracking(True)
        self.view.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.view.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.view.selectionModel().currentChanged.connect(lambda current, _previous: self._on_current(current))
        self.empty_label = muted_label()
        self.empty_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.addWidget(self.empty_label)
        self.addWidget(self.view)
        self._loader = tasks.slot("thumbnails")
        self._queue: list[str] = []  # asked for by a paint, not read yet
        self._timer = QTimer(self)  # a task is never started inside a paint
        self._timer.setSingleShot(True)
        self._timer.setInterval(0)
        self._timer.timeout.connect(self._pump)

    def set_samples(self, samples: list, classes: list[str], empty_text: str = "") -> None:
        """Show these samples, the first one selected; none: `empty_text` instead."""
        self.model.set_samples(samples, classes)
        self._queue.clear()  # what the last view wanted and has not got: its paint asks again
        if samples:
            self.setCurrentWidget(self.view)
            self.view.setCurrentIndex(self.model.index(0))
        else:
            self.empty_label.setText(empty_text)
            self.setCurrentWidget(self.empty_label)

    def samples(self) -> list:
        return list(self.model.samples)

    def forget_thumbnails(self) -> None:
        """Files may have changed since they were read (a new evaluation): read them again."""
        self._loader.cancel()
        self._queue.clear()
        self.model.thumbs.clear()

    def is_loading(self) -> bool:
        return self._loader.busy or bool(self._queue) or self._timer.isActive()

    def _on_current(self, index: QModelIndex) -> None:
        sample = index.data(GalleryModel.SampleRole) if index.isValid() else None
        if sample is not None:
            self.currentSampleChanged.emit(sample)

    def _request(self, path: str) -> None:
        if path not in self._queue:
            self._queue.append(path)
            self._timer.start()

    def _pump(self) -> None:
        if self._loader.busy:
            return  # the job under way asks again when it ends
        paths = [p for p in self._queue if p not in self.model.thumbs]
        self._queue = []
        if paths:
            self._loader.start(read_thumbnails, paths, THUMB, receiver=self, on_progress=self._arrived, on_finished=self._pump)

    def _arrived(self, items) -> None:
        arrived = {path for path, _ in items}
        self._queue = [p for p in self._queue if p not in arrived]
        self.model.add_thumbnails(items)
