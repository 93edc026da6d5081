"""The charts (issue 13, item 9), in the Train tab and in Compare: plain numbers on the axes
(no "lr (x0.001)"), the learning rate as 1e-3, accuracy up to 100 % with its tick and room
above it, the last epoch's tick, and legends outside the plots."""

from __future__ import annotations

import json
import math
import re

import pytest
from PySide6.QtGui import QImage, QPainter

from resnet_studio.engine.events import EpochEnd, RunStarted, StepEnd
from resnet_studio.ui.history.compare import CompareView, accuracy_floor
from resnet_studio.ui.train.plots import rate_ticks
from resnet_studio.ui.train.tab import TrainTab

SPE, EPOCHS = 20, 10


def tick_texts(axis) -> list[str]:
    """The tick labels an AxisItem draws now."""
    image = QImage(10, 10, QImage.Format.Format_ARGB32)
    painter = QPainter(image)
    try:
        specs = axis.generateDrawSpecs(painter)
    finally:
        painter.end()
    return [text for _rect, _flags, text in specs[2]] if specs else []


def _room_above(plot, value: float) -> float:
    """Pixels between `value` on the y axis and the top of the plot's frame."""
    vb = plot.getPlotItem().getViewBox()
    low, high = vb.viewRange()[1]
    return (high - value) / (high - low) * vb.height()


@pytest.fixture
def finished_tab(qtbot):
    tab = TrainTab()
    qtbot.addWidget(tab)
    tab.resize(1000, 700)
    tab.show()
    tab.ensure_plots()
    tab.begin_run("ResNet-18 on demo")
    tab._on_run_started(RunStarted("/tmp/run", {}, ["a", "b"], {}, 16, 4, [], "cpu", 1, EPOCHS, SPE))
    for epoch in range(1, EPOCHS + 1):
        steps = []
        for step in range(1, SPE + 1):
            g = (epoch - 1) * SPE + step
            lr = 1e-3 * 0.5 * (1 + math.cos(math.pi * g / (EPOCHS * SPE)))
            steps.append(StepEnd(epoch, step, SPE, g, 0.45 - 0.3 * g / (EPOCHS * SPE), 0.9, lr, 100.0, 10.0, None))
        tab.add_steps(steps)
        val = min(1.0, 0.7 + 0.05 * epoch)  # reaches 100 % at epoch 6
        tab.add_epoch(EpochEnd(epoch, EPOCHS, 0.3, val, 0.3, val, 1e-3, 100.0, 1.0, {}, True, {}))
    tab.grab()  # laid out and drawn
    return tab


def test_axes_show_plain_numbers_and_the_rate_reads_1e_3(finished_tab):
    plots = finished_tab.plots
    for plot in (plots.loss_plot, plots.acc_plot, plots.lr_plot, plots.gpu_plot):
        for name in ("left", "bottom"):
            axis = plot.getPlotItem().getAxis(name)
            assert axis.autoSIPrefix is False and "(x" not in axis.labelString()
    rate = tick_texts(plots.lr_plot.getPlotItem().getAxis("left"))
    assert "1e-3" in rate and "5e-4" in rate and all(re.fullmatch(r"0|\d(\.\d+)?e-\d+", t) for t in rate), rate
    loss = tick_texts(plots.loss_plot.getPlotItem().getAxis("left"))
    assert loss and all(re.fullmatch(r"0(\.\d+)?", t) for t in loss), loss  # 0.2, 0.3: not 200, 300


def test_rate_ticks():
    assert rate_ticks([0, 2.5e-4, 5e-4, 7.5e-4, 1e-3]) == ["0", "2.5e-4", "5e-4", "7.5e-4", "1e-3"]
    assert rate_ticks([0.00039999999999]) == ["4e-4"]
    assert rate_ticks([0, 0.05, 0.1]) == ["0", "0.05", "0.1"]


