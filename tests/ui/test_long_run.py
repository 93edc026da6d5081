"""Long runs in the Train tab: bounded curve buffers that keep the curves' shape, a
bounded log, metrics files of any length, and the warning banner.

Speed is measured in benchmarks/long_run.py, not here: these tests assert behaviour.
"""

from __future__ import annotations

import numpy as np
import pytest

from resnet_studio.engine.events import EpochEnd, RunStarted, StepEnd
from resnet_studio.ui.train.log import MAX_LOG_LINES
from resnet_studio.ui.train.series import MAX_SERIES_POINTS, GrowingSeries
from resnet_studio.ui.train.tab import TrainTab
from resnet_studio.ui.worker import TrainingController
from tests.ui.test_train_tab import past_run

STEPS_PER_EPOCH = 500
EPOCHS = 200  # 100,000 steps
BATCH = 200  # steps per update at most, as the worker's throttled batches (flushed at each epoch's end)
CAP = 8_192  # a smaller bound than the app's, so that the run halves the curves' resolution several times
SPIKE_STEP, DIP_STEP, MEMORY_PEAK_STEP = 12_345, 98_765, 77_777


def _loss(g: np.ndarray) -> np.ndarray:
    """A decaying loss with deterministic noise, one spike and one dip."""
    loss = 2.0 * np.exp(-g / 40_000) + 0.2 + 0.15 * np.sin(g * 12.9898) * np.cos(g * 0.37)
    loss[g == SPIKE_STEP] = 9.0
    loss[g == DIP_STEP] = 0.001
    return loss


def _memory(g: np.ndarray) -> np.ndarray:
    memory = 1000.0 + (g % 613)
    memory[g == MEMORY_PEAK_STEP] = 4321.0
    return memory


def _lr(g: np.ndarray) -> np.ndarray:
    return 0.05 * (1 + np.cos(np.pi * g / (EPOCHS * STEPS_PER_EPOCH)))


def _steps(start: int, count: int) -> list[StepEnd]:
    g = np.arange(start, start + count)
    loss, memory, lr = _loss(g), _memory(g), _lr(g)
    out = []
    for i, step in enumerate(g.tolist()):
        epoch, within = (step - 1) // STEPS_PER_EPOCH + 1, (step - 1) % STEPS_PER_EPOCH + 1
        out.append(
            StepEnd(epoch, within, STEPS_PER_EPOCH, step, float(loss[i]), 0.25 + 0.5 * (step % 7) / 7, float(lr[i]),
                    900.0, 60.0, float(memory[i]))
        )
    return out


def _epoch_end(epoch: int) -> EpochEnd:
    return EpochEnd(epoch, EPOCHS, 1.0, 0.5, 1.0 + 1.0 / epoch, 0.3 + 0.6 * epoch / EPOCHS, 0.01, 900.0, 2.0, {}, False, {})


@pytest.fixture
def tab(qtbot, monkeypatch):
    monkeypatch.setattr(TrainTab, "max_series_points", CAP)
    widget = TrainTab()
    widget.attach(TrainingController(widget))
    qtbot.addWidget(widget)
    widget.resize(1300, 850)
    widget.show()
    widget.ensure_plots()
    return widget


