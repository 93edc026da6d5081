"""The window's first steps (issue 13): it starts with the newest trained model, offers to
resume a run that was cut off (once), offers a way on when the ImageNet weights cannot be
downloaded, keeps the Predict list when another run is opened, and takes drops as a copy."""

from __future__ import annotations

import json
import os
from pathlib import Path

import pytest
from PySide6.QtCore import QMimeData, QPointF, QSettings, Qt, QUrl
from PySide6.QtGui import QDragEnterEvent, QDropEvent
from PySide6.QtWidgets import QApplication, QPushButton

from resnet_studio.engine import models
from resnet_studio.engine import runs as engine_runs
from resnet_studio.engine.errors import WeightsUnavailableError
from resnet_studio.engine.predict import Predictor
from resnet_studio.ui.main_window import APPLICATION, ORGANIZATION, MainWindow
from resnet_studio.ui.session import OFFERED_KEY, WEIGHTS_TITLE

from ..bad_files import good_model_dir

RUN_TIMEOUT_MS = 180_000


def _run(studio_home: Path, name: str, status: str | None, created: str, model: bool = True, epochs_done: int = 1) -> str:
    """A run folder as the trainer leaves it: settings, a summary (None: none yet) and a model."""
    folder = studio_home / "runs" / name
    if model:
        good_model_dir(folder)
    folder.mkdir(parents=True, exist_ok=True)
    config = {"data_dir": str(studio_home / "photos"), "depth": 18, "weights": "none", "epochs": 3, "created": created}
    (folder / "config.json").write_text(json.dumps(config))
    if status is not None:
        summary = {"status": status, "epochs_completed": epochs_done, "classes": ["checkers", "dots", "rings", "stripes"]}
        if status == "running":
            summary["pid"] = 2**22 + 12345  # no such process: cut off
        (folder / "summary.json").write_text(json.dumps(summary))
    return str(folder)


def _window(qtbot) -> MainWindow:
    win = MainWindow(deferred=False)
    qtbot.addWidget(win)
    win.resize(1200, 800)
    win.show()
    return win


@pytest.fixture
def no_imagenet(monkeypatch):
    """Every attempt to load torchvision's ImageNet model is recorded, and fails as offline."""
    calls = []

    def imagenet(depth=50, device="cpu"):
        calls.append(depth)
        raise WeightsUnavailableError("ImageNet weights for ResNet-50 could not be downloaded (no network)")

    monkeypatch.setattr(Predictor, "imagenet", staticmethod(imagenet))
    return calls


def test_the_window_starts_with_the_newest_completed_model_not_imagenet(qtbot, studio_home, no_imagenet, images):
    _run(studio_home, "20260101-080000-photos-resnet18", "completed", "2026-01-01T08:00:00")
    newest = _run(studio_home, "20260102-080000-photos-resnet18", "completed", "2026-01-02T08:00:00")
    _run(studio_home, "20260103-080000-photos-resnet18", "failed", "2026-01-03T08:00:00")
    assert engine_runs.newest_completed_run().path == newest

    win = _window(qtbot)
    win.tabs.setCurrentWidget(win.predict_tab)  # shown at once: no ImageNet model while the run's loads
    win.predict_tab.add_paths([str(images[0])])
    qtbot.waitUntil(lambda: win.predict_tab.predictor() is not None, timeout=60_000)
    assert win.predict_tab.model_label() == Path(newest).name
    qtbot.waitUntil(lambda: all(e.done for e in win.predict_tab.entries()), timeout=60_000)
    assert win.predict_tab.entries()[0].error is None
    qtbot.wait(300)
    assert no_imagenet == []
    assert not win.resume_offer.isVisibleTo(win)
    win.close()


def test_imagenet_is_offered_only_when_there_is_no_run(qtbot, no_imagenet):
    win = _window(qtbot)
    win.tabs.setCurrentWidget(win.predict_tab)
    qtbot.waitUntil(lambda: no_imagenet == [50], timeout=10_000)
    win.close()


def test_opening_another_run_keeps_the_predict_list_and_predicts_it_again(qtbot, studio_home, no_imagenet, images):
    first = _run(studio_home, "20260101-080000-photos-resnet18", "completed", "2026-01-01T08:00:00")
    second = _run(studio_home, "20260102-080000-photos-resnet18", "completed", "2026-01-02T08:00:00")
    win = _window(qtbot)
    qtbot.waitUntil(lambda: win.predict_tab.model_label() == Path(second).name, timeout=60_000)
    win.predict_tab.add_paths([str(p) for p in images])
    qtbot.waitUntil(lambda: all(e.done for e in win.predict_tab.entries()), timeout=60_000)
    with qtbot.waitSignal(win.predict_tab.modelChanged, timeout=60_000, check_params_cb=lambda label: label == Path(first).name):
        win.open_run(first)
    assert sorted(e.path for e in win.predict_tab.entries()) == [str(p) for p in images]  # kept
    qtbot.waitUntil(lambda: all(e.done for e in win.predict_tab.entries()), timeout=60_000)
    assert len(win.predict_tab.entries()) == len(images)
    assert all(e.error is None and e.predictions for e in win.predict_tab.entries())
    win.close()


