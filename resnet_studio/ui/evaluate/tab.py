"""The Evaluate tab: where the model goes wrong, and why.

For the current run (or one opened from the history) the tab evaluates the saved
model on the run's validation split, in the background with progress; "Evaluate on
folder…" does the same on any folder in the class layout. It shows:

- accuracy, top-k accuracy, macro F1 and the number of mistakes;
- a sortable per-class table (precision, recall, F1, support);
- the confusion matrix as a heatmap (counts or row shares); clicking a cell filters
  the gallery to that pair (true -> predicted);
- the misclassified images, most confident mistakes first, as thumbnails read off the
  UI thread; selecting one shows its Grad-CAM for the predicted (or a chosen) class.

Everything that touches torch runs on BackgroundTasks (engine.evaluate, engine.explain).
"""

from __future__ import annotations

import os
from pathlib import Path

from PySide6.QtCore import (
    QAbstractListModel,
    QModelIndex,
    QRect,
    QRectF,
    QSize,
    QSortFilterProxyModel,
    Qt,
    QTimer,
    Signal,
)
from PySide6.QtGui import (
    QColor,
    QFont,
    QFontMetrics,
    QPainter,
    QPainterPath,
    QPalette,
    QPixmap,
    QStandardItem,
    QStandardItemModel,
)
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QFileDialog,
    QFrame,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QListView,
    QProgressBar,
    QPushButton,
    QSplitter,
    QStackedWidget,
    QStyle,
    QStyledItemDelegate,
    QStyleOptionViewItem,
    QTableView,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from .. import format as fmt
from ..cam_view import CamView
from ..images import load_thumbnail
from ..tasks import TaskGroup
from ..widgets import Banner, ElidedLabel, palette_colors
from .confusion_matrix import ConfusionMatrixView

__all__ = ["EvaluateTab", "GALLERY_LIMIT"]

THUMB = 112
GALLERY_LIMIT = 2000  # thumbnails listed at most (the most confident mistakes)
THUMB_CHUNK = 12


# ---------------------------------------------------------------- worker-thread functions


def _evaluate_run(task, run_dir: str, predictor=None):
    """Load the run's model (unless given) and evaluate it on the run's validation split."""
    from resnet_studio.engine import evaluate
    from resnet_studio.engine.predict import Predictor

    task.report(("stage", "Loading the model…"))
    if predictor is None:
        predictor = Predictor.from_path(run_dir)
    task.check()
    task.report(("stage", "Finding the validation images…"))
    samples, skipped, source = evaluate.validation_samples(run_dir, predictor.classes)
    return predictor, _run(task, predictor, samples, skipped, source)


def _evaluate_folder(task, folder: str, predictor):
    from resnet_studio.engine import evaluate

    task.report(("stage", "Listing the images…"))
    samples, skipped, source = evaluate.folder_samples(folder, predictor.classes)
    return predictor, _run(task, predictor, samples, skipped, source)


def _run(task, predictor, samples, skipped, source):
    from resnet_studio.engine import evaluate

    task.report(("stage", f"Evaluating {len(samples):,} images…"))
    return evaluate.evaluate(
        predictor,
        samples,
        skipped=skipped,
        source=source,
        check=task.check,
        progress=lambda done, total: task.report(("progress", done, total)),
    )


def _thumbnails(task, paths: list[str]) -> None:
    from resnet_studio.engine.errors import StudioError

    for start in range(0, len(paths), THUMB_CHUNK):
        task.check()
        out = []
        for path in paths[start : start + THUMB_CHUNK]:
            try:
                out.append((path, load_thumbnail(path, THUMB)))
            except StudioError:
                out.append((path, None))
        task.report(out)


# ---------------------------------------------------------------- pieces


class _Stat(QWidget):
    """A caption over a big number."""

    def __init__(self, caption: str) -> None:
        super().__init__()
        self.caption = QLabel(caption.upper())
        font = self.caption.font()
        font.setPointSizeF(font.pointSizeF() * 0.78)
        font.setBold(True)
        self.caption.setFont(font)
        self.caption.setForegroundRole(QPalette.ColorRole.PlaceholderText)
        self.value = QLabel("—")
        font = self.value.font()
        font.setPointSizeF(font.pointSizeF() * 1.6)
        self.value.setFont(font)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 18, 0)
        layout.setSpacing(0)
        layout.addWidget(self.caption)
        layout.addWidget(self.value)

    def set(self, text: str, tip: str = "") -> None:
        self.value.setText(text)
        self.setToolTip(tip)


