"""Run history: the runs in the runs folder, newest first.

Opening a run (double-click or Open) asks the window to show its curves and load its
model for prediction; a stopped run with a checkpoint can be resumed. Selecting two or
more runs (Ctrl/Shift-click) offers Compare; Export… exports a run's model. The panel
reads run folders only through the engine's RunRecord (`runs.list_runs`, no torch) and
emits what the user asked for; the window opens the dialogs (compare.py, export_dialog.py).
Refresh also removes the temporary files a killed writer left behind
(`runs.clean_orphaned_temp_files`); listing alone changes nothing on disk.
"""

from __future__ import annotations

import os
from pathlib import Path

from PySide6.QtCore import QSettings, Qt, QUrl, Signal
from PySide6.QtGui import QColor, QDesktopServices, QPalette
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QPushButton,
    QStackedWidget,
    QStyle,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from resnet_studio.engine import runs as engine_runs

from .. import format as fmt
from ..widgets import ElidedLabel, SectionHeader, muted_label, palette_colors

__all__ = ["RunsPanel", "COLUMNS", "model_text", "epochs_text"]

COLUMNS = ("Run", "Model", "Dataset", "Best val acc", "Epochs", "Date", "Status")
_PATH_ROLE = Qt.ItemDataRole.UserRole
_SORT_ROLE = Qt.ItemDataRole.UserRole + 1


class _Item(QTreeWidgetItem):
    """Sorts by the raw value (accuracy, date) rather than the displayed text."""

    def __lt__(self, other: QTreeWidgetItem) -> bool:
        column = self.treeWidget().sortColumn() if self.treeWidget() else 0
        a, b = self.data(column, _SORT_ROLE), other.data(column, _SORT_ROLE)
        if a is None or b is None or type(a) is not type(b):
            return str(self.text(column)) < str(other.text(column))
        return a < b


def model_text(run: engine_runs.RunRecord) -> str:
    """'ResNet-50', or '—' when the run does not say."""
    return f"ResNet-{run.depth}" if run.depth else "—"


def epochs_text(done: int, planned: int | None) -> str:
    """'3/10': epochs done of those planned (just the count when the plan is unknown)."""
    return f"{done}/{planned}" if planned else str(done)


