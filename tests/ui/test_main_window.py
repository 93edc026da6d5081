"""The real main window, driven like a user: demo data, Start, Stop, History, drops, close."""

from __future__ import annotations

import configparser
import json
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import pytest
from PySide6.QtCore import QMimeData, QPointF, QSettings, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent, QKeySequence
from PySide6.QtWidgets import QApplication

from resnet_studio.resources import APP_ICON, DESKTOP_FILE, resource_path
from resnet_studio.ui.main_window import APPLICATION, ORGANIZATION, TAB_NAMES, MainWindow

RUN_TIMEOUT_MS = 180_000


# ---------------------------------------------------------------- helpers


def _remember(**values) -> None:
    """Pre-set the setup panel's remembered choices, as a previous session would have."""
    settings = QSettings(ORGANIZATION, APPLICATION)
    for key, value in values.items():
        settings.setValue(f"setup/{key}", value)
    settings.sync()


def _open_window(qtbot, monkeypatch=None, deferred: bool = False, size=(1200, 800)) -> MainWindow:
    win = MainWindow(deferred=deferred)
    qtbot.addWidget(win)
    win.predict_tab.set_imagenet_fallback_enabled(False)  # offline: no ResNet-50 download attempts
    if size is not None:
        win.resize(*size)
    win.show()
    if monkeypatch is not None:
        original = win.setup_panel.train_config
        # data loader worker processes only slow a tiny test run down
        monkeypatch.setattr(
            win.setup_panel, "train_config", lambda: replace(original(), workers=0, device="cpu", stem="imagenet")
        )
    return win


def _tiny_window(qtbot, monkeypatch, demo_data, epochs: int = 2) -> MainWindow:
    _remember(data_dir=str(demo_data), weights="none", epochs=epochs, batch_size=8, image_size=32, depth=18)
    win = _open_window(qtbot, monkeypatch)
    qtbot.waitUntil(win.setup_panel.is_valid, timeout=60_000)
    assert win.train_tab.start_button.isEnabled()
    return win


def _drop(target, paths) -> bool:
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    pos = QPointF(target.width() / 2, target.height() / 2)
    buttons, keys = Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier
    enter = QDragEnterEvent(pos.toPoint(), Qt.DropAction.CopyAction, mime, buttons, keys)
    QApplication.sendEvent(target, enter)
    drop = QDropEvent(pos, Qt.DropAction.CopyAction, mime, Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier)
    QApplication.sendEvent(target, drop)
    return enter.isAccepted() and drop.isAccepted()


def _click(qtbot, button) -> None:
    assert button.isEnabled(), button.text()
    qtbot.mouseClick(button, Qt.MouseButton.LeftButton)


# ---------------------------------------------------------------- start-up and resources


def test_resources_are_packaged():
    icon = Path(resource_path(APP_ICON))
    assert icon.is_file() and icon.read_text(encoding="utf-8").lstrip().startswith("<svg")
    desktop = configparser.ConfigParser(interpolation=None)
    desktop.optionxform = str
    desktop.read(resource_path(DESKTOP_FILE), encoding="utf-8")
    entry = desktop["Desktop Entry"]
    assert entry["Name"] == "ResNet Studio" and entry["Type"] == "Application"
    assert entry["Exec"].startswith("resnet-studio-gui") and entry["Icon"] == "resnet-studio"
    with pytest.raises(FileNotFoundError):
        resource_path("no-such-file.png")


def test_the_window_modules_do_not_import_torch_or_pyqtgraph():
    code = (
        "import sys\n"
        "import resnet_studio.ui.app, resnet_studio.ui.main_window\n"
        "heavy = [m for m in ('torch', 'torchvision', 'pyqtgraph') if m in sys.modules]\n"
        "assert not heavy, heavy\n"
    )
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[2]))
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr


def test_window_opens_before_torch_tabs_then_fills_in(qtbot, qapp):
    from resnet_studio.ui.app import create_application

    assert create_application() is qapp
    assert not qapp.windowIcon().isNull()
    try:
        win = _open_window(qtbot, deferred=True)
        assert win.windowTitle() == "ResNet Studio"
        assert [win.tabs.tabText(i) for i in range(win.tabs.count())] == list(TAB_NAMES)
        assert win.tabs.widget(3) is win.predict_tab  # torch-free: there from the start
        qtbot.waitUntil(win.is_ready, timeout=120_000)
        assert win.tabs.widget(2) is win.architecture_view and win.architecture_view is not None
        assert win.quit_action.shortcut() == QKeySequence("Ctrl+Q")
        assert "PyTorch" in win.engine_label.text()
        win.close()
        assert not win.isVisible()
    finally:
        qapp.setStyleSheet("")


