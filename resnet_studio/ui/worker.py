"""The one place that knows both the engine and Qt: training on a QThread.

`TrainWorker` is a QObject moved to a QThread. Its `run()` drives the engine's
Trainer, turns the trainer's callback events into Qt signals and throttles them to
what a person can see: StepEnd events are buffered and sent as one batch at most
every ~80 ms, and always at epoch end and at the end of the run. Every ending of
`run()` maps to exactly one signal: `finished(RunFinished)` (completed or cancelled)
or `failed(message)`.

`TrainingController` owns the thread. Stop and Pause go straight to the engine's
RunControl (thread-safe flags the loop checks before each batch): the worker's own
event loop is busy training, so queued slots on it would never run. The controller
re-emits the worker's signals from the UI thread; its `finished`/`failed` arrive only
after the thread has been joined, so "the run ended" also means "nothing is left
running". The thread is never terminated: stopping is cooperative.
"""

from __future__ import annotations

import gc
import logging
import os
import sys
import threading
import time
import traceback

from PySide6.QtCore import QObject, QThread, Signal, Slot

__all__ = ["TrainWorker", "TrainingController", "UiThreadGarbageCollector", "FLUSH_INTERVAL_S", "training_threads"]

log = logging.getLogger(__name__)

FLUSH_INTERVAL_S = 0.08  # at most ~12 progress updates a second, whatever the step rate


TRAINING_NICENESS = 10  # the OS priority of the training thread (0 normal, 19 lowest)
GIL_SWITCH_INTERVAL_S = 0.001  # while training: the UI thread waits at most ~1 ms for the GIL


def training_threads(cpu_count: int | None = None) -> int:
    """Intra-op threads for CPU training: every core but one, which the UI keeps.

    With all cores in torch's thread pool, each redraw of the window competes with
    spinning worker threads. Measured on 2 cores (ResNet-18, 64 px, batch 32): one
    thread trained about twice as fast as two, and the window stuttered less.
    """
    cores = cpu_count or os.cpu_count() or 1
    return max(1, cores - 1)


class UiThreadGarbageCollector(QObject):
    """Python's cyclic garbage collection, run on the UI thread only.

    Left automatic, a collection starts in whichever thread happens to allocate -
    most often the training thread - and a reference cycle that holds a Qt object
    (pyqtgraph's items are full of them) is then destroyed off the UI thread, which
    crashes Qt. As pyqtgraph's GarbageCollector does: automatic collection is turned
    off and a timer collects each generation once it passes Python's own threshold.
    """

    _instance: UiThreadGarbageCollector | None = None

    def __init__(self, interval_ms: int = 250):
        from PySide6.QtCore import QCoreApplication, QTimer

        super().__init__(QCoreApplication.instance())
        self.threshold = gc.get_threshold()
        self._timer = QTimer(self)
        self._timer.setInterval(interval_ms)
        self._timer.timeout.connect(self.check)

    @classmethod
    def install(cls) -> UiThreadGarbageCollector | None:
        """Turn automatic collection off and collect from the UI thread (idempotent).

        Needs a Q(Core)Application; call it from the UI thread.
        """
        from PySide6.QtCore import QCoreApplication

        app = QCoreApplication.instance()
        if app is None or QThread.currentThread() is not app.thread():
            return None
        if cls._instance is None:
            cls._instance = cls()
        gc.disable()
        cls._instance._timer.start()
        return cls._instance

    @classmethod
    def uninstall(cls) -> None:
        """Back to Python's automatic collection."""
        if cls._instance is not None:
            cls._instance._timer.stop()
        gc.enable()

    def check(self) -> None:
        c0, c1, c2 = gc.get_count()
        if c0 > self.threshold[0]:
            gc.collect(0)
            if c1 > self.threshold[1]:
                gc.collect(1)
                if c2 > self.threshold[2]:
                    gc.collect(2)


def _lower_this_threads_priority() -> None:
    """Let the UI thread win the CPU over training when cores are scarce.

    On Linux a thread has its own nice value and the threads it starts inherit it, so
    this covers the trainer's image-decoding threads too. Elsewhere it does nothing.
    The thread ends with the run, so nothing needs restoring.
    """
    if not sys.platform.startswith("linux"):
        return
    try:
        tid = threading.get_native_id()
        os.setpriority(os.PRIO_PROCESS, tid, max(os.getpriority(os.PRIO_PROCESS, tid), TRAINING_NICENESS))
    except (OSError, AttributeError):
        pass