class _Box(QFrame):
    """A titled area with room for controls on the right of its title."""

    def __init__(self, title: str, body: QWidget, controls: list[QWidget] = ()) -> None:
        super().__init__()
        self.title = QLabel(title)
        font = self.title.font()
        font.setBold(True)
        self.title.setFont(font)
        self.title.setMinimumHeight(26)
        head = QHBoxLayout()
        head.setContentsMargins(0, 0, 0, 0)
        head.addWidget(self.title)
        head.addStretch(1)
        for w in controls:
            head.addWidget(w)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(6)
        layout.addLayout(head)
        layout.addWidget(body, 1)


class _SortProxy(QSortFilterProxyModel):
    def lessThan(self, left, right) -> bool:  # noqa: N802
        a, b = left.data(Qt.ItemDataRole.UserRole), right.data(Qt.ItemDataRole.UserRole)
        if a is None or b is None:
            return super().lessThan(left, right)
        return a < b


class _GalleryModel(QAbstractListModel):
    SampleRole = Qt.ItemDataRole.UserRole + 1

    def __init__(self) -> None:
        super().__init__()
        self.samples: list = []
        self.classes: list[str] = []
        self.thumbs: dict[str, QPixmap | None] = {}
        self.request = lambda path: None  # asks for a thumbnail the view is about to show

    def rowCount(self, parent=QModelIndex()) -> int:  # noqa: N802
        return 0 if parent.isValid() else len(self.samples)

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

    def thumbs_arrived(self, paths: set[str]) -> None:
        rows = [i for i, s in enumerate(self.samples) if s.path in paths]
        if rows:
            self.dataChanged.emit(self.index(min(rows)), self.index(max(rows)))


class _GalleryDelegate(QStyledItemDelegate):
    """A thumbnail, then 'true → predicted' and the confidence."""

    PAD = 6

    def sizeHint(self, option: QStyleOptionViewItem, index: QModelIndex) -> QSize:  # noqa: N802
        fm = QFontMetrics(option.font)
        return QSize(THUMB + 2 * self.PAD + 8, THUMB + 2 * self.PAD + 2 * fm.height() + 6)

    def paint(self, painter: QPainter, option: QStyleOptionViewItem, index: QModelIndex) -> None:
        sample = index.data(_GalleryModel.SampleRole)
        if sample is None:
            return
        model: _GalleryModel = index.model()
        colors = palette_colors(option.widget)
        painter.save()
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        rect = QRect(option.rect)
        if option.state & QStyle.StateFlag.State_Selected:
            sel = QColor(colors["accent"])
            sel.setAlpha(60)
            painter.setBrush(sel)
            painter.setPen(Qt.PenStyle.NoPen)
            painter.drawRoundedRect(QRectF(rect).adjusted(1, 1, -1, -1), 6, 6)
        elif option.state & QStyle.StateFlag.State_MouseOver:
            hover = QColor(colors["track"])
            painter.setBrush(hover)
            painter.setPen(Qt.PenStyle.NoPen)
            painter.drawRoundedRect(QRectF(rect).adjusted(1, 1, -1, -1), 6, 6)
        box = QRectF(rect.left() + (rect.width() - THUMB) / 2, rect.top() + self.PAD, THUMB, THUMB)
        clip = QPainterPath()
        clip.addRoundedRect(box, 5, 5)
        painter.fillPath(clip, colors["track"])
        if sample.path not in model.thumbs:
            model.request(sample.path)  # only what is on screen is read
        pm = model.thumbs.get(sample.path)
        if pm is not None and not pm.isNull():
            ratio = min(THUMB / pm.width(), THUMB / pm.height())
            w, h = pm.width() * ratio, pm.height() * ratio
            painter.save()
            painter.setClipPath(clip)
            painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
            painter.drawPixmap(QRectF(box.center().x() - w / 2, box.center().y() - h / 2, w, h), pm, QRectF(pm.rect()))
            painter.restore()
        # the confidence as a badge on the picture
        conf = fmt.percent(sample.confidence)
        small = QFont(option.font)
        small.setPointSizeF(small.pointSizeF() * 0.85)
        small.setBold(True)
        painter.setFont(small)
        sfm = QFontMetrics(small)
        badge = QRectF(box.right() - sfm.horizontalAdvance(conf) - 12, box.top() + 4, sfm.horizontalAdvance(conf) + 8, sfm.height() + 2)
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(QColor(0, 0, 0, 160))
        painter.drawRoundedRect(badge, 4, 4)
        painter.setPen(QColor("white"))
        painter.drawText(badge, Qt.AlignmentFlag.AlignCenter, conf)
        # labels
        fm = QFontMetrics(option.font)
        text_w = rect.width() - 2 * self.PAD
        y = box.bottom() + 4
        painter.setFont(option.font)
        painter.setPen(colors["muted"])
        true_text = fm.elidedText(f"true: {model.classes[sample.true]}", Qt.TextElideMode.ElideRight, text_w)
        painter.drawText(QRectF(rect.left() + self.PAD, y, text_w, fm.height()), Qt.AlignmentFlag.AlignLeft, true_text)
        bold = QFont(option.font)
        bold.setBold(True)
        painter.setFont(bold)
        painter.setPen(colors["error"] if not sample.correct else colors["text"])
        pred_text = QFontMetrics(bold).elidedText(f"→ {model.classes[sample.pred]}", Qt.TextElideMode.ElideRight, text_w)
        painter.drawText(QRectF(rect.left() + self.PAD, y + fm.height(), text_w, fm.height()), Qt.AlignmentFlag.AlignLeft, pred_text)
        painter.restore()


