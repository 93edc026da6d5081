"""The Train tab's progress: the bar, the run's figures at a glance, and its clock.

`RunProgress` shows where a run is (epoch and step of how many), its latest figures
(smoothed loss, validation accuracy, the best so far, images a second) and its time:
elapsed (a resumed run's time before the resume included), and the ETA counted down
between updates, every second while a run is under way. A run that failed or was stopped
keeps its bar where it got to, in the palette's error or warning colour, saying so.
"""

from __future__ import annotations

import time

from PySide6.QtCore import QElapsedTimer, QTimer
from PySide6.QtGui import QColor, QPalette
from PySide6.QtWidgets import QHBoxLayout, QProgressBar, QVBoxLayout, QWidget

from ..format import duration, fraction
from ..widgets import StatTile, palette_colors

__all__ = ["RunProgress"]


def _speed(images_per_sec: float) -> str:
    return f"{images_per_sec:,.0f}" if images_per_sec >= 10 else f"{images_per_sec:.1f}"


#: the bar's colour (a palette_colors name) for a run that ended other than completed
OUTCOME_COLORS = {"failed": "error", "cancelled": "warning", "interrupted": "warning"}


class RunProgress(QWidget):
    """A progress `bar` over a row of StatTiles: epoch, loss, val, best, speed, elapsed, eta.

    The tab says what the run is doing with `set_state` (its state names); the clock
    counts while that is "preparing", "running", "paused" or "stopping". `outcome()`:
    how the run shown ended ("" while it runs, or when nothing is shown).
    """

    LIVE_STATES = ("preparing", "running", "paused", "stopping")

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self._state = "idle"
        self._epochs = 0
        self._total_steps = 0
        self._best: tuple[float, int] | None = None
        self._eta: float | None = None
        self._eta_at = 0.0
        self._epoch_now = 0  # the epoch under way (the one a failure or stop interrupts)
        self._earlier = 0.0  # a resumed run's training time before the resume, in seconds
        self._outcome = ""
        self._stopwatch = QElapsedTimer()
        self._clock = QTimer(self)
        self._clock.setInterval(1000)
        self._clock.timeout.connect(self._tick)

        self.bar = QProgressBar()
        self.bar.setTextVisible(True)
        self.bar.setMinimumHeight(22)
        self.bar.setFormat("")
        self.epoch = StatTile("Epoch")
        self.loss = StatTile("Train loss")
        self.val = StatTile("Val accuracy")
        self.best = StatTile("Best val acc")
        self.speed = StatTile("Images / s")
        self.elapsed = StatTile("Elapsed")
        self.eta = StatTile("ETA")
        tiles = QHBoxLayout()
        tiles.setSpacing(22)
        for tile in self._tiles():
            tiles.addWidget(tile)
        tiles.addStretch(1)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(8)
        layout.addWidget(self.bar)
        layout.addLayout(tiles)

    def _tiles(self) -> tuple[StatTile, ...]:
        return (self.epoch, self.loss, self.val, self.best, self.speed, self.elapsed, self.eta)

    def clear(self) -> None:
        self.bar.setRange(0, 1)
        self.bar.setValue(0)
        self.bar.setFormat("")
        for tile in self._tiles():
            tile.set_value("—")
        self._best = None
        self._epoch_now = 0
        self._earlier = 0.0
        self._set_outcome("")

    def outcome(self) -> str:
        """How the run shown ended: "completed", "cancelled", "failed", "interrupted" (a past
        run whose process went away), or "" (under way, or nothing shown)."""
        return self._outcome

    def set_state(self, state: str) -> None:
        """The tab's state; "preparing" makes the bar busy until the first step."""
        self._state = state
        if state == "preparing":
            self.bar.setRange(0, 0)
            self._eta = None

    # ---------------------------------------------------------------- live

    def start(self, event, earlier_seconds: float = 0.0) -> None:
        """A RunStarted event: the bar spans the run's steps; the clock starts, from
        `earlier_seconds` (a resumed run's training time before the resume)."""
        self._epochs = event.epochs
        self._total_steps = event.epochs * event.steps_per_epoch
        self._epoch_now = event.start_epoch
        self._earlier = max(0.0, float(earlier_seconds))
        self._set_outcome("")
        self.bar.setRange(0, max(1, self._total_steps))
        self.bar.setValue((event.start_epoch - 1) * event.steps_per_epoch)
        self.bar.setFormat(f"Epoch {event.start_epoch}/{event.epochs}  ·  starting…")
        self.epoch.set_value(f"{event.start_epoch} / {event.epochs}")
        self._stopwatch.start()
        self._clock.start()
        self._tick()

    def add_step(self, last, smoothed_loss: float) -> None:
        """The latest StepEnd event of a batch, and the smoothed loss after it."""
        if self._total_steps:
            self.bar.setRange(0, self._total_steps)
            self.bar.setValue(min(self._total_steps, last.global_step))
        epochs = self._epochs or "?"
        self._epoch_now = last.epoch
        self.bar.setFormat(f"Epoch {last.epoch}/{epochs}  ·  step {last.step}/{last.steps_per_epoch}  ·  %p%")
        self.epoch.set_value(f"{last.epoch} / {epochs}")
        self.loss.set_value(f"{smoothed_loss:.3f}", f"last batch: {last.loss:.4f}")
        self.speed.set_value(_speed(last.images_per_sec))
        self._eta = last.eta_seconds
        self._eta_at = time.monotonic()
        self._tick()

    def add_epoch(self, e) -> None:
        """An EpochEnd event."""
        self.val.set_value(fraction(e.val_acc), f"validation loss {e.val_loss:.4f}")
        self._set_best(e.val_acc, e.epoch)

    def finish(self, status: str) -> None:
        """The run ended: "completed", "cancelled" or "failed". A failed or stopped run's bar
        stays where it got to, in the error or warning colour: "Failed at epoch 3 of 10"."""
        self._clock.stop()
        self._tick()
        self.eta.set_value("done" if status == "completed" else "—")
        self._set_outcome(status)
        if status == "completed":
            self.bar.setRange(0, max(1, self.bar.maximum()))
            self.bar.setValue(self.bar.maximum())
            self.bar.setFormat("Done  ·  %p%")
            return
        verb = "Failed" if status == "failed" else "Stopped"
        if not self._epoch_now:  # before the run started (checking the data, building the model)
            self.bar.setRange(0, 1)
            self.bar.setValue(0)
            self.bar.setFormat(f"{verb} while preparing")
        else:
            self.bar.setFormat(f"{verb} at epoch {self._epoch_now} of {self._epochs}  ·  %p%")

    # ---------------------------------------------------------------- replay

    def show_epochs(self, rows: list[dict], seconds: float, smoothed_loss: float | None) -> None:
        """A past run's "epoch" metrics rows (one an epoch, in order), its training time and
        its latest smoothed loss."""
        if rows:
            for r in rows:
                self._set_best(float(r.get("val_acc", -1)), int(r["epoch"]))
            self._epochs = max(self._epochs, int(rows[-1]["epoch"]))
            self.val.set_value(fraction(rows[-1].get("val_acc")))
            self.speed.set_value(_speed(float(rows[-1].get("images_per_sec", 0))))
            self.elapsed.set_value(duration(seconds))
        if smoothed_loss is not None:
            self.loss.set_value(f"{smoothed_loss:.3f}")

    def show_done(self, done: int, total: int, status: str = "completed") -> None:
        """A past run: `done` of `total` epochs; `status` as RunRecord.status says (a failed
        or stopped one in its colour)."""
        self.bar.setRange(0, total)
        self.bar.setValue(done)
        verb = {"failed": "Failed", "cancelled": "Stopped", "interrupted": "Interrupted"}.get(status)
        self.bar.setFormat(f"{verb} after {done} of {total} epochs" if verb else f"{done} of {total} epochs")
        self.epoch.set_value(f"{done} / {total}")
        self._set_outcome(status if status in (*OUTCOME_COLORS, "completed") else "")

    # ---------------------------------------------------------------- internals

    def _set_outcome(self, outcome: str) -> None:
        """The bar in the colour of how the run ended (the palette's highlight while it runs).
        Both the palette and a style sheet: the application's style sheet draws the chunk in
        palette(highlight) of the application's palette, whatever the bar's own says."""
        self._outcome = outcome
        role = OUTCOME_COLORS.get(outcome)
        if role is None:  # the window's palette again (the style sheet first: it restores the palette it found)
            self.bar.setStyleSheet("")
            self.bar.setPalette(QPalette())
            return
        color = palette_colors(self)[role]
        self.bar.setStyleSheet(f"QProgressBar::chunk {{ background-color: {color.name()}; border-radius: 3px; }}")
        palette = QPalette(self.bar.palette())
        palette.setColor(QPalette.ColorRole.Highlight, color)
        self.bar.setPalette(palette)

    def bar_color(self) -> QColor:
        """The colour the bar's done part is drawn in."""
        return self.bar.palette().color(QPalette.ColorRole.Highlight)

    def _set_best(self, val_acc: float, epoch: int) -> None:
        if self._best is None or val_acc > self._best[0]:
            self._best = (val_acc, epoch)
        self.best.set_value(fraction(self._best[0]), f"epoch {self._best[1]}")

    def _tick(self) -> None:
        if self._stopwatch.isValid() and self._state in self.LIVE_STATES:
            self.elapsed.set_value(duration(self._earlier + self._stopwatch.elapsed() / 1000))
        if self._state == "paused":
            self.eta.set_value("paused")
        elif self._eta is not None and self._state == "running":
            self.eta.set_value(duration(max(0.0, self._eta - (time.monotonic() - self._eta_at))))