def test_a_long_run_keeps_bounded_curves_of_the_same_shape(tab):
    tab.begin_run("a long run")
    tab._on_run_started(RunStarted("/tmp/run", {}, ["a", "b"], {"a": 1, "b": 1}, 2, 2, [], "cuda:0", 1, EPOCHS,
                                   STEPS_PER_EPOCH))
    total = EPOCHS * STEPS_PER_EPOCH
    assert tab.max_series_points == CAP and total > 8 * CAP
    for epoch in range(1, EPOCHS + 1):
        first = (epoch - 1) * STEPS_PER_EPOCH + 1
        for start in range(first, first + STEPS_PER_EPOCH, BATCH):
            tab.add_steps(_steps(start, min(BATCH, first + STEPS_PER_EPOCH - start)))
        tab.add_epoch(_epoch_end(epoch))

    g = np.arange(1, total + 1)
    fed = {"train_loss": _loss(g), "lr": _lr(g), "gpu_memory": _memory(g)}
    cap = tab.max_series_points
    for name in ("train_loss", "train_loss_smooth", "batch_acc_smooth", "lr", "gpu_memory"):
        x, y = tab.series(name)
        assert cap // 2 <= len(x) <= cap, name  # bounded, yet still detailed
        assert x[0] == pytest.approx(1 / STEPS_PER_EPOCH) and x[-1] == pytest.approx(EPOCHS), name  # the whole run
        assert np.all(np.diff(x) >= 0), name
        assert len(tab.plots.curves[name].xData) == len(x)  # the curve draws what is kept
        if name in fed:
            steps = np.rint(x * STEPS_PER_EPOCH).astype(int)
            assert np.array_equal(y, fed[name][steps - 1]), name  # kept points are points that were fed
            assert y.min() == fed[name].min() and y.max() == fed[name].max(), name  # peaks survive
    x, y = tab.series("train_loss")
    assert 9.0 in y and 0.001 in y  # the spike and the dip, at their steps
    assert x[list(y).index(9.0)] == pytest.approx(SPIKE_STEP / STEPS_PER_EPOCH)
    assert tab.series("gpu_memory")[1].max() == 4321.0
    # the curve's envelope (its lowest and highest value in each pixel column) is that of
    # every step, for plots with 16 or more kept min/max pairs to a column (with the app's
    # bound: 2,048 columns)
    width = CAP // 64
    columns = np.minimum((x / EPOCHS * width).astype(int), width - 1)
    raw = fed["train_loss"]
    raw_columns = np.minimum((g / STEPS_PER_EPOCH / EPOCHS * width).astype(int), width - 1)
    for reduce in (np.maximum, np.minimum):
        kept_env, raw_env = _envelope(reduce, columns, y, width), _envelope(reduce, raw_columns, raw, width)
        assert np.max(np.abs(kept_env - raw_env)) < 0.02 * (raw.max() - raw.min())
    # epoch curves: exact, one point an epoch
    x, y = tab.series("val_acc")
    assert len(x) == EPOCHS and np.array_equal(x, np.arange(1, EPOCHS + 1))
    assert y[-1] == pytest.approx(90.0)
    assert len(tab.series("val_loss")[0]) == len(tab.series("train_acc")[0]) == EPOCHS
    assert tab.progress.bar.value() == total
    tab.grab()  # and it still draws


def _envelope(reduce, columns: np.ndarray, values: np.ndarray, width: int) -> np.ndarray:
    out = np.full(width, -np.inf if reduce is np.maximum else np.inf)
    reduce.at(out, columns, values)
    return out


def test_the_apps_bound_applies(qtbot):
    """The default bound, reached with larger batches (fewer redraws)."""
    tab = TrainTab()
    qtbot.addWidget(tab)
    assert tab.max_series_points == MAX_SERIES_POINTS
    steps = MAX_SERIES_POINTS + 20_000
    for start in range(1, steps + 1, 4_000):
        tab.add_steps(_steps(start, min(4_000, steps + 1 - start)))
    x, y = tab.series("train_loss")
    assert len(x) <= MAX_SERIES_POINTS and x[-1] == pytest.approx(steps / STEPS_PER_EPOCH)
    assert y.max() == 9.0 and y.min() == 0.001


def test_the_log_keeps_its_last_lines(tab):
    for i in range(MAX_LOG_LINES + 100):
        tab.append_log("warning" if i % 100 == 0 else "info", f"line {i}")
    assert tab.log_view.document().blockCount() <= MAX_LOG_LINES
    text = tab.log_view.toPlainText()
    assert f"line {MAX_LOG_LINES + 99}" in text and "line 0\n" not in text and "line 99\n" not in text


