"""The History panel: what it lists, what it leaves on disk, and what it asks the window for."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest
from PySide6.QtCore import QFile, QSettings, Qt
from PySide6.QtGui import QKeySequence
from PySide6.QtWidgets import QMessageBox

from resnet_studio.engine import runs
from resnet_studio.ui.history.panel import COLUMNS, RunsPanel


def _run(root: Path, name: str, created: str, status: str, acc: float | None, files: tuple[str, ...] = ()) -> Path:
    """A run folder as the trainer leaves it, without training: its two JSON files and empty `files`."""
    folder = root / name
    folder.mkdir(parents=True)
    documents = {
        runs.CONFIG: {"data_dir": "/data/photos", "depth": 34, "epochs": 3, "created": created},
        runs.SUMMARY: {"status": status, "epochs_completed": 2, "best_val_acc": acc},
    }
    for file_name, content in documents.items():
        (folder / file_name).write_text(json.dumps(content))
    for file_name in files:
        (folder / file_name).write_bytes(b"")
    return folder


def _snapshot(root: Path) -> dict:
    """Every file (and folder) below `root`, with each file's size and modification time."""
    return {str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns) if p.is_file() else "folder"
            for p in sorted(root.rglob("*"))}


@pytest.fixture
def runs_dir(tmp_path) -> Path:
    root = tmp_path / "runs"
    _run(root, "20261122-101500-photos-resnet34", "2026-11-22T10:15:00", "completed", 0.8, (runs.MODEL,))
    _run(root, "20261123-090000-photos-resnet34", "2026-11-23T09:00:00", "cancelled", 0.6, (runs.MODEL, runs.CHECKPOINT))
    return root


def _dead_pid() -> int:
    process = subprocess.Popen([sys.executable, "-c", "pass"])
    process.wait()
    return process.pid


def test_listing_changes_nothing_on_disk_and_refresh_removes_orphaned_temp_files(qtbot, runs_dir):
    run_dir = runs_dir / "20261123-090000-photos-resnet34"
    orphan = run_dir / f".{runs.CHECKPOINT}.tmp-{_dead_pid()}"  # a writer killed mid-write
    orphan.write_bytes(b"half")
    in_progress = run_dir / f".{runs.SUMMARY}.tmp-{os.getpid()}"  # a writer still at work
    in_progress.write_bytes(b"{")
    before = _snapshot(runs_dir)
    listed = runs.list_runs(runs_dir)
    assert [r.name for r in listed] == ["20261123-090000-photos-resnet34", "20261122-101500-photos-resnet34"]
    assert _snapshot(runs_dir) == before and orphan.exists()  # listing only reads

    panel = RunsPanel(runs_dir)  # builds its list with refresh()
    qtbot.addWidget(panel)
    assert [r.path for r in panel.runs()] == [r.path for r in listed]
    assert not orphan.exists() and in_progress.exists()
    del before[str(orphan.relative_to(runs_dir))]
    assert _snapshot(runs_dir) == before  # the orphan and nothing else


def test_history_lists_runs_newest_first_and_asks_for_actions(qtbot, runs_dir):
    panel = RunsPanel(runs_dir)
    qtbot.addWidget(panel)
    older, newer = str(runs_dir / "20261122-101500-photos-resnet34"), str(runs_dir / "20261123-090000-photos-resnet34")
    rows = [[panel.tree.topLevelItem(i).text(c) for c in range(len(COLUMNS))] for i in range(panel.tree.topLevelItemCount())]
    assert rows == [
        ["20261123-090000-photos-resnet34", "ResNet-34", "photos", "60.0%", "2/3", "2026-11-23 09:00", "cancelled"],
        ["20261122-101500-photos-resnet34", "ResNet-34", "photos", "80.0%", "2/3", "2026-11-22 10:15", "completed"],
    ]
    assert panel.summary_label.text() == "2 runs, 1 completed"

    # one run: Open, Resume (a stopped run with a checkpoint) and Export
    assert panel.select_run(newer) and panel.selected_path() == newer
    assert panel.resume_button.isEnabled() and panel.export_button.isEnabled() and not panel.compare_button.isEnabled()
    for button, signal in ((panel.open_button, panel.openRequested), (panel.resume_button, panel.resumeRequested),
                           (panel.export_button, panel.exportRequested)):
        with qtbot.waitSignal(signal) as asked:
            button.click()
        assert asked.args == [newer]
    assert panel.select_run(older) and not panel.resume_button.isEnabled()  # complete: nothing to resume
    # while a run trains, no other run is opened or resumed
    panel.set_busy(True)
    assert not panel.open_button.isEnabled() and panel.folder_button.isEnabled()
    panel.set_busy(False)
    # two runs: Compare
    panel.select_runs([older, newer])
    assert panel.selected_path() is None and panel.compare_button.isEnabled()
    with qtbot.waitSignal(panel.compareRequested) as asked:
        panel.compare_button.click()
    assert sorted(asked.args[0]) == sorted([older, newer])