def test_layout_and_choices_are_remembered(qtbot, temp_settings):
    win = _open_window(qtbot)
    win.resize(900, 677)  # within the offscreen screen (1024x768); the minimum width may win
    size = (win.width(), win.height())
    win.tabs.setCurrentIndex(4)
    win.splitter.setSizes([330, win.width() - 330])
    left = win.splitter.sizes()[0]
    win.close()
    assert [p for p in Path(temp_settings).rglob("*") if p.is_file()], "settings went to the temporary location"

    again = _open_window(qtbot, size=None)
    assert (again.width(), again.height()) == size
    assert again.tabs.currentIndex() == 4
    assert abs(again.splitter.sizes()[0] - left) <= 2
    again.close()


# ---------------------------------------------------------------- training, history, prediction


def test_train_on_demo_data_then_predict_a_dropped_image(qtbot, monkeypatch, demo_data):
    win = _tiny_window(qtbot, monkeypatch, demo_data, epochs=2)
    epochs = []
    win.controller.epochEnded.connect(epochs.append)
    with qtbot.waitSignal(win.controller.finished, timeout=RUN_TIMEOUT_MS) as blocker:
        _click(qtbot, win.train_tab.start_button)
        assert win.tabs.currentWidget() is win.train_tab
        assert not win.train_tab.start_button.isEnabled() and win.train_tab.stop_button.isEnabled()
    result = blocker.args[0]
    assert result.status == "completed" and result.epochs_completed == 2

    # the curves hold the run's points
    steps_per_epoch = json.loads((Path(result.run_dir) / "summary.json").read_text())["num_train"] // 8
    assert len(win.train_tab.series("train_loss")[0]) >= 2 * max(1, steps_per_epoch - 1)
    assert len(win.train_tab.series("val_loss")[0]) == 2
    assert len(win.train_tab.series("val_acc")[0]) == 2
    assert len(win.train_tab.series("lr")[0]) == len(win.train_tab.series("train_loss")[0])
    assert win.train_tab.state() == "completed"
    assert len(epochs) == 2 and epochs[-1].block_grad_norms

    # the history lists it
    runs = win.runs_panel.runs()
    assert [r.path for r in runs] == [result.run_dir]
    assert runs[0].status == "completed" and runs[0].depth == 18
    assert win.runs_panel.tree.topLevelItemCount() == 1
    assert win.train_tab.start_button.isEnabled()

    # its model is loaded for prediction; a dropped image gets probabilities
    qtbot.waitUntil(lambda: win.predict_tab.predictor() is not None, timeout=60_000)
    image = sorted((Path(demo_data) / "rings").iterdir())[0]
    assert _drop(win, [image])
    assert win.tabs.currentWidget() is win.predict_tab
    qtbot.waitUntil(lambda: win.predict_tab.entries() and all(e.done for e in win.predict_tab.entries()), timeout=60_000)
    (entry,) = win.predict_tab.entries()
    assert entry.error is None and entry.path == str(image)
    labels = [label for label, _ in entry.predictions]
    probs = [p for _, p in entry.predictions]
    assert set(labels) <= {"checkers", "dots", "rings", "stripes"} and len(labels) == 4
    assert probs == sorted(probs, reverse=True) and all(0 <= p <= 1 for p in probs)
    assert sum(probs) == pytest.approx(1.0, abs=1e-3)

    # opening the run from the history shows its curves again
    win.train_tab.clear()
    assert win.runs_panel.select_run(result.run_dir)
    _click(qtbot, win.runs_panel.open_button)
    assert win.tabs.currentWidget() is win.train_tab
    assert win.train_tab.state() == "history"
    assert len(win.train_tab.series("val_acc")[0]) == 2
    assert len(win.train_tab.series("train_loss")[0]) > 0
    win.close()


def test_stop_mid_run_then_resume_from_history(qtbot, monkeypatch, demo_data):
    win = _tiny_window(qtbot, monkeypatch, demo_data, epochs=3)
    with qtbot.waitSignal(win.controller.epochEnded, timeout=RUN_TIMEOUT_MS):
        _click(qtbot, win.train_tab.start_button)
    with qtbot.waitSignal(win.controller.finished, timeout=30_000) as blocker:  # promptly
        _click(qtbot, win.train_tab.stop_button)
    stopped = blocker.args[0]
    if stopped.status == "completed":  # pragma: no cover - the machine outran the click
        pytest.skip("the run finished before Stop arrived")
    assert stopped.status == "cancelled" and stopped.epochs_completed >= 1
    assert win.train_tab.state() == "cancelled"
    assert (Path(stopped.run_dir) / "checkpoint.pt").is_file()

    (run,) = win.runs_panel.runs()
    assert run.status == "cancelled"
    assert win.runs_panel.select_run(run.path)
    with qtbot.waitSignal(win.controller.finished, timeout=RUN_TIMEOUT_MS) as blocker:
        _click(qtbot, win.runs_panel.resume_button)
    resumed = blocker.args[0]
    assert resumed.status == "completed" and resumed.run_dir == stopped.run_dir and resumed.epochs_completed == 3
    assert len(win.train_tab.series("val_acc")[0]) == 3  # the first epoch's history plus the resumed ones
    assert win.runs_panel.runs()[0].status == "completed"
    win.close()


