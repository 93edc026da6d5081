"""Every bad model, weights and checkpoint file through the window (issue 7).

The same files as tests/cli/test_bad_model_files.py (tests/bad_files.py), opened where a
user opens them: the Predict tab's Open model, the setup panel's weights file, History's
Open and Resume, the Evaluate tab and the export dialog. Each must show a clear message
in the widget's own visible error display, leave the window usable (the previous model
stays, a good file opens afterwards), and run no code from the file. An exception in a
slot or virtual method fails the test: pytest-qt captures those.
"""

from __future__ import annotations

import os
from html import unescape
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest
from PySide6.QtWidgets import QFileDialog

from resnet_studio.engine.errors import WeightsUnavailableError
from resnet_studio.engine.predict import Predictor
from resnet_studio.ui.tasks import running_background_tasks, wait_for_background_tasks

from ..bad_files import (
    MODEL_CASES,
    RESUME_CASES,
    RUN_FOLDER_CASES,
    WEIGHTS_CASES,
    bad_model,
    bad_resume_run,
    bad_weights,
    good_model_dir,
    resnet_state,
    save_safetensors,
)

WAIT_MS = 60_000


@pytest.fixture
def marker(tmp_path) -> Path:
    path = tmp_path / "PWNED"
    yield path
    assert not path.exists(), "code from a model file ran"


@pytest.fixture(scope="module")
def good_run(tmp_path_factory) -> Path:
    return good_model_dir(tmp_path_factory.mktemp("good") / "run-good")


@pytest.fixture
def offline(monkeypatch):
    def unavailable(depth=50, device="cpu"):
        raise WeightsUnavailableError("ImageNet weights for ResNet-50 could not be downloaded (no network)")

    monkeypatch.setattr(Predictor, "imagenet", staticmethod(unavailable))


def _text(html: str) -> str:
    return unescape(html)


def _assert_names(text: str, needles, where: str) -> None:
    assert "Traceback" not in text and "\n" not in text.strip(), text
    for needle in needles:
        assert needle in text, f"{needle!r} not in the {where}: {text!r}"


def _settle() -> None:
    assert wait_for_background_tasks(20_000), "a background task is still running"
    assert not running_background_tasks()


# ---------------------------------------------------------------- Predict tab: Open model


@pytest.fixture
def predict_tab(qtbot, offline):
    from resnet_studio.ui.predict.tab import PredictTab

    tab = PredictTab()
    qtbot.addWidget(tab)
    tab.resize(800, 600)
    tab.show()
    yield tab
    tab.shutdown()
    _settle()


@pytest.mark.parametrize("case", MODEL_CASES)
def test_predict_tab_open_model_shows_why_and_keeps_the_model(qtbot, predict_tab, tmp_path, marker, good_run, case):
    tab = predict_tab
    good = Predictor.from_path(good_run)
    tab.set_predictor(good, "the good run")
    path, needles = bad_model(tmp_path / "bad", case, marker)

    tab.open_model(str(path))
    qtbot.waitUntil(lambda: tab.banner.kind == "error", timeout=WAIT_MS)
    assert tab.banner.isVisible()
    assert tab.banner.title() == "Could not open the model"
    _assert_names(_text(tab.banner.message()), needles, "Predict tab's banner")
    assert tab.predictor() is good and "the good run" in tab.model_label()  # still usable

    tab.open_model(str(good_run))  # a good model opens afterwards
    qtbot.waitUntil(lambda: tab.predictor() is not good, timeout=WAIT_MS)
    assert tab.predictor().classes == good.classes
    assert not tab.banner.isVisible()


def test_predict_tab_open_model_dialog(qtbot, predict_tab, tmp_path, marker, monkeypatch):
    path, needles = bad_model(tmp_path / "bad", "code_pickle_pt", marker)
    monkeypatch.setattr(QFileDialog, "getOpenFileName", staticmethod(lambda *a, **k: (str(path), "")))
    predict_tab.open_model_file()
    qtbot.waitUntil(lambda: predict_tab.banner.kind == "error", timeout=WAIT_MS)
    _assert_names(_text(predict_tab.banner.message()), needles, "Predict tab's banner")
    assert predict_tab.predictor() is None


# ---------------------------------------------------------------- setup panel: weights file


@pytest.fixture
def setup_panel(qtbot):
    from resnet_studio.ui.scanner import DatasetScanner
    from resnet_studio.ui.setup.panel import SetupPanel
    from resnet_studio.ui.state import StudioState

    state = StudioState()
    scanner = DatasetScanner(state)
    panel = SetupPanel(state, scanner)
    qtbot.addWidget(panel)
    combo = panel.weights.combo
    combo.setCurrentIndex(combo.findData("file"))
    panel.field("depth").table.set_depth(18)
    yield panel
    for part in (panel, scanner, state):
        part.shutdown()
    _settle()


def _weights_verdict(qtbot, panel) -> str:
    qtbot.waitUntil(lambda: not panel.is_checking_weights(), timeout=WAIT_MS)
    return panel.weights_file_problem()


@pytest.mark.parametrize("case", WEIGHTS_CASES)
def test_setup_panel_weights_file_shows_why(qtbot, setup_panel, tmp_path, marker, case):
    panel = setup_panel
    path, needles = bad_weights(tmp_path / "weights", case, marker)
    panel.weights.path.setText(str(path))
    problem = _weights_verdict(qtbot, panel)
    assert problem, "a bad weights file was accepted"
    assert panel.message("weights").kind == "error" and panel.message("weights").isVisibleTo(panel)
    _assert_names(panel.message("weights").text(), needles, "weights message")
    assert not panel.is_valid()

    good = save_safetensors(resnet_state(18, 4), tmp_path / "good.safetensors")
    panel.weights.path.setText(str(good))
    assert _weights_verdict(qtbot, panel) == "" and panel.message("weights").kind != "error"