def test_history_keeps_its_sort_and_refreshes_when_shown(qtbot, runs_dir, temp_settings):
    panel = RunsPanel(runs_dir)
    qtbot.addWidget(panel)
    panel.tree.sortByColumn(COLUMNS.index("Best val acc"), Qt.SortOrder.AscendingOrder)
    settings = QSettings()
    panel.save_settings(settings)
    other = RunsPanel(runs_dir)
    qtbot.addWidget(other)
    other.restore_settings(settings)
    assert other.tree.topLevelItem(0).text(0) == "20261123-090000-photos-resnet34"  # 60% before 80%
    other.refresh()
    assert other.tree.sortColumn() == COLUMNS.index("Best val acc")
    # a new run while the list is hidden: read when it is shown
    _run(runs_dir, "20261124-080000-photos-resnet34", "2026-11-24T08:00:00", "running", None)
    other.mark_stale()
    assert len(other.runs()) == 2
    other.show()
    qtbot.waitUntil(lambda: len(other.runs()) == 3)
    assert other.tree.topLevelItem(0).text(COLUMNS.index("Best val acc")) == "—"  # none yet: sorted first


# ---------------------------------------------------------------- delete, rename, the context menu


@pytest.fixture
def trash(tmp_path, monkeypatch):
    """QFile.moveToTrash into tmp_path/trash (the system trash is never touched); `trash.calls` lists what it was given.
    Set `trash.available = False` for a system without a trash."""
    folder = tmp_path / "trash"
    folder.mkdir()

    class Trash:
        calls: list[str] = []
        available = True

    def move_to_trash(path):
        Trash.calls.append(str(path))
        if not Trash.available:
            return False, ""
        target = folder / Path(path).name
        os.rename(path, target)
        return True, str(target)

    monkeypatch.setattr(QFile, "moveToTrash", staticmethod(move_to_trash))
    Trash.folder = folder
    return Trash


def _names(panel: RunsPanel) -> list[str]:
    return [panel.tree.topLevelItem(i).text(0) for i in range(panel.tree.topLevelItemCount())]


def test_delete_moves_the_run_folder_to_the_trash(qtbot, runs_dir, trash, questions):
    panel = RunsPanel(runs_dir)
    qtbot.addWidget(panel)
    newer = str(runs_dir / "20261123-090000-photos-resnet34")
    assert panel.select_run(newer) and panel.delete_button.isEnabled()
    assert panel.delete_action in panel.tree.actions() and panel.delete_action.shortcut() == QKeySequence.StandardKey.Delete
    with qtbot.waitSignal(panel.runsDeleted) as deleted:
        panel.delete_action.trigger()  # the Delete key on the list, and the context menu's Delete
    assert deleted.args == [[newer]] and trash.calls == [newer]
    assert (trash.folder / Path(newer).name / runs.CONFIG).is_file() and not Path(newer).exists()
    assert _names(panel) == ["20261122-101500-photos-resnet34"] and not questions  # the trash needs no question
    assert "Moved to the trash" in panel.banner.message()


def test_without_a_trash_it_asks_then_deletes_only_the_run_folder(qtbot, tmp_path, runs_dir, trash, questions, monkeypatch):
    trash.available = False
    photos = tmp_path / "photos" / "cat"
    photos.mkdir(parents=True)
    (photos / "1.jpg").write_bytes(b"jpeg")
    newer = runs_dir / "20261123-090000-photos-resnet34"
    (newer / "data").symlink_to(photos.parent, target_is_directory=True)  # a link out of the run: not followed
    panel = RunsPanel(runs_dir)
    qtbot.addWidget(panel)
    before = _snapshot(tmp_path)

    monkeypatch.setattr(QMessageBox, "question", staticmethod(lambda *a, **k: QMessageBox.StandardButton.Cancel))
    assert panel.select_run(str(newer)) and panel.delete_selected() == []
    assert _snapshot(tmp_path) == before  # cancelled: nothing removed

    monkeypatch.undo()  # back to the conftest's Yes
    monkeypatch.setattr(QFile, "moveToTrash", staticmethod(lambda path: (trash.calls.append(path), False)[1]))
    monkeypatch.setattr(QMessageBox, "question", staticmethod(lambda *a, **k: (questions.append(a[1:3]),
                                                                                QMessageBox.StandardButton.Yes)[1]))
    assert panel.delete_selected() == [str(newer)]
    assert questions and questions[-1][0] == "Delete for good?" and "20261123-090000-photos-resnet34" in questions[-1][1]
    gone = {k for k in before if k.startswith(str(newer.relative_to(tmp_path)))}
    assert gone and _snapshot(tmp_path) == {k: v for k, v in before.items() if k not in gone}  # that folder, nothing else
    assert (photos / "1.jpg").read_bytes() == b"jpeg"
    assert _names(panel) == ["20261122-101500-photos-resnet34"] and "Deleted" in panel.banner.message()


