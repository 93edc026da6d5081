"""Run history: the runs in the runs folder, newest first.

Opening a run (double-click or Open) asks the window to show its curves and load its
model for prediction; a stopped run with a checkpoint can be resumed. Selecting two or
more runs (Ctrl/Shift-click) offers Compare; Export… exports a run's model. The panel only
reads run folders (engine.runs, no torch) and emits what the user asked for.
"""

from __future__ import annotations

import datetime as _dt
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

from ..widgets import ElidedLabel, palette_colors

__all__ = ["RunsPanel", "COLUMNS"]

COLUMNS = ("Run", "Model", "Dataset", "Best val acc", "Epochs", "Date", "Status")
_PATH_ROLE = Qt.ItemDataRole.UserRole
_SORT_ROLE = Qt.ItemDataRole.UserRole + 1
RESUMABLE = ("cancelled", "interrupted", "failed")


class _Item(QTreeWidgetItem):
    """Sorts by the raw value (accuracy, date) rather than the displayed text."""

    def __lt__(self, other: QTreeWidgetItem) -> bool:
        column = self.treeWidget().sortColumn() if self.treeWidget() else 0
        a, b = self.data(column, _SORT_ROLE), other.data(column, _SORT_ROLE)
        if a is None or b is None or type(a) is not type(b):
            return str(self.text(column)) < str(other.text(column))
        return a < b


def _date_text(iso: str) -> str:
    try:
        when = _dt.datetime.fromisoformat(iso)
    except (TypeError, ValueError):
        return iso or ""
    today = _dt.date.today()
    if when.date() == today:
        return f"today {when:%H:%M}"
    if when.date() == today - _dt.timedelta(days=1):
        return f"yesterday {when:%H:%M}"
    return f"{when:%Y-%m-%d %H:%M}"


class RunsPanel(QWidget):
    """A list of past runs with Open, Resume and Show-folder actions."""

    openRequested = Signal(str)  # run folder
    resumeRequested = Signal(str)  # run folder
    compareRequested = Signal(list)  # run folders, two or more
    exportRequested = Signal(str)  # run folder

    def __init__(self, runs_dir: str | os.PathLike | None = None, parent: QWidget | None = None):
        super().__init__(parent)
        self._runs_dir = Path(runs_dir) if runs_dir else None
        self._runs: list = []
        self._busy = False
        self._stale = False

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

        title = QLabel("Run history")
        font = title.font()
        font.setBold(True)
        font.setPointSizeF(font.pointSizeF() * 1.1)
        title.setFont(font)
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

        self.empty_label = QLabel()
        self.empty_label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        self.empty_label.setWordWrap(True)
        self.empty_label.setForegroundRole(QPalette.ColorRole.PlaceholderText)
        self.stack = QStackedWidget()
        self.stack.addWidget(self.empty_label)
        self.stack.addWidget(self.tree)

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

    def set_runs_dir(self, path: str | os.PathLike) -> None:
        self._runs_dir = Path(path)
        self.refresh()

    def runs(self) -> list:
        """The RunInfo entries listed, newest first."""
        return list(self._runs)

    def mark_stale(self) -> None:
        """The runs folder changed: refresh now if the list is on screen, else when it is shown.

        (Reading every run's files is cheap, but not free while a run trains.)
        """
        if self.isVisible():
            self.refresh()
        else:
            self._stale = True

    def showEvent(self, event) -> None:  # noqa: N802
        super().showEvent(event)
        if self._stale:
            self.refresh()

    def set_busy(self, busy: bool) -> None:
        """While a run trains, opening or resuming another is not offered."""
        self._busy = busy
        self._update_buttons()

    def refresh(self) -> None:
        self._stale = False
        selected = self.selected_paths()
        runs_dir = self.runs_dir()
        self.location_label.setText(str(runs_dir))
        try:
            engine_runs.clean_orphaned_temp_files(runs_dir)  # left by writers killed mid-write
            self._runs = engine_runs.list_runs(runs_dir)
        except OSError as exc:
            self._runs = []
            self.empty_label.setText(f"The runs folder cannot be read:\n{exc}")
        colors = palette_colors(self)
        status_colors = {
            "completed": QColor("#2e7d32") if colors["text"].lightness() < 128 else QColor("#81c784"),
            "cancelled": colors["warning"],
            "interrupted": colors["warning"],
            "failed": colors["error"],
            "running": colors["info"],
        }
        self.tree.setSortingEnabled(False)
        self.tree.clear()
        for info in self._runs:
            acc = info.best_val_acc
            epochs = f"{info.epochs_completed}/{info.epochs}" if info.epochs else str(info.epochs_completed)
            values = (
                info.name,
                f"ResNet-{info.depth}" if info.depth else "?",
                info.dataset,
                f"{acc:.1%}" if isinstance(acc, (int, float)) else "—",
                epochs,
                _date_text(info.created),
                info.status,
            )
            item = _Item(list(values))
            item.setData(0, _PATH_ROLE, info.path)
            sort_keys = (info.name, info.depth or 0, info.dataset, float(acc) if acc is not None else -1.0,
                         info.epochs_completed, info.created, info.status)
            for column, key in enumerate(sort_keys):
                item.setData(column, _SORT_ROLE, key)
            for column in range(1, len(COLUMNS)):
                if column in (1, 3, 4):
                    item.setTextAlignment(column, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            item.setToolTip(0, info.path)
            if info.status in status_colors:
                item.setForeground(6, status_colors[info.status])
            self.tree.addTopLevelItem(item)
        self.tree.setSortingEnabled(True)
        if self.tree.sortColumn() < 0 or not self._sorted_once:
            self.tree.sortByColumn(5, Qt.SortOrder.DescendingOrder)
            self._sorted_once = True
        if self._runs:
            self.stack.setCurrentWidget(self.tree)
            done = sum(1 for r in self._runs if r.status == "completed")
            self.summary_label.setText(f"{len(self._runs)} run{'s' if len(self._runs) != 1 else ''}, {done} completed")
        else:
            if not self.empty_label.text().startswith("The runs folder"):
                self.empty_label.setText(
                    "No runs yet.\n\nTrain a model from the Train tab; every run is kept here with its curves, "
                    "its best model and a checkpoint to resume from."
                )
            self.stack.setCurrentWidget(self.empty_label)
            self.summary_label.setText("")
        self.select_runs(selected)
        self._update_buttons()

    _sorted_once = False

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
        resumable = run is not None and run.status in RESUMABLE and run.has_checkpoint
        self.resume_button.setEnabled(resumable and not self._busy)
        if run is not None and not resumable:
            why = "only a stopped run with a checkpoint can be resumed" if run.status != "completed" else "this run is complete"
            self.resume_button.setToolTip(f"Continue a stopped run from its last checkpoint ({why})")
        else:
            self.resume_button.setToolTip("Continue a stopped run from its last checkpoint")

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
