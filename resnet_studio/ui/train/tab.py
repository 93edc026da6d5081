"""The Train tab: Start / Pause / Stop, progress, live curves and the run's log.

`TrainTab` lays the room out, follows a TrainingController (`attach`) and replays past
runs (`show_run`, from the engine's RunRecord). Its parts:

- series.py: the curves' points, in bounded buffers (memory stays flat however long the
  run); each curve gets one `setData` per update, and updates arrive throttled by the
  worker;
- plots.py: the pyqtgraph plots, built just after the window first shows (pyqtgraph's
  import takes ~0.7 s), so they never delay it;
- progress.py: the progress bar, the run's figures and its clock;
- log.py: the log, which keeps its last MAX_LOG_LINES lines.

A run whose settings are not the setup panel's (a resumed run, or a past run shown) is
announced with `runSettingsChanged` (a title and its settings in one line; "" when the
panel's settings are the run's), which the window hands to the setup panel.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
from PySide6.QtCore import QEvent, QSettings, QSize, Qt, QTimer, Signal
from PySide6.QtGui import QPalette
from PySide6.QtWidgets import (
    QFrame,
    QHBoxLayout,
    QLabel,
    QPushButton,
    QSizePolicy,
    QSplitter,
    QStackedWidget,
    QStyle,
    QVBoxLayout,
    QWidget,
)

from resnet_studio.engine.config import is_cifar_depth
from resnet_studio.engine.runs import RunRecord

from ..format import duration, escape, fraction
from ..widgets import Banner
from .log import RunLog
from .plots import TrainPlots
from .progress import RunProgress
from .series import MAX_SERIES_POINTS, CurveBuffers

__all__ = ["TrainTab", "settings_text"]

_STATE_TEXT = {
    "idle": "Ready",
    "preparing": "Preparing…",
    "running": "Training",
    "paused": "Paused",
    "stopping": "Stopping after this batch…",
    "completed": "Training complete",
    "cancelled": "Stopped",
    "failed": "Training failed",
    "history": "Past run",
}
_START_TIP = "Start training with the settings on the left (Ctrl+Return)"
_WEIGHTS = {"imagenet": "ImageNet weights", "none": "from scratch"}
_TRAINS = {"all": "whole network trains", "layer3": "last two stages train", "layer4": "last stage trains",
           "head": "head trains"}
_OPTIMIZERS = {"sgd": "SGD", "adamw": "AdamW"}


def settings_text(config: dict) -> str:
    """A run's settings (its config.json, or RunStarted.config) in one line: "ResNet-18 on
    demo · ImageNet weights · whole network trains · 224 px · batch 32 · SGD, lr 0.001 · 10 epochs"."""
    depth, data = config.get("depth"), Path(str(config.get("data_dir") or "")).name
    weights = str(config.get("weights") or "")
    lr = config.get("lr")
    optimizer = _OPTIMIZERS.get(str(config.get("optimizer")), str(config.get("optimizer") or ""))
    parts = [
        (f"ResNet-{depth}" if depth else "") + (f" on {data}" if data else ""),
        _WEIGHTS.get(weights, Path(weights).name),
        # a CIFAR ResNet has three stages: from layer3 on is its last stage
        "last stage trains" if is_cifar_depth(depth) and config.get("trainable") == "layer3"
        else _TRAINS.get(str(config.get("trainable")), ""),
        f"{config['image_size']} px" if config.get("image_size") else "",
        "small-image stem" if config.get("stem") == "small" and not is_cifar_depth(depth) else "",
        f"batch {config['batch_size']}" if config.get("batch_size") else "",
        ", ".join(filter(None, [optimizer, f"lr {lr:.3g}" if isinstance(lr, (int, float)) else ""])),
        f"{config['epochs']} epochs" if config.get("epochs") else "",
    ]
    return "  ·  ".join(p for p in parts if p)


