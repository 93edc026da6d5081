"""The views of issue 13 in the real window, at its minimum size and at 1920x1080: nothing cut off
or squeezed (the architecture details, History's buttons, the Evaluate caption, the export dialog),
and History's delete wired to the tabs that follow a run."""

from __future__ import annotations

import json
import os
from pathlib import Path
from types import SimpleNamespace

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest
from PySide6.QtCore import QSize
from PySide6.QtWidgets import QLabel, QPushButton

from resnet_studio.engine import runs
from resnet_studio.engine.evaluate import ClassMetrics, Evaluation, SampleResult
from resnet_studio.ui.history.export_dialog import ExportDialog
from resnet_studio.ui.main_window import MainWindow


def _run(root: Path, name: str) -> Path:
    folder = root / name
    folder.mkdir(parents=True)
    (folder / runs.CONFIG).write_text(json.dumps({"data_dir": "/data/photos", "depth": 18, "epochs": 2,
                                                  "created": "2026-11-22T10:15:00"}))
    (folder / runs.SUMMARY).write_text(json.dumps({"status": "completed", "epochs_completed": 2, "best_val_acc": 0.9}))
    (folder / runs.MODEL).write_bytes(b"")
    return folder


@pytest.fixture
def window(qtbot, studio_home):
    win = MainWindow(deferred=False)
    qtbot.addWidget(win)
    win.predict_tab.set_imagenet_fallback_enabled(False)  # offline
    win.show()
    qtbot.waitExposed(win)
    yield win
    win.close()


def _squeezed(widgets) -> list[str]:
    """Visible buttons and one-line labels narrower than their text, or wrapped labels shorter than it."""
    problems = []
    for w in widgets:
        if not w.isVisible():
            continue
        if isinstance(w, QLabel) and w.wordWrap():
            if w.height() < w.heightForWidth(w.width()):
                problems.append(f"{w.text()[:30]!r} {w.height()} < {w.heightForWidth(w.width())}")
        elif w.width() < w.minimumSizeHint().width():
            problems.append(f"{w.text()!r} {w.width()} < {w.minimumSizeHint().width()}")
    return problems


def _cut_details(view) -> list[str]:
    tree = view._details.tree
    fm, header = tree.fontMetrics(), tree.header()
    rows = [tree.topLevelItem(i) for i in range(tree.topLevelItemCount())]
    rows += [r.child(j) for r in list(rows) for j in range(r.childCount())]
    cut = [r.text(c) for r in rows for c in range(1, header.count())
           if fm.horizontalAdvance(r.text(c)) + 4 > header.sectionSize(c)]
    if header.length() > tree.viewport().width() + 1:
        cut.append(f"table {header.length()} > {tree.viewport().width()}")
    return cut


def _evaluation(folder: Path) -> Evaluation:
    folder.mkdir(parents=True, exist_ok=True)
    samples = [SampleResult(str(folder / f"{i}.png"), i % 2, 0, 0.7, 0.7, ((0, 0.7), (1, 0.3))) for i in range(4)]
    per_class = [ClassMetrics("a", 0.5, 1.0, 0.67, 2), ClassMetrics("b", 0.0, 0.0, 0.0, 2)]
    return Evaluation(["a", "b"], samples, 2, 0.5, 1.0, per_class, [[2, 0], [2, 0]],
                      source="validation split of a dataset whose folder has a rather long name, to wrap")


