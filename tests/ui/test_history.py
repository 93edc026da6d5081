"""The History panel: what it lists, what it leaves on disk, and what it asks the window for."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest
from PySide6.QtCore import QSettings, Qt

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