def test_accuracy_keeps_its_100_tick_and_room_for_points_at_100(finished_tab):
    acc = finished_tab.plots.acc_plot
    assert "100" in tick_texts(acc.getPlotItem().getAxis("left"))
    assert _room_above(acc, 100.0) >= 6  # a point at 100 % (7 px) shows whole, off the frame
    assert acc.getPlotItem().getViewBox().viewRange()[1][0] < 0


def test_the_last_epoch_keeps_its_tick_and_its_points_stay_off_the_frame(finished_tab):
    for plot in (finished_tab.plots.loss_plot, finished_tab.plots.acc_plot):
        assert str(EPOCHS) in tick_texts(plot.getPlotItem().getAxis("bottom"))
        vb = plot.getPlotItem().getViewBox()
        low, high = vb.viewRange()[0]
        assert (high - EPOCHS) / (high - low) * vb.width() >= 6


def test_legends_sit_above_the_plots_not_on_them(finished_tab):
    plots = finished_tab.plots
    for plot in (plots.loss_plot, plots.acc_plot, plots.lr_plot, plots.gpu_plot):
        assert plot.getPlotItem().legend is None
    for name, entries in (("loss", ("train (step)", "train (smoothed)", "validation")),
                          ("accuracy", ("train (batches, smoothed)", "train", "validation"))):
        card = plots.cards[name]
        assert all(entry in card.header.text() for entry in entries)
        assert card.header.isVisible() and card.header.geometry().bottom() < card.plot.geometry().top()


# ---------------------------------------------------------------- Compare


def _run(root, name: str, accs: list[float], losses: list[float]):
    run = root / name
    run.mkdir(parents=True)
    (run / "config.json").write_text(json.dumps({"data_dir": "/data/photos", "depth": 18, "epochs": len(accs)}))
    lines = [{"event": "epoch", "epoch": i + 1, "val_acc": a, "val_loss": v, "seconds": 1.0}
             for i, (a, v) in enumerate(zip(accs, losses))]
    (run / "metrics.jsonl").write_text("".join(json.dumps(line) + "\n" for line in lines))
    (run / "summary.json").write_text(json.dumps({"status": "completed", "epochs_completed": len(accs)}))
    return str(run)


def test_compare_axes_legend_and_range(qtbot, tmp_path):
    a = _run(tmp_path, "20261122-101500-photos-resnet18", [0.6, 0.9, 1.0, 1.0], [0.5, 0.3, 0.15, 0.1])
    b = _run(tmp_path, "20261122-111500-photos-resnet50", [0.7, 0.95, 1.0, 1.0], [0.45, 0.25, 0.12, 0.11])
    view = CompareView()
    qtbot.addWidget(view)
    view.resize(1000, 700)
    view.show()
    view.set_runs([a, b])
    view.grab()
    for plot in (view.acc_plot, view.loss_plot):
        assert plot.getPlotItem().legend is None
        for name in ("left", "bottom"):
            assert "(x" not in plot.getPlotItem().getAxis(name).labelString()
        assert "4" in tick_texts(plot.getPlotItem().getAxis("bottom"))
    loss = tick_texts(view.loss_plot.getPlotItem().getAxis("left"))
    assert loss and all(re.fullmatch(r"0\.\d+", t) for t in loss), loss  # 0.1 to 0.5, not 100 to 500
    assert "100" in tick_texts(view.acc_plot.getPlotItem().getAxis("left"))
    assert _room_above(view.acc_plot, 100.0) >= 6
    assert view.acc_plot.getPlotItem().getViewBox().viewRange()[1][0] < 60  # from the tens below 60 %
    assert all(label in view.legend.text() for label in view.labels)
    top_of_plots = view.acc_plot.mapTo(view, view.acc_plot.rect().topLeft()).y()
    assert view.legend.isVisible() and view.legend.mapTo(view, view.legend.rect().bottomLeft()).y() < top_of_plots


def test_accuracy_floor():
    assert accuracy_floor([{"val_acc": [57.0, 99.0]}, {"val_acc": [float("nan"), 80.0]}]) == 50.0
    assert accuracy_floor([{"val_acc": [100.0]}]) == 90.0
    assert accuracy_floor([{"val_acc": []}]) == 0.0