# ---------------------------------------------------------------- the tab


class EvaluateTab(QWidget):
    """Metrics, confusion matrix and mistakes of the current (or an opened) run's model."""

    evaluationReady = Signal(object)  # engine Evaluation
    busyChanged = Signal(bool)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._tasks = TaskGroup()
        self._task = None
        self._thumb_task = None
        self._thumb_queue: list[str] = []
        self._thumb_timer = QTimer(self)
        self._thumb_timer.setSingleShot(True)
        self._thumb_timer.setInterval(0)
        self._thumb_timer.timeout.connect(self._pump_thumbnails)
        self._generation = 0
        self._predictor = None
        self._predictor_run: str | None = None
        self._run_dir: str | None = None
        self._pending_run: str | None = None
        self._recorded_acc: float | None = None
        self._label = ""
        self.evaluation = None
        self.last_error = ""
        self._filter: tuple[int | None, int | None] = (None, None)
        self._build()
        self._show_empty()

    # ------------------------------------------------------------ layout

    def _build(self) -> None:
        self.title_label = ElidedLabel(mode=Qt.TextElideMode.ElideRight)
        font = self.title_label.font()
        font.setBold(True)
        font.setPointSizeF(font.pointSizeF() * 1.1)
        self.title_label.setFont(font)
        self.source_label = ElidedLabel(mode=Qt.TextElideMode.ElideMiddle)
        self.source_label.setForegroundRole(QPalette.ColorRole.PlaceholderText)
        titles = QVBoxLayout()
        titles.setSpacing(0)
        titles.addWidget(self.title_label)
        titles.addWidget(self.source_label)

        self.folder_button = QPushButton("Evaluate on folder…")
        self.folder_button.setToolTip("Measure the model on another folder of labelled photos (one subfolder per class)")
        self.folder_button.clicked.connect(self.choose_folder)
        self.val_button = QPushButton("Validation split")
        self.val_button.setToolTip("Measure the model on the images its run validated on")
        self.val_button.clicked.connect(lambda: self._run_dir and self.evaluate_run(self._run_dir))
        self.export_button = QPushButton("Export…")
        self.export_button.setToolTip("Export this run's model to ONNX or TorchScript, checked against PyTorch")
        self.export_button.clicked.connect(self.open_export_dialog)
        self.export_dialog = None
        self.open_button = QToolButton()
        self.open_button.setText("Open run…")
        self.open_button.setToolTip("Evaluate the model of another run folder")
        self.open_button.clicked.connect(self.choose_run)
        self.progress = QProgressBar()
        self.progress.setFixedWidth(150)
        self.progress.setTextVisible(False)
        self.progress.setFixedHeight(10)
        self.status_label = QLabel()
        self.status_label.setForegroundRole(QPalette.ColorRole.PlaceholderText)
        self.cancel_button = QPushButton("Cancel")
        self.cancel_button.clicked.connect(self.cancel)
        head = QHBoxLayout()
        head.setSpacing(8)
        head.addLayout(titles, 1)
        head.addWidget(self.status_label)
        head.addWidget(self.progress)
        head.addWidget(self.cancel_button)
        head.addWidget(self.val_button)
        head.addWidget(self.folder_button)
        head.addWidget(self.export_button)
        head.addWidget(self.open_button)

        self.stat_acc = _Stat("Accuracy")
        self.stat_topk = _Stat("Top-5 accuracy")
        self.stat_f1 = _Stat("Macro F1")
        self.stat_images = _Stat("Images")
        self.stat_mistakes = _Stat("Mistakes")
        stats = QHBoxLayout()
        stats.setSpacing(10)
        for s in (self.stat_acc, self.stat_topk, self.stat_f1, self.stat_images, self.stat_mistakes):
            stats.addWidget(s)
        stats.addStretch(1)

        self.banner = Banner()

        # confusion matrix
        self.matrix = ConfusionMatrixView()
        self.matrix.cellSelected.connect(self._on_cell_selected)
        self.normalized_check = QCheckBox("Normalized")
        self.normalized_check.setToolTip("Show each cell as a share of its true class's images")
        self.normalized_check.toggled.connect(self.matrix.set_normalized)
        matrix_box = _Box("Confusion matrix", self.matrix, [self.normalized_check])

        # per-class table
        self.class_model = QStandardItemModel(0, 5)
        self.class_model.setHorizontalHeaderLabels(["Class", "Precision", "Recall", "F1", "Support"])
        self.class_proxy = _SortProxy()
        self.class_proxy.setSourceModel(self.class_model)
        self.class_table = QTableView()
        self.class_table.setModel(self.class_proxy)
        self.class_table.setSortingEnabled(True)
        self.class_table.sortByColumn(0, Qt.SortOrder.AscendingOrder)
        self.class_table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.class_table.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.class_table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.class_table.setAlternatingRowColors(True)
        self.class_table.verticalHeader().setVisible(False)
        self.class_table.verticalHeader().setDefaultSectionSize(QFontMetrics(self.font()).height() + 8)
        header = self.class_table.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        for c in range(1, 5):
            header.setSectionResizeMode(c, QHeaderView.ResizeMode.ResizeToContents)
        self.class_table.clicked.connect(self._on_class_clicked)
        table_box = _Box("Per class", self.class_table)

        top = QSplitter(Qt.Orientation.Horizontal)
        top.setChildrenCollapsible(False)
        top.addWidget(matrix_box)
        top.addWidget(table_box)
        top.setStretchFactor(0, 3)
        top.setStretchFactor(1, 2)
        top.setSizes([560, 380])
        self.top_splitter = top

        # gallery and Grad-CAM
        self.gallery_model = _GalleryModel()
        self.gallery_model.request = self._request_thumbnail
        self.gallery = QListView()
        self.gallery.setModel(self.gallery_model)
        self.gallery.setItemDelegate(_GalleryDelegate(self.gallery))
        self.gallery.setViewMode(QListView.ViewMode.IconMode)
        self.gallery.setResizeMode(QListView.ResizeMode.Adjust)
        self.gallery.setMovement(QListView.Movement.Static)
        self.gallery.setUniformItemSizes(True)
        self.gallery.setSpacing(4)
        self.gallery.setMouseTracking(True)
        self.gallery.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.gallery.setVerticalScrollMode(QAbstractItemView.ScrollMode.ScrollPerPixel)
        self.gallery.selectionModel().currentChanged.connect(lambda current, _prev: self._on_gallery_current(current))
        self.gallery_empty = QLabel()
        self.gallery_empty.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.gallery_empty.setWordWrap(True)
        self.gallery_empty.setForegroundRole(QPalette.ColorRole.PlaceholderText)
        self.gallery_stack = QStackedWidget()
        self.gallery_stack.addWidget(self.gallery_empty)
        self.gallery_stack.addWidget(self.gallery)
        self.clear_filter_button = QPushButton("Show all mistakes")
        self.clear_filter_button.clicked.connect(self.clear_filter)
        self.gallery_box = _Box("Misclassified", self.gallery_stack, [self.clear_filter_button])
        self.cam_view = CamView()
        self.cam_view.setMinimumWidth(260)
        bottom = QSplitter(Qt.Orientation.Horizontal)
        bottom.setChildrenCollapsible(False)
        bottom.addWidget(self.gallery_box)
        bottom.addWidget(self.cam_view)
        bottom.setStretchFactor(0, 3)
        bottom.setStretchFactor(1, 2)
        bottom.setSizes([620, 340])
        self.bottom_splitter = bottom

        body = QSplitter(Qt.Orientation.Vertical)
        body.setChildrenCollapsible(False)
        body.addWidget(top)
        body.addWidget(bottom)
        body.setStretchFactor(0, 5)
        body.setStretchFactor(1, 4)
        self.body_splitter = body

        self.empty_label = QLabel()
        self.empty_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty_label.setWordWrap(True)
        self.empty_label.setForegroundRole(QPalette.ColorRole.PlaceholderText)
        self.stack = QStackedWidget()
        self.stack.addWidget(self.empty_label)
        self.stack.addWidget(body)

        self.stats_widget = QWidget()
        self.stats_widget.setLayout(stats)
        stats.setContentsMargins(0, 0, 0, 0)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(12, 10, 12, 8)
        layout.setSpacing(10)
        layout.addLayout(head)
        layout.addWidget(self.banner)
        layout.addWidget(self.stats_widget)
        layout.addWidget(self.stack, 1)

    # ------------------------------------------------------------ public

    def set_run(self, run_dir: str | None, label: str = "") -> None:
        """Follow this run: its model is evaluated on its validation split (when the tab is
        visible, or at once if it is). None: forget the run."""
        if run_dir is None:
            self.cancel()
            self._run_dir = self._pending_run = None
            self._show_empty()
            return
        self._run_dir = str(run_dir)
        self._label = label or Path(run_dir).name
        if self.isVisible():
            self.evaluate_run(self._run_dir)
        else:
            self._pending_run = self._run_dir
            self.title_label.setText(self._label)
            self.source_label.setText("Evaluated when you open this tab")

    def run_dir(self) -> str | None:
        return self._run_dir

    def evaluate_run(self, run_dir: str) -> None:
        """Evaluate a run's model on its validation split, in the background."""
        self._pending_run = None
        self._run_dir = str(run_dir)
        if not (Path(run_dir) / "model.safetensors").exists():  # a folder in its place: the load says so
            self._show_empty(f"{Path(run_dir).name} has no saved model yet: it is saved when an epoch finishes.")
            return
        self._label = self._label if self._label and self._label.startswith(Path(run_dir).name) else Path(run_dir).name
        self._recorded_acc = _recorded_accuracy(run_dir)
        predictor = self._predictor if self._predictor_run == os.path.normpath(run_dir) else None
        self._start(_evaluate_run, str(run_dir), predictor, what=f"the validation split of {Path(run_dir).name}")

    def evaluate_folder(self, folder: str) -> None:
        """Evaluate the current model on a folder in the class layout, in the background."""
        if self._predictor is None:
            self.banner.show_message("warning", "No model to evaluate yet", "Open a run first (History tab, or Open run…).")
            return
        self._recorded_acc = None
        self._start(_evaluate_folder, str(folder), self._predictor, what=Path(folder).name)

    def is_busy(self) -> bool:
        return self._task is not None

    def is_loading_thumbnails(self) -> bool:
        return self._thumb_task is not None or bool(self._thumb_queue) or self._thumb_timer.isActive()

    def predictor(self):
        return self._predictor

    def cancel(self) -> None:
        self._generation += 1
        if self._task is not None:
            self._task.cancel()
            self._task = None
            self.source_label.setText("Evaluation cancelled" + (": showing the previous one" if self.evaluation else ""))
        self._set_busy(False)

    def shutdown(self, timeout_ms: int = 10_000) -> bool:
        self._generation += 1
        self._task = None
        self._thumb_task = None
        ok = self.cam_view.shutdown(timeout_ms)
        if self.export_dialog is not None:
            ok = self.export_dialog.shutdown(max(timeout_ms, 60_000)) and ok
        return self._tasks.shutdown(timeout_ms) and ok

    def gallery_samples(self) -> list:
        return list(self.gallery_model.samples)

    def current_filter(self) -> tuple[int | None, int | None]:
        return self._filter

    def set_filter(self, true: int | None, pred: int | None) -> None:
        """Show the images of one (true, predicted) pair; (None, None): every mistake."""
        ev = self.evaluation
        if ev is None:
            return
        self._filter = (true, pred)
        if true is not None and pred is not None:
            samples = ev.cell(true, pred)
            if true == pred:
                samples = sorted(samples, key=lambda s: (s.confidence, s.path))  # the shakiest first
                title = f"Correct: {ev.classes[true]} · least confident first"
            else:
                title = f"{ev.classes[true]} predicted as {ev.classes[pred]} · most confident first"
        elif true is not None:
            samples = ev.mistakes(true=true)
            title = f"Misclassified {ev.classes[true]} · most confident first"
        else:
            samples = ev.mistakes()
            title = "Misclassified · most confident first"
        shown = samples[:GALLERY_LIMIT]
        more = f" (the first {GALLERY_LIMIT:,} of {len(samples):,})" if len(samples) > GALLERY_LIMIT else f" ({len(samples):,})"
        self.gallery_box.title.setText(title + more)
        self.gallery_model.set_samples(shown, ev.classes)
        self.clear_filter_button.setVisible(true is not None)
        self._thumb_queue.clear()  # what the last view wanted and has not got: its paint asks again
        if shown:
            self.gallery_stack.setCurrentWidget(self.gallery)
            self.gallery.setCurrentIndex(self.gallery_model.index(0))
        else:
            self.gallery_empty.setText("No images here." if true is not None else "No mistakes: every image was classified correctly.")
            self.gallery_stack.setCurrentWidget(self.gallery_empty)
            self.cam_view.clear("No image selected.")
        if (true is None or pred is None) and self.matrix.selection() is not None:
            self.matrix.blockSignals(True)
            self.matrix.select_cell(-1, -1)
            self.matrix.blockSignals(False)

    def clear_filter(self) -> None:
        self.set_filter(None, None)

    def choose_folder(self) -> None:
        start = str(Path.home())
        folder = QFileDialog.getExistingDirectory(self, "Evaluate on a folder of labelled photos", start)
        if folder:
            self.evaluate_folder(folder)

    def open_export_dialog(self):
        """The export dialog for this run's model (window-modal, not blocking); returns it."""
        from ..history.export_dialog import ExportDialog

        if self._run_dir is None:
            return None
        if self.export_dialog is not None and self.export_dialog.is_busy():
            self.export_dialog.raise_()
            return self.export_dialog
        self.export_dialog = ExportDialog(self._run_dir, self)
        self.export_dialog.setWindowModality(Qt.WindowModality.WindowModal)
        self.export_dialog.show()
        return self.export_dialog

    def choose_run(self) -> None:
        from resnet_studio.engine.runs import default_runs_dir

        runs = default_runs_dir()
        folder = QFileDialog.getExistingDirectory(self, "Open a run folder", str(runs if runs.is_dir() else Path.home()))
        if folder:
            self._label = ""
            self.evaluate_run(folder)

    # ------------------------------------------------------------ running

    def _start(self, fn, target: str, predictor, what: str) -> None:
        self.cancel()
        self._generation += 1
        gen = self._generation
        self.banner.hide()
        self.last_error = ""
        self.title_label.setText(self._describe_model(predictor))
        self.source_label.setText(f"Evaluating {what}…")
        self._set_busy(True, "Starting…")
        self._task = self._tasks.start(
            fn,
            target,
            predictor,
            on_progress=lambda message: self._on_progress(gen, message),
            on_result=lambda result: self._on_result(gen, target, fn is _evaluate_run, result),
            on_error=lambda message: self._on_error(gen, message),
            on_cancelled=lambda: self._on_cancelled(gen),
            receiver=self,
            name="evaluate",
        )

    def _on_progress(self, gen: int, message) -> None:
        if gen != self._generation:
            return
        kind = message[0]
        if kind == "stage":
            self.status_label.setText(message[1])
            self.progress.setRange(0, 0)
        else:
            done, total = message[1], message[2]
            self.progress.setRange(0, max(1, total))
            self.progress.setValue(done)
            verb = "Checking files" if kind == "scan" else "Evaluating"
            self.status_label.setText(f"{verb}… {done:,} of {total:,}")

    def _on_result(self, gen: int, target: str, is_run: bool, result) -> None:
        if gen != self._generation:
            return
        self._task = None
        self._set_busy(False)
        predictor, evaluation = result
        self._predictor = predictor
        if is_run:
            self._predictor_run = os.path.normpath(target)
        self.show_evaluation(evaluation)

    def _on_error(self, gen: int, message: str) -> None:
        if gen != self._generation:
            return
        self._task = None
        self._set_busy(False)
        self.last_error = message
        self.source_label.setText("")
        self.banner.show_message("error", "Could not evaluate", fmt.escape(message), [("Choose a folder…", self.choose_folder)] if self._predictor else [])

    def _on_cancelled(self, gen: int) -> None:
        if gen != self._generation:
            return
        self._task = None
        self._set_busy(False)

    def _set_busy(self, busy: bool, text: str = "") -> None:
        self.progress.setVisible(busy)
        self.cancel_button.setVisible(busy)
        self.status_label.setText(text if busy else "")
        self.folder_button.setEnabled(not busy and self._predictor is not None)
        self.val_button.setEnabled(not busy and self._run_dir is not None)
        self.val_button.setVisible(self._run_dir is not None)
        has_model = self._run_dir is not None and (Path(self._run_dir) / "model.safetensors").is_file()
        self.export_button.setEnabled(has_model)
        self.busyChanged.emit(busy)

    # ------------------------------------------------------------ showing

    def show_evaluation(self, ev) -> None:
        """Fill every view from an engine Evaluation."""
        self.evaluation = ev
        self.gallery_model.thumbs.clear()  # files may have changed since; the cache stays small
        self.stack.setCurrentIndex(1)
        self.stats_widget.setVisible(True)
        self.title_label.setText(self._describe_model(self._predictor))
        recorded = ""
        if self._recorded_acc is not None:
            recorded = f" · the run recorded {self._recorded_acc:.1%} while training"
        skipped = f" · {len(ev.skipped):,} skipped" if ev.skipped else ""
        self.source_label.setText(f"{_capital(ev.source)}: {ev.num_images:,} images, {len(ev.classes)} classes{skipped}{recorded}")
        self.source_label.setToolTip(
            "\n".join([ev.source] + [f"skipped {s.path}: {s.reason}" for s in ev.skipped[:30]])
            + ("\nAccuracy is measured here with the prediction pipeline (as the Predict tab and "
               "`resnet-studio predict` see images); small differences from training's figure come "
               "from how images were decoded." if recorded else "")
        )
        mistakes = sum(1 for s in ev.samples if not s.correct)
        self.stat_acc.set(f"{ev.accuracy:.1%}", f"{ev.num_images - mistakes:,} of {ev.num_images:,} images right")
        self.stat_topk.caption.setText(f"TOP-{ev.topk} ACCURACY")
        self.stat_topk.set(f"{ev.topk_accuracy:.1%}", f"The true class is among the {ev.topk} most likely")
        self.stat_topk.setVisible(ev.topk > 1)
        self.stat_f1.set(f"{ev.macro_f1:.3f}", "The mean F1 of the classes: every class counts the same")
        self.stat_images.set(f"{ev.num_images:,}")
        self.stat_mistakes.set(f"{mistakes:,}")
        self.matrix.set_data(ev.classes, ev.confusion)
        self.matrix.set_normalized(self.normalized_check.isChecked())
        self._fill_class_table(ev)
        self.set_filter(None, None)
        self.folder_button.setEnabled(True)
        self.evaluationReady.emit(ev)

    def _fill_class_table(self, ev) -> None:
        self.class_model.removeRows(0, self.class_model.rowCount())
        colors = palette_colors(self)
        for i, c in enumerate(ev.per_class):
            name = QStandardItem(c.name)
            name.setData(c.name.lower(), Qt.ItemDataRole.UserRole)
            name.setData(i, Qt.ItemDataRole.UserRole + 1)
            row = [name]
            for value in (c.precision, c.recall, c.f1):
                item = QStandardItem(f"{value:.1%}" if value < 1 else "100%")
                item.setData(float(value), Qt.ItemDataRole.UserRole)
                item.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
                if c.support and value < 0.5:
                    item.setForeground(colors["error"])
                row.append(item)
            support = QStandardItem(f"{c.support:,}")
            support.setData(int(c.support), Qt.ItemDataRole.UserRole)
            support.setTextAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            row.append(support)
            self.class_model.appendRow(row)
        self.class_table.sortByColumn(self.class_table.horizontalHeader().sortIndicatorSection(),
                                      self.class_table.horizontalHeader().sortIndicatorOrder())

    def _show_empty(self, text: str = "") -> None:
        self.evaluation = None
        self.stack.setCurrentIndex(0)
        self.stats_widget.setVisible(False)
        self.title_label.setText("No model yet")
        self.source_label.setText("")
        self.empty_label.setText(
            text
            or "Train a model, or open a run from the History tab: its model is measured here on the "
            "images it validated on.\n\nYou will see the accuracy, each class's precision and recall, the "
            "confusion matrix, and the images it got wrong with a heatmap of where it looked."
        )
        self._set_busy(False)

    def _describe_model(self, predictor) -> str:
        if predictor is None:
            return self._label or "Model"
        depth = getattr(predictor, "depth", None)
        what = f"ResNet-{depth}" if depth else "Model"
        return f"{what} · {self._label}" if self._label else what

    # ------------------------------------------------------------ interaction

    def _on_cell_selected(self, true: int, pred: int) -> None:
        if true < 0:
            self.set_filter(None, None)
        else:
            self.set_filter(true, pred)

    def _on_class_clicked(self, index) -> None:
        source = self.class_proxy.mapToSource(index)
        item = self.class_model.item(source.row(), 0)
        if item is not None and self.evaluation is not None:
            self.set_filter(int(item.data(Qt.ItemDataRole.UserRole + 1)), None)

    def _on_gallery_current(self, index) -> None:
        sample = index.data(_GalleryModel.SampleRole) if index.isValid() else None
        if sample is None or self._predictor is None or self.evaluation is None:
            return
        classes = self.evaluation.classes
        predictions = [(classes[i], p) for i, p in sample.topk]
        self.cam_view.set_title(Path(sample.path).name)
        self.cam_view.show_image(self._predictor, sample.path, predictions, sample.pred, classes[sample.true])

    # ------------------------------------------------------------ thumbnails

    def _request_thumbnail(self, path: str) -> None:
        """From the delegate's paint: read it soon (a task is never started inside a paint)."""
        if path not in self._thumb_queue:
            self._thumb_queue.append(path)
            self._thumb_timer.start()

    def _pump_thumbnails(self) -> None:
        if self._thumb_task is not None or not self._thumb_queue:
            return
        cache = self.gallery_model.thumbs
        paths = [p for p in self._thumb_queue if p not in cache]
        self._thumb_queue = []
        if not paths:
            return
        holder = []
        task = self._tasks.start(
            _thumbnails,
            paths,
            on_progress=self._on_thumbnails,
            on_finished=lambda: self._on_thumbs_finished(holder[0] if holder else None),
            receiver=self,
            name="thumbnails",
        )
        if task is not None:
            holder.append(task)
            self._thumb_task = task

    def _on_thumbnails(self, items) -> None:
        arrived = set()
        for path, image in items:
            if path in self._thumb_queue:
                self._thumb_queue.remove(path)
            self.gallery_model.thumbs[path] = QPixmap.fromImage(image) if image is not None else None
            arrived.add(path)
        self.gallery_model.thumbs_arrived(arrived)

    def _on_thumbs_finished(self, task) -> None:
        if task is None or task is self._thumb_task:
            self._thumb_task = None
        self._pump_thumbnails()

    # ------------------------------------------------------------ Qt

    def showEvent(self, event) -> None:  # noqa: N802
        super().showEvent(event)
        if self._pending_run and self._task is None:
            self.evaluate_run(self._pending_run)


def _recorded_accuracy(run_dir: str) -> float | None:
    from resnet_studio.engine.runs import RunRecord

    return RunRecord.load(run_dir).best_val_acc


def _capital(text: str) -> str:
    return text[:1].upper() + text[1:]
