"""The Train tab on its own: buffers, curves, progress, history, errors, long runs."""

from __future__ import annotations

import json
import time
from pathlib import Path

import numpy as np
import pytest

from resnet_studio.engine import runs
from resnet_studio.engine.events import EpochEnd, RunFinished, RunStarted, StepEnd
from resnet_studio.ui.format import duration
from resnet_studio.ui.train.series import GrowingSeries


@pytest.fixture
def tab(shown_train_tab):
    return shown_train_tab


def _steps(start: int, count: int, steps_per_epoch: int = 100, gpu: float | None = None) -> list[StepEnd]:
    out = []
    for g in range(start, start + count):
        epoch, step = (g - 1) // steps_per_epoch + 1, (g - 1) % steps_per_epoch + 1
        out.append(StepEnd(epoch, step, steps_per_epoch, g, 2.0 / (1 + g * 0.01), 0.5, 0.01, 250.0, 90.0, gpu))
    return out


def _epoch_end(epoch: int, val_acc: float = 0.6) -> EpochEnd:
    return EpochEnd(epoch, 3, 1.2, 0.55, 1.1, val_acc, 0.01, 250.0, 12.0, {}, True, {})


def _run_started(epochs: int = 3, steps_per_epoch: int = 100) -> RunStarted:
    return RunStarted("/tmp/run", {}, ["a", "b"], {"a": 10, "b": 10}, 16, 4, [], "cpu", 1, epochs, steps_per_epoch)


def past_run(folder: Path, rows: list[dict], summary: dict | None = None, **config) -> runs.RunRecord:
    """A run folder as the trainer leaves it (ResNet-18 on "demo"), with these metrics rows."""
    folder.mkdir(parents=True)
    (folder / runs.CONFIG).write_text(json.dumps({"depth": 18, "data_dir": "/data/demo", **config}), encoding="utf-8")
    (folder / runs.METRICS).write_text("".join(json.dumps(row) + "\n" for row in rows), encoding="utf-8")
    (folder / runs.SUMMARY).write_text(json.dumps(summary or {}), encoding="utf-8")
    return runs.RunRecord.load(folder)


def test_growing_series_doubles_and_keeps_order():
    s = GrowingSeries(capacity=4)
    for i in range(10):
        s.extend([i], [i * 2])
    s.extend(np.arange(10, 1000), np.arange(10, 1000) * 2)
    x, y = s.data()
    assert len(s) == 1000 and np.array_equal(x, np.arange(1000)) and np.array_equal(y, 2 * np.arange(1000))
    s.clear()
    assert len(s) == 0 and s.data()[0].size == 0


@pytest.mark.parametrize("seconds, text", [(5, "5 s"), (252, "4:12"), (3723, "1:02:03"), (None, "—")])
def test_format_duration(seconds, text):
    assert duration(seconds) == text


def test_live_updates_fill_curves_progress_and_stats(tab):
    assert tab.plot_stack.currentWidget() is tab.empty_state
    tab.begin_run("ResNet-18 on demo")
    tab._on_run_started(_run_started())
    tab.add_steps(_steps(1, 60))
    tab.add_steps(_steps(61, 40))
    tab.add_epoch(_epoch_end(1))
    assert tab.plot_stack.currentWidget() is tab.plots
    x, y = tab.series("train_loss")
    assert len(x) == 100 and x[-1] == pytest.approx(1.0)
    assert len(tab.series("train_loss_smooth")[0]) == 100
    assert len(tab.series("lr")[0]) == 100
    assert list(tab.series("val_acc")[1]) == [pytest.approx(60.0)]
    assert list(tab.series("train_acc")[0]) == [1.0]
    assert tab.progress.bar.value() == 100 and tab.progress.bar.maximum() == 300
    assert "Epoch 1/3" in tab.progress.bar.format()
    assert tab.progress.best.value() == "60.0%"
    assert tab.plots.gpu_plot.isHidden()  # CPU: no memory plot
    # the curve items hold exactly the buffered points
    assert len(tab.plots.curves["train_loss"].xData) == 100


def test_gpu_memory_plot_appears_with_cuda_steps(tab):
    tab.add_steps(_steps(1, 5, gpu=512.0))
    assert not tab.plots.gpu_plot.isHidden()
    assert list(tab.series("gpu_memory")[1]) == [512.0] * 5