def test_delete_refuses_a_folder_outside_the_runs_folder_and_the_run_training_now(qtbot, tmp_path, runs_dir, trash, questions):
    outside = _run(tmp_path / "elsewhere", "20261101-000000-photos-resnet34", "2026-11-01T00:00:00", "completed", 0.5)
    photos = tmp_path / "photos"
    (photos / "cat").mkdir(parents=True)
    (photos / "cat" / "1.jpg").write_bytes(b"jpeg")
    panel = RunsPanel(runs_dir)
    qtbot.addWidget(panel)
    before = _snapshot(tmp_path)
    assert panel.delete_runs([str(outside), str(photos)]) == []
    assert "not in the runs folder" in panel.banner.message() and "not a run folder" in panel.banner.message()
    training = str(runs_dir / "20261123-090000-photos-resnet34")
    panel.set_busy(True)
    assert not panel.delete_button.isEnabled()  # the run is starting: which folder it trains in is not known yet
    panel.set_training_run(training)
    assert panel.select_run(training) and panel.delete_button.isEnabled()
    assert panel.delete_selected() == []
    assert panel.banner.title() == "Not removed" and "training now" in panel.banner.message()
    assert _snapshot(tmp_path) == before and trash.calls == [] and not questions
    panel.set_busy(False)  # the run ended: it may go now
    assert panel.delete_selected() == [training]


def test_rename_shows_the_name_in_the_list_and_in_compare(qtbot, runs_dir, monkeypatch):
    from PySide6.QtWidgets import QInputDialog

    from resnet_studio.ui.history.compare import CompareView

    panel = RunsPanel(runs_dir)
    qtbot.addWidget(panel)
    older, newer = str(runs_dir / "20261122-101500-photos-resnet34"), str(runs_dir / "20261123-090000-photos-resnet34")
    asked = []
    def get_text(*args, **kwargs):
        asked.append(kwargs.get("text"))
        return "baseline", True

    monkeypatch.setattr(QInputDialog, "getText", staticmethod(get_text))
    assert panel.select_run(older)
    with qtbot.waitSignal(panel.runRenamed) as renamed:
        panel.rename_selected()
    assert asked == ["20261122-101500-photos-resnet34"] and renamed.args == [older, "baseline"]
    assert set(_names(panel)) == {"baseline", "20261123-090000-photos-resnet34"} and panel.selected_path() == older
    assert Path(older).is_dir() and runs.RunRecord.load(older).display_name == "baseline"  # the folder keeps its name
    assert RunsPanel(runs_dir).runs()[1].display_name == "baseline"  # read again from the folder
    view = CompareView()
    qtbot.addWidget(view)
    view.set_runs([older, newer])
    assert view.table.horizontalHeaderItem(0).text() == "baseline"
    assert view.table.horizontalHeaderItem(1).text() == "11-23 09:00 photos-resnet34"
    monkeypatch.setattr(QInputDialog, "getText", staticmethod(lambda *a, **k: ("", True)))  # empty: the folder's name again
    panel.rename_selected()
    assert set(_names(panel)) == {"20261122-101500-photos-resnet34", "20261123-090000-photos-resnet34"}


def test_the_context_menu_has_every_action(qtbot, runs_dir):
    panel = RunsPanel(runs_dir)
    qtbot.addWidget(panel)
    panel.show()
    newer = str(runs_dir / "20261123-090000-photos-resnet34")
    assert panel.select_run(newer)
    menu = panel.context_menu()
    actions = [a for a in menu.actions() if not a.isSeparator()]
    assert [a.text() for a in actions] == ["Open", "Resume", "Compare", "Export…", "Show in folder", "Rename…", "Delete"]
    assert {a.text() for a in actions if not a.isEnabled()} == {"Compare"}  # one run selected
    assert panel.rename_action.shortcut().toString() == "F2"
    with qtbot.waitSignal(panel.resumeRequested) as asked:
        panel.resume_action.trigger()
    assert asked.args == [newer]
    rect = panel.tree.visualItemRect(panel.tree.topLevelItem(1))
    panel.tree.customContextMenuRequested.emit(rect.center())  # a right-click on a run
    qtbot.waitUntil(lambda: panel.menu is not None and panel.menu.isVisible())
    assert [a.text() for a in panel.menu.actions() if not a.isSeparator()][-2:] == ["Rename…", "Delete"]
    panel.menu.close()
