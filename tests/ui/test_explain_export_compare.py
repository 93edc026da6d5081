"""Grad-CAM in the Predict tab, the export dialog and the run comparison."""

from __future__ import annotations

import json
import os
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest
import torch

from resnet_studio.engine import checkpoint, demo, export, models
from resnet_studio.engine.predict import Predictor
from resnet_studio.ui.history.compare import CompareView, run_record
from resnet_studio.ui.history.export_dialog import _CHOICES, ExportDialog
from resnet_studio.ui.predict.tab import PredictTab

CLASSES = ["checkers", "dots", "rings", "stripes"]
WAIT_MS = 60_000


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:
    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("run")
    model = models.build_model(18, len(CLASSES), "none")
    meta = {"depth": 18, "classes": CLASSES, "image_size": 32, "resize_size": 37,
            "mean": list(models.IMAGENET_MEAN), "std": list(models.IMAGENET_STD)}
    checkpoint.save_model(model, folder / "model.safetensors", meta)
    return folder


@pytest.fixture(scope="module")
def images(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("photos") / "photos"
    demo.make_demo_dataset(root, per_class=1, image_size=48)
    return root


def test_predict_tab_grad_cam(qtbot, model_dir, images):
    tab = PredictTab()
    qtbot.addWidget(tab)
    tab.set_imagenet_fallback_enabled(False)
    tab.resize(1100, 700)
    tab.show()
    tab.set_predictor(Predictor.from_path(model_dir), "tiny")
    tab.add_paths([str(images)])
    qtbot.waitUntil(lambda: not tab.is_busy() and all(e.done for e in tab.entries()), timeout=WAIT_MS)
    assert all(e.cam_heat is None for e in tab.entries())  # off by default: nothing computed
    assert not tab.cam_view.isVisible()

    tab.cam_button.click()
    assert tab.cam_enabled() and tab.cam_view.isVisible()
    qtbot.waitUntil(lambda: not tab.is_cam_busy() and all(e.cam_heat is not None for e in tab.entries()), timeout=WAIT_MS)
    for e in tab.entries():
        assert e.cam_heat.size() == e.thumb.size()  # drawn over the thumbnail
        assert e.cam_label == e.predictions[0][0]  # the top class by default
    first = tab.entries()[0]
    assert tab.cam_view.cam is not None and tab.cam_view.cam.label == first.predictions[0][0]

    # choose another class for the selected image: its thumbnail follows
    tab.view.setCurrentIndex(tab.results.index(0))
    qtbot.waitUntil(lambda: not tab.is_cam_busy(), timeout=WAIT_MS)
    other = CLASSES.index(first.predictions[-1][0])
    combo = tab.cam_view.class_combo
    combo.setCurrentIndex(combo.findData(other))
    combo.activated.emit(combo.currentIndex())
    qtbot.waitUntil(lambda: not tab.is_cam_busy() and first.cam_heat is not None, timeout=WAIT_MS)
    assert first.cam_class == other and first.cam_label == CLASSES[other]
    assert tab.cam_view.cam.class_index == other

    tab.cam_view.opacity_slider.setValue(20)
    assert tab.view.cam_opacity == pytest.approx(0.2)
    tab.view.grab()  # paints the overlays
    tab.cam_button.click()
    assert not tab.cam_enabled() and not tab.cam_view.isVisible()
    assert tab.shutdown()


def test_export_dialog_reports_the_difference(qtbot, model_dir, tmp_path):
    dialog = ExportDialog(str(model_dir))
    qtbot.addWidget(dialog)
    assert dialog.out_path() == str(export.default_export_path(model_dir, "onnx"))
    dialog.set_format("torchscript")
    assert dialog.out_path().endswith("model.torchscript.pt")
    dialog.set_out_path(str(tmp_path / "m.pt"))
    dialog.start_export()
    assert dialog.is_busy() and not dialog.close_button.isEnabled()
    qtbot.waitUntil(lambda: not dialog.is_busy(), timeout=WAIT_MS)
    assert dialog.error == "" and dialog.result is not None
    assert dialog.result.top1_agree == dialog.result.images_checked
    assert "largest probability difference" in dialog.banner.message()
    assert (tmp_path / "m.pt").is_file() and json.loads((tmp_path / "m.pt.json").read_text())["classes"] == CLASSES
    assert dialog.shutdown()


def test_export_dialog_without_onnx_runtime(qtbot, model_dir, monkeypatch):
    monkeypatch.setattr(export, "missing_packages", lambda fmt: ["onnxruntime"] if fmt == "onnx" else [])
    dialog = ExportDialog(str(model_dir))
    qtbot.addWidget(dialog)
    assert not dialog.export_button.isEnabled()
    assert "pip install" in dialog.missing_message.text()
    dialog.set_format("torchscript")
    assert dialog.export_button.isEnabled() and not dialog.missing_message.isVisible()


def _fake_run(root: Path, name: str, image_size: int, accs: list[float], lr=0.1) -> Path:
    run = root / name
    run.mkdir(parents=True)
    config = {"data_dir": "/data/photos", "depth": 18, "weights": "imagenet", "epochs": len(accs), "batch_size": 32,
              "image_size": image_size, "lr": lr, "optimizer": "sgd", "trainable": "all"}
    (run / "config.json").write_text(json.dumps(config))
    lines = [{"event": "epoch", "epoch": i + 1, "val_acc": a, "val_loss": 1 - a, "seconds": 10.0} for i, a in enumerate(accs)]
    (run / "metrics.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    (run / "summary.json").write_text(json.dumps({"status": "completed", "epochs_completed": len(accs),
                                                  "best_val_acc": max(accs), "best_epoch": accs.index(max(accs)) + 1,
                                                  "final_val_acc": accs[-1]}))
    return run


