"""The Evaluate tab: where the model goes wrong, and why.

For the current run (or one opened from the history) the tab evaluates the saved
model on the images the run validated on (its split.json), in the background with
progress; "Evaluate on folder…" does the same on any folder in the class layout. It shows:

- accuracy, top-k accuracy, macro F1 and the number of mistakes;
- a sortable per-class table (precision, recall, F1, support; class_table.py);
- the confusion matrix as a heatmap (counts or row shares; confusion_matrix.py);
  clicking a cell filters the gallery to that pair (true -> predicted);
- the misclassified images, most confident mistakes first, as thumbnails read off the
  UI thread (gallery.py); selecting one shows its Grad-CAM for the predicted (or a
  chosen) class.

Everything that touches torch runs in the background (jobs.py; one TaskSlot per kind
of job, the newest wins). Export… emits `exportRequested(run folder)`: the window
opens the export dialog.

A caption under the title always says what the figures below are of ("Showing: the
validation split of … of ResNet-18 · run"); while another evaluation runs, and after
one fails or is cancelled, it says they are still the previous evaluation's.
"""

from __future__ import annotations

import os
from pathlib import Path

from PySide6.QtCore import Qt, Signal
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import (
    QCheckBox,
    QFileDialog,
    QFrame,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSplitter,
    QStackedWidget,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from resnet_studio.engine import runs

from .. import format as fmt
from ..cam_view import CamView
from ..tasks import TaskGroup
from ..widgets import Banner, ElidedLabel, SectionHeader, StatTile, muted_label
from .class_table import ClassTable
from .confusion_matrix import ConfusionMatrixView
from .gallery import MistakesGallery
from .jobs import evaluate_folder, evaluate_run

__all__ = ["EvaluateTab", "GALLERY_LIMIT"]

GALLERY_LIMIT = 2000  # thumbnails listed at most (the most confident mistakes)
STAT_SCALE = 1.6  # the figures over the views


class _Box(QWidget):
    """A titled area with room for controls on the right of its title."""

    def __init__(self, title: str, body: QWidget, controls: tuple[QWidget, ...] = ()) -> None:
        super().__init__()
        self.title = SectionHeader(title)
        self.title.setContentsMargins(0, 0, 0, 0)
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


def _splitter(orientation: Qt.Orientation, first: QWidget, second: QWidget, stretch: tuple[int, int]) -> QSplitter:
    splitter = QSplitter(orientation)
    splitter.setChildrenCollapsible(False)
    splitter.addWidget(first)
    splitter.addWidget(second)
    splitter.setStretchFactor(0, stretch[0])
    splitter.setStretchFactor(1, stretch[1])
    return splitter


class EvaluateTab(QWidget):
    """Metrics, confusion matrix and mistakes of the current (or an opened) run's model."""

    exportRequested = Signal(str)  # run folder whose model to export

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._tasks = TaskGroup()
        self._job = self._tasks.slot("evaluate")  # the newest evaluation wins
        self._predictor = None
        self._predictor_run: str | None = None  # the run folder the predictor was loaded from
        self._run: runs.RunRecord | None = None  # the run followed
        self._pending_run: str | None = None  # evaluated when the tab is shown
        self._recorded_acc: float | None = None  # the followed run's own best, when evaluating on its split
        self._label = ""
        self._topk = 5
        self.evaluation = None
        self.last_error = ""
        self._shown: tuple[str, str] = ("", "")  # the title and caption of the evaluation shown
        self._filter: tuple[int | None, int | None] = (None, None)
        self._build()
        self._show_empty()

    # ------------------------------------------------------------ layout

    def _build(self) -> None:
        self.banner = Banner()
        self.stats_widget = self._build_stats()
        self.matrix = ConfusionMatrixView()
        self.matrix.cellSelected.connect(self._on_cell_selected)
        self.normalized_check = QCheckBox("Normalized")
        self.normalized_check.setToolTip("Show each cell as a share of its true class's images")
        self.normalized_check.toggled.connect(self.matrix.set_normalized)
        self.class_table = ClassTable()
        self.class_table.setMinimumWidth(380)  # class names and the four numbers stay readable
        self.class_table.classClicked.connect(lambda index: self.set_filter(index, None))
        self.class_model = self.class_table.source
        self.class_proxy = self.class_table.proxy
        self.top_splitter = _splitter(Qt.Orientation.Horizontal, _Box("Confusion matrix", self.matrix, (self.normalized_check,)),
                                      _Box("Per class", self.class_table), (3, 2))
        self.top_splitter.setSizes([560, 380])

        self.gallery = MistakesGallery(self._tasks)
        self.gallery.currentSampleChanged.connect(self._show_cam)
        self.gallery_model = self.gallery.model
        self.clear_filter_button = QPushButton("Show all mistakes")
        self.clear_filter_button.clicked.connect(self.clear_filter)
        self.gallery_box = _Box("Misclassified", self.gallery, (self.clear_filter_button,))
        self.cam_view = CamView()
        self.cam_view.setMinimumWidth(260)
        self.bottom_splitter = _splitter(Qt.Orientation.Horizontal, self.gallery_box, self.cam_view, (3, 2))
        self.bottom_splitter.setSizes([620, 340])
        self.body_splitter = _splitter(Qt.Orientation.Vertical, self.top_splitter, self.bottom_splitter, (5, 4))

        self.empty_label = muted_label()
        self.empty_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.stack = QStackedWidget()
        self.stack.addWidget(self.empty_label)
        self.stack.addWidget(self.body_splitter)

        content = QWidget()
        layout = QVBoxLayout(content)
        layout.setContentsMargins(12, 10, 12, 8)
        layout.setSpacing(10)
        layout.addLayout(self._build_head())
        layout.addWidget(self.banner)
        layout.addWidget(self.stats_widget)
        layout.addWidget(self.stack, 1)
        # at the window's smallest sizes the results scroll instead of squeezing into each other
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setWidget(content)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.addWidget(scroll)

    def _build_head(self) -> QVBoxLayout:
        self.title_label = ElidedLabel(mode=Qt.TextElideMode.ElideRight)
        font = self.title_label.font()
        font.setBold(True)
        font.setPointSizeF(font.pointSizeF() * 1.1)
        self.title_label.setFont(font)
        self.source_label = QLabel()  # what the figures below are of: wraps, never cut mid-sentence
        self.source_label.setWordWrap(True)
        self.source_label.setTextFormat(Qt.TextFormat.PlainText)
        self.source_label.setForegroundRole(QPalette.ColorRole.PlaceholderText)
        self.source_label.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)

        self.folder_button = QPushButton("Evaluate on folder…")
        self.folder_button.setToolTip("Measure the model on another folder of labelled photos (one subfolder per class)")
        self.folder_button.clicked.connect(self.choose_folder)
        self.val_button = QPushButton("Validation split")
        self.val_button.setToolTip("Measure the model on the images its run validated on")
        self.val_button.clicked.connect(lambda: self._run is not None and self.evaluate_run(self._run.path))
        self.export_button = QPushButton("Export…")
        self.export_button.setToolTip("Export this run's model to ONNX or TorchScript, checked against PyTorch")
        self.export_button.clicked.connect(self._request_export)
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
        row = QHBoxLayout()
        row.setSpacing(8)
        row.addWidget(self.title_label, 1)
        for w in (self.status_label, self.progress, self.cancel_button, self.val_button, self.folder_button,
                  self.export_button, self.open_button):
            row.addWidget(w)
        head = QVBoxLayout()
        head.setSpacing(2)
        head.addLayout(row)
        head.addWidget(self.source_label)
        return head

    def _build_stats(self) -> QWidget:
        self.stat_acc = StatTile("Accuracy", STAT_SCALE)
        self.stat_topk = StatTile(f"Top-{self._topk} accuracy", STAT_SCALE)
        self.stat_f1 = StatTile("Macro F1", STAT_SCALE)
        self.stat_images = StatTile("Images", STAT_SCALE)
        self.stat_mistakes = StatTile("Mistakes", STAT_SCALE)
        widget = QWidget()
        self._stats = QHBoxLayout(widget)
        self._stats.setContentsMargins(0, 0, 0, 0)
        self._stats.setSpacing(28)
        for tile in (self.stat_acc, self.stat_topk, self.stat_f1, self.stat_images, self.stat_mistakes):
            self._stats.addWidget(tile)
        self._stats.addStretch(1)
        return widget

    # ------------------------------------------------------------ public

    def set_run(self, run_dir: str | None, label: str = "") -> None:
        """Follow this run: its model is evaluated on its validation split (at once if the
        tab is visible, else when it is shown). None: forget the run."""
        if run_dir is None:
            self.cancel()
            self._run = self._pending_run = None
            self._show_empty()
            return
        self._run = runs.RunRecord.load(run_dir)
        self._label = label or self._run.display_name
        if self.isVisible():
            self.evaluate_run(self._run.path)
        else:
            self._pending_run = self._run.path
            if self.evaluation is None:  # else the caption keeps saying what the figures are of
                self.title_label.setText(self._label)
                self.source_label.setText("Evaluated when you open this tab")

    def run_dir(self) -> str | None:
        return self._run.path if self._run is not None else None

    def evaluate_run(self, run_dir: str) -> None:
        """Evaluate a run's model on its validation split, in the background."""
        self._pending_run = None
        self._run = runs.RunRecord.load(run_dir)
        name = self._run.name
        if not (Path(run_dir) / runs.MODEL).exists():  # a folder in its place: the load says so
            self._show_empty(f"{name} has no saved model yet: it is saved when an epoch finishes.")
            return
        self._label = self._label if self._label.startswith(name) else name
        self._recorded_acc = self._run.best_val_acc
        predictor = self._predictor if self._predictor_run == os.path.normpath(run_dir) else None
        self._start(evaluate_run, self._run.path, predictor, what=f"the validation split of {name}")

    def evaluate_folder(self, folder: str) -> None:
        """Evaluate the current model on a folder in the class layout, in the background."""
        if self._predictor is None:
            self.banner.show_message("warning", "No model to evaluate yet", "Open a run first (History tab, or Open run…).")
            return
        self._recorded_acc = None
        self._start(evaluate_folder, str(folder), self._predictor, what=Path(folder).name)

    def is_busy(self) -> bool:
        return self._job.busy

    def is_loading_thumbnails(self) -> bool:
        return self.gallery.is_loading()

    def predictor(self):
        return self._predictor

    def cancel(self) -> None:
        if self._job.busy:
            self._job.cancel()
            self._show_previous("Evaluation cancelled")
        self._set_busy(False)

    def shutdown(self, timeout_ms: int = 10_000) -> bool:
        """Stop and join every background job (evaluation, thumbnails, Grad-CAM)."""
        self._job.cancel()
        self.gallery.forget_thumbnails()
        ok = self.cam_view.shutdown(timeout_ms)
        return self._tasks.shutdown(timeout_ms) and ok

    def gallery_samples(self) -> list:
        return self.gallery.samples()

    def current_filter(self) -> tuple[int | None, int | None]:
        return self._filter

    def set_filter(self, true: int | None, pred: int | None) -> None:
        """Show the images of one (true, predicted) pair; (true, None): that class's mistakes;
        (None, None): every mistake."""
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
        self.clear_filter_button.setVisible(true is not None)
        empty = "No images here." if true is not None else "No mistakes: every image was classified correctly."
        self.gallery.set_samples(shown, ev.classes, empty)
        if not shown:
            self.cam_view.clear("No image selected.")
        if (true is None or pred is None) and self.matrix.selection() is not None:
            self.matrix.blockSignals(True)
            self.matrix.select_cell(-1, -1)
            self.matrix.blockSignals(False)

    def clear_filter(self) -> None:
        self.set_filter(None, None)

    def choose_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Evaluate on a folder of labelled photos", str(Path.home()))
        if folder:
            self.evaluate_folder(folder)

    def choose_run(self) -> None:
        start = runs.default_runs_dir()
        folder = QFileDialog.getExistingDirectory(self, "Open a run folder", str(start if start.is_dir() else Path.home()))
        if folder:
            self._label = ""
            self.evaluate_run(folder)

    # ------------------------------------------------------------ running

    def _start(self, fn, target: str, predictor, what: str) -> None:
        self.banner.hide()
        self.last_error = ""
        if self.evaluation is None:
            self.title_label.setText(self._describe_model(predictor))
            self.source_label.setText(f"Evaluating {what}…")
        else:  # the figures on screen stay until the new ones come: the caption keeps saying what they are
            self.source_label.setText(f"Evaluating {what}… {self._shown[1]} (the previous evaluation)")
        from_run = fn is evaluate_run
        task = self._job.start(
            fn,
            target,
            predictor,
            receiver=self,
            on_progress=self._on_progress,
            on_result=lambda result: self._on_result(target if from_run else None, result),
            on_error=self._on_error,
            on_finished=lambda: self._set_busy(False),
        )
        self._set_busy(task is not None, "Starting…")

    def _on_progress(self, message) -> None:
        if message[0] == "stage":
            self.status_label.setText(message[1])
            self.progress.setRange(0, 0)
        else:
            _, done, total = message
            self.progress.setRange(0, max(1, total))
            self.progress.setValue(done)
            self.status_label.setText(f"Evaluating… {done:,} of {total:,}")

    def _on_result(self, run_dir: str | None, result) -> None:
        self._predictor, evaluation = result
        if run_dir is not None:
            self._predictor_run = os.path.normpath(run_dir)
        self.show_evaluation(evaluation)

    def _on_error(self, message: str) -> None:
        self.last_error = message
        actions = [("Choose a folder…", self.choose_folder)] if self._predictor else []
        shown = "<br>The figures below are still those of the previous evaluation." if self.evaluation else ""
        self.banner.show_message("error", "Could not evaluate", fmt.escape(message) + shown, actions)
        self._show_previous("Evaluation failed")

    def _show_previous(self, what_happened: str) -> None:
        """After a cancelled or failed evaluation: the title and caption of the one still shown."""
        if self.evaluation is None:
            self.source_label.setText(f"{what_happened}: nothing evaluated yet.")
            return
        title, caption = self._shown
        self.title_label.setText(title)
        self.source_label.setText(f"{what_happened}. {caption} (the previous evaluation)")

    def _set_busy(self, busy: bool, text: str = "") -> None:
        self.progress.setVisible(busy)
        self.cancel_button.setVisible(busy)
        self.status_label.setText(text if busy else "")
        self.folder_button.setEnabled(not busy and self._predictor is not None)
        self.val_button.setEnabled(not busy and self._run is not None)
        self.val_button.setVisible(self._run is not None)
        self.export_button.setEnabled(self._run is not None and self._run.has_model)

    def _request_export(self) -> None:
        if self._run is not None:
            self.exportRequested.emit(self._run.path)

    # ------------------------------------------------------------ showing

    def show_evaluation(self, ev) -> None:
        """Fill every view from an engine Evaluation."""
        self.evaluation = ev
        self.gallery.forget_thumbnails()  # the files may have changed since; the cache stays small
        self.stack.setCurrentIndex(1)
        self.stats_widget.setVisible(True)
        self.title_label.setText(self._describe_model(self._predictor))
        self._show_source(ev)
        self._shown = (self.title_label.full_text(), self.source_label.text())
        self._show_stats(ev)
        self.matrix.set_data(ev.classes, ev.confusion)
        self.matrix.set_normalized(self.normalized_check.isChecked())
        self.class_table.set_metrics(ev.per_class)
        self.set_filter(None, None)
        self.folder_button.setEnabled(True)

    def _show_source(self, ev) -> None:
        recorded = ""
        if self._recorded_acc is not None:
            recorded = f" · the run recorded {self._recorded_acc:.1%} while training"
        skipped = f" · {len(ev.skipped):,} skipped" if ev.skipped else ""
        counts = f"{ev.num_images:,} images, {len(ev.classes)} classes"
        self.source_label.setText(f"Showing: {ev.source}: {counts}{skipped}{recorded}")
        self.source_label.setToolTip(
            "\n".join([ev.source] + [f"skipped {s.path}: {s.reason}" for s in ev.skipped[:30]])
            + ("\nAccuracy is measured here with the prediction pipeline (as the Predict tab and "
               "`resnet-studio predict` see images); small differences from training's figure come "
               "from how images were decoded." if recorded else "")
        )

    def _show_stats(self, ev) -> None:
        mistakes = sum(1 for s in ev.samples if not s.correct)
        if ev.topk != self._topk:  # a tile's caption is fixed: a new tile for another k
            self._topk = ev.topk
            tile = StatTile(f"Top-{ev.topk} accuracy", STAT_SCALE)
            self._stats.replaceWidget(self.stat_topk, tile)
            self.stat_topk.deleteLater()
            self.stat_topk = tile
        self.stat_acc.set_value(fmt.fraction(ev.accuracy), f"{ev.num_images - mistakes:,} of {ev.num_images:,} images right")
        self.stat_topk.set_value(fmt.fraction(ev.topk_accuracy), f"The true class is among the {ev.topk} most likely")
        self.stat_topk.setVisible(ev.topk > 1)
        self.stat_f1.set_value(f"{ev.macro_f1:.3f}", "The mean F1 of the classes: every class counts the same")
        self.stat_images.set_value(f"{ev.num_images:,}")
        self.stat_mistakes.set_value(f"{mistakes:,}")

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

    def _show_cam(self, sample) -> None:
        if self._predictor is None or self.evaluation is None:
            return
        classes = self.evaluation.classes
        predictions = [(classes[i], p) for i, p in sample.topk]
        self.cam_view.set_title(Path(sample.path).name)
        self.cam_view.show_image(self._predictor, sample.path, predictions, sample.pred, classes[sample.true])

    # ------------------------------------------------------------ Qt

    def showEvent(self, event) -> None:
        super().showEvent(event)
        if self._pending_run and not self._job.busy:
            self.evaluate_run(self._pending_run)
