"""Drop photos, see what the model thinks: thumbnails with top-5 probability bars.

Images are read and predicted off the UI thread (one worker at a time, results
appearing batch by batch). A file that cannot be read becomes an error entry.
With no fine-tuned model the tab offers torchvision's ImageNet ResNet-50 when its
weights are available, and says clearly what to do when they are not.

The Grad-CAM button lays each result's heatmap over its thumbnail (computed in the
background, for the top class or the class chosen for that image) and opens a side
pane with the selected image large, an opacity slider and a class chooser.
"""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path

from PySide6.QtCore import (
    QAbstractListModel,
    QBuffer,
    QIODevice,
    QModelIndex,
    QRect,
    QRectF,
    QSize,
    Qt,
    QTimer,
    QUrl,
    Signal,
)
from PySide6.QtGui import (
    QColor,
    QDesktopServices,
    QFont,
    QFontMetrics,
    QGuiApplication,
    QImage,
    QKeySequence,
    QPainter,
    QPainterPath,
    QPen,
    QPixmap,
    QShortcut,
)
from PySide6.QtWidgets import (
    QAbstractItemView,
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QListView,
    QMenu,
    QProgressBar,
    QPushButton,
    QSplitter,
    QStackedWidget,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from .. import format as fmt
from ..cam_view import CamView, paint_heat
from ..images import heat_qimage, load_thumbnail
from ..tasks import BackgroundTask, TaskGroup
from ..widgets import Banner, ElidedLabel, palette_colors
from .bars import paint_probability_bars

__all__ = ["PredictTab", "PredictEntry"]

TOPK = 5
CHUNK = 16  # images read and predicted per step; results appear after each
CAM_CHUNK = 4  # Grad-CAM thumbnails computed per step
THUMB = 96
IMAGE_FILTER = "Images (*.jpg *.jpeg *.png *.bmp *.gif *.webp *.tif *.tiff);;All files (*)"
MODEL_FILTER = "Models (*.safetensors model.json);;All files (*)"
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".gif", ".webp", ".tif", ".tiff")


@dataclass
class PredictEntry:
    """One dropped image and what the model said about it."""

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

    def to_dict(self) -> dict:
        if self.error is not None:
            return {"path": self.path, "error": self.error}
        return {"path": self.path, "predictions": [{"label": l, "prob": p} for l, p in self.predictions]}


# ---------------------------------------------------------------- worker-thread functions


def _load_predictor(task: BackgroundTask, kind: str, path: str | None):
    from resnet_studio.engine.predict import Predictor

    if kind == "imagenet":
        return Predictor.imagenet(depth=50)
    return Predictor.from_path(path)


def _predict(task: BackgroundTask, predictor, items: list[tuple[int, object]]) -> None:
    """Read, thumbnail and predict `items` ([(id, path-or-bytes)]) a chunk at a time."""
    from resnet_studio.engine.errors import StudioError

    for start in range(0, len(items), CHUNK):
        task.check()
        chunk = items[start : start + CHUNK]
        results: dict[int, tuple] = {}
        images, ids = [], []
        for entry_id, source in chunk:
            try:
                image = predictor.read(source)  # the pixels `predict` reads: the same probabilities
                if min(image.size) < THUMB * 2 and not isinstance(source, bytes):
                    thumb = load_thumbnail(source, THUMB)  # a finer reading for the thumbnail only
                else:
                    thumb = load_thumbnail(None, THUMB, image=image)
            except StudioError as exc:
                results[entry_id] = (None, [], str(exc))
                continue
            except Exception as exc:  # anything odd in one file stays in that file's entry
                results[entry_id] = (None, [], f"{type(exc).__name__}: {exc}")
                continue
            images.append(image)
            ids.append(entry_id)
            results[entry_id] = (thumb, [], None)
        if images:
            try:
                for entry_id, prediction in zip(ids, predictor.iter_predict(images, topk=TOPK, batch_size=CHUNK)):
                    thumb = results[entry_id][0]
                    if prediction.error is not None:
                        results[entry_id] = (thumb, [], prediction.error)
                    else:
                        results[entry_id] = (thumb, [(str(l), float(p)) for l, p in prediction.predictions], None)
            except Exception as exc:  # the model itself failed: say so on each image of the chunk
                message = f"the model could not run on this image ({str(exc).splitlines()[0] if str(exc) else type(exc).__name__})"
                for entry_id in ids:
                    results[entry_id] = (results[entry_id][0], [], message)
        task.report([(entry_id, *results[entry_id]) for entry_id, _ in chunk])


def _cam_thumbnails(task: BackgroundTask, predictor, items: list[tuple[int, object, int | None]]) -> None:
    """Grad-CAM heat layers at thumbnail size for `items` ([(id, source, class or None)])."""
    from resnet_studio.engine.errors import StudioError
    from resnet_studio.engine.explain import explain

    for start in range(0, len(items), CAM_CHUNK):
        task.check()
        out = []
        for entry_id, source, class_index in items[start : start + CAM_CHUNK]:
            try:
                shown = explain(predictor, source, class_index, display_side=THUMB * 2)  # as load_thumbnail makes them
            except StudioError:
                continue
            cam = shown.cam
            out.append((entry_id, heat_qimage(cam, shown.image.size), class_index, cam.label, cam.crop))
        task.report(out)


# ---------------------------------------------------------------- the list


