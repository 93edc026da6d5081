"""The window around the Train tab (issue 13, items 6 and 8): a resumed run's header and the
setup panel's note about its settings, and errors in the status bar that are elided, whole
in the tooltip, and replaced when the next run starts."""

from __future__ import annotations

import json

import pytest

from resnet_studio.engine import runs
from resnet_studio.engine.events import RunFinished, RunStarted
from resnet_studio.ui.main_window import MainWindow

CONFIG = {"depth": 18, "data_dir": "/data/demo", "weights": "none", "trainable": "all", "image_size": 32,
          "batch_size": 8, "optimizer": "sgd", "lr": 0.01, "epochs": 4}


@pytest.fixture
def window(qtbot, monkeypatch):
    win = MainWindow(deferred=False)
    qtbot.addWidget(win)
    win.predict_tab.set_imagenet_fallback_enabled(False)  # offline
    win.resize(1200, 800)
    win.show()
    started = []
    monkeypatch.setattr(win.controller, "start", lambda config, resume_dir=None: started.append((config, resume_dir)))
    win.started = started
    yield win
    win.close()


@pytest.fixture
def stopped_run(tmp_path):
    folder = tmp_path / "20260315-101500-demo-resnet18"
    folder.mkdir()
    rows = [{"event": "epoch", "epoch": e, "train_loss": 1, "train_acc": 0.5, "val_loss": 1, "val_acc": 0.5, "seconds": 60.0}
            for e in (1, 2)]
    (folder / runs.CONFIG).write_text(json.dumps(CONFIG), encoding="utf-8")
    (folder / runs.METRICS).write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    (folder / runs.SUMMARY).write_text(json.dumps({"status": "cancelled", "epochs_completed": 2}), encoding="utf-8")
    return folder


def test_a_resumed_run_is_named_without_resume_wording_once_it_ends_and_the_panel_shows_its_settings(window, stopped_run):
    win = window
    assert win.start_training(resume_dir=str(stopped_run))
    assert win.started and win.started[0][1] == str(stopped_run)
    note = win.setup_panel.run_note
    assert note.isVisibleTo(win.setup_panel) and "resumed" in note.title() and stopped_run.name in note.message()
    assert "ResNet-18 on demo" in note.message() and "next run" in note.message()

    tab = win.train_tab
    tab._on_run_started(RunStarted(str(stopped_run), CONFIG, ["a", "b"], {}, 16, 4, [], "cpu", 3, 4, 5))
    assert tab.progress.elapsed.value() == "2:00"  # the two epochs before the resume
    tab._on_finished(RunFinished("completed", str(stopped_run), 4, 4, 0.9, 0.9, None))
    header = tab.state_label.text()
    assert header.startswith("Training complete") and stopped_run.name in header and "resum" not in header.lower()
    assert "was trained with" in note.title() and note.isVisibleTo(win.setup_panel)


def test_errors_in_the_status_bar_are_elided_whole_in_the_tooltip_and_replaced_by_the_next_run(window, stopped_run):
    win, bar = window, window.statusBar()
    message = "cannot read " + "/a/very/long/folder/name" * 20 + "/photo.jpg: the file is truncated"
    win._on_run_failed(message)
    assert bar.currentMessage() == f"Training failed: {message}"
    shown = bar.shown_message()
    assert shown.endswith("…") and len(shown) < len(bar.currentMessage())
    assert bar.fontMetrics().horizontalAdvance(shown) < win.width()
    assert bar.toolTip() == bar.currentMessage()

    win._on_run_failed("no validation image could be read")  # short: drawn whole, no tooltip
    assert bar.shown_message() == bar.currentMessage() and bar.toolTip() == ""

    win._on_run_failed(message)
    assert win.start_training(resume_dir=str(stopped_run))  # a new run: the old error goes
    assert "failed" not in bar.currentMessage().lower() and bar.toolTip() == ""