def test_closing_mid_run_asks_stops_keeps_checkpoint_and_joins(qtbot, monkeypatch, demo_data, questions):
    win = _tiny_window(qtbot, monkeypatch, demo_data, epochs=50)
    with qtbot.waitSignal(win.controller.epochEnded, timeout=RUN_TIMEOUT_MS):
        _click(qtbot, win.train_tab.start_button)
    run_dir = Path(win.controller.run_dir)
    assert win.close()
    assert len(questions) == 1 and "training" in questions[0][0].lower()
    assert not win.controller.is_running() and not win.isVisible()
    assert (run_dir / "checkpoint.pt").is_file()
    assert json.loads((run_dir / "summary.json").read_text())["status"] == "cancelled"
    # no_thread_leaks checks that the training thread was joined


def test_closing_mid_run_can_be_cancelled(qtbot, monkeypatch, demo_data, questions):
    from PySide6.QtWidgets import QMessageBox

    win = _tiny_window(qtbot, monkeypatch, demo_data, epochs=50)
    _click(qtbot, win.train_tab.start_button)
    monkeypatch.setattr(QMessageBox, "question", staticmethod(lambda *a, **k: QMessageBox.StandardButton.Cancel))
    assert not win.close()
    assert win.isVisible() and win.controller.is_running()
    win.controller.shutdown()
    win.close()


# ---------------------------------------------------------------- errors and drops


def test_a_bad_folder_shows_its_message(qtbot, monkeypatch, tmp_path, tiny_config):
    empty = tmp_path / "no-photos"
    empty.mkdir()
    win = _open_window(qtbot)
    win.scanner.set_folder(str(empty))
    qtbot.waitUntil(lambda: not win.scanner.busy and bool(win.setup_panel.validation_message()), timeout=30_000)
    assert not win.setup_panel.is_valid()
    assert not win.train_tab.start_button.isEnabled()
    assert win.train_tab.start_reason() == win.setup_panel.validation_message()

    # a run that fails on its data (say the folder changed after the scan) reports it and returns to ready
    monkeypatch.setattr(win.setup_panel, "is_valid", lambda: True)
    monkeypatch.setattr(win.setup_panel, "train_config", lambda: tiny_config(data_dir=str(empty)))
    win.train_tab.set_can_start(True)
    with qtbot.waitSignal(win.controller.failed, timeout=RUN_TIMEOUT_MS) as blocker:
        _click(qtbot, win.train_tab.start_button)
    message = blocker.args[0]
    assert message and "Traceback" not in message
    assert message in win.train_tab.error_message()
    assert message in win.train_tab.log_view.toPlainText()
    assert "Training failed" in win.statusBar().currentMessage()
    assert win.train_tab.state() == "failed"
    assert win.train_tab.start_button.isEnabled() and not win.controller.is_running()
    assert win.open_data_action.isEnabled()  # the setup is unlocked again
    win.close()


def test_weights_unavailable_offline_is_a_readable_error(qtbot, monkeypatch, tiny_config):
    from resnet_studio.engine import models
    from resnet_studio.engine.errors import WeightsUnavailableError

    def offline(depth, progress=True):
        raise WeightsUnavailableError(f"ImageNet weights for ResNet-{depth} could not be downloaded (no network)")

    monkeypatch.setattr(models, "imagenet_state_dict", offline)
    monkeypatch.setattr(models, "imagenet_weights_cached", lambda depth: False)
    win = _open_window(qtbot)
    monkeypatch.setattr(win.setup_panel, "is_valid", lambda: True)
    monkeypatch.setattr(win.setup_panel, "train_config", lambda: tiny_config(weights="imagenet"))
    with qtbot.waitSignal(win.controller.failed, timeout=RUN_TIMEOUT_MS):
        assert win.start_training()
    # in the window's words, with the ways on (tests/ui/test_first_run_window.py): no command-line option
    assert "could not be downloaded" in win.train_tab.banner.title()
    assert "ImageNet" in win.train_tab.error_message() and "--weights" not in win.train_tab.error_message()
    assert not win.controller.is_running()
    win.close()


def test_dropping_a_folder_selects_it_as_the_dataset(qtbot, demo_data):
    win = _open_window(qtbot)
    win.tabs.setCurrentIndex(1)
    assert _drop(win, [demo_data])
    assert win.scanner.folder == str(demo_data)
    assert win.tabs.currentIndex() == 0
    qtbot.waitUntil(lambda: win.state.scan is not None, timeout=60_000)
    assert win.state.scan.classes == ["checkers", "dots", "rings", "stripes"]
    win.close()


def test_dropping_non_images_is_refused_politely(qtbot, tmp_path):
    note = tmp_path / "notes.txt"
    note.write_text("not a picture")
    win = _open_window(qtbot)
    _drop(win, [note])
    assert "Drop a folder" in win.statusBar().currentMessage()
    assert win.predict_tab.entries() == []
    win.close()