def test_a_finished_runs_long_metrics_file_is_bounded(tab, tmp_path):
    """show_run of a run with 200,000 step lines: bounded curves over the whole run, exact epochs."""
    spe, epochs = 1000, 200
    rows = [{"event": "start", "epoch": 0}]
    for g in range(1, epochs * spe + 1):
        epoch = (g - 1) // spe + 1
        rows.append({"event": "step", "epoch": epoch, "step": g, "loss": 1.0 + (g % 97) / 97 + (5.0 if g == 4242 else 0.0),
                     "lr": 0.1})
        if g % spe == 0:
            rows.append({"event": "epoch", "epoch": epoch, "train_loss": 1, "train_acc": 0.5, "val_loss": 1.0,
                         "val_acc": epoch / 1000, "seconds": 1})
    tab.show_run(past_run(tmp_path / "200k steps", rows, epochs=epochs))
    for name in ("train_loss", "train_loss_smooth", "lr"):
        x, y = tab.series(name)
        assert len(x) <= tab.max_series_points
        assert x[0] == pytest.approx(1 / spe) and x[-1] == pytest.approx(epochs)
    assert tab.series("train_loss")[1].max() == pytest.approx(6.0 + 4242 % 97 / 97)
    assert tab.series("train_loss")[1].min() == 1.0
    x, y = tab.series("val_acc")
    assert len(x) == epochs and y[-1] == pytest.approx(20.0)
    assert tab.progress.best.value() == "20.0%"


def test_growing_series_stays_bounded_and_faithful():
    rng = np.random.default_rng(0)
    for cap in (16, 100, 1024):
        for total, batch in ((50, 7), (2_000, 1), (20_000, 333), (100_000, 100_000)):
            s = GrowingSeries(capacity=4, max_points=cap)
            x = np.arange(total, dtype=float)
            y = rng.normal(size=total).cumsum()
            y[rng.integers(0, total, 3)] = np.nan  # NaNs are dropped from a bucket, not spread
            for i in range(0, total, batch):
                s.extend(x[i : i + batch], y[i : i + batch])
                assert len(s) <= cap
            kx, ky = s.data()
            assert s.raw_count == total
            assert kx[0] == 0 and kx[-1] == total - 1
            assert np.all(np.diff(kx) > 0)
            assert np.array_equal(ky, y[kx.astype(int)], equal_nan=True)  # only points that were added
            assert np.nanmin(ky) == np.nanmin(y) and np.nanmax(ky) == np.nanmax(y)
            if total <= cap:
                assert len(s) == total and s.points_per_bucket == 1
            else:
                assert len(s) >= cap // 3 and s.points_per_bucket > 1
            assert s.nbytes <= 2 * 8 * (cap + cap // 4)


def test_growing_series_of_a_million_points_holds_its_bound():
    s = GrowingSeries(max_points=1024)
    x = np.arange(1_000_000, dtype=float)
    for i in range(0, len(x), 5_000):
        s.extend(x[i : i + 5_000], np.sin(x[i : i + 5_000] / 1000))
    kx, ky = s.data()
    assert len(s) <= 1024 and kx[0] == 0 and kx[-1] == 999_999
    assert ky.max() == pytest.approx(1.0, abs=1e-6) and ky.min() == pytest.approx(-1.0, abs=1e-6)
    s.clear()
    s.extend([1.0], [float("nan")])
    assert len(s) == 1 and np.isnan(s.data()[1][0])


def test_warning_banner_shows_and_never_hides_an_error(tab, qtbot):
    from PySide6.QtCore import Qt
    from PySide6.QtWidgets import QPushButton

    assert tab.show_warning("Smaller batches", "Out of GPU memory at batch 256: training goes on with batch 128 <b>x</b>.")
    assert tab.banner.isVisibleTo(tab) and tab.banner.kind == "warning"
    assert tab.banner.title() == "Smaller batches"
    assert "batch 128" in tab.warning_message() and "&lt;b&gt;" in tab.banner.message()  # plain text
    assert tab.error_message() == ""  # a warning is not an error
    dismiss = [b for b in tab.banner.findChildren(QPushButton) if b.text() == "Dismiss"]
    assert len(dismiss) == 1
    qtbot.mouseClick(dismiss[0], Qt.MouseButton.LeftButton)
    assert not tab.banner.isVisibleTo(tab) and tab.warning_message() == ""

    tab.show_warning("Smaller batches", "batch 64 now")
    tab.show_error("the data folder went away")  # an error replaces a warning
    assert tab.banner.kind == "error" and "went away" in tab.error_message()
    assert not tab.show_warning("Smaller batches", "batch 32 now")  # ... and a warning never replaces it
    assert tab.banner.kind == "error" and "went away" in tab.error_message() and tab.warning_message() == ""

    tab.begin_run("next run")  # a new run starts clean
    assert not tab.banner.isVisibleTo(tab)
    tab.show_warning("Smaller batches", "batch 16 now")
    assert "batch 16" in tab.warning_message()