class _ResultsModel(QAbstractListModel):
    EntryRole = Qt.ItemDataRole.UserRole + 1

    def __init__(self) -> None:
        super().__init__()
        self._entries: list[PredictEntry] = []  # display order
        self._by_id: dict[int, PredictEntry] = {}
        self.newest_first = True

    def rowCount(self, parent=QModelIndex()) -> int:  # noqa: N802
        return 0 if parent.isValid() else len(self._entries)

    def data(self, index: QModelIndex, role: int = Qt.ItemDataRole.DisplayRole):
        if not index.isValid() or not 0 <= index.row() < len(self._entries):
            return None
        entry = self._entries[index.row()]
        if role == self.EntryRole:
            return entry
        if role == Qt.ItemDataRole.DisplayRole:
            return entry.name
        if role == Qt.ItemDataRole.ToolTipRole:
            return entry.path or entry.name
        return None

    def entries(self) -> list[PredictEntry]:
        return list(self._entries)

    def get(self, entry_id: int) -> PredictEntry | None:
        return self._by_id.get(entry_id)

    def add(self, entries: list[PredictEntry]) -> None:
        if not entries:
            return
        row = 0 if self.newest_first else len(self._entries)
        self.beginInsertRows(QModelIndex(), row, row + len(entries) - 1)
        self._entries[row:row] = entries
        for e in entries:
            self._by_id[e.id] = e
        self.endInsertRows()

    def changed(self, entry_ids: list[int]) -> None:
        rows = {e.id: i for i, e in enumerate(self._entries)}
        found = [rows[i] for i in entry_ids if i in rows]
        if found:
            self.dataChanged.emit(self.index(min(found)), self.index(max(found)))

    def remove(self, entry_id: int) -> None:
        for row, e in enumerate(self._entries):
            if e.id == entry_id:
                self.beginRemoveRows(QModelIndex(), row, row)
                del self._entries[row]
                del self._by_id[entry_id]
                self.endRemoveRows()
                return

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
        key = (lambda e: (-e.batch, e.id)) if newest_first else (lambda e: (e.batch, e.id))
        self._entries.sort(key=key)
        self.endResetModel()


class _ResultDelegate(QStyledItemDelegate):
    """A row: thumbnail, file name and folder, then the top-k bars (or the error)."""

    PAD = 12
    BAR_ROW = 21

    def sizeHint(self, option: QStyleOptionViewItem, index: QModelIndex) -> QSize:  # noqa: N802
        fm = QFontMetrics(option.font)
        view = self.parent()
        rows = view.bar_rows if isinstance(view, _ResultsView) else TOPK
        text_h = fm.height() * 2 + 12 + rows * self.BAR_ROW  # name, folder, gap, bars, slack
        width = view.card_width() if isinstance(view, _ResultsView) else 420
        return QSize(width, max(THUMB, text_h) + 2 * self.PAD)

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: QModelIndex) -> None:
        entry: PredictEntry = index.data(_ResultsModel.EntryRole)
        if entry is None:
            return
        widget = option.widget
        colors = palette_colors(widget)
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        rect = QRect(option.rect)
        if option.state & QStyle.StateFlag.State_Selected:
            sel = QColor(colors["accent"])
            sel.setAlpha(40)
            painter.fillRect(rect, sel)
        elif option.state & QStyle.StateFlag.State_MouseOver:
            hover = QColor(colors["track"])
            hover.setAlphaF(0.05)
            painter.fillRect(rect, hover)
        # separator
        line = QColor(colors["track"])
        painter.setPen(QPen(line, 1))
        painter.drawLine(rect.left() + self.PAD, rect.bottom(), rect.right() - self.PAD, rect.bottom())
        if isinstance(widget, QListView) and rect.right() < widget.viewport().width() - 20:
            painter.drawLine(rect.right(), rect.top() + self.PAD, rect.right(), rect.bottom() - self.PAD)

        # thumbnail
        thumb_rect = QRectF(rect.left() + self.PAD, rect.top() + self.PAD, THUMB, THUMB)
        path = QPainterPath()
        path.addRoundedRect(thumb_rect, 6, 6)
        painter.fillPath(path, colors["track"])
        if entry.thumb is not None and entry.pixmap is None:
            entry.pixmap = QPixmap.fromImage(entry.thumb)
        if entry.pixmap is not None and not entry.pixmap.isNull():
            pm = entry.pixmap
            ratio = min(THUMB / pm.width(), THUMB / pm.height())
            w, h = pm.width() * ratio, pm.height() * ratio
            target = QRectF(thumb_rect.center().x() - w / 2, thumb_rect.center().y() - h / 2, w, h)
            painter.save()
            painter.setClipPath(path)
            painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
            painter.drawPixmap(target, pm, QRectF(pm.rect()))
            view = self.parent()
            if isinstance(view, _ResultsView) and view.cam_enabled and entry.cam_heat is not None:
                _paint_cam(painter, entry, target, view.cam_opacity, option.font)
            painter.restore()
        else:
            painter.setPen(colors["error"] if entry.error else colors["muted"])
            big = QFont(option.font)
            big.setPointSizeF(big.pointSizeF() * (2.0 if entry.error else 1.0))
            painter.setFont(big)
            painter.drawText(thumb_rect, Qt.AlignmentFlag.AlignCenter, "\u26a0" if entry.error else "…")

        # text column
        left = thumb_rect.right() + 16
        width = max(60, rect.right() - self.PAD - left)
        fm = QFontMetrics(option.font)
        bold = QFont(option.font)
        bold.setBold(True)
        y = rect.top() + self.PAD
        painter.setFont(bold)
        painter.setPen(colors["text"])
        painter.drawText(
            QRectF(left, y, width, fm.height()),
            Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
            QFontMetrics(bold).elidedText(entry.name, Qt.TextElideMode.ElideMiddle, int(width)),
        )
        y += fm.height() + 1
        small = QFont(option.font)
        small.setPointSizeF(small.pointSizeF() * 0.9)
        painter.setFont(small)
        painter.setPen(colors["muted"])
        folder = str(Path(entry.path).parent) if entry.path else "Pasted from the clipboard"
        painter.drawText(
            QRectF(left, y, width, fm.height()),
            Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignVCenter,
            QFontMetrics(small).elidedText(folder, Qt.TextElideMode.ElideMiddle, int(width)),
        )
        y += fm.height() + 6
        body = QRectF(left, y, min(width, 640), rect.bottom() - self.PAD - y)
        if entry.error:
            painter.setFont(bold)
            painter.setPen(colors["error"])
            painter.drawText(QRectF(body.left(), body.top(), body.width(), fm.height() + 2), Qt.AlignmentFlag.AlignLeft, "Could not read this file")
            painter.setFont(option.font)
            painter.setPen(colors["text"])
            message = entry.error
            if message.startswith(entry.name + ": "):  # the name is already the title
                message = message[len(entry.name) + 2 :]
                message = message[:1].upper() + message[1:]
            painter.drawText(
                body.adjusted(0, fm.height() + 4, 0, 0),
                Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop | Qt.TextFlag.TextWordWrap,
                message,
            )
        elif entry.done:
            paint_probability_bars(painter, body, entry.predictions, colors, option.font, self.BAR_ROW)
        else:
            painter.setFont(option.font)
            painter.setPen(colors["muted"])
            waiting = widget.property("waitingText") if widget is not None else None
            painter.drawText(body, Qt.AlignmentFlag.AlignLeft | Qt.AlignmentFlag.AlignTop, waiting or "Predicting…")
        painter.restore()


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
        painter.drawText(band.adjusted(4, 0, -4, 0), Qt.AlignmentFlag.AlignCenter,
                         fm.elidedText(entry.cam_label, Qt.TextElideMode.ElideRight, int(band.width() - 8)))



