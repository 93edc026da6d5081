"""The predict tab: drops, folders, pasted images, error entries, the no-model banner."""

from __future__ import annotations

import csv
import os
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest
from PySide6.QtCore import QMimeData, QPoint, QPointF, Qt, QUrl
from PySide6.QtGui import QColor, QDragEnterEvent, QDropEvent, QGuiApplication, QImage
from PySide6.QtWidgets import QApplication

from resnet_studio.engine import demo
from resnet_studio.engine.errors import WeightsUnavailableError
from resnet_studio.engine.predict import Predictor
from resnet_studio.ui.predict.tab import PredictTab
from resnet_studio.ui.tasks import running_background_tasks, wait_for_background_tasks

from ..bad_files import good_model_dir

CLASSES = ["checkers", "dots", "rings", "stripes"]


@pytest.fixture(scope="module")
def images(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("predict") / "photos"
    demo.make_demo_dataset(root, per_class=3, image_size=32)
    return root


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:
    """A tiny model file, as a run folder holds it (built, not trained: fast)."""
    return good_model_dir(tmp_path_factory.mktemp("run"))


@pytest.fixture(scope="module")
def predictor(model_dir):
    return Predictor.from_path(model_dir)


@pytest.fixture(autouse=True)
def studio_home(tmp_path, monkeypatch):
    monkeypatch.setenv("RESNET_STUDIO_HOME", str(tmp_path / "home"))


@pytest.fixture
def offline(monkeypatch):
    """ImageNet weights are never available here; make that immediate and deterministic."""
    def unavailable(depth=50, device="cpu"):
        raise WeightsUnavailableError("ImageNet weights for ResNet-50 could not be downloaded (no network)")

    monkeypatch.setattr(Predictor, "imagenet", staticmethod(unavailable))


@pytest.fixture
def tab(qtbot, offline):
    t = PredictTab()
    qtbot.addWidget(t)
    t.resize(800, 600)
    yield t
    t.shutdown()
    assert wait_for_background_tasks(10_000), "a background task is still running"
    assert not running_background_tasks()


def _drop(tab, paths) -> QDropEvent:
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(p)) for p in paths])
    buttons, keys = Qt.MouseButton.LeftButton, Qt.KeyboardModifier.NoModifier
    enter = QDragEnterEvent(QPoint(20, 20), Qt.DropAction.CopyAction, mime, buttons, keys)
    QApplication.sendEvent(tab, enter)
    assert enter.isAccepted()
    drop = QDropEvent(QPointF(20, 20), Qt.DropAction.CopyAction, mime, buttons, keys)
    QApplication.sendEvent(tab, drop)
    return drop


def _wait_done(qtbot, tab) -> None:
    qtbot.waitUntil(lambda: not tab.is_busy() and all(e.done for e in tab.entries()), timeout=30_000)


def _check_probabilities(entry) -> None:
    probs = [p for _, p in entry.predictions]
    assert entry.error is None
    assert len(probs) == len(CLASSES)  # top-5 of a 4-class model: all 4
    assert probs == sorted(probs, reverse=True)
    assert all(0.0 <= p <= 1.0 for p in probs)
    assert sum(probs) <= 1.0 + 1e-4
    assert {label for label, _ in entry.predictions} <= set(CLASSES)


def test_dropped_files_get_sorted_probabilities_and_broken_files_an_error(qtbot, tab, predictor, images, tmp_path):
    tab.set_predictor(predictor, "ResNet-18 · photos")
    broken = tmp_path / "broken.jpg"
    broken.write_bytes(b"\xff\xd8 definitely not a whole jpeg")
    files = sorted((images / "dots").glob("*.png")) + [broken]
    with qtbot.waitSignal(tab.predictionsReady, timeout=30_000):
        drop = _drop(tab, files)
    assert drop.isAccepted()
    _wait_done(qtbot, tab)

    entries = tab.entries()
    assert [e.name for e in entries] == [f.name for f in files]
    good = [e for e in entries if e.path != str(broken)]
    assert len(good) == 3
    for entry in good:
        _check_probabilities(entry)
        assert entry.thumb is not None and not entry.thumb.isNull()
    bad = next(e for e in entries if e.path == str(broken))
    assert bad.done and bad.predictions == [] and "broken.jpg" in bad.error
    assert "1 could not be read" in tab.status_label.text()
    tab.grab()  # the delegate paints every kind of entry without raising


def test_a_dropped_folder_is_searched_and_newest_drops_come_first(qtbot, tab, predictor, images):
    tab.set_predictor(predictor, "")
    assert "ResNet-18" in tab.model_label()
    _drop(tab, [images / "rings"])
    _wait_done(qtbot, tab)
    _drop(tab, [images])
    _wait_done(qtbot, tab)
    entries = tab.entries()
    assert len(entries) == 3 + 12
    assert all(e.done and e.error is None for e in entries)
    assert entries[-1].name == "rings_002.png"  # the first drop is now at the bottom
    tab.order_combo.setCurrentIndex(tab.order_combo.findData(False))
    assert [e.name for e in tab.entries()][:3] == ["rings_000.png", "rings_001.png", "rings_002.png"]
    tab.clear()
    assert tab.entries() == [] and tab.stack.currentWidget() is tab.drop_hint