class RunsPanel(QWidget):
    """A list of past runs with Open, Resume and Show-folder actions."""

    openRequested = Signal(str)  # run folder
    resumeRequested = Signal(str)  # run folder
    compareRequested = Signal(list)  # run folders, two or more
    exportRequested = Signal(str)  # run folder

    def __init__(self, runs_dir: str | os.PathLike | None = None, parent: QWidget | None = None):
        super().__init__(parent)
        self._runs_dir = Path(runs_dir) if runs_dir else None
        self._runs: list[engine_runs.RunRecord] = []
        self._busy = False
        self._stale = False
        self._sorted_once = False  # newest first until the user (or saved settings) chose a sort

        self.tree = QTreeWidget()
        self.tree.setObjectName("runsTree")
        self.tree.setColumnCount(len(COLUMNS))
        self.tree.setHeaderLabels(list(COLUMNS))
        self.tree.setRootIsDecorated(False)
        self.tree.setUniformRowHeights(True)
        self.tree.setAlternatingRowColors(True)
        self.tree.setSortingEnabled(True)
        self.tree.setSelectionMode(QAbstractItemView.SelectionMode.ExtendedSelection)
        self.tree.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        header = self.tree.header()
        header.setStretchLastSection(False)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        for column in range(1, len(COLUMNS)):
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.ResizeToContents)
        self.tree.itemSelectionChanged.connect(self._update_buttons)
        self.tree.itemDoubleClicked.connect(lambda *_: self._open())
        self.empty_label = muted_label()  # in the list's place when there is no run
        self.empty_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.stack = QStackedWidget()
        self.stack.addWidget(self.empty_label)
        self.stack.addWidget(self.tree)

        style = self.style()
        self.open_button = QPushButton(style.standardIcon(QStyle.StandardPixmap.SP_DialogOpenButton), "Open")
        self.open_button.setToolTip("Show this run's curves in the Train tab and load its model for prediction")
        self.resume_button = QPushButton(style.standardIcon(QStyle.StandardPixmap.SP_MediaPlay), "Resume")
        self.resume_button.setToolTip("Continue a stopped run from its last checkpoint")
        self.folder_button = QPushButton(style.standardIcon(QStyle.StandardPixmap.SP_DirOpenIcon), "Show folder")
        self.folder_button.setToolTip("Open the run folder in the file manager")
        self.refresh_button = QPushButton(style.standardIcon(QStyle.StandardPixmap.SP_BrowserReload), "Refresh")
        self.compare_button = QPushButton("Compare")
        self.compare_button.setToolTip("Overlay the validation curves and list the settings of the selected runs "
                                       "(select two or more with Ctrl or Shift)")
        self.export_button = QPushButton("Export…")
        self.export_button.setToolTip("Export this run's model to ONNX or TorchScript")
        self.compare_button.clicked.connect(self._compare)
        self.export_button.clicked.connect(self._export)
        self.open_button.clicked.connect(self._open)
        self.resume_button.clicked.connect(self._resume)
        self.folder_button.clicked.connect(self._show_folder)
        self.refresh_button.clicked.connect(self.refresh)

        title = SectionHeader("Run history")
        title.setContentsMargins(0, 0, 0, 0)
        self.location_label = ElidedLabel()
        self.location_label.setForegroundRole(QPalette.ColorRole.PlaceholderText)
        heading = QHBoxLayout()
        heading.addWidget(title)
        heading.addSpacing(10)
        heading.addWidget(self.location_label, 1)
        heading.addWidget(self.refresh_button)

        buttons = QHBoxLayout()
        buttons.addWidget(self.open_button)
        buttons.addWidget(self.resume_button)
        buttons.addWidget(self.folder_button)
        buttons.addWidget(self.compare_button)
        buttons.addWidget(self.export_button)
        buttons.addStretch(1)
        self.summary_label = QLabel()
        self.summary_label.setForegroundRole(QPalette.ColorRole.PlaceholderText)
        buttons.addWidget(self.summary_label)

        layout = QVBoxLayout(self)
        layout.setContentsMargins(12, 12, 12, 8)
        layout.setSpacing(8)
        layout.addLayout(heading)
        layout.addWidget(self.stack, 1)
        layout.addLayout(buttons)
        self.refresh()

    # ------------------------------------------------------------ public

    def runs_dir(self) -> Path:
        return self._runs_dir or engine_runs.default_runs_dir()

    def runs(self) -> list[engine_runs.RunRecord]:
        """The RunRecords listed (engine.runs), newest first."""
        return list(self._runs)

    def mark_stale(self) -> None:
        """The runs folder changed: refresh now if the list is on screen, else when it is shown.

        (Reading every run's files is cheap, but not free while a run trains.)
        """
        if self.isVisible():
            self.refresh()
        else:
            self._stale = True

    def showEvent(self, event) -> None:
        super().showEvent(event)
        if self._stale:
            self.refresh()

    def set_busy(self, busy: bool) -> None:
        """While a run trains, opening or resuming another is not offered."""
        self._busy = busy
        self._update_buttons()

    def refresh(self) -> None:
        """Read the runs folder again (after removing what killed writers left in it)."""
        self._stale = False
        selected = self.selected_paths()
        runs_dir = self.runs_dir()
        self.location_label.setText(str(runs_dir))
        problem = ""
        try:
            engine_runs.clean_orphaned_temp_files(runs_dir)  # left by writers killed mid-write
            self._runs = engine_runs.list_runs(runs_dir)
        except OSError as exc:
            self._runs = []
            problem = f"The runs folder cannot be read:\n{exc}"
        self.tree.setSortingEnabled(False)
        self.tree.clear()
        colors = self._status_colors()
        for run in self._runs:
            self.tree.addTopLevelItem(self._item(run, colors))
        self.tree.setSortingEnabled(True)
        if not self._sorted_once:
            self.tree.sortByColumn(COLUMNS.index("Date"), Qt.SortOrder.DescendingOrder)
            self._sorted_once = True
        self._show_summary(problem)
        self.select_runs(selected)
        self._update_buttons()

    def _status_colors(self) -> dict[str, QColor]:
        colors = palette_colors(self)
        return {
            "completed": QColor("#2e7d32") if colors["text"].lightness() < 128 else QColor("#81c784"),
            "cancelled": colors["warning"],
            "interrupted": colors["warning"],
            "failed": colors["error"],
            "running": colors["info"],
        }

    @staticmethod
    def _item(run: engine_runs.RunRecord, status_colors: dict[str, QColor]) -> QTreeWidgetItem:
        """One row: what each column shows, and the raw value it sorts by."""
        acc = run.best_val_acc
        cells = (
            (run.name, run.name),
            (model_text(run), run.depth or 0),
            (run.dataset, run.dataset),
            (fmt.fraction(acc), acc if acc is not None else -1.0),
            (epochs_text(run.epochs_completed, run.epochs), run.epochs_completed),
            (fmt.date_text(run.created), run.created),
            (run.status, run.status),
        )
        item = _Item([text for text, _ in cells])
        item.setData(0, _PATH_ROLE, run.path)
        item.setToolTip(0, run.path)
        for column, (_, key) in enumerate(cells):
            item.setData(column, _SORT_ROLE, key)
        for column in (1, 3, 4):
            item.setTextAlignment(column, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        if run.status in status_colors:
            item.setForeground(COLUMNS.index("Status"), status_colors[run.status])
        return item

    def _show_summary(self, problem: str) -> None:
        if self._runs:
            self.stack.setCurrentWidget(self.tree)
            done = sum(1 for r in self._runs if r.status == "completed")
            self.summary_label.setText(f"{len(self._runs)} run{'s' if len(self._runs) != 1 else ''}, {done} completed")
            return
        self.empty_label.setText(
            problem
            or "No runs yet.\n\nTrain a model from the Train tab; every run is kept here with its curves, "
            "its best model and a checkpoint to resume from."
        )
        self.stack.setCurrentWidget(self.empty_label)
        self.summary_label.setText("")

    def selected_path(self) -> str | None:
        """The selected run's folder when exactly one run is selected."""
        paths = self.selected_paths()
        return paths[0] if len(paths) == 1 else None

    def selected_paths(self) -> list[str]:
        """The selected runs' folders, in the order listed."""
        chosen = {id(item) for item in self.tree.selectedItems()}
        items = [self.tree.topLevelItem(i) for i in range(self.tree.topLevelItemCount())]
        return [item.data(0, _PATH_ROLE) for item in items if id(item) in chosen]

    def select_runs(self, paths: list[str]) -> None:
        """Select these runs (the others are deselected)."""
        wanted = {os.path.normpath(str(p)) for p in paths}
        self.tree.clearSelection()
        for i in range(self.tree.topLevelItemCount()):
            item = self.tree.topLevelItem(i)
            if os.path.normpath(item.data(0, _PATH_ROLE)) in wanted:
                item.setSelected(True)

    def selected_run(self):
        path = self.selected_path()
        return next((r for r in self._runs if r.path == path), None)

    def select_run(self, path: str) -> bool:
        for i in range(self.tree.topLevelItemCount()):
            item = self.tree.topLevelItem(i)
            if os.path.normpath(item.data(0, _PATH_ROLE)) == os.path.normpath(str(path)):
                self.tree.setCurrentItem(item)
                return True
        return False

    def save_settings(self, settings: QSettings) -> None:
        settings.setValue("history/sort_column", self.tree.sortColumn())
        settings.setValue("history/sort_order", int(self.tree.header().sortIndicatorOrder().value))

    def restore_settings(self, settings: QSettings) -> None:
        try:
            column = int(settings.value("history/sort_column", 5))
            order = Qt.SortOrder(int(settings.value("history/sort_order", 1)))
        except (TypeError, ValueError):
            return
        if 0 <= column < len(COLUMNS):
            self.tree.sortByColumn(column, order)
            self._sorted_once = True

    # ------------------------------------------------------------ actions

    def _update_buttons(self) -> None:
        run = self.selected_run()
        self.open_button.setEnabled(run is not None and not self._busy)
        self.folder_button.setEnabled(run is not None)
        self.compare_button.setEnabled(len(self.selected_paths()) >= 2)
        self.export_button.setEnabled(run is not None and run.has_model)
        resumable = run is not None and run.resumable  # the engine's rule (RunRecord.resumable)
        self.resume_button.setEnabled(resumable and not self._busy)
        tip = "Continue a stopped run from its last checkpoint (a run stopped in its first epoch starts again)"
        if run is not None and not resumable:
            tip += " — this run is complete" if run.status == "completed" else " — this run is still training"
        self.resume_button.setToolTip(tip)

    def _open(self) -> None:
        path = self.selected_path()
        if path and not self._busy:
            self.openRequested.emit(path)

    def _resume(self) -> None:
        run = self.selected_run()
        if run is not None and not self._busy:
            self.resumeRequested.emit(run.path)

    def _compare(self) -> None:
        paths = self.selected_paths()
        if len(paths) >= 2:
            self.compareRequested.emit(paths)

    def _export(self) -> None:
        run = self.selected_run()
        if run is not None and run.has_model:
            self.exportRequested.emit(run.path)

    def _show_folder(self) -> None:
        path = self.selected_path()
        if path and os.path.isdir(path):
            QDesktopServices.openUrl(QUrl.fromLocalFile(path))
