"""The Data tab: what the chosen folder holds, and what is wrong with it.

Counts, a per-class bar chart (training and validation), example thumbnails (read in
the background) and the files skipped with the reason.
"""

from __future__ import annotations

import os

from PySide6.QtCore import QRectF, QSize, Qt, Signal
from PySide6.QtGui import QFontMetrics, QPainter, QPixmap
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

from ..images import load_thumbnail
from ..tasks import BackgroundTask, TaskGroup
from ..widgets import ElidedLabel, InlineMessage, SectionHeader, muted_label, palette_colors

__all__ = ["DataSummaryWidget", "balance_warning"]

THUMB = 72


def _thumbnails(task: BackgroundTask, examples: dict[str, list[str]]) -> None:
    for cls, paths in examples.items():
        for i, path in enumerate(paths):
            task.check()
            try:
                image = load_thumbnail(path, THUMB)
            except Exception:
                image = None
            task.report((cls, i, image))



# ---------------------------------------------------------------- the dataset summary ("Data" tab)


class _ClassBars(QWidget):
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

    def sizeHint(self) -> QSize:  # noqa: N802
        return QSize(360, self.ROW * len(self._rows) + 28)

    def minimumSizeHint(self) -> QSize:  # noqa: N802
        return QSize(220, self.sizeHint().height())

    def paintEvent(self, event) -> None:  # noqa: N802
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


class DataSummaryWidget(QWidget):
    """What the chosen dataset holds: counts, a per-class bar chart, example thumbnails, skipped files."""

    chooseFolderRequested = Signal()
    demoRequested = Signal()

    def __init__(self, parent: QWidget | None = None, tasks: TaskGroup | None = None) -> None:
        super().__init__(parent)
        self._tasks = tasks if tasks is not None else TaskGroup()
        self._thumb_labels: dict[str, list[QLabel]] = {}
        self._thumb_task: BackgroundTask | None = None
        self.stack = QStackedWidget()
        self.stack.addWidget(self._build_empty())
        self.stack.addWidget(self._build_busy())
        self.stack.addWidget(self._build_content())
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.addWidget(self.stack)
        self.show_empty()

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
        self.choose_button.clicked.connect(self.chooseFolderRequested)
        self.demo_button = QPushButton("Use demo dataset")
        self.demo_button.clicked.connect(self.demoRequested)
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
        self.balance = InlineMessage()
        col.addWidget(self.title)
        col.addWidget(self.path_label)
        col.addWidget(self.stats)
        col.addWidget(self.layout_note)
        col.addWidget(self.balance)

        columns = QHBoxLayout()
        columns.setSpacing(28)
        left = QVBoxLayout()
        left.setSpacing(6)
        left.addWidget(SectionHeader("Images per class"))
        self.bars = _ClassBars()
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
        self._stop_thumbs()
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
            self._stop_thumbs()
            self.stack.setCurrentIndex(1)

    def set_enabled_actions(self, enabled: bool) -> None:
        self.choose_button.setEnabled(enabled)
        self.demo_button.setEnabled(enabled)

    def show_scan(self, scan) -> None:
        self._stop_thumbs()
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
        warning = balance_warning(scan)
        if warning:
            self.balance.show_warning(warning + " " + (
                "The model will favour the bigger classes; add photos to the small ones if you can."
                if "Unbalanced" in warning else "Aim for 30 or more photos per class."
            ))
        else:
            self.balance.clear_message()
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
        self._thumb_task = self._tasks.start(
            _thumbnails, examples, on_progress=self._on_thumb, receiver=self, name="thumbnails"
        )

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
                int(THUMB * ratio), int(THUMB * ratio), Qt.AspectRatioMode.KeepAspectRatio, Qt.TransformationMode.SmoothTransformation
            )
            pixmap.setDevicePixelRatio(ratio)
            labels[i].setPixmap(pixmap)

    def thumbnails_loaded(self) -> int:
        return sum(1 for labels in self._thumb_labels.values() for l in labels if l.pixmap() is not None and not l.pixmap().isNull())

    def _stop_thumbs(self) -> None:
        if self._thumb_task is not None:
            self._thumb_task.cancel()
            self._thumb_task = None



def balance_warning(scan) -> str:
    """A one-line warning about class imbalance or tiny classes, or ""."""
    totals = scan.class_counts()
    if not totals:
        return ""
    small = min(totals, key=totals.get)
    big = max(totals, key=totals.get)
    if totals[small] and totals[big] / totals[small] >= 3:
        return f"Unbalanced classes: {small!r} has {totals[small]:,} photos, {big!r} has {totals[big]:,}."
    if totals[small] < 10:
        return f"{small!r} has only {totals[small]} photos: expect rough results."
    return ""


