"""The window and the desktop: where nothing can open a folder (no file manager, no xdg-open),
"Open run folder", "Open Runs Folder" and "Show in folder" say so in one line with the path,
instead of doing nothing; Help > Add to Application Menu writes the desktop entry."""

from __future__ import annotations

import re
import sys
from pathlib import Path

import pytest
from PySide6.QtGui import QDesktopServices, QGuiApplication
from PySide6.QtWidgets import QDialog, QMainWindow, QMessageBox

from resnet_studio.engine import runs
from resnet_studio.ui.main_window import MainWindow
from resnet_studio.ui.train.log import RunLog
from resnet_studio.ui.widgets import open_folder

PACKAGE = Path(__file__).resolve().parents[2] / "resnet_studio"


@pytest.fixture
def no_file_manager(monkeypatch):
    """QDesktopServices.openUrl answers False, as where no program opens folders; the folders
    it was asked for are recorded, and so is any message box."""
    asked, boxes = [], []
    monkeypatch.setattr(QDesktopServices, "openUrl", staticmethod(lambda url: asked.append(url.toLocalFile()) or False))
    monkeypatch.setattr(QMessageBox, "information", staticmethod(lambda parent, title, text, *a: boxes.append(text)))
    return asked, boxes


def test_in_a_main_window_the_status_bar_says_it_with_the_path(qtbot, no_file_manager, tmp_path):
    asked, boxes = no_file_manager
    window = QMainWindow()
    qtbot.addWidget(window)
    log = RunLog()
    window.setCentralWidget(log)
    log.set_run_dir(str(tmp_path))
    log.open_folder_button.click()
    assert asked == [str(tmp_path)] and boxes == []
    message = window.statusBar().currentMessage()
    assert str(tmp_path) in message and "\n" not in message and "file manager" in message
    assert QGuiApplication.clipboard().text() == str(tmp_path)


def test_in_a_dialog_a_message_box_says_it(qtbot, no_file_manager, tmp_path):
    asked, boxes = no_file_manager
    dialog = QDialog()
    qtbot.addWidget(dialog)
    assert open_folder(tmp_path, dialog) is False
    assert len(boxes) == 1 and str(tmp_path) in boxes[0]


def test_a_folder_that_opens_says_nothing(qtbot, monkeypatch, tmp_path):
    monkeypatch.setattr(QDesktopServices, "openUrl", staticmethod(lambda url: True))
    window = QMainWindow()
    qtbot.addWidget(window)
    assert open_folder(tmp_path, window) is True
    assert window.statusBar().currentMessage() == ""


def test_the_studio_s_open_runs_folder(qtbot, no_file_manager):
    asked, boxes = no_file_manager
    win = MainWindow(deferred=False)
    qtbot.addWidget(win)
    win.predict_tab.set_imagenet_fallback_enabled(False)
    (item,) = [a for a in win.menuBar().actions() if a.text() == "&File"]
    (action,) = [a for a in item.menu().actions() if a.text() == "Open &Runs Folder"]
    action.trigger()
    folder = str(runs.default_runs_dir())
    assert asked == [folder] and boxes == []
    assert folder in win.statusBar().currentMessage()
    win.close()


def _help_action(win, text):
    (item,) = [a for a in win.menuBar().actions() if a.text() == "&Help"]
    return next(a for a in item.menu().actions() if a.text() == text)


@pytest.mark.skipif(not sys.platform.startswith("linux"), reason="a freedesktop.org entry: Linux desktops")
def test_help_add_to_application_menu(qtbot, monkeypatch, tmp_path):
    from resnet_studio import desktop

    win = MainWindow(deferred=False)
    qtbot.addWidget(win)
    win.predict_tab.set_imagenet_fallback_enabled(False)
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "share"))
    _help_action(win, "Add to Application &Menu").trigger()
    entry = tmp_path / "share" / "applications" / "resnet-studio.desktop"
    assert entry.is_file() and desktop.icon_path().is_file()
    assert str(entry) in win.statusBar().currentMessage()
    # where it cannot be written: one line, as the window reports errors
    (tmp_path / "file").write_text("x")
    monkeypatch.setenv("XDG_DATA_HOME", str(tmp_path / "file"))
    _help_action(win, "Add to Application &Menu").trigger()
    message = win.statusBar().currentMessage()
    assert message.startswith("Cannot add ResNet Studio to the application menu: cannot write") and "\n" not in message
    win.close()


def test_every_folder_the_window_opens_goes_through_the_helper():
    """No other openUrl call that could fail silently."""
    calls = [f"{path.relative_to(PACKAGE)}:{n}" for path in sorted((PACKAGE / "ui").rglob("*.py"))
             for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
             if re.search(r"\bopenUrl\(", line) and path.name != "widgets.py"]
    assert calls == []