def test_setup_panel_weights_follow_the_depth_and_any_head_is_fine(qtbot, setup_panel, tmp_path, monkeypatch):
    panel = setup_panel
    r34 = save_safetensors(resnet_state(34), tmp_path / "r34.safetensors")
    monkeypatch.setattr(QFileDialog, "getOpenFileName", staticmethod(lambda *a, **k: (str(r34), "")))
    panel.weights.browse.click()
    assert panel.weights.path.text() == str(r34)
    assert "ResNet-34" in _weights_verdict(qtbot, panel)
    panel.field("depth").table.set_depth(34)  # no new check: the verdict of every depth is known
    assert panel.weights_file_problem() == "" and not panel.is_checking_weights()
    panel.field("depth").table.set_depth(18)
    assert "do not fit ResNet-18" in panel.weights_file_problem()

    imagenet_like = save_safetensors(resnet_state(18, 1000), tmp_path / "r18-1000.safetensors")
    panel.weights.path.setText(str(imagenet_like))  # another head: replaced when training starts
    assert _weights_verdict(qtbot, panel) == ""


# ---------------------------------------------------------------- Evaluate tab and export dialog


@pytest.mark.parametrize("case", RUN_FOLDER_CASES)
def test_evaluate_tab_and_export_dialog_show_why(qtbot, tmp_path, marker, case):
    from resnet_studio.ui.evaluate.tab import EvaluateTab
    from resnet_studio.ui.history.export_dialog import ExportDialog

    path, needles = bad_model(tmp_path / "bad", case, marker)
    tab = EvaluateTab()
    qtbot.addWidget(tab)
    tab.show()
    tab.evaluate_run(str(path))
    qtbot.waitUntil(lambda: not tab.is_busy(), timeout=WAIT_MS)
    assert tab.banner.isVisible() and tab.banner.kind == "error"
    _assert_names(_text(tab.banner.message()), needles, "Evaluate tab's banner")
    assert tab.last_error and tab.predictor() is None

    dialog = ExportDialog(str(path))
    qtbot.addWidget(dialog)
    dialog.show()
    dialog.set_format("torchscript")
    dialog.set_out_path(str(tmp_path / "out" / "m.pt"))
    dialog.start_export()
    qtbot.waitUntil(lambda: not dialog.is_busy(), timeout=WAIT_MS)
    assert dialog.banner.isVisible() and dialog.banner.title() == "Export failed"
    _assert_names(_text(dialog.banner.message()), needles, "export dialog's banner")
    assert dialog.result is None and not (tmp_path / "out" / "m.pt").exists()
    assert dialog.export_button.isEnabled()  # another try is possible
    assert dialog.shutdown() and tab.shutdown()
    _settle()


# ---------------------------------------------------------------- main window: History's Open and Resume


@pytest.fixture
def window(qtbot):
    from resnet_studio.ui.main_window import MainWindow

    win = MainWindow(deferred=False)
    qtbot.addWidget(win)
    win.predict_tab.set_imagenet_fallback_enabled(False)
    win.resize(1100, 750)
    win.show()
    yield win
    win.close()
    _settle()


def test_history_open_of_bad_runs_says_why_and_a_good_run_still_opens(qtbot, window, tmp_path, marker, good_run):
    win = window
    for case in RUN_FOLDER_CASES:
        path, needles = bad_model(tmp_path / case, case, marker)
        win.statusBar().clearMessage()
        win.runs_panel.openRequested.emit(str(path))
        qtbot.waitUntil(lambda: "Could not load the model" in win.statusBar().currentMessage(), timeout=WAIT_MS)
        message = win.statusBar().currentMessage()
        _assert_names(message, needles, f"status bar ({case})")
        assert message in win.train_tab.log_view.toPlainText()
        assert win.predict_tab.predictor() is None
        _settle()
    win.runs_panel.openRequested.emit(str(good_run))
    qtbot.waitUntil(lambda: win.predict_tab.predictor() is not None, timeout=WAIT_MS)
    assert not marker.exists()


def test_history_resume_of_bad_runs_says_why(qtbot, window, tmp_path, marker, demo_data):
    win = window
    for case in RESUME_CASES:
        run, needles = bad_resume_run(tmp_path / case, case, marker, demo_data)
        before = sorted(p.name for p in run.iterdir())
        win.statusBar().clearMessage()
        if win.start_training(resume_dir=str(run)):  # the checkpoint is read on the training thread
            with qtbot.waitSignal(win.controller.failed, timeout=WAIT_MS) as failed:
                pass
            message = failed.args[0]
            assert message in win.train_tab.error_message() and win.train_tab.state() == "failed"
            assert "Training failed" in win.statusBar().currentMessage()
        else:  # config.json: refused before a thread starts
            message = win.statusBar().currentMessage()
            assert message.startswith("Cannot start")
        _assert_names(message, needles, f"message ({case})")
        qtbot.waitUntil(lambda: not win.controller.is_running(), timeout=WAIT_MS)
        assert sorted(p.name for p in run.iterdir()) == before, case  # nothing written into the run
    assert not marker.exists()
