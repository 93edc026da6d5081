"""Run history: the runs in the runs folder, newest first.

Opening a run (double-click or Open) asks the window to show its curves and load its
model for prediction; a stopped run with a checkpoint can be resumed. Selecting two or
more runs (Ctrl/Shift-click) offers Compare; Export… exports a run's model. Rename… (F2)
gives a run a name to be shown by (`runs.set_display_name`: the folder keeps its name);
Delete (the Delete key) moves run folders to the system trash, or, where there is none,
deletes them for good after asking. The engine decides what may be removed
(`runs.check_removable`: a run folder inside the runs folder, not the run training now)
and does the removal for good (`runs.delete_run`, which never deletes a photo). Every
action is also in the list's context menu. The panel reads run folders only through the
engine's RunRecord (`runs.list_runs`, no torch) and emits what the user asked for; the
window opens the dialogs (compare.py, export_dialog.py). Refresh also removes the
temporary files a killed writer left behind (`runs.clean_orphaned_temp_files`); listing
alone changes nothing on disk.
"""

from __future__ import annotations

import os
from pathlib import Path

from PySide6.QtCore import QFile, QSettings, Qt, Signal
from PySide6.QtGui import QAction, QColor, QKeySequence, QPalette
from PySide6.QtWidgets import (
    QAbstractItemView,
    QHBoxLayout,
    QHeaderView,
    QInputDialog,
    QLabel,
    QMenu,
    QMessageBox,
    QPushButton,
    QStackedWidget,
    QStyle,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from resnet_studio.engine import runs as engine_runs
from resnet_studio.engine.errors import StudioError

from .. import format as fmt
from ..widgets import Banner, ElidedLabel, SectionHeader, muted_label, open_folder, palette_colors

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
    runsDeleted = Signal(list)  # run folders moved to the trash or deleted
    runRenamed = Signal(str, str)  # run folder, the name it is shown by now

    def __init__(self, runs_dir: str | os.PathLike | None = None, parent: QWidget | None = None):
        super().__init__(parent)
        self._runs_dir = Path(runs_dir) if runs_dir else None
        self._runs: list[engine_runs.RunRecord] = []
        self._busy = False
        self._training_run: str | None = None  # the run folder training now (not to be removed)
        self.menu: QMenu | None = None
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
        self.tree.setContextMenuPolicy(Qt.ContextMenuPolicy.CustomContextMenu)
        self.tree.customContextMenuRequested.connect(self._show_context_menu)
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
        self.rename_button = QPushButton("Rename…")
        self.rename_button.setToolTip("Give the run a name to be shown by (F2); its folder keeps its name")
        self.delete_button = QPushButton(style.standardIcon(QStyle.StandardPixmap.SP_TrashIcon), "Delete")
        self.delete_button.setToolTip("Move the selected run folders to the trash (Delete); where there is no trash, "
                                      "delete them for good after asking")
        self.rename_button.clicked.connect(self.rename_selected)
        self.delete_button.clicked.connect(self.delete_selected)
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
        self.summary_label = QLabel()
        self.summary_label.setForegroundRole(QPalette.ColorRole.PlaceholderText)
        heading.addWidget(self.summary_label)
        heading.addSpacing(8)
        heading.addWidget(self.refresh_button)
        self.banner = Banner()  # what Delete and Rename did, or why they did not

        buttons = QHBoxLayout()
        buttons.addWidget(self.open_button)
        buttons.addWidget(self.resume_button)
        buttons.addWidget(self.folder_button)
        buttons.addWidget(self.compare_button)
        buttons.addWidget(self.export_button)
        buttons.addStretch(1)
        buttons.addWidget(self.rename_button)
        buttons.addWidget(self.delete_button)
        self._build_actions()

        layout = QVBoxLayout(self)
        layout.setContentsMargins(12, 12, 12, 8)
        layout.setSpacing(8)
        layout.addLayout(heading)
        layout.addWidget(self.banner)
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
        if not busy:
            self._training_run = None
        self._update_buttons()

    def set_training_run(self, run_dir: str | os.PathLike | None) -> None:
        """The run folder training now: it is not offered for deletion."""
        self._training_run = str(run_dir) if run_dir else None
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
            (run.display_name, run.display_name.casefold()),
            (model_text(run), run.depth or 0),
            (run.dataset, run.dataset),
            (fmt.fraction(acc), acc if acc is not None else -1.0),
            (epochs_text(run.epochs_completed, run.epochs), run.epochs_completed),
            (fmt.date_text(run.created), run.created),
            (run.status, run.status),
        )
        item = _Item([text for text, _ in cells])
        item.setData(0, _PATH_ROLE, run.path)
        item.setToolTip(0, run.path if not run.given_name else f"{run.given_name}\n{run.path}")
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

    def _build_actions(self) -> None:
        """The context menu's actions: the buttons' (they stay in step with them), Rename and Delete
        with their keys on the list."""

        def action(text: str, button: QPushButton, shortcut=None) -> QAction:
            act = QAction(button.icon(), text, self)
            act.setToolTip(button.toolTip())
            act.triggered.connect(button.click)
            if shortcut is not None:
                act.setShortcut(QKeySequence(shortcut))
                act.setShortcutContext(Qt.ShortcutContext.WidgetWithChildrenShortcut)
                self.tree.addAction(act)
            return act

        self.open_action = action("Open", self.open_button)
        self.resume_action = action("Resume", self.resume_button)
        self.compare_action = action("Compare", self.compare_button)
        self.export_action = action("Export…", self.export_button)
        self.folder_action = action("Show in folder", self.folder_button)
        self.rename_action = action("Rename…", self.rename_button, "F2")
        self.delete_action = action("Delete", self.delete_button, QKeySequence.StandardKey.Delete)

    def context_menu(self) -> QMenu:
        """The list's context menu for the runs selected now (shown on a right-click)."""
        menu = QMenu(self)
        for act in (self.open_action, self.resume_action, self.compare_action, self.export_action, self.folder_action):
            menu.addAction(act)
        menu.addSeparator()
        menu.addAction(self.rename_action)
        menu.addAction(self.delete_action)
        return menu

    def _show_context_menu(self, pos) -> None:
        if self.tree.itemAt(pos) is None or not self.selected_paths():
            return
        menu = self.context_menu()
        menu.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose, True)
        menu.popup(self.tree.viewport().mapToGlobal(pos))
        self.menu = menu  # the menu shown last (for the tests)

    def _update_buttons(self) -> None:
        run = self.selected_run()
        paths = self.selected_paths()
        self.open_button.setEnabled(run is not None and not self._busy)
        self.folder_button.setEnabled(run is not None)
        self.compare_button.setEnabled(len(paths) >= 2)
        self.export_button.setEnabled(run is not None and run.has_model)
        resumable = run is not None and run.resumable  # the engine's rule (RunRecord.resumable)
        self.resume_button.setEnabled(resumable and not self._busy)
        tip = "Continue a stopped run from its last checkpoint (a run stopped in its first epoch starts again)"
        if run is not None and not resumable:
            tip += " — this run is complete" if run.status == "completed" else " — this run is still training"
        self.resume_button.setToolTip(tip)
        self.rename_button.setEnabled(run is not None)
        # while a run starts, which folder it trains in is not known yet: nothing is removed until it is
        self.delete_button.setEnabled(bool(paths) and not (self._busy and self._training_run is None))
        for act, button in ((self.open_action, self.open_button), (self.resume_action, self.resume_button),
                            (self.compare_action, self.compare_button), (self.export_action, self.export_button),
                            (self.folder_action, self.folder_button), (self.rename_action, self.rename_button),
                            (self.delete_action, self.delete_button)):
            act.setEnabled(button.isEnabled())

    # ------------------------------------------------------------ rename and delete

    def rename_selected(self) -> None:
        """Ask for a name for the selected run (an empty one shows the folder's name again)."""
        run = self.selected_run()
        if run is None:
            return
        name, ok = QInputDialog.getText(
            self, "Rename run",
            f"The name to show for this run (its folder, {run.name}, keeps its name; leave empty for that name):",
            text=run.display_name)
        if ok:
            self.rename_run(run.path, name)

    def rename_run(self, run_dir: str, name: str) -> bool:
        """Show the run by `name` from now on (kept in its folder); True when it was kept."""
        try:
            shown = engine_runs.set_display_name(run_dir, name) or Path(run_dir).name
        except (OSError, StudioError) as exc:
            self.banner.show_message("error", "Could not rename the run", fmt.escape(str(exc)))
            return False
        self.banner.hide()
        self.refresh()
        self.select_runs([run_dir])
        self.runRenamed.emit(str(run_dir), shown)
        return True

    def delete_selected(self) -> list[str]:
        """Move the selected runs' folders to the trash; where there is no trash, ask, then delete
        them for good. The engine refuses anything but a run folder inside the runs folder, and the
        run training now. Returns the folders removed."""
        return self.delete_runs(self.selected_paths())

    def delete_runs(self, paths: list[str]) -> list[str]:
        if not paths:
            return []
        runs_dir = self.runs_dir()
        shown = {path: self._shown_name(path) for path in paths}
        removable: list[str] = []
        refused: list[str] = []
        for path in paths:
            try:
                engine_runs.check_removable(path, runs_dir, training=self._training_run)
                removable.append(path)
            except StudioError as exc:
                refused.append(str(exc))
        trashed = [path for path in removable if self._move_to_trash(path)]
        deleted: list[str] = []
        no_trash = [path for path in removable if path not in trashed]
        if no_trash and self._confirm_delete(no_trash):
            for path in no_trash:
                try:
                    engine_runs.delete_run(path, runs_dir, training=self._training_run)
                    deleted.append(path)
                except (OSError, StudioError) as exc:
                    refused.append(str(exc))
        removed = trashed + deleted
        self.refresh()
        self._report_removal([shown[p] for p in trashed], [shown[p] for p in deleted], refused)
        if removed:
            self.runsDeleted.emit(removed)
        return removed

    @staticmethod
    def _move_to_trash(path: str) -> bool:
        result = QFile.moveToTrash(path)  # (ok, path in the trash), or ok alone in some bindings
        return bool(result[0] if isinstance(result, tuple) else result)

    def _confirm_delete(self, paths: list[str]) -> bool:
        names = [self._shown_name(path, with_folder=True) for path in paths]
        listed = "\n".join(f"  • {name}" for name in names[:8]) + (f"\n  … and {len(names) - 8} more" if len(names) > 8 else "")
        answer = QMessageBox.question(
            self,
            "Delete for good?",
            f"There is no trash to move {'this run' if len(paths) == 1 else f'these {len(paths)} runs'} to here.\n\n"
            f"{listed}\n\nDelete {'its folder' if len(paths) == 1 else 'their folders'} for good? Its model, "
            "curves and checkpoint go with it; nothing outside the run folder is touched.",
            QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel,
            QMessageBox.StandardButton.Cancel,
        )
        return answer == QMessageBox.StandardButton.Yes

    def _shown_name(self, path: str, with_folder: bool = False) -> str:
        """The run's name as listed (with its folder's name after it, when they differ and `with_folder`)."""
        run = next((r for r in self._runs if os.path.normpath(r.path) == os.path.normpath(path)), None)
        if run is None:
            return Path(path).name
        return f"{run.display_name} ({run.name})" if with_folder and run.given_name else run.display_name

    def _report_removal(self, trashed: list[str], deleted: list[str], refused: list[str]) -> None:
        """Say what was removed (by the names shown) and why anything was not."""

        def names(shown: list[str]) -> str:
            return ", ".join(fmt.escape(n) for n in shown[:3]) + (f" and {len(shown) - 3} more" if len(shown) > 3 else "")

        done = []
        if trashed:
            done.append(f"Moved to the trash: {names(trashed)}.")
        if deleted:
            done.append(f"Deleted: {names(deleted)}.")
        if refused:
            text = "<br>".join(fmt.escape(fmt.sentence(m)) for m in refused[:5])
            self.banner.show_message("error", "Not removed", "<br>".join(done + [text]))
        elif done:
            self.banner.show_message("info", "", " ".join(done))
        else:
            self.banner.hide()

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
            open_folder(path, self)