class _DropHint(QWidget):
    """The empty state: a dashed drop zone that says what to do."""

    def __init__(self) -> None:
        super().__init__()
        self.active = False
        self.title = "Drop photos here"
        self.subtitle = "Files or whole folders · or use Add photos… · or paste with Ctrl+V"

    def paintEvent(self, event) -> None:  # noqa: N802
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        colors = palette_colors(self)
        zone = QRectF(self.rect()).adjusted(24, 20, -24, -24)
        pen = QPen(colors["accent"] if self.active else colors["muted"], 2 if self.active else 1.5, Qt.PenStyle.DashLine)
        painter.setPen(pen)
        if self.active:
            fill = QColor(colors["accent"])
            fill.setAlpha(28)
            painter.setBrush(fill)
        painter.drawRoundedRect(zone, 14, 14)
        center = zone.center()
        # a simple picture icon
        icon = QRectF(center.x() - 30, center.y() - 70, 60, 46)
        painter.setPen(QPen(colors["muted"], 2))
        painter.setBrush(Qt.BrushStyle.NoBrush)
        painter.drawRoundedRect(icon, 6, 6)
        mountain = QPainterPath()
        mountain.moveTo(icon.left() + 8, icon.bottom() - 8)
        mountain.lineTo(icon.left() + 24, icon.top() + 20)
        mountain.lineTo(icon.left() + 34, icon.bottom() - 16)
        mountain.lineTo(icon.left() + 40, icon.top() + 28)
        mountain.lineTo(icon.right() - 8, icon.bottom() - 8)
        painter.drawPath(mountain)
        painter.drawEllipse(QRectF(icon.right() - 19, icon.top() + 8, 9, 9))
        title = QFont(self.font())
        title.setPointSizeF(title.pointSizeF() * 1.5)
        title.setBold(True)
        painter.setFont(title)
        painter.setPen(colors["text"])
        fm = QFontMetrics(title)
        painter.drawText(QRectF(zone.left(), center.y() - 10, zone.width(), fm.height()), Qt.AlignmentFlag.AlignCenter, self.title)
        painter.setFont(self.font())
        painter.setPen(colors["muted"])
        painter.drawText(
            QRectF(zone.left() + 20, center.y() - 6 + fm.height(), zone.width() - 40, 60),
            Qt.AlignmentFlag.AlignHCenter | Qt.AlignmentFlag.AlignTop | Qt.TextFlag.TextWordWrap,
            self.subtitle,
        )


