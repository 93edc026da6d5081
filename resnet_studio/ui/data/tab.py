"""The Data tab: what the chosen folder holds, and what is wrong with it.

Counts, a per-class bar chart (training and validation), example thumbnails (read in
the background) and the files skipped with the reason. The folder is checked by the
DatasetScanner (ui/scanner.py); this tab shows what it finds.
"""

from __future__ import annotations

import os

from PySide6.QtCore import Qt
from PySide6.QtGui import QFontMetrics, QPixmap
from PySide6.QtWidgets import (
    QAbstractItemView,
    QFrame,
    QGridLayout,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QStackedWidget,
    QTableWidget,
    QTableWidgetItem,
    QVBoxLayout,
    QWidget,
)

from ..format import sentence
from ..images import load_thumbnail
from ..scanner import CHECKING, DatasetScanner
from ..state import StudioState
from ..tasks import TaskGroup
from ..widgets import ElidedLabel, InlineMessage, SectionHeader, muted_label, palette_colors
from .class_bars import ClassBars

__all__ = ["DataTab"]

THUMB = 72


def _thumbnails(task, examples: dict[str, list[str]]) -> None:
    for cls, paths in examples.items():
        for i, path in enumerate(paths):
            task.check()
            try:
                image = load_thumbnail(path, THUMB)
            except Exception:
                image = None
            task.report((cls, i, image))



# ---------------------------------------------------------------- the dataset summary ("Data" tab)


