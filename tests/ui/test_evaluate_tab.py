"""The Evaluate tab: metrics, confusion matrix, the gallery and its filter, Grad-CAM, folders."""

from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np
import pytest
from PIL import Image
from PySide6.QtCore import Qt
from PySide6.QtTest import QTest
from PySide6.QtWidgets import QLabel

from resnet_studio.engine import runs
from resnet_studio.engine.evaluate import ClassMetrics, Evaluation, SampleResult
from resnet_studio.ui.evaluate.tab import EvaluateTab
from resnet_studio.ui.history.export_dialog import ExportDialog

WAIT_MS = 60_000


@pytest.fixture(scope="module")
def tiny_run(tmp_path_factory):
    """A 1-epoch ResNet-18 run on 4 classes x 8 generated 32 px images."""
    from resnet_studio.engine.config import TrainConfig
    from resnet_studio.engine.demo import make_demo_dataset
    from resnet_studio.engine.train import Trainer

    data = make_demo_dataset(tmp_path_factory.mktemp("data") / "demo", per_class=8, image_size=32)
    config = TrainConfig(data_dir=str(data), depth=18, weights="none", stem="imagenet", epochs=1, batch_size=8, image_size=32,
                         workers=0, device="cpu", out_dir=str(tmp_path_factory.mktemp("runs")))
    finished = Trainer(config).run()
    assert finished.status == "completed"
    return Path(finished.run_dir), data


@pytest.fixture
def tab(qtbot):
    widget = EvaluateTab()
    qtbot.addWidget(widget)
    widget.resize(1200, 800)
    yield widget
    assert widget.shutdown()


def wait_idle(qtbot, tab):
    qtbot.waitUntil(lambda: not tab.is_busy() and not tab.is_loading_thumbnails() and not tab.cam_view.is_busy(), timeout=WAIT_MS)


def test_empty_state_says_what_to_do(tab):
    tab.show()
    assert "Train a model" in tab.empty_label.text() and tab.stack.currentIndex() == 0


def test_run_is_evaluated_when_the_tab_is_shown(qtbot, tab, tiny_run):
    run_dir, _ = tiny_run
    tab.set_run(str(run_dir))
    assert tab.evaluation is None and not tab.is_busy()  # hidden: nothing runs yet
    tab.show()
    qtbot.waitUntil(lambda: tab.evaluation is not None, timeout=WAIT_MS)
    wait_idle(qtbot, tab)
    ev = tab.evaluation
    summary = runs.read_json(run_dir / runs.SUMMARY)
    assert ev.num_images == summary["num_val"] and ev.classes == summary["classes"]
    assert tab.stat_acc.value() == f"{ev.accuracy:.1%}"
    assert "TOP-2 ACCURACY" in [label.text() for label in tab.stat_topk.findChildren(QLabel)]  # StatTile's caption
    assert tab.source_label.text().startswith("Showing: validation split of demo: ")
    # the heatmap holds the confusion matrix, the table one row per class
    assert tab.matrix.classes == ev.classes and tab.matrix.counts.tolist() == ev.confusion
    assert tab.class_model.rowCount() == 4
    # the gallery: every mistake, most confident first
    mistakes = ev.mistakes()
    assert [s.path for s in tab.gallery_samples()] == [s.path for s in mistakes]
    if mistakes:  # thumbnails are read for what is on screen
        qtbot.waitUntil(lambda: tab.gallery_model.thumbs.get(mistakes[0].path) is not None, timeout=WAIT_MS)


def test_cell_click_filters_the_gallery(qtbot, tab, tiny_run):
    tab.show()
    tab.evaluate_run(str(tiny_run[0]))
    qtbot.waitUntil(lambda: tab.evaluation is not None, timeout=WAIT_MS)
    wait_idle(qtbot, tab)
    ev = tab.evaluation
    counts = np.array(ev.confusion)
    off = counts - np.diag(np.diag(counts))
    true, pred = np.unravel_index(int(off.argmax()), off.shape) if off.max() > 0 else (0, 0)
    true, pred = int(true), int(pred)
    QTest.mouseClick(tab.matrix.canvas, Qt.MouseButton.LeftButton, pos=tab.matrix.cell_center(true, pred))
    assert tab.matrix.selection() == (true, pred) and tab.current_filter() == (true, pred)
    shown = tab.gallery_samples()
    assert len(shown) == counts[true, pred]
    assert all(s.true == true and s.pred == pred for s in shown)
    assert tab.clear_filter_button.isVisible()
    # clicking the same cell again shows every mistake again
    QTest.mouseClick(tab.matrix.canvas, Qt.MouseButton.LeftButton, pos=tab.matrix.cell_center(true, pred))
    assert tab.matrix.selection() is None and tab.current_filter() == (None, None)
    assert len(tab.gallery_samples()) == len(ev.mistakes())
    tab.normalized_check.setChecked(True)
    assert tab.matrix.normalized
    wait_idle(qtbot, tab)