def test_pasted_image_data_is_classified(qtbot, tab, predictor):
    tab.set_predictor(predictor, "m")
    image = QImage(48, 40, QImage.Format.Format_RGB32)
    image.fill(QColor("orange"))
    QGuiApplication.clipboard().setImage(image)
    with qtbot.waitSignal(tab.predictionsReady, timeout=30_000):
        tab.paste()
    _wait_done(qtbot, tab)
    (entry,) = tab.entries()
    assert entry.path is None and entry.name.startswith("Pasted image")
    _check_probabilities(entry)


def test_offline_without_a_model_says_so_and_keeps_the_photos_waiting(qtbot, tab, predictor, images):
    tab.use_imagenet_model()  # what showing the tab does first
    qtbot.waitUntil(lambda: not tab.is_busy(), timeout=10_000)
    assert tab.predictor() is None
    assert tab.banner.isVisibleTo(tab) and tab.banner.kind == "warning"
    text = tab.banner.message().lower()
    assert "train a model" in text and "open one" in text and "could not be downloaded" in text

    tab.add_paths([str(images / "stripes" / "stripes_000.png")])
    assert not tab.entries()[0].done
    assert "waiting for a model" in tab.status_label.text()
    with qtbot.waitSignal(tab.predictionsReady, timeout=30_000):
        tab.set_predictor(predictor, "now trained")
    _wait_done(qtbot, tab)
    _check_probabilities(tab.entries()[0])
    assert not tab.banner.isVisibleTo(tab)


def test_opening_a_model_from_a_run_folder(qtbot, tab, model_dir, images):
    tab.add_paths([str(images / "checkers" / "checkers_000.png")])
    with qtbot.waitSignal(tab.modelChanged, timeout=30_000, check_params_cb=bool):
        tab.open_model(str(model_dir))
    assert "ResNet-18" in tab.model_label() and "4 classes" in tab.model_label()
    _wait_done(qtbot, tab)
    _check_probabilities(tab.entries()[0])


def test_opening_a_bad_model_shows_an_error_banner(qtbot, tab, tmp_path):
    bad = tmp_path / "model.safetensors"
    bad.write_bytes(b"nope")
    tab.open_model(str(bad))
    qtbot.waitUntil(lambda: not tab.is_busy() and tab.banner.kind == "error", timeout=10_000)
    assert "could not open" in tab.banner.title().lower()
    assert "model.json" in tab.banner.message()
    assert tab.predictor() is None


def test_results_export_as_csv(qtbot, tab, predictor, images, tmp_path):
    tab.set_predictor(predictor, "m")
    tab.add_paths([str(images / "dots" / "dots_000.png"), str(tmp_path / "gone.png")])
    _wait_done(qtbot, tab)
    out = tmp_path / "out.csv"
    tab.write_csv(str(out))
    rows = list(csv.DictReader(out.open()))
    assert [Path(r["path"]).name for r in rows] == ["dots_000.png", "gone.png"]
    assert rows[0]["label_1"] in CLASSES and float(rows[0]["prob_1"]) > 0
    assert "not found" in rows[1]["error"]


def test_changing_the_model_predicts_again(qtbot, tab, predictor, model_dir, images):
    tab.set_predictor(predictor, "first")
    tab.add_paths([str(images)])
    other = Predictor.from_path(model_dir)
    tab.set_predictor(other, "second")  # while the first job may still run
    _wait_done(qtbot, tab)
    assert len(tab.entries()) == 12
    for entry in tab.entries():
        _check_probabilities(entry)


def test_clearing_drops_what_is_still_being_predicted(qtbot, tab, predictor, images):
    tab.set_predictor(predictor, "m")
    arrived = []
    tab.predictionsReady.connect(arrived.append)
    tab.add_paths([str(images)] * 4)  # 48 photos: three chunks
    tab.clear()
    qtbot.waitUntil(lambda: not tab.is_busy(), timeout=30_000)
    assert tab.entries() == [] and arrived == []
    tab.add_paths([str(images / "dots")])  # the next job runs as usual
    _wait_done(qtbot, tab)
    assert [e.name for e in tab.entries()] == ["dots_000.png", "dots_001.png", "dots_002.png"]


# ---------------------------------------------------------------- issue 13: paste, thumbnails, drops, a model on its way


