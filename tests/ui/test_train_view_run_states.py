"""The Train tab around a run's end (issue 13, items 6 and 8): a resumed run's header and
clock, the settings of the run shown, and the bar of a failed or stopped run."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from PySide6.QtGui import QColor, QPalette

from resnet_studio.engine import runs
from resnet_studio.engine.events import EpochEnd, RunFinished, RunStarted, StepEnd
from resnet_studio.ui.format import duration
from resnet_studio.ui.train.tab import TrainTab, settings_text
from resnet_studio.ui.widgets import palette_colors

SPE = 10  # steps an epoch
CONFIG = {"depth": 18, "data_dir": "/data/demo", "weights": "imagenet", "trainable": "all", "image_size": 224,
          "batch_size": 32, "optimizer": "sgd", "lr": 0.001, "epochs": 10}


@pytest.fixture
def tab(shown_train_tab):
    widget = shown_train_tab
    notes = []
    widget.runSettingsChanged.connect(lambda title, text: notes.append((title, text)))
    widget.notes = notes
    return widget


def _started(start_epoch: int = 1, epochs: int = 10, run_dir: str = "/tmp/run", config: dict | None = None) -> RunStarted:
    return RunStarted(run_dir, config or CONFIG, ["a", "b"], {"a": 10, "b": 10}, 16, 4, [], "cpu", start_epoch, epochs, SPE)


def _steps(first: int, count: int) -> list[StepEnd]:
    return [StepEnd((g - 1) // SPE + 1, (g - 1) % SPE + 1, SPE, g, 1.0, 0.5, 0.01, 100.0, 60.0, None)
            for g in range(first, first + count)]


def _epoch(epoch: int, val_acc: float = 0.6) -> EpochEnd:
    return EpochEnd(epoch, 10, 1.0, 0.5, 1.0, val_acc, 0.01, 100.0, 5.0, {}, True, {})


def _past_run(folder: Path, epochs_done: int, seconds: float, summary: dict, extra_rows=()) -> runs.RunRecord:
    folder.mkdir(parents=True)
    rows = []
    for epoch in range(1, epochs_done + 1):
        rows += [{"event": "step", "epoch": epoch, "step": (epoch - 1) * SPE + k, "loss": 1.0, "lr": 0.01}
                 for k in range(1, SPE + 1)]
        rows.append({"event": "epoch", "epoch": epoch, "train_loss": 1, "train_acc": 0.5, "val_loss": 1, "val_acc": 0.5,
                     "seconds": seconds})
    rows.append({"event": "log", "level": "info", "message": "an earlier line", "time": 0})
    rows += list(extra_rows)
    (folder / runs.CONFIG).write_text(json.dumps(CONFIG), encoding="utf-8")
    (folder / runs.METRICS).write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    (folder / runs.SUMMARY).write_text(json.dumps(summary), encoding="utf-8")
    return runs.RunRecord.load(folder)


def _chunk_color(tab: TrainTab) -> QColor:
    """The colour drawn in the middle of the bar's done part."""
    bar = tab.progress.bar
    image = bar.grab().toImage()
    x = int(bar.width() * bar.value() / max(1, bar.maximum()) / 2)
    return QColor(image.pixel(max(3, x), bar.height() // 2))


def _near(a: QColor, b: QColor, tolerance: int = 40) -> bool:
    return all(abs(x - y) <= tolerance for x, y in zip(a.getRgb()[:3], b.getRgb()[:3]))


# ---------------------------------------------------------------- item 6: a resumed run


def test_a_resumed_run_ends_without_its_resume_wording_and_counts_its_earlier_time(tab, tmp_path):
    # 4 epochs of 95 s, then killed in epoch 5 after its line was written but before its
    # checkpoint: the run resumes at epoch 5, which it does again (its 30 s do not count)
    redone = {"event": "epoch", "epoch": 5, "val_acc": 0.5, "seconds": 30.0}
    record = _past_run(tmp_path / "20260315-101500-demo-resnet18", 4, 95.0, {"status": "cancelled", "epochs_completed": 4},
                       [redone])
    tab.begin_run(record.display_name, record)
    assert "an earlier line" in tab.log_view.toPlainText()  # the run's log so far
    tab._on_run_started(_started(start_epoch=5, run_dir=record.path))
    assert tab.progress.elapsed.value() == duration(4 * 95)  # "6:20", not "0 s"
    assert "resuming at epoch 5" in tab.detail_label.text()
    tab.add_steps(_steps(4 * SPE + 1, 6 * SPE))
    tab._on_finished(RunFinished("completed", record.path, 10, 7, 0.9, 0.9, None))
    header = tab.state_label.text()
    assert header.startswith("Training complete") and record.name in header and "resum" not in header.lower()
    assert "resum" not in tab.detail_label.text().lower()
    assert tab.progress.elapsed.value() == duration(4 * 95)


def test_a_fresh_run_after_a_resumed_one_starts_its_clock_at_zero(tab, tmp_path):
    record = _past_run(tmp_path / "run", 2, 500.0, {"status": "cancelled", "epochs_completed": 2})
    tab.begin_run(record.name, record)
    tab._on_run_started(_started(start_epoch=3, run_dir=record.path))
    tab.begin_run("ResNet-18 on demo")
    tab._on_run_started(_started())
    assert tab.progress.elapsed.value() == "0 s"


def test_the_settings_of_a_run_that_has_its_own_are_announced(tab, tmp_path):
    record = _past_run(tmp_path / "20260315-101500-demo-resnet18", 2, 10.0, {"status": "cancelled", "epochs_completed": 2})
    tab.begin_run("ResNet-18 on demo")  # a run from the setup panel: its settings are the panel's
    assert tab.notes[-1] == ("", "") and tab.run_settings() == ("", "")

    tab.begin_run(record.display_name, record)
    title, text = tab.notes[-1]
    assert "resumed" in title and record.name in text and settings_text(CONFIG) in text and "next run" in text
    assert "ResNet-18 on demo" in text and "224 px" in text and "batch 32" in text and "lr 0.001" in text
    tab._on_run_started(_started(start_epoch=3, epochs=12, run_dir=record.path, config={**CONFIG, "epochs": 12}))
    assert "12 epochs" in tab.notes[-1][1]  # the epochs it resumed with
    tab._on_finished(RunFinished("completed", record.path, 12, 7, 0.9, 0.9, None))
    title, text = tab.notes[-1]
    assert "was trained with" in title and "resumed" not in title and record.name in text

    tab.show_run(record)  # a past run opened from History
    assert "was trained with" in tab.notes[-1][0] and record.name in tab.notes[-1][1]
    tab.begin_run("ResNet-50 on photos")
    assert tab.notes[-1] == ("", "")


def test_settings_text_reads_a_config():
    assert settings_text(CONFIG) == ("ResNet-18 on demo  ·  ImageNet weights  ·  whole network trains  ·  224 px  ·  batch 32"
                                     "  ·  SGD, lr 0.001  ·  10 epochs")
    assert settings_text({"depth": 50, "weights": "/w/my.safetensors", "optimizer": "adamw"}) == (
        "ResNet-50  ·  my.safetensors  ·  AdamW")


def test_the_setup_panel_shows_and_hides_the_note(qtbot):
    from resnet_studio.ui.scanner import DatasetScanner
    from resnet_studio.ui.setup.panel import SetupPanel
    from resnet_studio.ui.state import StudioState

    state = StudioState()
    scanner = DatasetScanner(state)
    panel = SetupPanel(state, scanner)
    qtbot.addWidget(panel)
    panel.show()
    try:
        panel.show_run_settings("Training a resumed run, with its own settings", "run: ResNet-18 <b>x</b>")
        assert panel.run_note.isVisibleTo(panel) and panel.run_note.title().startswith("Training a resumed run")
        assert "ResNet-18 &lt;b&gt;x&lt;/b&gt;" in panel.run_note.message()  # plain text
        panel.show_run_settings("", "")
        assert not panel.run_note.isVisibleTo(panel)
    finally:
        for part in (scanner, panel, state):
            part.shutdown()


# ---------------------------------------------------------------- item 8: the bar of a run that did not complete


def test_a_failed_run_keeps_its_bar_where_it_got_to_in_the_error_colour(tab):
    tab.begin_run("run")
    tab._on_run_started(_started())
    tab.add_steps(_steps(1, 2 * SPE + 5))  # into epoch 3 of 10
    accent = _chunk_color(tab)
    tab._on_failed("out of memory")
    bar = tab.progress.bar
    assert bar.maximum() == 10 * SPE and bar.value() == 2 * SPE + 5
    assert bar.format().startswith("Failed at epoch 3 of 10") and bar.text().endswith("25%")
    assert tab.progress.outcome() == "failed"
    error = palette_colors(tab.progress)["error"]
    assert tab.progress.bar_color() == error
    drawn = _chunk_color(tab)
    assert _near(drawn, error) and not _near(drawn, accent)
    assert tab.state_label.text().startswith("Training failed") and "run" in tab.state_label.text()

    tab.begin_run("run 2")  # a new run: the bar is the palette's again
    assert tab.progress.outcome() == "" and tab.progress.bar_color() == tab.palette().color(QPalette.ColorRole.Highlight)


def test_a_stopped_run_is_amber_and_a_run_that_failed_before_it_started_says_so(tab):
    tab.begin_run("run")
    tab._on_run_started(_started())
    tab.add_steps(_steps(1, SPE))
    tab.add_epoch(_epoch(1))
    tab.add_steps(_steps(SPE + 1, 3))
    tab._on_finished(RunFinished("cancelled", "/tmp/run", 1, 1, 0.6, 0.6, None, "stopped by the user"))
    assert tab.progress.bar.format().startswith("Stopped at epoch 2 of 10")
    assert tab.progress.bar_color() == palette_colors(tab.progress)["warning"]
    assert _near(_chunk_color(tab), palette_colors(tab.progress)["warning"])

    tab.begin_run("run 2")
    tab._on_failed("no validation image could be read")
    assert tab.progress.bar.format() == "Failed while preparing" and tab.progress.bar.value() == 0
    assert tab.progress.bar.maximum() == 1  # not a busy bar any more


def test_a_completed_run_keeps_the_palette_colour(tab):
    tab.begin_run("run")
    tab._on_run_started(_started(epochs=1))
    tab.add_steps(_steps(1, SPE))
    tab._on_finished(RunFinished("completed", "/tmp/run", 1, 1, 0.6, 0.6, None))
    assert tab.progress.outcome() == "completed" and tab.progress.bar.format().startswith("Done")
    assert tab.progress.bar_color() == tab.palette().color(QPalette.ColorRole.Highlight)


@pytest.mark.parametrize("status, text, color", [
    ("failed", "Failed after 2 of 10 epochs", "error"),
    ("cancelled", "Stopped after 2 of 10 epochs", "warning"),
    ("completed", "2 of 10 epochs", None),
])
def test_a_past_run_shows_how_it_ended(tab, tmp_path, status, text, color):
    record = _past_run(tmp_path / "run", 2, 10.0, {"status": status, "epochs_completed": 2})
    tab.show_run(record)
    assert tab.progress.bar.format() == text
    expected = palette_colors(tab.progress)[color] if color else tab.palette().color(QPalette.ColorRole.Highlight)
    assert tab.progress.bar_color() == expected
