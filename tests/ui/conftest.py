"""UI test set-up: offscreen Qt, throw-away settings and studio folder, no leaked threads.

- QT_QPA_PLATFORM defaults to "offscreen" (no display needed).
- Every test gets its own QSettings location (INI files under tmp) and its own
  RESNET_STUDIO_HOME, so runs and demo data never touch the user's folders.
- A test that leaves a QThread running fails (the thread is waited for first, so
  the process does not crash): closing widgets must stop and join their threads.
- QMessageBox.question answers Yes unless a test says otherwise (a modal dialog
  would block an offscreen test forever); the questions asked are recorded.
"""

from __future__ import annotations

import os
import time

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest
from PySide6.QtCore import QSettings, QThread
from PySide6.QtWidgets import QMessageBox

ORGANIZATION = "ResNetStudio"
APPLICATION = "ResNet Studio"
THREAD_GRACE_S = 20.0


@pytest.fixture(scope="session", autouse=True)
def _app_identity(qapp):
    """The application's names, and garbage collected on the UI thread only, as in the app."""
    from resnet_studio.ui.worker import UiThreadGarbageCollector

    qapp.setOrganizationName(ORGANIZATION)
    qapp.setApplicationName(APPLICATION)
    UiThreadGarbageCollector.install()
    yield qapp
    UiThreadGarbageCollector.uninstall()


@pytest.fixture(autouse=True)
def temp_settings(tmp_path_factory, monkeypatch):
    """QSettings() and QSettings(org, app) read and write INI files in a fresh tmp folder."""
    folder = tmp_path_factory.mktemp("settings")
    monkeypatch.setenv("XDG_CONFIG_HOME", str(folder))
    QSettings.setDefaultFormat(QSettings.Format.IniFormat)
    for fmt in (QSettings.Format.IniFormat, QSettings.Format.NativeFormat):
        for scope in (QSettings.Scope.UserScope, QSettings.Scope.SystemScope):
            QSettings.setPath(fmt, scope, str(folder))
    return folder


@pytest.fixture(autouse=True)
def studio_home(tmp_path_factory, monkeypatch):
    """RESNET_STUDIO_HOME in tmp: runs and demo data of a test stay in it."""
    home = tmp_path_factory.mktemp("studio-home")
    monkeypatch.setenv("RESNET_STUDIO_HOME", str(home))
    return home


@pytest.fixture(autouse=True)
def questions(monkeypatch):
    """Answers QMessageBox.question with Yes and records (title, text) of each question."""
    asked: list[tuple[str, str]] = []

    def question(parent, title, text, *args, **kwargs):
        asked.append((title, text))
        return QMessageBox.StandardButton.Yes

    monkeypatch.setattr(QMessageBox, "question", staticmethod(question))
    return asked


def _running_threads(started: list) -> list:
    from shiboken6 import isValid

    return [t for t in started if isValid(t) and t.isRunning()]


@pytest.fixture(autouse=True)
def no_thread_leaks(qapp, monkeypatch):
    """Fail the test if any QThread it started is still running once it is over.

    Every QThread.start() during the test is recorded (BackgroundTask and the
    training thread included), so no slow scan of all live objects is needed.

    Autouse, so it is set up before `qtbot` and torn down after it: widgets the test
    registered with qtbot have been closed by the time threads are checked.
    """
    started: list = []
    original_start = QThread.start

    def tracking_start(self, *args, **kwargs):
        started.append(self)
        return original_start(self, *args, **kwargs)

    monkeypatch.setattr(QThread, "start", tracking_start)
    yield started
    qapp.processEvents()
    leaked = _running_threads(started)
    if not leaked:
        return
    names = ", ".join(t.objectName() or type(t).__name__ for t in leaked)
    deadline = time.monotonic() + THREAD_GRACE_S
    for t in leaked:  # let them end, or the interpreter would abort on exit
        while t.isRunning() and time.monotonic() < deadline:
            t.wait(50)
            qapp.processEvents()
    qapp.processEvents()
    pytest.fail(f"the test left {len(leaked)} QThread(s) running: {names}", pytrace=False)


@pytest.fixture
def demo_data(tmp_path_factory):
    """A tiny generated dataset: 4 classes x 8 images of 32 px."""
    from resnet_studio.engine.demo import make_demo_dataset

    return make_demo_dataset(tmp_path_factory.mktemp("demo") / "demo", per_class=8, image_size=32)


@pytest.fixture
def tiny_config(demo_data, studio_home):
    """A TrainConfig that trains ResNet-18 on the tiny demo data in a few seconds."""
    from resnet_studio.engine.config import TrainConfig

    def make(**overrides):
        values = dict(
            data_dir=str(demo_data),
            depth=18,
            weights="none",
            stem="imagenet",  # the ImageNet stem: the small one (auto from scratch below 96 px) costs 16x the compute
            epochs=1,
            batch_size=8,
            image_size=32,
            workers=0,
            device="cpu",
            out_dir=str(studio_home / "runs"),
        )
        values.update(overrides)
        return TrainConfig(**values)

    return make


@pytest.fixture
def shown_train_tab(qtbot):
    """A TrainTab with its controller, shown at 1000x700."""
    from resnet_studio.ui.train.tab import TrainTab
    from resnet_studio.ui.worker import TrainingController

    widget = TrainTab()
    widget.attach(TrainingController(widget))
    qtbot.addWidget(widget)
    widget.resize(1000, 700)
    widget.show()
    return widget