def test_ctrl_v_pastes_as_soon_as_the_tab_is_shown(qtbot, offline, predictor):
    """Choosing the tab leaves the focus where it was (the tab bar, the setup panel): Ctrl+V
    must paste all the same, without a click in the list first."""
    from PySide6.QtWidgets import QPushButton, QTabWidget, QVBoxLayout, QWidget

    window = QWidget()
    qtbot.addWidget(window)
    elsewhere = QPushButton("a button outside the tab")
    tabs = QTabWidget()
    tabs.addTab(QWidget(), "Data")
    tab = PredictTab()
    tabs.addTab(tab, "Predict")
    layout = QVBoxLayout(window)
    layout.addWidget(elsewhere)
    layout.addWidget(tabs)
    window.resize(900, 600)
    window.show()
    window.activateWindow()
    qtbot.waitUntil(lambda: QApplication.activeWindow() is window, timeout=5_000)
    tab.set_predictor(predictor, "m")
    image = QImage(40, 40, QImage.Format.Format_RGB32)
    image.fill(QColor("teal"))
    QGuiApplication.clipboard().setImage(image)
    try:
        elsewhere.setFocus()
        qtbot.keyClick(elsewhere, Qt.Key.Key_V, Qt.KeyboardModifier.ControlModifier)
        assert tab.entries() == []  # the tab is not shown: its shortcut is off
        tabs.setCurrentWidget(tab)
        elsewhere.setFocus()
        qtbot.keyClick(elsewhere, Qt.Key.Key_V, Qt.KeyboardModifier.ControlModifier)
        assert len(tab.entries()) == 1 and tab.entries()[0].name.startswith("Pasted image")
        _wait_done(qtbot, tab)
    finally:
        tab.shutdown()


def test_waiting_photos_show_their_thumbnails_before_any_prediction(qtbot, tab, images):
    tab.model_picker.imagenet_enabled = False  # no model at all: the photos wait
    tab.add_paths([str(images / "rings")])
    qtbot.waitUntil(lambda: all(e.thumb is not None for e in tab.entries()), timeout=10_000)
    assert len(tab.entries()) == 3 and not any(e.done for e in tab.entries())
    assert all(not e.thumb.isNull() for e in tab.entries())
    assert "waiting for a model" in tab.status_label.text()
    tab.grab()


def test_file_drops_are_taken_as_a_copy(qtbot, tab, predictor, images):
    """A file manager proposing Move would delete the files once the drop is accepted."""
    tab.set_predictor(predictor, "m")
    mime = QMimeData()
    mime.setUrls([QUrl.fromLocalFile(str(images / "dots" / "dots_000.png"))])
    actions = Qt.DropAction.CopyAction | Qt.DropAction.MoveAction
    buttons, keys = Qt.MouseButton.LeftButton, Qt.KeyboardModifier.ShiftModifier  # Shift: Move proposed
    enter = QDragEnterEvent(QPoint(20, 20), actions, mime, buttons, keys)
    assert enter.proposedAction() == Qt.DropAction.MoveAction
    QApplication.sendEvent(tab, enter)
    assert enter.isAccepted() and enter.dropAction() == Qt.DropAction.CopyAction
    drop = QDropEvent(QPointF(20, 20), actions, mime, buttons, keys)
    QApplication.sendEvent(tab, drop)
    assert drop.isAccepted() and drop.dropAction() == Qt.DropAction.CopyAction
    _wait_done(qtbot, tab)
    assert (images / "dots" / "dots_000.png").is_file()


def test_a_model_on_its_way_holds_off_imagenet_and_keeps_the_photos(qtbot, tab, predictor, model_dir, images):
    tab.expect_model("20260101-photos-resnet18")
    tab.show()
    tab.add_paths([str(images / "dots")])
    qtbot.wait(400)  # past the first show's ImageNet offer
    assert not tab.model_picker.is_loading() and tab.predictor() is None  # no ImageNet download started
    assert tab.banner.kind == "info" and "20260101-photos-resnet18" in tab.banner.title()
    assert "Loading" in tab.model_picker.name_label.full_text()
    with qtbot.waitSignal(tab.predictionsReady, timeout=30_000):
        tab.set_predictor(predictor, "20260101-photos-resnet18")
    _wait_done(qtbot, tab)
    assert len(tab.entries()) == 3 and all(e.done and e.error is None for e in tab.entries())
    assert not tab.banner.isVisibleTo(tab)

    tab.expect_model("another run")  # the next run's model: the photos stay, predicted again once it comes
    assert tab.banner.isVisibleTo(tab) and len(tab.entries()) == 3
    with qtbot.waitSignal(tab.predictionsReady, timeout=30_000):
        tab.set_predictor(Predictor.from_path(model_dir), "another run")
    _wait_done(qtbot, tab)
    assert len(tab.entries()) == 3 and all(e.done and e.error is None for e in tab.entries())

    tab.expect_model("a run whose model does not load")
    tab.expect_model("")  # it will not come: the model in use stays
    assert tab.predictor() is not None and not tab.banner.isVisibleTo(tab)
