"""Drop photos, see what the model thinks: thumbnails with top-5 probability bars.

Photos are read and predicted off the UI thread, one job at a time in the order they
came, results appearing chunk by chunk (jobs.py); their thumbnails are made by a job of
their own, so a photo waiting for its prediction (or for a model) shows its picture. A
file that cannot be read becomes an error entry. Another model predicts every photo
again; clearing drops what is pending. Ctrl+V pastes whenever the tab is shown; dropped
files are taken as a copy (the file manager keeps them).
With no fine-tuned model the tab offers torchvision's ImageNet ResNet-50 when its weights
are available, and says clearly what to do when they are not (model_picker.py).

The Grad-CAM button lays each result's heatmap over its thumbnail (computed in the
background, for the top class or the class chosen for that image) and opens a side pane
with the selected image large, an opacity slider and a class chooser (cam_view.py).
"""

from __future__ import annotations

import os
from pathlib import Path

from PySide6.QtCore import QBuffer, QIODevice, QMimeData, Qt, QTimer, QUrl, Signal
from PySide6.QtGui import QGuiApplication, QImage, QKeySequence, QShortcut
from PySide6.QtWidgets import (
    QComboBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QMenu,
    QProgressBar,
    QPushButton,
    QSplitter,
    QStackedWidget,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from resnet_studio.engine.data import IMAGE_EXTENSIONS, list_image_files

from .. import format as fmt
from ..cam_view import CamView
from ..tasks import TaskGroup
from ..widgets import local_paths, open_folder
from .heatmaps import Heatmaps
from .jobs import TOPK, load_thumbnails, predict_images
from .model_picker import ModelPicker
from .results import DROP_HINT_TEXT, DropHint, PredictEntry, ResultsModel, ResultsView

__all__ = ["PredictTab", "PredictEntry"]

IMAGE_FILTER = f"Images ({' '.join('*' + suffix for suffix in sorted(IMAGE_EXTENSIONS))});;All files (*)"
NO_IMAGE = "The clipboard holds no image or image file to classify."


class PredictTab(QWidget):
    """Classify photos with the model just trained, one opened from disk, or ImageNet's."""

    predictionsReady = Signal(int)  # results that just appeared (after each chunk)
    modelChanged = Signal(str)  # the label of the model in use ("" for none)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setAcceptDrops(True)
        self._tasks = TaskGroup()
        self._predicting = self._tasks.slot("predict")
        self._thumbnailing = self._tasks.slot("thumbnails")
        self._queue: list[int] = []  # entry ids waiting to be predicted
        self._thumb_queue: list[int] = []  # entry ids waiting for a thumbnail
        self._next_id = 0
        self._batch = 0
        self._paste_count = 0
        self._build()
        self._update_status()

    # ------------------------------------------------------------ layout

    def _build(self) -> None:
        self.model_picker = ModelPicker(self._tasks)
        self.model_picker.predictorChanged.connect(self._on_model_changed)
        self.model_picker.updated.connect(self._update_status)
        self.banner = self.model_picker.banner

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
        self.cam_button = QPushButton("Grad-CAM")
        self.cam_button.setCheckable(True)
        self.cam_button.setToolTip(
            "Show where each picture's evidence comes from: a Grad-CAM heatmap over the thumbnails, "
            "and the selected picture large with a class chooser"
        )
        self.cam_button.toggled.connect(self.set_cam_enabled)
        self.export_button = QPushButton("Export CSV…")
        self.export_button.setToolTip("Save every result (file, top classes and probabilities) as a CSV file")
        self.export_button.clicked.connect(self.export_csv)
        self.clear_button = QPushButton("Clear")
        self.clear_button.setToolTip("Remove every result")
        self.clear_button.clicked.connect(self.clear)
        bar = QHBoxLayout()
        bar.setSpacing(8)
        bar.addWidget(self.model_picker, 1)
        for w in (self.add_button, self.paste_button, self.order_combo, self.cam_button, self.export_button, self.clear_button):
            bar.addWidget(w)

        self.results = ResultsModel()
        self.view = ResultsView()
        self.view.setModel(self.results)
        self.view.customContextMenuRequested.connect(self._context_menu)
        self.drop_hint = DropHint()
        self.stack = QStackedWidget()
        self.stack.addWidget(self.drop_hint)
        self.stack.addWidget(self.view)
        self.cam_view = CamView(title="")
        self.cam_view.toggle.hide()  # the Grad-CAM button is the toggle here
        self.cam_view.setMinimumWidth(280)
        self.cam_view.hide()
        self.heatmaps = Heatmaps(self._tasks, self.view, self.cam_view, self.predictor)
        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.setChildrenCollapsible(False)
        self.splitter.addWidget(self.stack)
        self.splitter.addWidget(self.cam_view)
        self.splitter.setStretchFactor(0, 3)
        self.splitter.setStretchFactor(1, 2)

        self.status_label = QLabel()
        self.progress = QProgressBar()
        self.progress.setFixedWidth(160)
        self.progress.setFixedHeight(8)
        self.progress.setTextVisible(False)
        self.progress.hide()
        status = QHBoxLayout()
        status.setSpacing(8)
        status.addWidget(self.status_label, 1)
        status.addWidget(self.progress)

        col = QVBoxLayout(self)
        col.setContentsMargins(12, 10, 12, 8)
        col.setSpacing(8)
        col.addLayout(bar)
        col.addWidget(self.banner)
        col.addWidget(self.splitter, 1)
        col.addLayout(status)

        # the whole window's while the tab is shown (a shortcut of a hidden widget is off), not only
        # once the focus is inside it: the tab bar keeps the focus when the tab is chosen; a text
        # field that has the focus still pastes into itself
        self.paste_shortcut = QShortcut(QKeySequence(QKeySequence.StandardKey.Paste), self)
        self.paste_shortcut.setContext(Qt.ShortcutContext.WindowShortcut)
        self.paste_shortcut.activated.connect(self.paste)
        delete = QShortcut(QKeySequence(QKeySequence.StandardKey.Delete), self.view)
        delete.setContext(Qt.ShortcutContext.WidgetShortcut)
        delete.activated.connect(self._remove_selected)

    # ------------------------------------------------------------ public API

    def set_predictor(self, predictor, label: str = "") -> None:
        """Use this engine Predictor (None: back to the ImageNet model, when available)."""
        self.model_picker.set_predictor(predictor, label)

    def expect_model(self, label: str) -> None:
        """A trained model (`label`: its run) is being loaded for this tab: say so, and load no
        ImageNet model meanwhile; "" when it will not come. The photos stay either way."""
        self.model_picker.expect(label)

    def predictor(self):
        return self.model_picker.predictor

    def model_label(self) -> str:
        return self.model_picker.label

    def open_model(self, path: str) -> None:
        """Load a model from a run folder, model.safetensors or model.json (in the background)."""
        self.model_picker.open_model(path)

    def open_model_file(self) -> None:
        self.model_picker.open_model_file()

    def use_imagenet_model(self) -> None:
        self.model_picker.use_imagenet_model()

    def set_imagenet_fallback_enabled(self, enabled: bool) -> None:
        """Whether to offer ImageNet's model when no fine-tuned one is set (on by default)."""
        self.model_picker.imagenet_enabled = enabled

    def add_paths(self, paths: list[str]) -> int:
        """Classify these files (folders are searched for images); returns how many were added."""
        files: list[str] = []
        for raw in paths:
            p = Path(raw).expanduser()
            if p.is_dir():
                files.extend(str(f) for f in list_image_files(p))
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
        self._paste_count += 1
        return self._add_sources([(name or f"Pasted image {self._paste_count}", bytes(buffer.data()), None)])

    def entries(self) -> list[PredictEntry]:
        """The entries in display order."""
        return self.results.entries()

    def is_busy(self) -> bool:
        """True while a model loads, or photos are being predicted or thumbnailed."""
        return self._predicting.busy or self._thumbnailing.busy or self.model_picker.is_loading()

    def clear(self) -> None:
        """Remove every result; what is still being predicted or explained is dropped."""
        self._predicting.cancel()
        self._thumbnailing.cancel()
        self._queue.clear()
        self._thumb_queue.clear()
        self.heatmaps.reset()
        self.results.clear()
        self.heatmaps.clear_pane()
        self._update_status()

    def cam_enabled(self) -> bool:
        return self.heatmaps.enabled

    def set_cam_enabled(self, enabled: bool) -> None:
        """Grad-CAM heatmaps over the thumbnails and the side pane, on or off."""
        enabled = bool(enabled)
        if self.cam_button.isChecked() != enabled:
            self.cam_button.setChecked(enabled)  # comes back here through toggled
            return
        self.heatmaps.set_enabled(enabled)
        if enabled and self.splitter.sizes()[1] < 200:
            total = sum(self.splitter.sizes()) or 1000
            self.splitter.setSizes([int(total * 0.62), int(total * 0.38)])

    def is_cam_busy(self) -> bool:
        return self.heatmaps.is_busy()

    def shutdown(self, timeout_ms: int = 10_000) -> bool:
        """Cancel and join this tab's background work; nothing new starts afterwards.

        Call before the window closes. True when every thread has ended.
        """
        self._predicting.cancel()
        self._thumbnailing.cancel()
        self.heatmaps.reset()
        self.model_picker.cancel_load()
        ended = self._tasks.shutdown(timeout_ms)
        return self.cam_view.shutdown(timeout_ms) and ended

    # -- buttons
    def open_images(self) -> None:
        paths, _ = QFileDialog.getOpenFileNames(self, "Choose photos to classify", _last_dir(), IMAGE_FILTER)
        if paths:
            self.add_paths(paths)

    def open_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Choose a folder of photos", _last_dir())
        if folder:
            self.add_paths([folder])

    def paste(self) -> None:
        mime = QGuiApplication.clipboard().mimeData()
        if mime is None or self._add_mime(mime):
            return
        lines = [line.strip() for line in mime.text().splitlines()] if mime.hasText() else []
        found = [p for p in (QUrl(t).toLocalFile() if t.startswith("file:") else t for t in lines) if p and os.path.exists(p)]
        if found:
            self.add_paths(found)
        else:
            self._flash(NO_IMAGE)

    def export_csv(self) -> None:
        if not any(e.done for e in self.results.entries()):
            return
        suggested = str(Path(_last_dir()) / "predictions.csv")
        path, _ = QFileDialog.getSaveFileName(self, "Export predictions", suggested, "CSV (*.csv)")
        if path:
            self.write_csv(path)

    def write_csv(self, path: str) -> None:
        """The finished results, in the order they were added, as `predict --csv` writes them."""
        from resnet_studio.engine.predict import Prediction, write_csv

        done = [e for e in self.results.in_order_added() if e.done]
        write_csv(path, [Prediction(e.path or e.name, list(e.predictions), e.error) for e in done])

    # ------------------------------------------------------------ drag and drop

    # Drops are taken as a copy, whatever the source proposes: a file manager whose default is
    # Move would delete the dropped files once they are accepted.

    def dragEnterEvent(self, event) -> None:
        if local_paths(event.mimeData()) or event.mimeData().hasImage():
            _accept_as_copy(event)
            self._set_drag_active(True)
        else:
            event.ignore()

    def dragMoveEvent(self, event) -> None:
        _accept_as_copy(event)

    def dragLeaveEvent(self, event) -> None:
        self._set_drag_active(False)

    def dropEvent(self, event) -> None:
        self._set_drag_active(False)
        if self._add_mime(event.mimeData()):
            _accept_as_copy(event)
        else:
            event.ignore()

    def _add_mime(self, mime: QMimeData) -> bool:
        """Classify the local files, or else the image, that dropped or pasted data holds; False: neither."""
        paths = local_paths(mime)
        if paths:
            self.add_paths(paths)
        elif mime.hasImage():
            self.add_image(QImage(mime.imageData()))
        return bool(paths) or mime.hasImage()

    def _set_drag_active(self, active: bool) -> None:
        self.drop_hint.active = active
        self.view.drag_active = active
        self.drop_hint.update()
        self.view.viewport().update()

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
        self._thumb_queue.extend(e.id for e in new)
        self.stack.setCurrentWidget(self.view)
        if self.results.newest_first:
            self.view.scrollToTop()
        else:
            self.view.scrollToBottom()
        if self.predictor() is None and not self.model_picker.is_loading():
            self.model_picker.offer_imagenet()
        self._pump()
        self._pump_thumbnails()
        self._update_status()
        return len(new)

    def _pump_thumbnails(self) -> None:
        """Make the thumbnails of every photo still without one, unless a job is making some."""
        if self._thumbnailing.busy or self._tasks.closed:
            return
        ids, self._thumb_queue = self._thumb_queue, []
        items = [(e.id, e.source) for e in map(self.results.get, ids) if e is not None and e.thumb is None and not e.done]
        if items:
            self._thumbnailing.start(
                load_thumbnails,
                items,
                receiver=self,
                on_progress=self._on_thumbnails,
                on_finished=self._pump_thumbnails,
            )

    def _on_thumbnails(self, results: list) -> None:
        changed = []
        for entry_id, thumb in results:
            entry = self.results.get(entry_id)
            if entry is not None and thumb is not None and entry.thumb is None:
                entry.thumb, entry.pixmap = thumb, None
                changed.append(entry_id)
        self.results.changed(changed)

    def _pump(self) -> None:
        """Start predicting everything queued, unless a job is running or there is no model."""
        if self._predicting.busy or self.predictor() is None:
            return
        ids, self._queue = self._queue, []
        items = [(e.id, e.source, e.thumb is None) for e in map(self.results.get, ids) if e is not None]
        if items:
            self._predicting.start(
                predict_images,
                self.predictor(),
                items,
                receiver=self,
                on_progress=self._on_results,
                on_error=lambda message: self._on_predict_failed(ids, message),
                on_finished=self._on_predict_finished,
            )
            self._update_status()

    def _on_results(self, results: list) -> None:
        changed = []
        for entry_id, thumb, predictions, error in results:
            entry = self.results.get(entry_id)
            if entry is None:
                continue  # removed meanwhile
            if thumb is not None:
                entry.thumb, entry.pixmap = thumb, None
            entry.predictions, entry.error, entry.done = predictions, error, True
            changed.append(entry_id)
        self.results.changed(changed)
        self._update_status()
        if changed:
            self.heatmaps.predicted(changed)
            self.predictionsReady.emit(len(changed))

    def _on_predict_failed(self, ids: list[int], message: str) -> None:
        left = [e.id for e in map(self.results.get, ids) if e is not None and not e.done]
        self._on_results([(i, None, [], f"prediction failed: {message}") for i in left])

    def _on_predict_finished(self) -> None:
        self._update_status()
        self._pump()

    def _on_model_changed(self, label: str) -> None:
        """Another model: every photo again, in the order added; what the old one still delivers is dropped."""
        predictor = self.predictor()
        self.view.set_bar_rows(min(TOPK, len(predictor.classes)) if predictor is not None else TOPK)
        self.modelChanged.emit(label)
        self._predicting.cancel()
        self.heatmaps.reset()
        entries = self.results.in_order_added()
        for e in entries:
            e.forget_prediction()
        self._queue = [e.id for e in entries]
        self.results.changed(self._queue)
        self._pump()
        self._update_status()

    # ------------------------------------------------------------ status, selection

    def _update_status(self) -> None:
        entries = self.results.entries()
        no_model = self.predictor() is None
        if not entries:
            self.stack.setCurrentWidget(self.drop_hint)
            later = "\nPhotos dropped now are classified as soon as a model is ready." if no_model else ""
            self.drop_hint.set_subtitle(DROP_HINT_TEXT + later)
        done = sum(1 for e in entries if e.done)
        errors = sum(1 for e in entries if e.done and e.error)
        waiting = len(entries) - done
        parts = []
        if entries:
            parts.append(f"{fmt.count(len(entries))} photo{'s' if len(entries) != 1 else ''}")
        if errors:
            parts.append(f"{fmt.count(errors)} could not be read")
        if waiting and no_model:
            parts.append(f"{fmt.count(waiting)} waiting for a model")
        self.view.waiting_text = "Waiting for a model…" if waiting and no_model else "Predicting…"
        running = self._predicting.busy and waiting
        if running:
            parts.append(f"predicting… {fmt.count(done)} of {fmt.count(len(entries))}")
            self.progress.setRange(0, len(entries))
            self.progress.setValue(done)
        self.progress.setVisible(bool(running))
        self.status_label.setText("  ·  ".join(parts))
        self.export_button.setEnabled(done > 0)
        self.clear_button.setEnabled(bool(entries))

    def _on_order_change(self) -> None:
        self.results.set_newest_first(bool(self.order_combo.currentData()))

    def _flash(self, text: str) -> None:
        self.status_label.setText(text)
        QTimer.singleShot(4000, self._update_status)

    def _selected_entries(self) -> list[PredictEntry]:
        return [self.results.entry_at(i) for i in self.view.selectionModel().selectedIndexes()]

    def _remove_selected(self) -> None:
        for e in self._selected_entries():
            self.results.remove(e.id)
            if e.id in self._queue:
                self._queue.remove(e.id)
            if e.id in self._thumb_queue:
                self._thumb_queue.remove(e.id)
        self._update_status()

    def _context_menu(self, pos) -> None:
        index = self.view.indexAt(pos)
        entry = self.results.entry_at(index)
        if entry is None:
            return
        if not self.view.selectionModel().isSelected(index):
            self.view.setCurrentIndex(index)
        text = "\n".join(e.text_line() for e in self._selected_entries())
        menu = QMenu(self)
        menu.addAction("Copy result", lambda: QGuiApplication.clipboard().setText(text))
        if entry.path:
            folder = Path(entry.path).parent
            menu.addAction("Show in folder", lambda: open_folder(folder, self))
        menu.addSeparator()
        menu.addAction("Remove", self._remove_selected)
        menu.exec(self.view.viewport().mapToGlobal(pos))


def _accept_as_copy(event) -> None:
    """Accept a drag or a drop as a copy: the source keeps its files."""
    event.setDropAction(Qt.DropAction.CopyAction)
    event.accept()


def _last_dir() -> str:
    pictures = Path.home() / "Pictures"
    return str(pictures if pictures.is_dir() else Path.home())