class TrainWorker(QObject):
    """Runs one training run (or resumes one) when its thread starts.

    Signals are emitted from the training thread and reach UI-thread receivers queued.
    Payloads are the engine's small frozen event dataclasses.
    """

    runStarted = Signal(object)  # RunStarted
    stepsReady = Signal(object)  # tuple[StepEnd, ...], oldest first
    epochEnded = Signal(object)  # EpochEnd
    logMessage = Signal(str, str)  # level ("info", "warning", "error"), message
    memoryFallback = Signal(object)  # MemoryFallback: batches now run in smaller pieces
    finished = Signal(object)  # RunFinished, status "completed" or "cancelled"
    failed = Signal(str)  # a readable one-line message

    def __init__(self, config, resume_dir: str | None = None, control=None, flush_interval: float = FLUSH_INTERVAL_S):
        super().__init__()
        from resnet_studio.engine.train import RunControl

        self.config = config
        self.resume_dir = resume_dir
        self.control = control if control is not None else RunControl()
        self.flush_interval = flush_interval
        self.result = None  # the RunFinished, once there is one
        self.ending: tuple[str, object] | None = None  # ("finished", RunFinished) or ("failed", message)
        self.run_dir: str | None = None
        self._pending: list = []
        self._last_flush = 0.0
        self._lock = threading.Lock()

    # ------------------------------------------------------------ training thread

    @Slot()
    def run(self) -> None:
        """Train; end with exactly one of finished / failed. Never raises."""
        # The UI thread paints in many short Python calls, each needing the GIL; a
        # shorter switch interval stops the training thread from delaying each by 5 ms.
        switch_interval = sys.getswitchinterval()
        sys.setswitchinterval(min(switch_interval, GIL_SWITCH_INTERVAL_S))
        _lower_this_threads_priority()
        try:
            self._train()
        except BaseException as exc:  # every ending must reach the UI
            self._flush()
            self._end("failed", self._describe(exc))
        finally:
            sys.setswitchinterval(switch_interval)
            thread = self.thread()
            if thread is not None:
                thread.quit()  # direct call: the UI thread may be blocked in wait()

    def _train(self) -> None:
        from resnet_studio.engine.errors import RunCancelled
        from resnet_studio.engine.events import RunFinished
        from resnet_studio.engine.train import Trainer

        restore_threads = self._limit_cpu_threads()
        try:
            trainer = Trainer(self.config, callbacks=[self._on_event], control=self.control, resume_dir=self.resume_dir)
            result = trainer.run()
        except RunCancelled:  # stopped while the run was still being set up
            result = RunFinished("cancelled", self.run_dir or "", 0, None, None, None, None, "stopped before training began")
        finally:
            restore_threads()
        self._flush()
        self.result = result
        if result.status == "failed":
            self._end("failed", _friendly(result.message or "the run failed"))
        else:
            self._end("finished", result)

    def _end(self, kind: str, value) -> None:
        self.ending = (kind, value)
        (self.finished if kind == "finished" else self.failed).emit(value)

    def _limit_cpu_threads(self):
        """Leave the UI a core while training on the CPU; returns a function that undoes it."""
        import torch

        device = str(getattr(self.config, "device", "auto") or "auto")
        on_gpu = device.startswith(("cuda", "mps")) or (
            device == "auto" and (torch.cuda.is_available() or torch.backends.mps.is_available())
        )
        before = torch.get_num_threads()
        wanted = training_threads()
        if on_gpu or before <= wanted:
            return lambda: None
        torch.set_num_threads(wanted)
        return lambda: torch.set_num_threads(before)  # predictions afterwards get every core

    def _on_event(self, event) -> None:
        from resnet_studio.engine import events as ev

        if isinstance(event, ev.StepEnd):
            with self._lock:
                self._pending.append(event)
            if time.monotonic() - self._last_flush >= self.flush_interval:
                self._flush()
        elif isinstance(event, ev.EpochEnd):
            self._flush()
            self.epochEnded.emit(event)
        elif isinstance(event, ev.LogMessage):
            self.logMessage.emit(event.level, event.message)
        elif isinstance(event, ev.MemoryFallback):
            self.memoryFallback.emit(event)
        elif isinstance(event, ev.RunStarted):
            self.run_dir = event.run_dir
            self.runStarted.emit(event)
            self._last_flush = time.monotonic()
        elif isinstance(event, ev.RunFinished):
            self._flush()

    def _flush(self) -> None:
        with self._lock:
            batch, self._pending = tuple(self._pending), []
        self._last_flush = time.monotonic()
        if batch:
            self.stepsReady.emit(batch)

    @staticmethod
    def _describe(exc: BaseException) -> str:
        from resnet_studio.engine.errors import StudioError, describe

        if isinstance(exc, MemoryError):
            return _OUT_OF_MEMORY
        if not isinstance(exc, StudioError):
            log.error("training failed:\n%s", "".join(traceback.format_exception(exc)))
        return _friendly(describe(exc))


_OUT_OF_MEMORY = "out of memory: try a smaller batch size, a smaller image size or a smaller depth"