def test_compare_view_overlays_curves_and_settings(qtbot, tmp_path):
    a = _fake_run(tmp_path, "20261122-101500-photos-resnet18", 224, [0.5, 0.7, 0.8])
    b = _fake_run(tmp_path, "20261122-111500-photos-resnet18", 128, [0.6, 0.9])
    record = run_record(a)
    assert record["epoch"] == [1, 2, 3] and record["val_acc"] == pytest.approx([50, 70, 80])
    assert record["settings"]["time"] == "30 s" and record["settings"]["epochs"] == "3/3"
    view = CompareView()
    qtbot.addWidget(view)
    view.set_runs([str(a), str(b)])
    curves = view.acc_plot.getPlotItem().listDataItems()
    assert len(curves) == 2 and list(curves[1].getData()[1]) == pytest.approx([60, 90])
    assert len(view.loss_plot.getPlotItem().listDataItems()) == 2
    assert view.table.columnCount() == 2 and view.table.horizontalHeaderItem(0).text() == "11-22 10:15 photos-resnet18"
    rows = {view.table.verticalHeaderItem(r).text(): r for r in range(view.table.rowCount())}
    assert view.table.item(rows["Image size"], 1).text() == "128 px"
    assert view.table.item(rows["Best val acc"], 1).text() == "90.0%" and view.table.item(rows["Best val acc"], 1).font().bold()
    assert view.table.item(rows["Image size"], 0).font().italic()  # differs between the runs
    for key in ("Model", "Weights", "Learning rate", "Epochs", "Time"):
        assert key in rows


def _text_fits(dialog) -> list[str]:
    """The dialog's visible labels that are cut (shorter than their text needs at their width) or overlap the widget above."""
    from PySide6.QtWidgets import QLabel

    problems = []
    layout = dialog.layout()
    if dialog.height() < layout.totalHeightForWidth(dialog.width()):
        problems.append(f"dialog {dialog.height()} px high, needs {layout.totalHeightForWidth(dialog.width())}")
    for label in dialog.findChildren(QLabel):
        if label.isVisibleTo(dialog) and label.wordWrap() and label.height() < label.heightForWidth(label.width()):
            problems.append(f"{label.text()[:40]!r}: {label.height()} px of {label.heightForWidth(label.width())}")
    for key, _name, _file, note in _CHOICES:
        button = dialog.format_buttons[key]
        hint = next(label for label in dialog.findChildren(QLabel) if label.text() == note)
        if hint.geometry().top() < button.geometry().bottom():
            problems.append(f"the {key} description overlaps its button")
    return problems


def test_export_dialog_grows_to_fit_its_texts(qtbot, model_dir, tmp_path):
    from types import SimpleNamespace

    dialog = ExportDialog(str(model_dir))
    qtbot.addWidget(dialog)
    dialog.resize(dialog.minimumWidth(), 120)  # too short for its texts: it grows back at once
    dialog.show()
    qtbot.waitExposed(dialog)
    assert _text_fits(dialog) == []
    deep = tmp_path.joinpath(*[f"folder-{i:02d}" for i in range(12)], "model.torchscript.pt")
    result = SimpleNamespace(path=str(deep), images_checked=20, top1_agree=20, max_prob_diff=5.55e-17)
    dialog._on_done(result)  # what a finished export shows: a long path and the measured difference
    qtbot.wait(20)
    assert _text_fits(dialog) == []
    assert dialog.width() <= dialog.minimumWidth() + 1  # the path wraps instead of widening it
    dialog._on_failed("the exported model's top class differed from PyTorch's on 3 of 20 images; " * 4)
    qtbot.wait(20)
    assert _text_fits(dialog) == []
    dialog.resize(dialog.minimumWidth(), dialog.height())
    assert dialog.minimumHeight() >= dialog.layout().totalHeightForWidth(dialog.width())  # it cannot be made too short