class TrainTab(QWidget):
    """Controls, progress, curves and log of the current (or an opened) run.

    Buttons: Start emits `startRequested` (the window knows the configuration);
    Pause/Resume and Stop act on the attached TrainingController, which flips the
    engine's RunControl flags directly.
    """

    startRequested = Signal()
    #: (title, settings): the run shown or training has settings of its own, not the setup
    #: panel's (a resumed run, a past run); ("", "") when there is none
    runSettingsChanged = Signal(str, str)

    #: points each curve keeps at most (beyond it, min/max decimation: see GrowingSeries)
    max_series_points = MAX_SERIES_POINTS

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self._controller = None
        self._can_start = False
        self._start_reason: str | Callable[[], str] = "Choose a data folder first."
        self._state = "idle"
        self._title = ""
        self._last_error = ""
        self._resumed: tuple[RunRecord, list[dict]] | None = None  # the run being resumed, its metrics
        self._settings_of: tuple[str, dict] | None = None  # (name, config) of a run with settings of its own
        self.buffers = CurveBuffers(max_points=self.max_series_points)
        self._build()
        self._set_state("idle")

    # ================================================================ layout

    def _build(self) -> None:
        icon = self.style().standardIcon
        self.start_button = QPushButton(icon(QStyle.StandardPixmap.SP_MediaPlay), "Start")
        self.start_button.setObjectName("startButton")
        self.start_button.setDefault(True)
        self.start_button.setToolTip(_START_TIP)
        self.pause_button = QPushButton(icon(QStyle.StandardPixmap.SP_MediaPause), "Pause")
        self.pause_button.setToolTip("Pause after the current batch; Resume continues where it left off")
        self.stop_button = QPushButton(icon(QStyle.StandardPixmap.SP_MediaStop), "Stop")
        self.stop_button.setToolTip("Stop after the current batch; the last epoch's checkpoint is kept for resuming")
        self.start_button.clicked.connect(self._on_start_clicked)
        self.start_button.installEventFilter(self)
        self.pause_button.clicked.connect(self._on_pause_clicked)
        self.stop_button.clicked.connect(self._on_stop_clicked)

        self.state_label = QLabel()
        font = self.state_label.font()
        font.setBold(True)
        font.setPointSizeF(font.pointSizeF() * 1.1)
        self.state_label.setFont(font)
        self.detail_label = QLabel()
        self.detail_label.setForegroundRole(QPalette.ColorRole.PlaceholderText)
        self.detail_label.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.detail_label.setWordWrap(True)  # a narrow window shows the whole line, on two
        titles = QVBoxLayout()
        titles.setSpacing(0)
        titles.addWidget(self.state_label)
        titles.addWidget(self.detail_label)

        controls = QHBoxLayout()
        controls.setSpacing(6)
        for button in (self.start_button, self.pause_button, self.stop_button):
            button.setMinimumWidth(92)
            button.setIconSize(QSize(14, 14))
            controls.addWidget(button)
        controls.addSpacing(14)
        controls.addLayout(titles, 1)

        self.progress = RunProgress()
        self.banner = Banner()

        self.plots = TrainPlots()  # built by ensure_plots()
        self.empty_state = self._build_empty_state()
        self.plot_stack = QStackedWidget()
        self.plot_stack.addWidget(self.empty_state)
        self.plot_stack.addWidget(self.plots)

        self.log = RunLog()
        self.log_view = self.log.view

        self.splitter = QSplitter(Qt.Orientation.Vertical)
        self.splitter.setObjectName("trainSplitter")
        self.splitter.setChildrenCollapsible(False)
        self.splitter.addWidget(self.plot_stack)
        self.splitter.addWidget(self.log)
        self.splitter.setStretchFactor(0, 4)
        self.splitter.setStretchFactor(1, 1)
        self.splitter.setSizes([520, 150])

        layout = QVBoxLayout(self)
        layout.setContentsMargins(12, 12, 12, 8)
        layout.setSpacing(8)
        layout.addLayout(controls)
        layout.addWidget(self.progress)
        layout.addWidget(self.banner)
        layout.addWidget(self.splitter, 1)

    def _build_empty_state(self) -> QWidget:
        box = QFrame()
        box.setObjectName("emptyState")
        title = QLabel("No training curves yet")
        font = title.font()
        font.setPointSizeF(font.pointSizeF() * 1.35)
        font.setBold(True)
        title.setFont(font)
        self.empty_hint = QLabel()
        self.empty_hint.setWordWrap(True)
        self.empty_hint.setForegroundRole(QPalette.ColorRole.PlaceholderText)
        for label in (title, self.empty_hint):
            label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        layout = QVBoxLayout(box)
        layout.addStretch(1)
        layout.addWidget(title)
        layout.addWidget(self.empty_hint)
        layout.addStretch(2)
        return box

    # ================================================================ public API

    def ensure_plots(self) -> None:
        """Build the plots once (imports pyqtgraph, ~0.7 s); buffered data is drawn.

        Called on first need at the latest; the window calls it just after it first shows.
        """
        if not self.plots.built:
            self.plots.build()
            self.plots.draw(self.buffers, self.buffers.names)

    def attach(self, controller) -> None:
        """Follow a TrainingController: its progress fills this tab, its buttons drive it."""
        self._controller = controller
        controller.runStarted.connect(self._on_run_started)
        controller.stepsReady.connect(self.add_steps)
        controller.epochEnded.connect(self.add_epoch)
        controller.logMessage.connect(self.append_log)
        controller.finished.connect(self._on_finished)
        controller.failed.connect(self._on_failed)
        controller.runningChanged.connect(self._on_running_changed)
        controller.pausedChanged.connect(self._on_paused_changed)

    def set_can_start(self, can_start: bool, reason: str | Callable[[], str] = "") -> None:
        """Whether the settings allow a run; `reason` (text, or a function giving it) says why not."""
        self._can_start = bool(can_start)
        self._start_reason = reason
        self._update_buttons()
        self._update_empty_hint()

    def start_reason(self) -> str:
        """Why Start is disabled ("" when it is enabled)."""
        if self._can_start:
            return ""
        reason = self._start_reason() if callable(self._start_reason) else self._start_reason
        return reason or "The setup is not complete yet."

    def begin_run(self, title: str, record: RunRecord | None = None) -> None:
        """Clear the tab for a new run; `title` names it in the header. A resumed run
        (`record`: its folder) first shows the epochs it completed so far, and its log."""
        self.clear()
        self.banner.hide()
        self._set_state("preparing", title)
        if record is not None:
            rows = record.metrics()
            self._resumed = (record, rows)
            self._replay(record, rows, completed_epochs_only=True)
            self._replay_log(rows)
            self._announce_settings(record.display_name, record.config)

    def show_run(self, record: RunRecord) -> None:
        """Show a past run: its curves and log (from its metrics), its name, a line about
        how it went, and its folder."""
        self.clear()
        self.banner.hide()
        rows = record.metrics()
        done = self._replay(record, rows)
        self._replay_log(rows)
        total = max(record.epochs or 0, done, 1)
        self.plots.set_epoch_axis(total)
        self.progress.show_done(done, total, record.status)
        self.log.set_run_dir(record.path)
        self._set_state("history", record.display_name, detail=record.describe())
        self._announce_settings(record.display_name, record.config)

    def clear(self) -> None:
        """Empty the curves, figures and log (the tab then shows its empty state)."""
        self.buffers.clear()
        self.plots.draw(self.buffers, self.buffers.names)
        self.plots.set_epoch_axis(None)
        self.plots.set_gpu_visible(False)
        self.progress.clear()
        self.log.set_run_dir(None)
        self.log.clear()
        self._last_error = ""
        self._resumed = None
        self._announce_settings(None)
        self.plot_stack.setCurrentWidget(self.empty_state)

    def series(self, name: str) -> tuple[np.ndarray, np.ndarray]:
        """The points of one curve (see SERIES_NAMES), as plotted."""
        return self.buffers.data(name)

    def append_log(self, level: str, message: str, when: float | None = None) -> None:
        """A line in the log ("info", "warning" or "error"; `when`: seconds since the epoch)."""
        if level == "error":
            self._last_error = message
        self.log.append(level, message, when)

    def show_error(self, message: str, title: str = "Training failed") -> None:
        self.banner.show_message("error", title, escape(message), actions=[("Dismiss", self.banner.hide)])

    def show_warning(self, title: str, message: str) -> bool:
        """A warning in the tab's banner (e.g. training went on with a smaller batch after
        the GPU ran out of memory), with a Dismiss button; plain text. An error banner
        already shown stays (errors win): then nothing is shown and False is returned.
        The banner goes away with Dismiss, or when the next run begins."""
        if self.error_message():
            return False
        self.banner.show_message("warning", title, escape(message), actions=[("Dismiss", self.banner.hide)])
        return True

    def error_message(self) -> str:
        """The message of the error banner, or '' when none is shown."""
        return self._banner_message("error")

    def warning_message(self) -> str:
        """The message of the warning banner, or '' when none is shown."""
        return self._banner_message("warning")

    def state(self) -> str:
        """idle, preparing, running, paused, stopping, completed, cancelled, failed or history."""
        return self._state

    def run_settings(self) -> tuple[str, str]:
        """What runSettingsChanged last said: (title, settings), or ("", "")."""
        return self._settings_note()

    def save_settings(self, settings: QSettings) -> None:
        settings.setValue("train/splitter", self.splitter.saveState())

    def restore_settings(self, settings: QSettings) -> None:
        state = settings.value("train/splitter")
        if state is not None:
            self.splitter.restoreState(state)

    # ================================================================ updates

    def add_steps(self, steps) -> None:
        """A batch of StepEnd events (oldest first): one setData per curve."""
        if not steps:
            return
        changed = self.buffers.add_steps(steps)
        self._show_plots()
        if "gpu_memory" in changed:
            self.plots.set_gpu_visible(True)
        self.plots.draw(self.buffers, changed)

        self.progress.add_step(steps[-1], self.buffers.smoothed_loss)
        if self._state == "preparing":
            self._set_state("running")

    def add_epoch(self, e) -> None:
        """An EpochEnd event."""
        self._show_plots()
        self.plots.draw(self.buffers, self.buffers.add_epoch(e))
        self.progress.add_epoch(e)
        self.detail_label.setText(
            f"Epoch {e.epoch} done in {duration(e.seconds)}: train {fraction(e.train_acc)}, validation {fraction(e.val_acc)}"
            + ("  ·  new best, model saved" if e.is_best else "")
        )

    def _replay(self, record: RunRecord, rows: list[dict], completed_epochs_only: bool = False) -> int:
        """Plot a past run's metrics rows and fill the figures; returns the epochs it completed.

        `completed_epochs_only`: leave out the steps of an epoch it did not finish (a
        resumed run does that epoch again)."""
        epochs = record.epoch_rows(rows)
        done = int(epochs[-1]["epoch"]) if epochs else 0
        steps = [r for r in rows if r.get("event") == "step" and "loss" in r]
        if completed_epochs_only:
            steps = [r for r in steps if int(r.get("epoch", 0)) <= done]
        self.plots.draw(self.buffers, self.buffers.add_rows(steps, epochs))
        if steps or epochs:
            self._show_plots()
        self.progress.show_epochs(epochs, record.seconds(rows), self.buffers.smoothed_loss)
        return done

    def _replay_log(self, rows: list[dict]) -> None:
        for row in rows:
            if row.get("event") == "log":
                self.append_log(str(row.get("level", "info")), str(row.get("message", "")), row.get("time"))

    def _announce_settings(self, name: str | None, config: dict | None = None) -> None:
        """Tell the window the settings of the run shown (None: they are the setup panel's)."""
        self._settings_of = (name, dict(config or {})) if name else None
        self.runSettingsChanged.emit(*self._settings_note())

    def _settings_note(self) -> tuple[str, str]:
        if self._settings_of is None:
            return "", ""
        name, config = self._settings_of
        live = self._state in RunProgress.LIVE_STATES
        title = "Training a resumed run, with its own settings" if live else "The run on the Train tab was trained with"
        return title, f"{name}: {settings_text(config)}. The settings below are for the next run."

    # ================================================================ controller signals

    def _on_run_started(self, event) -> None:
        self.plots.set_epoch_axis(event.epochs)
        self.log.set_run_dir(event.run_dir)
        earlier = 0.0
        if self._resumed is not None:  # the run's training time so far: the epochs it does not redo
            record, rows = self._resumed
            earlier = record.seconds([r for r in record.epoch_rows(rows) if int(r.get("epoch", 0)) < event.start_epoch])
            self._announce_settings(record.display_name, event.config)  # its own, with the epochs it now has
        self.progress.start(event, earlier)
        self.append_log("info", f"run folder: {event.run_dir}")
        resumed = f"resuming at epoch {event.start_epoch}; " if event.start_epoch > 1 else ""
        self.detail_label.setText(
            f"{resumed}{event.num_train} training / {event.num_val} validation images, "
            f"{len(event.classes)} classes, on {event.device}"
        )
        self._set_state("running")

    def _on_running_changed(self, running: bool) -> None:
        if running and self._state not in ("preparing", "running"):
            self._set_state("preparing")
        self._update_buttons()

    def _on_paused_changed(self, paused: bool) -> None:
        if paused:
            self._set_state("paused")
        elif self._state == "paused":
            self._set_state("running")
        self._update_buttons()

    def _on_finished(self, result) -> None:
        self.progress.finish(result.status)
        best = ""
        if result.best_val_acc is not None:
            best = f"best validation accuracy {fraction(result.best_val_acc)} (epoch {result.best_epoch})"
        if result.status == "completed":
            self._set_state("completed", detail=best or "completed")
        else:
            done = result.epochs_completed
            detail = f"stopped after {done} epoch{'s' if done != 1 else ''}"
            detail += "; resume it from History" if result.run_dir else ""
            self._set_state("cancelled", detail=detail + (f"  ·  {best}" if best else ""))
        self.log.set_run_dir(result.run_dir or self.log.run_dir())
        self._update_buttons()
        if self._settings_of is not None:  # a resumed run's settings: no longer "training"
            self.runSettingsChanged.emit(*self._settings_note())

    def _on_failed(self, message: str) -> None:
        self.progress.finish("failed")
        if message != self._last_error:  # the engine usually logged it already
            self.append_log("error", message)
        self.show_error(message)
        self._set_state("failed", detail=message)
        self._update_buttons()
        if self._settings_of is not None:
            self.runSettingsChanged.emit(*self._settings_note())

    # ================================================================ buttons

    def _on_start_clicked(self) -> None:
        if self._can_start and not self._running():
            self.startRequested.emit()

    def _on_pause_clicked(self) -> None:
        if self._controller is not None:
            self._controller.toggle_pause()

    def _on_stop_clicked(self) -> None:
        if self._running():
            self._controller.stop()
            self._set_state("stopping")
            self._update_buttons()

    def _running(self) -> bool:
        return self._controller is not None and self._controller.is_running()

    def _update_buttons(self) -> None:
        running = self._running()
        stopping = running and self._controller.is_stopping()
        paused = running and self._controller.is_paused()
        self.start_button.setEnabled(self._can_start and not running)
        self.start_button.setToolTip(self._start_tooltip())
        self.pause_button.setEnabled(running and not stopping)
        self.pause_button.setText("Resume" if paused else "Pause")
        pixmap = QStyle.StandardPixmap.SP_MediaPlay if paused else QStyle.StandardPixmap.SP_MediaPause
        self.pause_button.setIcon(self.style().standardIcon(pixmap))
        self.stop_button.setEnabled(running and not stopping)

    def _start_tooltip(self) -> str:
        return _START_TIP if self._can_start else f"Cannot start yet: {self.start_reason()}"

    # ================================================================ events and state

    def eventFilter(self, watched, event) -> bool:
        # the setup's reason can change without its validity changing: ask when it is needed
        if watched is self.start_button and event.type() == QEvent.Type.ToolTip:
            self.start_button.setToolTip(self._start_tooltip())
        return super().eventFilter(watched, event)

    def showEvent(self, event) -> None:
        super().showEvent(event)
        self._update_empty_hint()
        if not self.plots.built:
            QTimer.singleShot(250, self, self.ensure_plots)  # after the window's first frames

    def _show_plots(self) -> None:
        self.ensure_plots()
        if self.plot_stack.currentWidget() is not self.plots:
            self.plot_stack.setCurrentWidget(self.plots)

    def _banner_message(self, kind: str) -> str:
        return self.banner.message() if self.banner.isVisibleTo(self) and self.banner.kind == kind else ""

    def _update_empty_hint(self) -> None:
        if self._can_start:
            text = "Press Start to train. Loss, accuracy and learning rate are drawn here as the run goes."
        else:
            text = self.start_reason() + "\nThen press Start; the curves are drawn here live."
        self.empty_hint.setText(text + "\nPast runs can be opened from the History tab.")

    def _set_state(self, state: str, title: str | None = None, detail: str | None = None) -> None:
        """Show `state` (see state()); `title`: the run's ("preparing"), or the past run's
        ("history"); `detail`: the line under it, instead of the state's own."""
        self._state = state
        text = _STATE_TEXT[state]
        if state == "preparing" and title:
            self._title = title
        if state == "history" and title:
            text = title
        elif state in (*RunProgress.LIVE_STATES, "completed", "cancelled", "failed") and self._title:
            text = f"{text}  —  {self._title}"
        self.state_label.setText(text)
        if detail is not None:
            self.detail_label.setText(detail)
        elif state == "idle":
            self.detail_label.setText("Set up a run on the left, then press Start.")
        elif state == "preparing":
            self.detail_label.setText("Checking the images and building the model…")
        self.progress.set_state(state)
        if state == "idle":
            self._update_empty_hint()
        self._update_buttons()