def _fake_evaluation(folder: Path) -> Evaluation:
    """3 classes; 'a' images predicted as 'b' twice (0.9 and 0.6), one 'c' as 'a'."""
    folder.mkdir(parents=True, exist_ok=True)
    samples = []
    spec = [(0, 0, 0.8), (0, 1, 0.9), (0, 1, 0.6), (1, 1, 0.7), (2, 0, 0.55), (2, 2, 0.95)]
    for i, (t, p, conf) in enumerate(spec):
        path = folder / f"{i}.png"
        Image.new("RGB", (40, 30), (40 * i, 100, 200)).save(path)
        others = [c for c in range(3) if c != p]
        topk = ((p, conf), (others[0], (1 - conf) * 0.7), (others[1], (1 - conf) * 0.3))
        samples.append(SampleResult(str(path), t, p, conf, conf if t == p else 0.1, topk))
    per_class = [ClassMetrics("a", 0.5, 1 / 3, 0.4, 3), ClassMetrics("b", 1 / 3, 1.0, 0.5, 1),
                 ClassMetrics("c", 1.0, 0.5, 2 / 3, 2)]
    return Evaluation(["a", "b", "c"], samples, 2, 0.5, 0.8, per_class, [[1, 2, 0], [0, 1, 0], [1, 0, 1]], source="test set")


def test_gallery_order_table_sorting_and_class_filter(qtbot, tab, tmp_path):
    tab.show()
    ev = _fake_evaluation(tmp_path / "imgs")
    tab.show_evaluation(ev)
    assert [Path(s.path).name for s in tab.gallery_samples()] == ["1.png", "2.png", "4.png"]  # most confident first
    qtbot.waitUntil(lambda: all(tab.gallery_model.thumbs.get(s.path) is not None for s in tab.gallery_samples()), timeout=WAIT_MS)
    # sortable per-class table: by F1, ascending
    tab.class_table.sortByColumn(3, Qt.SortOrder.AscendingOrder)
    names = [tab.class_proxy.index(r, 0).data() for r in range(3)]
    assert names == ["a", "b", "c"]
    tab.class_table.sortByColumn(2, Qt.SortOrder.DescendingOrder)  # recall
    assert [tab.class_proxy.index(r, 0).data() for r in range(3)] == ["b", "c", "a"]
    # a row click shows that class's mistakes
    row_c = next(r for r in range(3) if tab.class_proxy.index(r, 0).data() == "c")
    tab.class_table.clicked.emit(tab.class_proxy.index(row_c, 1))
    assert [Path(s.path).name for s in tab.gallery_samples()] == ["4.png"]
    # a diagonal cell shows the correct ones
    tab.matrix.select_cell(0, 0)
    assert [Path(s.path).name for s in tab.gallery_samples()] == ["0.png"] and "Correct" in tab.gallery_box.title.text()
    tab.clear_filter()
    assert tab.matrix.selection() is None and len(tab.gallery_samples()) == 3
    wait_idle(qtbot, tab)