def test_hundred_thousand_steps_stay_cheap(tab):
    """A long run: 100,000 steps in throttled batches; the buffers and curves keep up."""
    tab._on_run_started(_run_started(epochs=100, steps_per_epoch=1000))
    started = time.perf_counter()
    for start in range(1, 100_001, 500):
        tab.add_steps(_steps(start, 500, steps_per_epoch=1000))
    elapsed = time.perf_counter() - started
    x, _ = tab.series("train_loss")
    assert len(x) == 100_000 and x[-1] == pytest.approx(100.0)
    assert elapsed < 60  # generous: ~200 redraws of up to 100k points each
    tab.grab()  # and it still draws


def test_finish_and_failure_states(tab, qtbot):
    tab.begin_run("run")
    tab._on_run_started(_run_started())
    tab.add_steps(_steps(1, 10))
    tab._on_finished(RunFinished("cancelled", "/tmp/run", 0, None, None, None, None, "stopped by the user"))
    assert tab.state() == "cancelled" and "History" in tab.detail_label.text()
    tab.begin_run("run 2")
    tab._on_failed("the data folder has only one class")
    assert tab.state() == "failed"
    assert "only one class" in tab.error_message()
    assert "only one class" in tab.log_view.toPlainText()
    assert tab.start_button.isEnabled() is False  # nothing valid to start with yet
    tab.set_can_start(True)
    assert tab.start_button.isEnabled()


def test_start_button_emits_only_when_allowed(tab, qtbot):
    from PySide6.QtCore import Qt

    tab.set_can_start(False, "Choose a data folder first.")
    assert not tab.start_button.isEnabled() and "data folder" in tab.start_button.toolTip()
    tab.set_can_start(True)
    with qtbot.waitSignal(tab.startRequested, timeout=1000):
        qtbot.mouseClick(tab.start_button, Qt.MouseButton.LeftButton)


def test_show_run_from_its_folder(tab, tmp_path):
    rows = [{"event": "start", "epoch": 0}]
    for epoch in (1, 2):
        for k in range(1, 5):
            rows.append({"event": "step", "epoch": epoch, "step": (epoch - 1) * 4 + k, "loss": 1.0 / k, "lr": 0.1})
        rows.append({"event": "epoch", "epoch": epoch, "train_loss": 1, "train_acc": 0.5, "val_loss": 1.2,
                     "val_acc": 0.25 * epoch, "lr": 0.1, "images_per_sec": 100, "seconds": 3})
    rows.append({"event": "log", "level": "warning", "message": "skipped a.jpg: truncated", "time": 0})
    summary = {"status": "completed", "epochs_completed": 2, "best_val_acc": 0.5}
    record = past_run(tmp_path / "20260101-demo-resnet18", rows, summary, epochs=4)
    tab.show_run(record)
    assert len(tab.series("train_loss")[0]) == 8
    assert tab.series("train_loss")[0][-1] == pytest.approx(2.0)
    assert list(tab.series("val_acc")[1]) == [pytest.approx(25.0), pytest.approx(50.0)]
    assert tab.progress.best.value() == "50.0%"
    assert "skipped a.jpg" in tab.log_view.toPlainText()
    assert "20260101-demo-resnet18" in tab.state_label.text()
    assert tab.state() == "history" and tab.detail_label.text() == record.describe()
    assert "ResNet-18 on demo: completed, 2 epoch(s), best validation accuracy 50.0%" in record.describe()
    assert tab.progress.bar.format() == "2 of 4 epochs" and tab.progress.elapsed.value() == "6 s"
    assert tab.log.run_dir() == record.path and tab.log.open_folder_button.isEnabled()


def test_resumed_run_keeps_only_completed_epochs_of_history(tab, tmp_path):
    rows = [{"event": "step", "epoch": 1, "step": k, "loss": 1.0, "lr": 0.1} for k in range(1, 5)]
    rows.append({"event": "epoch", "epoch": 1, "train_loss": 1, "train_acc": 0.5, "val_loss": 1, "val_acc": 0.5})
    rows += [{"event": "step", "epoch": 2, "step": 4 + k, "loss": 1.0, "lr": 0.1} for k in range(1, 3)]  # cut short
    tab.begin_run("resuming", past_run(tmp_path / "run", rows))
    assert len(tab.series("train_loss")[0]) == 4
    assert tab.state() == "preparing" and list(tab.series("val_acc")[1]) == [pytest.approx(50.0)]