def test_a_run_that_was_cut_off_is_offered_for_resuming_once(qtbot, studio_home, no_imagenet, monkeypatch):
    _run(studio_home, "20260101-080000-photos-resnet18", "completed", "2026-01-01T08:00:00")
    cut = _run(studio_home, "20260102-080000-photos-resnet18", "running", "2026-01-02T08:00:00", epochs_done=2)
    assert engine_runs.RunRecord.load(cut).status == "interrupted"
    win = _window(qtbot)
    offer = win.resume_offer
    assert offer.isVisibleTo(win) and offer.title() == "Resume the interrupted run?"
    assert "after 2 of 3 epochs" in offer.message() and Path(cut).name in offer.message()
    started = []
    monkeypatch.setattr(win, "start_training", lambda resume_dir=None: started.append(resume_dir) or True)
    resume = next(b for b in offer.findChildren(QPushButton) if b.text() == "Resume")
    qtbot.mouseClick(resume, Qt.MouseButton.LeftButton)
    assert started == [cut] and not offer.isVisibleTo(win)
    assert QSettings(ORGANIZATION, APPLICATION).value(OFFERED_KEY) == cut
    win.close()

    again = _window(qtbot)  # offered once per run
    assert not again.resume_offer.isVisibleTo(again)
    again.close()
    newer = _run(studio_home, "20260103-080000-photos-resnet18", None, "2026-01-03T08:00:00", model=False)
    third = _window(qtbot)  # another run cut off (before its first summary): offered, Dismiss
    assert third.resume_offer.isVisibleTo(third) and "in its first epoch" in third.resume_offer.message()
    assert third.resume_offer.run_dir == newer
    dismiss = next(b for b in third.resume_offer.findChildren(QPushButton) if b.text() == "Dismiss")
    qtbot.mouseClick(dismiss, Qt.MouseButton.LeftButton)
    assert not third.resume_offer.isVisibleTo(third)
    third.close()


def test_a_failed_weights_download_offers_scratch_and_a_weights_file(qtbot, monkeypatch, tiny_config, tmp_path, no_imagenet):
    def offline(depth, progress=True):
        raise WeightsUnavailableError(
            f"ImageNet weights for ResNet-{depth} could not be downloaded (no network): place resnet18.pth "
            "from https://example/resnet18.pth in /cache/ or pass it with --weights PATH"
        )

    monkeypatch.setattr(models, "imagenet_state_dict", offline)
    monkeypatch.setattr(models, "imagenet_weights_cached", lambda depth: False)
    win = _window(qtbot)
    panel = win.setup_panel
    monkeypatch.setattr(panel, "is_valid", lambda: True)
    monkeypatch.setattr(panel, "train_config", lambda: tiny_config(weights=panel.weights.value()))
    panel.weights.set_value("imagenet")
    with qtbot.waitSignal(win.controller.failed, timeout=RUN_TIMEOUT_MS):
        assert win.start_training()
    banner = win.train_tab.banner
    assert banner.isVisibleTo(win) and banner.title() == WEIGHTS_TITLE
    assert "--weights" not in banner.message() and "Train from scratch" in banner.message()
    assert "--weights" not in win.statusBar().currentMessage()
    assert "could not be downloaded" in win.statusBar().currentMessage()
    buttons = {b.text(): b for b in banner.findChildren(QPushButton)}
    assert {"Train from scratch", "Choose weights file…"} <= set(buttons)

    weights = tmp_path / "start.safetensors"
    weights.write_bytes(b"x")
    monkeypatch.setattr(panel.weights, "browse_file", lambda: str(weights))
    buttons["Choose weights file…"].click()
    assert panel.weights.value() == str(weights)

    with qtbot.waitSignal(win.controller.finished, timeout=RUN_TIMEOUT_MS) as finished:
        buttons["Train from scratch"].click()  # the field, then the run again
    assert panel.weights.value() == "none" and finished.args[0].status == "completed"
    win.close()


def test_drops_on_the_window_are_taken_as_a_copy(qtbot, images, no_imagenet):
    win = _window(qtbot)
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(images[0]))])
    actions = Qt.DropAction.CopyAction | Qt.DropAction.MoveAction
    buttons, keys = Qt.MouseButton.LeftButton, Qt.KeyboardModifier.ShiftModifier  # Shift: the source proposes Move
    pos = QPointF(win.width() / 2, win.height() / 2)
    enter = QDragEnterEvent(pos.toPoint(), actions, mime, buttons, keys)
    assert enter.proposedAction() == Qt.DropAction.MoveAction
    QApplication.sendEvent(win, enter)
    assert enter.isAccepted() and enter.dropAction() == Qt.DropAction.CopyAction
    drop = QDropEvent(pos, actions, mime, buttons, keys)
    QApplication.sendEvent(win, drop)
    assert drop.isAccepted() and drop.dropAction() == Qt.DropAction.CopyAction
    assert os.path.isfile(images[0]) and win.predict_tab.entries()
    win.predict_tab.clear()
    win.close()


@pytest.fixture
def images(tmp_path) -> list[Path]:
    from resnet_studio.engine.demo import make_demo_dataset

    root = make_demo_dataset(tmp_path / "photos", per_class=1, image_size=32)
    return sorted(root.rglob("*.png"))[:3]