@pytest.mark.parametrize("size", ["minimum", "1920x1080"])
def test_the_views_fit_at_the_minimum_size_and_at_1920x1080(qtbot, window, studio_home, tmp_path, size):
    win = window
    win.resize(win.minimumSize() if size == "minimum" else QSize(1920, 1080))
    qtbot.wait(50)
    # Architecture: ResNet-152's details never cut off, its diagram readable when fitted
    win.tabs.setCurrentWidget(win.architecture_view)
    view = win.architecture_view
    view.show_depth(152, 224, 10, "all")
    view._expand_button.click()
    qtbot.wait(20)
    sizes = view._splitter.sizes()
    for name in ("layer2.0", "layer3.5", "head"):
        view.select_block(name)
        assert _cut_details(view) == [] and view._splitter.sizes() == sizes, name
    assert view._view.transform().m11() >= view._view.readable_scale() - 1e-6
    # History: every button whole
    _run(runs.default_runs_dir(), "20261122-101500-photos-resnet18")
    win.tabs.setCurrentWidget(win.runs_panel)
    win.runs_panel.refresh()
    win.runs_panel.select_run(win.runs_panel.runs()[0].path)
    qtbot.wait(20)
    assert _squeezed(win.runs_panel.findChildren(QPushButton) + [win.runs_panel.summary_label]) == []
    # Evaluate: the caption wraps, whole, after a failure too
    win.tabs.setCurrentWidget(win.evaluate_tab)
    win.evaluate_tab.show_evaluation(_evaluation(tmp_path / "imgs"))
    win.evaluate_tab._on_error("not a folder: /nowhere")
    qtbot.wait(20)
    assert _squeezed([win.evaluate_tab.source_label]) == []
    assert win.evaluate_tab.source_label.text().startswith("Evaluation failed. Showing: validation split of a dataset")


def test_the_export_dialog_fits_after_an_export(qtbot, window, tmp_path):
    run = _run(tmp_path / "runs", "20261122-101500-photos-resnet18")
    dialog = window.export_model(str(run))
    assert isinstance(dialog, ExportDialog)
    qtbot.waitExposed(dialog)
    result = SimpleNamespace(path=str(tmp_path.joinpath(*["a-rather-long-folder-name"] * 6, "model.onnx")),
                             images_checked=20, top1_agree=20, max_prob_diff=1.2e-7)
    dialog._on_done(result)
    qtbot.wait(20)
    assert _squeezed(dialog.findChildren(QLabel)) == []
    assert dialog.height() >= dialog.layout().totalHeightForWidth(dialog.width())


def test_deleting_runs_from_history_reaches_the_other_tabs(qtbot, window, monkeypatch):
    from PySide6.QtCore import QFile

    win = window
    root = runs.default_runs_dir()
    current = str(_run(root, "20261122-101500-photos-resnet18"))
    training = str(_run(root, "20261123-090000-photos-resnet18"))
    monkeypatch.setattr(QFile, "moveToTrash", staticmethod(lambda path: (False, "")))  # no trash: asks, then deletes
    win.runs_panel.refresh()
    win.evaluate_tab.set_run(current)  # hidden: followed, evaluated when shown
    win.state.set_run(current)
    # a run that trains (the window learns its folder when it starts) is not removed
    win.runs_panel.set_busy(True)
    win._on_run_started(SimpleNamespace(device="cpu", run_dir=training))
    assert win.runs_panel.delete_runs([training]) == [] and Path(training).is_dir()
    win.runs_panel.set_busy(False)
    with qtbot.waitSignal(win.runs_panel.runsDeleted):
        assert win.runs_panel.delete_runs([current]) == [current]
    assert not Path(current).exists() and Path(training).is_dir()
    assert win.evaluate_tab.run_dir() is None and win.state.run_dir == ""


def test_compute_has_one_name_in_the_table_the_diagram_and_info(qtbot, capsys):
    from resnet_studio.cli.console import print_depths
    from resnet_studio.engine import models
    from resnet_studio.engine.architecture import describe_depth, format_table
    from resnet_studio.ui.architecture.labels import subtitle_text
    from resnet_studio.ui.setup.depth_table import DepthField

    field = DepthField()
    qtbot.addWidget(field.table)
    table = field.table
    summary = models.depth_summary(50, 224)
    field.show_numbers({50: summary}, 224)
    words = [table.headerItem().text(2), table.headerItem().toolTip(2), table.topLevelItem(2).toolTip(2), field.hint.text()]
    assert words[0] == "GMACs" and all("GMACs" in w for w in words[1:]) and all("multiply-adds" in w for w in words[1:])
    desc = describe_depth(50)
    print_depths([{**summary, "block": "Bottleneck", "layers": [3, 4, 6, 3]}], 224)
    shown = [subtitle_text(desc), format_table(desc), capsys.readouterr().out]
    assert all("GMACs" in text for text in shown)
    assert not any("FLOP" in text for text in [*words, *shown])