def _friendly(message: str) -> str:
    """Memory exhaustion, whatever the wording, as advice; other messages as they are."""
    lowered = message.lower()
    if "gpu memory" in lowered or "out of memory even with" in lowered:  # the engine's own advice already
        return message
    if "out of memory" in lowered or "can't allocate memory" in lowered or "cannot allocate memory" in lowered:
        return _OUT_OF_MEMORY
    return message


class TrainingController(QObject):
    """Starts training runs on their own thread, stops and joins them.

    One run at a time. All signals are emitted on the UI thread; `finished` and
    `failed` come after the thread was joined.
    """

    runStarted = Signal(object)  # RunStarted
    stepsReady = Signal(object)  # tuple[StepEnd, ...]
    epochEnded = Signal(object)  # EpochEnd
    logMessage = Signal(str, str)  # level, message
    memoryFallback = Signal(object)  # MemoryFallback
    finished = Signal(object)  # RunFinished (completed or cancelled)
    failed = Signal(str)  # message
    runningChanged = Signal(bool)
    pausedChanged = Signal(bool)

    def __init__(self, parent: QObject | None = None):
        super().__init__(parent)
        UiThreadGarbageCollector.install()  # before any training thread allocates
        self._thread: QThread | None = None
        self._worker: TrainWorker | None = None
        self._paused = False

    # ------------------------------------------------------------ state

    def is_running(self) -> bool:
        return self._thread is not None

    def is_paused(self) -> bool:
        return self._thread is not None and self._paused

    def is_stopping(self) -> bool:
        return self._worker is not None and self._worker.control.stop_requested

    @property
    def control(self):
        """The running run's engine RunControl, or None."""
        return self._worker.control if self._worker is not None else None

    @property
    def run_dir(self) -> str | None:
        return self._worker.run_dir if self._worker is not None else None

    # ------------------------------------------------------------ commands

    def start(self, config, resume_dir: str | None = None) -> None:
        """Train `config` (a TrainConfig) on a new thread; resume `resume_dir` if given."""
        if self._thread is not None:
            raise RuntimeError("a training run is already in progress")
        worker = TrainWorker(config, resume_dir=resume_dir)
        thread = QThread()
        thread.setObjectName("resnet-studio-training")
        worker.moveToThread(thread)
        worker.runStarted.connect(self.runStarted)
        worker.stepsReady.connect(self.stepsReady)
        worker.epochEnded.connect(self.epochEnded)
        worker.logMessage.connect(self.logMessage)
        worker.memoryFallback.connect(self.memoryFallback)
        thread.started.connect(worker.run)
        thread.finished.connect(self._on_thread_finished)
        self._thread, self._worker, self._paused = thread, worker, False
        thread.start()
        self.runningChanged.emit(True)

    def pause(self) -> None:
        if self._worker is not None and not self._paused and not self.is_stopping():
            self._worker.control.pause()
            self._paused = True
            self.pausedChanged.emit(True)

    def resume(self) -> None:
        if self._worker is not None and self._paused:
            self._worker.control.resume()
            self._paused = False
            self.pausedChanged.emit(False)

    def toggle_pause(self) -> None:
        self.resume() if self._paused else self.pause()

    def stop(self) -> None:
        """Ask the run to stop before its next batch; returns at once."""
        if self._worker is not None:
            self._worker.control.stop()
            if self._paused:
                self._paused = False
                self.pausedChanged.emit(False)

    def shutdown(self, timeout_s: float | None = None) -> bool:
        """Stop the run and wait for its thread; True once nothing is running.

        The trainer keeps its last checkpoint, so the run can be resumed later.
        """
        if self._thread is None:
            return True
        self.stop()
        if timeout_s is None:
            self._thread.wait()
        elif not self._thread.wait(int(timeout_s * 1000)):
            return False
        self._finish(self._thread)
        return True

    # ------------------------------------------------------------ endings

    def _on_thread_finished(self) -> None:
        if self._thread is not None and self.sender() is self._thread:
            self._finish(self._thread)

    def _finish(self, thread: QThread) -> None:
        if thread is not self._thread:
            return
        thread.wait()  # it has left run(); make sure it is gone before dropping it
        worker = self._worker
        # read after the join: the worker recorded its ending before its thread quit
        ending = worker.ending if worker is not None else None
        self._thread, self._worker = None, None
        if worker is not None:
            worker.deleteLater()
        thread.deleteLater()
        if self._paused:
            self._paused = False
            self.pausedChanged.emit(False)
        if ending is None:
            ending = ("failed", "the training thread ended without a result")
        if ending[0] == "finished":
            self.finished.emit(ending[1])
        else:
            self.failed.emit(ending[1])
        self.runningChanged.emit(False)