class _ResultsView(QListView):
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
        self._card_width = self.MIN_CARD
        self.bar_rows = TOPK  # min(top-k, the model's classes): the height of a card
        self.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.verticalScrollBar().setSingleStep(24)
        self.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.setUniformItemSizes(True)
        self.setMouseTracking(True)
        self.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.setFrameShape(QListView.Shape.NoFrame)
        self.drag_active = False
        self.cam_enabled = False  # draw Grad-CAM heat layers over the thumbnails
        self.cam_opacity = 0.55

    def card_width(self) -> int:
        return self._card_width

    def resizeEvent(self, event) -> None:  # noqa: N802
        available = max(1, self.viewport().width() - 1)
        columns = max(1, available // self.MIN_CARD)
        width = max(300, available // columns)
        if width != self._card_width:
            self._card_width = width
            self.scheduleDelayedItemsLayout()
        super().resizeEvent(event)

    def paintEvent(self, event) -> None:  # noqa: N802
        super().paintEvent(event)
        if self.drag_active:
            painter = QPainter(self.viewport())
            painter.setRenderHint(QPainter.RenderHint.Antialiasing)
            colors = palette_colors(self)
            fill = QColor(colors["accent"])
            fill.setAlpha(24)
            painter.setBrush(fill)
            painter.setPen(QPen(colors["accent"], 2, Qt.PenStyle.DashLine))
            painter.drawRoundedRect(QRectF(self.viewport().rect()).adjusted(4, 4, -4, -4), 10, 10)


# ---------------------------------------------------------------- the tab


class PredictTab(QWidget):
    """Classify photos with the model just trained, one opened from disk, or ImageNet's."""

    predictionsReady = Signal(int)  # results that just appeared (after each batch)
    modelChanged = Signal(str)  # the label of the model in use ("" for none)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setAcceptDrops(True)
        self._predictor = None
        self._label = ""
        self._source = "none"  # "none", "custom" (set or opened) or "imagenet"
        self._imagenet_state = "idle"  # idle, loading, ready, failed
        self._imagenet_error = ""
        self._imagenet_enabled = True
        # the message of the last model that could not be opened: shown until dismissed or replaced
        self._open_error: str | None = None
        self._load_task: BackgroundTask | None = None
        self._predict_task: BackgroundTask | None = None
        self._generation = 0
        self._queue: list[int] = []  # entry ids waiting for the worker
        self._next_id = 0
        self._batch = 0
        self._paste_count = 0
        self._shown_once = False
        self._closed = False
        self._cam_queue: list[int] = []
        self._cam_task: BackgroundTask | None = None
        self._cam_generation = 0
        self._tasks = TaskGroup()
        self._build()
        self._update_model_label()
        self._update_status()

    # ------------------------------------------------------------ layout

    def _build(self) -> None:
        bar = QHBoxLayout()
        bar.setSpacing(8)
        model_box = QVBoxLayout()
        model_box.setSpacing(0)
        self.model_caption = QLabel("Model")
        cap_font = self.model_caption.font()
        cap_font.setPointSizeF(cap_font.pointSizeF() * 0.85)
        self.model_caption.setFont(cap_font)
        muted = palette_colors(self)["muted"]
        self.model_caption.setStyleSheet(f"color: rgba({muted.red()},{muted.green()},{muted.blue()},{muted.alphaF():.2f});")
        self.model_name_label = ElidedLabel(mode=Qt.TextElideMode.ElideRight)
        font = self.model_name_label.font()
        font.setBold(True)
        self.model_name_label.setFont(font)
        model_box.addWidget(self.model_caption)
        model_box.addWidget(self.model_name_label)
        bar.addLayout(model_box, 1)

        self.open_model_button = QToolButton()
        self.open_model_button.setText("Open model…")
        self.open_model_button.setPopupMode(QToolButton.ToolButtonPopupMode.MenuButtonPopup)
        self.open_model_button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        self.open_model_button.setToolTip("Open a trained model: a model.safetensors file (with its model.json) or a run folder")
        menu = QMenu(self.open_model_button)
        self.action_open_file = menu.addAction("Model file (model.safetensors)…", self.open_model_file)
        self.action_open_run = menu.addAction("Run folder…", self.open_run_folder)
        menu.addSeparator()
        self.action_imagenet = menu.addAction("ImageNet ResNet-50 (1,000 everyday categories)", self.use_imagenet_model)
        self.open_model_button.setMenu(menu)
        self.open_model_button.clicked.connect(self.open_model_file)

        self.add_button = QToolButton()
        self.add_button.setText("Add photos…")
        self.add_button.setPopupMode(QToolButton.ToolButtonPopupMode.MenuButtonPopup)
        self.add_button.setToolTip("Choose photos to classify (or drop them on this tab)")
        add_menu = QMenu(self.add_button)
        add_menu.addAction("Photos…", self.open_images)
        add_menu.addAction("Folder…", self.open_folder)
        self.add_button.setMenu(add_menu)
        self.add_button.clicked.connect(self.open_images)
        self.paste_button = QPushButton("Paste")
        self.paste_button.setToolTip("Classify an image or image files from the clipboard (Ctrl+V)")
        self.paste_button.clicked.connect(self.paste)
        self.order_combo = QComboBox()
        self.order_combo.addItem("Newest first", True)
        self.order_combo.addItem("In order added", False)
        self.order_combo.setToolTip("Where new results appear")
        self.order_combo.currentIndexChanged.connect(self._on_order_change)
        self.export_button = QPushButton("Export CSV…")
        self.export_button.setToolTip("Save every result (file, top classes and probabilities) as a CSV file")
        self.export_button.clicked.connect(self.export_csv)
        self.clear_button = QPushButton("Clear")
        self.clear_button.setToolTip("Remove every result")
        self.clear_button.clicked.connect(self.clear)
        self.cam_button = QPushButton("Grad-CAM")
        self.cam_button.setCheckable(True)
        self.cam_button.setToolTip(
            "Show where each picture's evidence comes from: a Grad-CAM heatmap over the thumbnails, "
            "and the selected picture large with a class chooser"
        )
        self.cam_button.toggled.connect(self.set_cam_enabled)
        for w in (self.open_model_button, self.add_button, self.paste_button, self.order_combo, self.cam_button,
                  self.export_button, self.clear_button):
            bar.addWidget(w)

        self.banner = Banner()

        self.results = _ResultsModel()
        self.view = _ResultsView()
        self.view.setModel(self.results)
        self.view.setItemDelegate(_ResultDelegate(self.view))
        self.view.customContextMenuRequested.connect(self._context_menu)
        self.drop_hint = _DropHint()
        self.stack = QStackedWidget()
        self.stack.addWidget(self.drop_hint)
        self.stack.addWidget(self.view)
        self.cam_view = CamView(title="")
        self.cam_view.toggle.hide()  # the Grad-CAM button is the toggle here
        self.cam_view.setMinimumWidth(280)
        self.cam_view.classChanged.connect(self._on_cam_class_chosen)
        self.cam_view.opacityChanged.connect(self._on_cam_opacity)
        self.cam_view.hide()
        self.view.selectionModel().currentChanged.connect(lambda current, _prev: self._show_cam_for(current))
        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.setChildrenCollapsible(False)
        self.splitter.addWidget(self.stack)
        self.splitter.addWidget(self.cam_view)
        self.splitter.setStretchFactor(0, 3)
        self.splitter.setStretchFactor(1, 2)

        status = QHBoxLayout()
        status.setSpacing(8)
        self.status_label = QLabel()
        self.progress = QProgressBar()
        self.progress.setFixedWidth(160)
        self.progress.setFixedHeight(8)
        self.progress.setTextVisible(False)
        self.progress.hide()
        status.addWidget(self.status_label, 1)
        status.addWidget(self.progress)

        col = QVBoxLayout(self)
        col.setContentsMargins(12, 10, 12, 8)
        col.setSpacing(8)
        col.addLayout(bar)
        col.addWidget(self.banner)
        col.addWidget(self.splitter, 1)
        col.addLayout(status)

        paste = QShortcut(QKeySequence(QKeySequence.StandardKey.Paste), self)
        paste.setContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
        paste.activated.connect(self.paste)
        delete = QShortcut(QKeySequence(QKeySequence.StandardKey.Delete), self.view)
        delete.setContext(Qt.ShortcutContext.WidgetShortcut)
        delete.activated.connect(self._remove_selected)

    # ------------------------------------------------------------ public API

    def set_predictor(self, predictor, label: str = "") -> None:
        """Use this engine Predictor (None: back to the ImageNet model, when available)."""
        self._cancel_load()
        if predictor is None:
            self._set_model(None, "", "none")
            self._maybe_load_imagenet()
        else:
            self._set_model(predictor, label, "custom")

    def predictor(self):
        return self._predictor

    def model_label(self) -> str:
        return self._label

    def add_paths(self, paths: list[str]) -> int:
        """Classify these files (folders are searched for images); returns how many were added."""
        files: list[str] = []
        for raw in paths:
            p = Path(raw).expanduser()
            if p.is_dir():
                files.extend(str(f) for f in _image_files(p))
            else:
                files.append(str(p))
        return self._add_sources([(Path(f).name, f, f) for f in files])

    def add_image(self, image: QImage, name: str | None = None) -> int:
        """Classify an in-memory image (e.g. pasted)."""
        if image.isNull():
            return 0
        buffer = QBuffer()
        buffer.open(QIODevice.OpenModeFlag.WriteOnly)
        image.save(buffer, "PNG")
        data = bytes(buffer.data())
        self._paste_count += 1
        return self._add_sources([(name or f"Pasted image {self._paste_count}", data, None)])

    def entries(self) -> list[PredictEntry]:
        """The entries in display order."""
        return self.results.entries()

    def is_busy(self) -> bool:
        """True while a model loads or photos are being predicted."""
        return self._predict_task is not None or self._load_task is not None

    def clear(self) -> None:
        self._cancel_predict()
        self._queue.clear()
        self._cam_generation += 1
        self._cam_queue.clear()
        self.results.clear()
        self.cam_view.clear("Select a result to see where the model looked.")
        self._update_status()

    def cam_enabled(self) -> bool:
        return self.view.cam_enabled

    def set_cam_enabled(self, enabled: bool) -> None:
        """Grad-CAM heatmaps over the thumbnails and the side pane, on or off."""
        enabled = bool(enabled)
        if self.cam_button.isChecked() != enabled:
            self.cam_button.setChecked(enabled)  # comes back here through toggled
            return
        self.view.cam_enabled = enabled
        self.cam_view.setVisible(enabled)
        if enabled:
            if self.splitter.sizes()[1] < 200:
                total = sum(self.splitter.sizes()) or 1000
                self.splitter.setSizes([int(total * 0.62), int(total * 0.38)])
            self._queue_cams([e.id for e in self.results.entries() if e.done and not e.error and e.cam_heat is None])
            current = self.view.currentIndex()
            if not current.isValid() and self.results.rowCount():
                current = self.results.index(0)
            self._show_cam_for(current)
        else:
            self._cam_generation += 1
            self._cam_queue.clear()
            if self._cam_task is not None:
                self._cam_task.cancel()
        self.view.viewport().update()

    def is_cam_busy(self) -> bool:
        return self._cam_task is not None or bool(self._cam_queue) or self.cam_view.is_busy()

    def set_imagenet_fallback_enabled(self, enabled: bool) -> None:
        """Whether to offer ImageNet's model when no fine-tuned one is set (on by default)."""
        self._imagenet_enabled = enabled

    def shutdown(self, timeout_ms: int = 10_000) -> bool:
        """Cancel and join this tab's background work; nothing new starts afterwards.

        Call before the window closes. True when every thread has ended.
        """
        self._closed = True
        self._generation += 1
        self._cam_generation += 1
        self._load_generation = getattr(self, "_load_generation", 0) + 1
        ended = self._tasks.shutdown(timeout_ms)
        ended = self.cam_view.shutdown(timeout_ms) and ended
        self._predict_task = None
        self._load_task = None
        self._cam_task = None
        return ended

    # -- buttons
    def open_images(self) -> None:
        paths, _ = QFileDialog.getOpenFileNames(self, "Choose photos to classify", _last_dir(), IMAGE_FILTER)
        if paths:
            self.add_paths(paths)

    def open_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Choose a folder of photos", _last_dir())
        if folder:
            self.add_paths([folder])

    def open_model_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open a model", str(_runs_dir()), MODEL_FILTER)
        if path:
            self.open_model(path)

    def open_run_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Open a run folder", str(_runs_dir()))
        if folder:
            self.open_model(folder)

    def open_model(self, path: str) -> None:
        """Load a model from a run folder, model.safetensors or model.json (in the background)."""
        self._cancel_load()
        self._open_error = None
        self.banner.show_message("info", "Opening the model…", fmt.escape(str(path)))
        gen = self._load_generation = getattr(self, "_load_generation", 0) + 1
        label = _model_label_for(path)
        self._load_task = self._tasks.start(
            _load_predictor,
            "file",
            str(path),
            on_result=lambda p: self._on_loaded(gen, p, label, "custom"),
            on_error=lambda m: self._on_open_failed(gen, path, m),
            receiver=self,
            name="open-model",
        )

    def use_imagenet_model(self) -> None:
        self._cancel_load()
        self._open_error = None
        self._imagenet_state = "idle"
        self._set_model(None, "", "none")
        self._maybe_load_imagenet(force=True)

    def paste(self) -> None:
        mime = QGuiApplication.clipboard().mimeData()
        if mime is None:
            return
        if mime.hasUrls() and any(u.isLocalFile() for u in mime.urls()):
            self.add_paths([u.toLocalFile() for u in mime.urls() if u.isLocalFile()])
        elif mime.hasImage():
            image = QImage(mime.imageData())
            self.add_image(image)
        elif mime.hasText():
            candidates = [QUrl(t.strip()).toLocalFile() if t.strip().startswith("file:") else t.strip() for t in mime.text().splitlines()]
            found = [c for c in candidates if c and os.path.exists(c)]
            if found:
                self.add_paths(found)
            else:
                self._flash("The clipboard holds no image or image file to classify.")
        else:
            self._flash("The clipboard holds no image or image file to classify.")

    def export_csv(self) -> None:
        entries = [e for e in self.results.entries() if e.done]
        if not entries:
            return
        path, _ = QFileDialog.getSaveFileName(self, "Export predictions", str(Path(_last_dir()) / "predictions.csv"), "CSV (*.csv)")
        if path:
            self.write_csv(path)

    def write_csv(self, path: str) -> None:
        """The finished results, in the order they were added, as `predict --csv` writes them."""
        from resnet_studio.engine.predict import Prediction, write_csv

        done = [e for e in sorted(self.results.entries(), key=lambda e: (e.batch, e.id)) if e.done]
        write_csv(path, [Prediction(e.path or e.name, list(e.predictions), e.error) for e in done])

    # ------------------------------------------------------------ drag and drop

    def dragEnterEvent(self, event) -> None:  # noqa: N802
        mime = event.mimeData()
        if (mime.hasUrls() and any(u.isLocalFile() for u in mime.urls())) or mime.hasImage():
            event.acceptProposedAction()
            self._set_drag_active(True)
        else:
            event.ignore()

    def dragMoveEvent(self, event) -> None:  # noqa: N802
        event.acceptProposedAction()

    def dragLeaveEvent(self, event) -> None:  # noqa: N802
        self._set_drag_active(False)

    def dropEvent(self, event) -> None:  # noqa: N802
        self._set_drag_active(False)
        mime = event.mimeData()
        paths = [u.toLocalFile() for u in mime.urls() if u.isLocalFile()] if mime.hasUrls() else []
        if paths:
            self.add_paths(paths)
            event.acceptProposedAction()
        elif mime.hasImage():
            self.add_image(QImage(mime.imageData()))
            event.acceptProposedAction()
        else:
            event.ignore()

    def _set_drag_active(self, active: bool) -> None:
        self.drop_hint.active = active
        self.view.drag_active = active
        self.drop_hint.update()
        self.view.viewport().update()

    # ------------------------------------------------------------ showing

    def showEvent(self, event) -> None:  # noqa: N802
        super().showEvent(event)
        if not self._shown_once:
            self._shown_once = True
            # after the first frame: building ResNet-50 takes a moment, even in the background
            QTimer.singleShot(200, self._maybe_load_imagenet)

    # ------------------------------------------------------------ models

    def _set_model(self, predictor, label: str, source: str) -> None:
        changed = predictor is not self._predictor
        if predictor is not None and source == "custom":
            self._open_error = None  # another model chosen: the failed one no longer matters
        self._predictor = predictor
        self._source = source if predictor is not None else "none"
        self._label = label if predictor is not None else ""
        if predictor is not None and not self._label:
            self._label = _describe(predictor)
        self._update_model_label()
        self._update_banner()
        rows = min(TOPK, len(getattr(predictor, "classes", []) or [])) if predictor is not None else TOPK
        if rows and rows != self.view.bar_rows:
            self.view.bar_rows = rows
            self.view.scheduleDelayedItemsLayout()
        if changed:
            self.modelChanged.emit(self._label)
            self._repredict_all()

    def _maybe_load_imagenet(self, force: bool = False) -> None:
        if self._closed or self._predictor is not None or self._load_task is not None or not (self._imagenet_enabled or force):
            self._update_banner()
            return
        if self._imagenet_state in ("failed",) and not force:
            self._update_banner()
            return
        self._imagenet_state = "loading"
        self._update_banner()
        gen = self._load_generation = getattr(self, "_load_generation", 0) + 1
        self._load_task = self._tasks.start(
            _load_predictor,
            "imagenet",
            None,
            on_result=lambda p: self._on_loaded(gen, p, "ResNet-50 · ImageNet (1,000 categories)", "imagenet"),
            on_error=lambda m: self._on_imagenet_failed(gen, m),
            receiver=self,
            name="imagenet-model",
        )

    def _on_loaded(self, gen: int, predictor, label: str, source: str) -> None:
        if gen != getattr(self, "_load_generation", 0):
            return
        self._load_task = None
        if source == "imagenet":
            self._imagenet_state = "ready"
        else:
            label = f"{_describe(predictor)} · {label}" if label else _describe(predictor)
        self._set_model(predictor, label, source)

    def _on_imagenet_failed(self, gen: int, message: str) -> None:
        if gen != getattr(self, "_load_generation", 0):
            return
        self._load_task = None
        self._imagenet_state = "failed"
        self._imagenet_error = message
        self._update_banner()
        self._update_status()

    def _on_open_failed(self, gen: int, path: str, message: str) -> None:
        if gen != getattr(self, "_load_generation", 0):
            return
        self._load_task = None
        self._open_error = message
        self._update_banner()  # shows it, and keeps showing it whatever else updates the banner

    def _update_banner_dismiss(self) -> None:
        self._open_error = None
        self.banner.hide()
        self._update_banner()

    def _cancel_load(self) -> None:
        self._load_generation = getattr(self, "_load_generation", 0) + 1
        if self._load_task is not None:
            self._load_task.cancel()
            self._load_task = None
            if self._imagenet_state == "loading":
                self._imagenet_state = "idle"

    def _update_model_label(self) -> None:
        if self._predictor is not None:
            self.model_name_label.setText(self._label)
            self.model_name_label.setToolTip(self._label)
        elif self._imagenet_state == "loading":
            self.model_name_label.setText("Loading the ImageNet model…")
        else:
            self.model_name_label.setText("None yet")
        self.action_imagenet.setEnabled(self._source != "imagenet")

    def _update_banner(self) -> None:
        self._update_model_label()
        if self._open_error is not None:
            self.banner.show_message(
                "error",
                "Could not open the model",
                fmt.escape(self._open_error)
                + ("<br>The model in use is unchanged." if self._predictor is not None else ""),
                [("Open another…", self.open_model_file), ("Dismiss", self._update_banner_dismiss)],
            )
        elif self._predictor is not None and self._source == "custom":
            self.banner.hide()
        elif self._predictor is not None:
            self.banner.show_message(
                "info",
                "Using torchvision's ImageNet ResNet-50",
                "It knows 1,000 everyday categories (dogs, cars, food…). To recognise <i>your</i> classes, "
                "train a model in the Train tab or open one with <b>Open model…</b>",
            )
        elif self._imagenet_state == "loading":
            self.banner.show_message("info", "Loading the ImageNet model…", "")
        elif self._imagenet_state == "failed":
            offline = "download" in self._imagenet_error.lower() or "unavailable" in self._imagenet_error.lower()
            reason = (
                "The ImageNet-pretrained ResNet-50 is not on this computer and could not be downloaded "
                "(no internet connection?)."
                if offline
                else "The ImageNet-pretrained ResNet-50 could not be loaded."
            )
            self.banner.show_message(
                "warning",
                "No model to classify with yet",
                f"{reason} To classify photos, <b>train a model</b> on your photos (Setup and Train), or "
                "<b>open one</b>: a run folder or a <i>model.safetensors</i> file."
                f"<br><span style='font-size:small'>Details: {fmt.escape(self._imagenet_error)}</span>",
                [("Open model…", self.open_model_file), ("Try again", self.use_imagenet_model)],
            )
        else:
            self.banner.show_message(
                "warning",
                "No model yet",
                "Train a model on your photos, or open one (a run folder or a <i>model.safetensors</i> file) "
                "with <b>Open model…</b>",
                [("Open model…", self.open_model_file)],
            )
        self._update_status()

    # ------------------------------------------------------------ predicting

    def _add_sources(self, sources: list[tuple[str, object, str | None]]) -> int:
        if not sources:
            self._flash("No images found there.")
            return 0
        self._batch += 1
        new = []
        for name, source, path in sources:
            self._next_id += 1
            new.append(PredictEntry(self._next_id, name, source, path, self._batch))
        self.results.add(new)
        self._queue.extend(e.id for e in new)
        self.stack.setCurrentWidget(self.view)
        if self.results.newest_first:
            self.view.scrollToTop()
        else:
            self.view.scrollToBottom()
        if self._predictor is None and self._load_task is None:
            self._maybe_load_imagenet()
        self._pump()
        self._update_status()
        return len(new)

    def _pump(self) -> None:
        """Start the worker on everything queued, unless one is running or there is no model."""
        if self._closed or self._predict_task is not None or self._predictor is None or not self._queue:
            return
        ids, self._queue = self._queue, []
        items = [(i, self.results.get(i).source) for i in ids if self.results.get(i) is not None]
        if not items:
            return
        self._generation += 1
        gen = self._generation
        holder: list[BackgroundTask] = []
        task = self._tasks.start(
            _predict,
            self._predictor,
            items,
            on_progress=lambda results: self._on_results(gen, results),
            on_error=lambda message: self._on_predict_failed(gen, [i for i, _ in items], message),
            on_finished=lambda: self._on_task_finished(holder[0] if holder else None),
            receiver=self,
            name="predict",
        )
        holder.append(task)
        self._predict_task = task
        self._update_status()

    def _on_results(self, gen: int, results: list) -> None:
        if gen != self._generation:
            return  # from a cancelled run (cleared, or the model changed)
        changed = []
        for entry_id, thumb, predictions, error in results:
            entry = self.results.get(entry_id)
            if entry is None:
                continue
            if thumb is not None:
                entry.thumb = thumb
                entry.pixmap = None
            entry.predictions = predictions
            entry.error = error
            entry.done = True
            changed.append(entry_id)
        self.results.changed(changed)
        self._update_status()
        if changed:
            if self.view.cam_enabled:
                self._queue_cams([i for i in changed if not self.results.get(i).error])
                current = self.view.currentIndex()
                if not current.isValid() or current.data(_ResultsModel.EntryRole).id in changed:
                    self._show_cam_for(current if current.isValid() else self.results.index(0))
            self.predictionsReady.emit(len(changed))

    def _on_predict_failed(self, gen: int, ids: list[int], message: str) -> None:
        if gen != self._generation:
            return
        left = [i for i in ids if self.results.get(i) is not None and not self.results.get(i).done]
        self._on_results(gen, [(i, None, [], f"prediction failed: {message}") for i in left])

    def _on_task_finished(self, task) -> None:
        if task is None or self._predict_task is task:
            self._predict_task = None
        self._update_status()
        self._pump()

    def _cancel_predict(self) -> None:
        """Drop the running job's results; the next job starts once its thread has ended."""
        self._generation += 1
        if self._predict_task is not None:
            self._predict_task.cancel()

    def _repredict_all(self) -> None:
        """After a model change: every entry again, with the new model."""
        self._cancel_predict()
        entries = self.results.entries()
        self._cam_generation += 1
        self._cam_queue.clear()
        for e in entries:
            e.done = False
            e.predictions = []
            e.error = None
            e.cam_class = None
            e.clear_cam()
        self._queue = [e.id for e in sorted(entries, key=lambda e: (e.batch, e.id))]
        self.results.changed([e.id for e in entries])
        self._pump()
        self._update_status()

    # ------------------------------------------------------------ Grad-CAM

    def _queue_cams(self, ids: list[int]) -> None:
        for i in ids:
            if i not in self._cam_queue:
                self._cam_queue.append(i)
        self._pump_cams()

    def _pump_cams(self) -> None:
        if self._closed or self._cam_task is not None or self._predictor is None or not self._cam_queue:
            return
        ids, self._cam_queue = self._cam_queue, []
        items = []
        for i in ids:
            e = self.results.get(i)
            if e is not None and e.done and not e.error:
                items.append((i, e.source, e.cam_class))
        if not items:
            return
        gen = self._cam_generation
        holder: list[BackgroundTask] = []
        task = self._tasks.start(
            _cam_thumbnails,
            self._predictor,
            items,
            on_progress=lambda results: self._on_cam_results(gen, results),
            on_finished=lambda: self._on_cam_task_finished(holder[0] if holder else None),
            receiver=self,
            name="grad-cam-thumbnails",
        )
        if task is not None:
            holder.append(task)
            self._cam_task = task

    def _on_cam_results(self, gen: int, results: list) -> None:
        if gen != self._cam_generation:
            return
        changed = []
        for entry_id, heat, class_index, label, crop in results:
            e = self.results.get(entry_id)
            if e is None or e.cam_class != class_index:
                continue  # removed, or another class was chosen meanwhile
            e.cam_heat, e.cam_pixmap, e.cam_label, e.cam_crop = heat, None, label, crop
            changed.append(entry_id)
        self.results.changed(changed)

    def _on_cam_task_finished(self, task) -> None:
        if task is None or self._cam_task is task:
            self._cam_task = None
        if self.view.cam_enabled:
            self._pump_cams()

    def _show_cam_for(self, index) -> None:
        if not self.view.cam_enabled:
            return
        entry = index.data(_ResultsModel.EntryRole) if index is not None and index.isValid() else None
        if entry is None:
            self.cam_view.clear("Select a result to see where the model looked.")
            return
        self.cam_view.set_title(entry.name)
        if entry.error:
            self.cam_view.clear("This file could not be read.")
        elif not entry.done or self._predictor is None:
            self.cam_view.clear("Waiting for the prediction…")
        else:
            self.cam_view.show_image(self._predictor, entry.source, entry.predictions, entry.cam_class)

    def _on_cam_class_chosen(self, class_index: int) -> None:
        index = self.view.currentIndex()
        entry = index.data(_ResultsModel.EntryRole) if index.isValid() else None
        if entry is None:
            return
        top = self._predictor.classes.index(entry.predictions[0][0]) if entry.predictions and self._predictor else None
        entry.cam_class = None if class_index == top else class_index
        entry.clear_cam()
        self.results.changed([entry.id])
        self._queue_cams([entry.id])

    def _on_cam_opacity(self, opacity: float) -> None:
        self.view.cam_opacity = opacity
        self.view.viewport().update()

    # ------------------------------------------------------------ misc

    def _update_status(self) -> None:
        entries = self.results.entries()
        if not entries:
            self.stack.setCurrentWidget(self.drop_hint)
            self.drop_hint.subtitle = "Files or whole folders · or use Add photos… · or paste with Ctrl+V"
            if self._predictor is None:
                self.drop_hint.subtitle += "\nPhotos dropped now are classified as soon as a model is ready."
            self.drop_hint.update()
        done = sum(1 for e in entries if e.done)
        errors = sum(1 for e in entries if e.done and e.error)
        waiting = len(entries) - done
        parts = []
        if entries:
            parts.append(f"{len(entries):,} photo{'s' if len(entries) != 1 else ''}")
        if errors:
            parts.append(f"{errors:,} could not be read")
        if waiting and self._predictor is None:
            parts.append(f"{waiting:,} waiting for a model")
            self.view.setProperty("waitingText", "Waiting for a model…")
        else:
            self.view.setProperty("waitingText", "Predicting…")
        running = self._predict_task is not None and waiting
        if running:
            parts.append(f"predicting… {done:,} of {len(entries):,}")
            self.progress.setRange(0, len(entries))
            self.progress.setValue(done)
        self.progress.setVisible(bool(running))
        self.status_label.setText("  ·  ".join(parts) if parts else "")
        self.export_button.setEnabled(done > 0)
        self.clear_button.setEnabled(bool(entries))

    def _flash(self, text: str) -> None:
        self.status_label.setText(text)
        QTimer.singleShot(4000, self._update_status)

    def _on_order_change(self) -> None:
        self.results.set_newest_first(bool(self.order_combo.currentData()))

    def _selected_entries(self) -> list[PredictEntry]:
        return [i.data(_ResultsModel.EntryRole) for i in self.view.selectionModel().selectedIndexes()]

    def _remove_selected(self) -> None:
        for e in self._selected_entries():
            self.results.remove(e.id)
            if e.id in self._queue:
                self._queue.remove(e.id)
        self._update_status()

    def _context_menu(self, pos) -> None:
        index = self.view.indexAt(pos)
        if not index.isValid():
            return
        if not self.view.selectionModel().isSelected(index):
            self.view.setCurrentIndex(index)
        entries = self._selected_entries()
        menu = QMenu(self)
        menu.addAction("Copy result", lambda: QGuiApplication.clipboard().setText(_entries_text(entries)))
        entry = index.data(_ResultsModel.EntryRole)
        if entry is not None and entry.path:
            menu.addAction("Show in folder", lambda: QDesktopServices.openUrl(QUrl.fromLocalFile(str(Path(entry.path).parent))))
        menu.addSeparator()
        menu.addAction("Remove", self._remove_selected)
        menu.exec(self.view.viewport().mapToGlobal(pos))


# ---------------------------------------------------------------- helpers


def _image_files(folder: Path) -> list[Path]:
    try:
        from resnet_studio.engine.data import list_image_files

        return list_image_files(folder)
    except ImportError:  # pragma: no cover - the engine is part of the package
        return sorted(p for p in folder.rglob("*") if p.suffix.lower() in IMAGE_SUFFIXES and not p.name.startswith("."))


def _describe(predictor) -> str:
    n = len(getattr(predictor, "classes", []) or [])
    depth = getattr(predictor, "depth", None)
    return f"ResNet-{depth} · {n:,} classes" if depth else f"{n:,} classes"


def _model_label_for(path: str) -> str:
    p = Path(path)
    folder = p if p.is_dir() else p.parent
    return folder.name


def _entries_text(entries: list[PredictEntry]) -> str:
    lines = []
    for e in entries:
        if e.error:
            lines.append(f"{e.path or e.name}\terror: {e.error}")
        else:
            lines.append(f"{e.path or e.name}\t" + "\t".join(f"{l} {fmt.percent(p)}" for l, p in e.predictions))
    return "\n".join(lines)


def _last_dir() -> str:
    return str(Path.home() / "Pictures") if (Path.home() / "Pictures").is_dir() else str(Path.home())


def _runs_dir() -> Path:
    from resnet_studio.engine.runs import default_runs_dir

    runs = default_runs_dir()
    return runs if runs.is_dir() else Path.home()