class DataTab(QWidget):
    """What the chosen dataset holds: counts, a per-class bar chart, example thumbnails,
    skipped files. It shows what the scanner and the studio state say."""

    def __init__(self, state: StudioState, scanner: DatasetScanner, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.scanner = scanner
        self._tasks = TaskGroup()
        self._thumbs = self._tasks.slot("thumbnails")
        self._thumb_labels: dict[str, list[QLabel]] = {}
        self.stack = QStackedWidget()
        self.stack.addWidget(self._build_empty())
        self.stack.addWidget(self._build_busy())
        self.stack.addWidget(self._build_content())
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.addWidget(self.stack)
        self.show_empty()
        scanner.busyChanged.connect(self._on_busy)
        scanner.progress.connect(lambda done, total: self.show_busy(scanner.busy or CHECKING, done, total))
        scanner.errorChanged.connect(self._on_error)
        state.datasetChanged.connect(self._on_scan)

    # -- what it follows
    def _on_busy(self, text: str) -> None:
        if text:
            self.show_busy(text)

    def _on_error(self, error: str) -> None:
        if error:
            self.show_empty(error)

    def _on_scan(self, scan) -> None:
        if scan is not None:
            self.show_scan(scan)
        elif not self.scanner.busy:
            self.show_empty(self.scanner.error)

    def shutdown(self, timeout_ms: int = 10_000) -> bool:
        return self._tasks.shutdown(timeout_ms)

    # -- pages
    def _build_empty(self) -> QWidget:
        page = QWidget()
        col = QVBoxLayout(page)
        col.addStretch(2)
        title = QLabel("No dataset yet")
        font = title.font()
        font.setPointSizeF(font.pointSizeF() * 1.5)
        font.setBold(True)
        title.setFont(font)
        title.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self._empty_text = muted_label(
            "Choose a folder with one subfolder of photos per class (for example Pets/cat and Pets/dog), "
            "or drop it on this window. No photos at hand? Try the demo dataset."
        )
        font = self._empty_text.font()
        font.setPointSizeF(font.pointSizeF() / 0.92)
        self._empty_text.setFont(font)
        self._empty_text.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty_error = InlineMessage()
        self.empty_error.setAlignment(Qt.AlignmentFlag.AlignCenter)
        for label in (self._empty_text, self.empty_error):
            label.setMinimumWidth(300)
            label.setMaximumWidth(480)
            label.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Minimum)
        buttons = QHBoxLayout()
        buttons.addStretch(1)
        self.choose_button = QPushButton("Choose folder…")
        self.choose_button.clicked.connect(lambda: self.scanner.choose_folder(self))
        self.demo_button = QPushButton("Use demo dataset")
        self.demo_button.clicked.connect(lambda: self.scanner.make_demo())
        buttons.addWidget(self.choose_button)
        buttons.addWidget(self.demo_button)
        buttons.addStretch(1)
        col.addWidget(title)
        for w in (self._empty_text, self.empty_error):
            row = QHBoxLayout()
            row.addStretch(1)
            row.addWidget(w)
            row.addStretch(1)
            col.addLayout(row)
        col.addSpacing(8)
        col.addLayout(buttons)
        col.addStretch(3)
        return page

    def _build_busy(self) -> QWidget:
        page = QWidget()
        col = QVBoxLayout(page)
        col.addStretch(1)
        self.busy_label = QLabel("Checking the photos…")
        self.busy_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.busy_bar = QProgressBar()
        self.busy_bar.setMaximumWidth(360)
        self.busy_bar.setTextVisible(False)
        row = QHBoxLayout()
        row.addStretch(1)
        row.addWidget(self.busy_bar)
        row.addStretch(1)
        self.busy_detail = muted_label("", wrap=False)
        self.busy_detail.setAlignment(Qt.AlignmentFlag.AlignCenter)
        col.addWidget(self.busy_label)
        col.addLayout(row)
        col.addWidget(self.busy_detail)
        col.addStretch(2)
        return page

    def _build_content(self) -> QWidget:
        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        page = QWidget()
        scroll.setWidget(page)
        col = QVBoxLayout(page)
        col.setContentsMargins(16, 14, 16, 16)
        col.setSpacing(10)

        self.title = QLabel()
        font = self.title.font()
        font.setPointSizeF(font.pointSizeF() * 1.45)
        font.setBold(True)
        self.title.setFont(font)
        self.path_label = ElidedLabel()
        self.path_label.setStyleSheet(muted_label().styleSheet())
        self.stats = QLabel()
        self.stats.setWordWrap(True)
        self.layout_note = muted_label()
        self.problem = InlineMessage()  # why the folder cannot be trained on as it is
        self.balance = InlineMessage()  # classes left out, few photos, imbalance
        col.addWidget(self.title)
        col.addWidget(self.path_label)
        col.addWidget(self.stats)
        col.addWidget(self.layout_note)
        col.addWidget(self.problem)
        col.addWidget(self.balance)

        columns = QHBoxLayout()
        columns.setSpacing(28)
        left = QVBoxLayout()
        left.setSpacing(6)
        left.addWidget(SectionHeader("Images per class"))
        self.bars = ClassBars()
        left.addWidget(self.bars)
        left.addStretch(1)
        right = QVBoxLayout()
        right.setSpacing(6)
        right.addWidget(SectionHeader("Examples"))
        self.thumbs_box = QWidget()
        self.thumbs_grid = QGridLayout(self.thumbs_box)
        self.thumbs_grid.setContentsMargins(0, 0, 0, 0)
        self.thumbs_grid.setHorizontalSpacing(6)
        self.thumbs_grid.setVerticalSpacing(8)
        right.addWidget(self.thumbs_box)
        right.addStretch(1)
        columns.addLayout(left, 5)
        columns.addLayout(right, 6)
        col.addLayout(columns)

        self.skipped_header = SectionHeader("Skipped files")
        self.skipped_note = muted_label("")
        self.skipped_table = QTableWidget(0, 2)
        self.skipped_table.setHorizontalHeaderLabels(["File", "Reason"])
        self.skipped_table.verticalHeader().setVisible(False)
        self.skipped_table.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.skipped_table.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.skipped_table.setWordWrap(False)
        self.skipped_table.horizontalHeader().setSectionResizeMode(0, QHeaderView.ResizeMode.Interactive)
        self.skipped_table.horizontalHeader().setStretchLastSection(True)
        self.skipped_table.setMinimumHeight(120)
        col.addWidget(self.skipped_header)
        col.addWidget(self.skipped_note)
        col.addWidget(self.skipped_table)
        col.addStretch(1)
        return scroll

    # -- states
    def show_empty(self, error: str = "") -> None:
        self._thumbs.cancel()
        if error:
            self.empty_error.show_error(error)
        else:
            self.empty_error.clear_message()
        self.stack.setCurrentIndex(0)

    def show_busy(self, text: str, done: int = 0, total: int = 0) -> None:
        self.busy_label.setText(text)
        if total:
            self.busy_bar.setRange(0, total)
            self.busy_bar.setValue(done)
            self.busy_detail.setText(f"{done:,} of {total:,} files")
        else:
            self.busy_bar.setRange(0, 0)
            self.busy_detail.setText("")
        if self.stack.currentIndex() != 1:
            self._thumbs.cancel()
            self.stack.setCurrentIndex(1)

    def set_enabled_actions(self, enabled: bool) -> None:
        self.choose_button.setEnabled(enabled)
        self.demo_button.setEnabled(enabled)

    def show_scan(self, scan) -> None:
        self._thumbs.cancel()
        counts = scan.class_counts()
        train_counts = [0] * len(scan.classes)
        for _, label in scan.train:
            train_counts[label] += 1
        rows = [(c, train_counts[i], counts[c] - train_counts[i]) for i, c in enumerate(scan.classes)]
        self.title.setText(scan.name)
        self.path_label.setText(scan.root)
        layout = "train/ and val/ folders as given" if scan.layout == "split" else "one folder per class, split here"
        n_skip = len(scan.skipped)
        self.stats.setText(
            f"<b>{len(scan.classes)}</b> classes &nbsp;·&nbsp; <b>{scan.num_train:,}</b> training &nbsp;·&nbsp; "
            f"<b>{scan.num_val:,}</b> validation &nbsp;·&nbsp; <b>{n_skip:,}</b> skipped"
        )
        self.layout_note.setText(f"Layout: {layout}.")
        self.bars.set_counts(rows)
        if scan.problem:
            self.problem.show_error(f"{sentence(scan.problem)}. Add photos (or remove the class folder), then choose "
                                    "the folder again.")
        else:
            self.problem.clear_message()
        advice = {
            "Few photos": "Aim for 30 or more photos per class.",
            "Unbalanced": "The model will favour the bigger classes; add photos to the small ones if you can.",
        }
        lines = [" ".join([w, *(text for start, text in advice.items() if w.startswith(start))]) for w in scan.warnings()]
        self.balance.show_warning("\n".join(lines))  # none: hidden
        self._fill_skipped(scan)
        self._fill_thumbs(scan)
        self.stack.setCurrentIndex(2)

    def _fill_skipped(self, scan) -> None:
        n = len(scan.skipped)
        self.skipped_header.setText(f"Skipped files ({n:,})" if n else "Skipped files")
        self.skipped_table.setVisible(n > 0)
        self.skipped_note.setText(
            "These files are left out of training." if n else "None: every file in the folder is a readable photo."
        )
        self.skipped_table.setRowCount(n)
        for row, skipped in enumerate(scan.skipped):
            try:
                shown = os.path.relpath(skipped.path, scan.root)
            except ValueError:
                shown = skipped.path
            name = QTableWidgetItem(shown)
            name.setToolTip(skipped.path)
            reason = QTableWidgetItem(skipped.reason)
            reason.setToolTip(skipped.reason)
            self.skipped_table.setItem(row, 0, name)
            self.skipped_table.setItem(row, 1, reason)
        self.skipped_table.resizeColumnToContents(0)
        self.skipped_table.setColumnWidth(0, min(self.skipped_table.columnWidth(0), 360))
        self.skipped_table.resizeRowsToContents()
        rows = self.skipped_table.verticalHeader().length()
        header = self.skipped_table.horizontalHeader().sizeHint().height()
        self.skipped_table.setFixedHeight(min(280, rows + header + 2 * self.skipped_table.frameWidth() + 2))

    def _fill_thumbs(self, scan) -> None:
        while self.thumbs_grid.count():
            item = self.thumbs_grid.takeAt(0)
            if item.widget() is not None:
                item.widget().deleteLater()
        self._thumb_labels = {}
        examples = scan.examples(per_class=4)
        fm = QFontMetrics(self.font())
        name_width = min(160, max(fm.horizontalAdvance(c) for c in scan.classes) + 6)
        colors = palette_colors(self)
        track = colors["track"]
        for row, cls in enumerate(scan.classes):
            name = QLabel(fm.elidedText(cls, Qt.TextElideMode.ElideRight, name_width))
            name.setToolTip(cls)
            name.setFixedWidth(name_width)
            self.thumbs_grid.addWidget(name, row, 0)
            labels = []
            for i in range(len(examples.get(cls, []))):
                thumb = QLabel()
                thumb.setFixedSize(THUMB, THUMB)
                thumb.setAlignment(Qt.AlignmentFlag.AlignCenter)
                thumb.setStyleSheet(
                    f"background: rgba({track.red()},{track.green()},{track.blue()},{track.alphaF():.2f}); border-radius: 4px;"
                )
                thumb.setToolTip(examples[cls][i])
                self.thumbs_grid.addWidget(thumb, row, 1 + i)
                labels.append(thumb)
            self._thumb_labels[cls] = labels
        self.thumbs_grid.setColumnStretch(5, 1)
        self._thumbs.start(_thumbnails, examples, receiver=self, on_progress=self._on_thumb)

    def _on_thumb(self, item) -> None:
        cls, i, image = item
        labels = self._thumb_labels.get(cls, [])
        if i < len(labels):
            if image is None:
                labels[i].setText("?")
                return
            pixmap = QPixmap.fromImage(image)
            ratio = self.devicePixelRatioF()
            pixmap = pixmap.scaled(
                int(THUMB * ratio),
                int(THUMB * ratio),
                Qt.AspectRatioMode.KeepAspectRatio,
                Qt.TransformationMode.SmoothTransformation,
            )
            pixmap.setDevicePixelRatio(ratio)
            labels[i].setPixmap(pixmap)

    def thumbnails_loaded(self) -> int:
        return sum(1 for labels in self._thumb_labels.values() for label in labels if not label.pixmap().isNull())