def test_gallery_selection_shows_grad_cam_and_folder_evaluation(qtbot, tab, tiny_run):
    run_dir, data = tiny_run
    tab.show()
    tab.evaluate_run(str(run_dir))
    qtbot.waitUntil(lambda: tab.evaluation is not None, timeout=WAIT_MS)
    wait_idle(qtbot, tab)
    # any image of the gallery (a correct one if there is no mistake) gets its Grad-CAM
    tab.matrix.select_cell(0, int(np.array(tab.evaluation.confusion)[0].argmax()))
    wait_idle(qtbot, tab)
    cam = tab.cam_view.cam
    sample = tab.gallery_samples()[0]
    assert cam is not None and cam.class_index == sample.pred
    assert tab.cam_view.canvas.heat is not None and tab.cam_view.canvas.picture is not None
    assert tab.cam_view.canvas.heat.size() == tab.cam_view.canvas.picture.size()
    # another class, chosen in the pane
    other = (sample.pred + 1) % 4
    tab.cam_view.class_combo.setCurrentIndex(tab.cam_view.class_combo.findData(other))
    tab.cam_view.class_combo.activated.emit(tab.cam_view.class_combo.currentIndex())
    wait_idle(qtbot, tab)
    assert tab.cam_view.cam.class_index == other
    # evaluate on a folder in the class layout, with progress
    progress = []
    tab.progress.valueChanged.connect(progress.append)
    tab.evaluate_folder(str(data))
    qtbot.waitUntil(lambda: not tab.is_busy(), timeout=WAIT_MS)
    assert tab.evaluation.num_images == 32 and tab.evaluation.source == "all of demo"
    assert progress and tab.source_label.text().startswith("Showing: all of demo: 32 images")
    wait_idle(qtbot, tab)


def test_errors_and_cancel(qtbot, tab, tiny_run, tmp_path):
    tab.show()
    tab.evaluate_run(str(tmp_path))  # no model
    assert "no saved model" in tab.empty_label.text()
    tab.evaluate_run(str(tiny_run[0]))
    tab.cancel()
    assert not tab.is_busy()
    tab.evaluate_run(str(tiny_run[0]))
    qtbot.waitUntil(lambda: tab.evaluation is not None, timeout=WAIT_MS)
    wait_idle(qtbot, tab)
    (tmp_path / "other" / "zebra").mkdir(parents=True)
    Image.new("RGB", (32, 32)).save(tmp_path / "other" / "zebra" / "z.png")
    shown = tab.source_label.text()
    assert shown.startswith("Showing: validation split of demo")
    tab.evaluate_folder(str(tmp_path / "other"))
    assert "(the previous evaluation)" in tab.source_label.text()  # while it runs, the figures are still the old ones
    qtbot.waitUntil(lambda: not tab.is_busy(), timeout=WAIT_MS)
    assert "none of the class folders" in tab.last_error and tab.banner.isVisible()
    # the old figures stay, and the caption says whose they are
    assert tab.stats_widget.isVisible() and tab.evaluation is not None
    assert tab.source_label.text() == f"Evaluation failed. {shown} (the previous evaluation)"
    assert "still those of the previous evaluation" in tab.banner.message()


def test_export_from_the_tab(qtbot, tab, tiny_run, tmp_path):
    tab.show()
    assert not tab.export_button.isEnabled()
    tab.set_run(str(tiny_run[0]))
    qtbot.waitUntil(lambda: tab.evaluation is not None, timeout=WAIT_MS)
    wait_idle(qtbot, tab)
    assert tab.export_button.isEnabled()
    with qtbot.waitSignal(tab.exportRequested) as asked:  # the window opens the dialog
        tab.export_button.click()
    dialog = ExportDialog(asked.args[0], tab)
    dialog.show()
    assert dialog.isVisible() and dialog.model_path == str(tiny_run[0])
    dialog.set_format("torchscript")
    dialog.set_out_path(str(tmp_path / "m.pt"))
    dialog.start_export()
    qtbot.waitUntil(lambda: not dialog.is_busy(), timeout=WAIT_MS)
    assert dialog.result is not None and dialog.result.top1_agree == dialog.result.images_checked
    dialog.close()


def test_the_caption_wraps_and_always_says_what_the_figures_are_of(qtbot, tab, tmp_path):
    tab.resize(640, 700)
    tab.show()
    qtbot.waitExposed(tab)
    ev = _fake_evaluation(tmp_path / "imgs")
    ev.source = "all of a folder with a long name, " * 4 + "end"
    tab.show_evaluation(ev)
    qtbot.wait(20)
    caption = tab.source_label
    assert caption.wordWrap() and caption.text().startswith("Showing: all of a folder") and caption.text().endswith("3 classes")
    assert caption.height() >= caption.heightForWidth(caption.width()) > caption.fontMetrics().height() * 1.5  # whole, on lines
    tab._on_error("not a folder: /nowhere")  # what a failed "Evaluate on folder…" reports
    assert tab.source_label.text().startswith("Evaluation failed. Showing: all of a folder")
    assert tab.stat_images.value() == "6"  # the figures stay, labelled
