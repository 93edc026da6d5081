"""Background work for the window: one function on its own QThread, results back as signals.

- `BackgroundTask`: runs `fn(task, *args)`; `task.report(value)` -> progress,
  `task.check()` raises TaskCancelled after `cancel()`. Exactly one of succeeded,
  failed or cancelled is emitted, then `ended`.
- `TaskGroup`: the tasks one widget started, to cancel and join them all when it closes.
- `TaskSlot`: one kind of job of a widget, latest result wins. Starting a new job
  cancels the one before, and whatever the old one still delivers is dropped: no
  generation counters in the widgets.

The training run is not a BackgroundTask: it has its own worker (worker.py).
"""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QCoreApplication, Qt, QThread, Signal

from resnet_studio.engine.errors import describe

__all__ = [
    "TaskCancelled",
    "BackgroundTask",
    "TaskGroup",
    "TaskSlot",
    "run_in_background",
    "wait_for_background_tasks",
    "running_background_tasks",
]


class TaskCancelled(Exception):
    """Raised inside a task (by `report` or `check`) once the task was cancelled."""


class BackgroundTask(QThread):
    """Runs `fn(task, *args)` on its own thread.

    `fn` receives the task so it can call `task.report(value)` (-> `progress`) and
    `task.check()` (raises TaskCancelled after `cancel()`). Exactly one of
    `succeeded(result)`, `failed(message)` or `cancelled()` is emitted. Tasks keep
    themselves alive until their thread ends, so dropping the Python reference
    never destroys a running QThread.
    """

    progress = Signal(object)
    succeeded = Signal(object)
    failed = Signal(str)
    cancelled = Signal()
    ended = Signal()  # after any of the three: the last signal run() emits

    _live: set[BackgroundTask] = set()
    _live_lock = threading.Lock()

    def __init__(self, fn: Callable[..., Any], *args: Any, name: str = "task") -> None:
        super().__init__()
        self._fn = fn
        self._args = args
        self._cancel = threading.Event()
        self.setObjectName(f"resnet-studio-{name}")
        self.finished.connect(self._forget)

    # -- from any thread
    def cancel(self) -> None:
        self._cancel.set()

    def check(self) -> None:
        if self._cancel.is_set():
            raise TaskCancelled()

    def report(self, value: Any) -> None:
        self.check()
        self.progress.emit(value)

    def start(self, *args, **kwargs) -> None:  # QThread.start, keeping the task alive while it runs
        with BackgroundTask._live_lock:
            BackgroundTask._live.add(self)
        super().start(*args, **kwargs)

    # -- worker thread
    def run(self) -> None:
        try:
            result = self._fn(self, *self._args)
        except TaskCancelled:
            self.cancelled.emit()
        except Exception as exc:  # every ending maps to one signal; never a silent death
            self.failed.emit(describe(exc))
        else:
            if self._cancel.is_set():
                self.cancelled.emit()
            else:
                self.succeeded.emit(result)
        finally:
            self.ended.emit()

    def _forget(self) -> None:
        with BackgroundTask._live_lock:
            BackgroundTask._live.discard(self)
        self.deleteLater()


def run_in_background(
    fn: Callable[..., Any],
    *args: Any,
    on_result: Callable[[Any], None] | None = None,
    on_error: Callable[[str], None] | None = None,
    on_progress: Callable[[Any], None] | None = None,
    on_cancelled: Callable[[], None] | None = None,
    on_finished: Callable[[], None] | None = None,
    receiver: Any = None,
    name: str = "task",
) -> BackgroundTask:
    """Start `fn(task, *args)` on a new thread; callbacks run on the UI thread.

    With `receiver` (a QObject), each callback is queued to it and dropped once it is
    deleted, so a closed widget never gets a late result.
    """
    task = BackgroundTask(fn, *args, name=name)
    for signal, slot in (
        (task.succeeded, on_result),
        (task.failed, on_error),
        (task.progress, on_progress),
        (task.cancelled, on_cancelled),
        (task.ended, on_finished),  # after the other three, whichever ending it was
    ):
        if slot is not None:
            signal.connect(_guarded(receiver, slot) if receiver is not None else slot, Qt.ConnectionType.QueuedConnection)
    task.start()
    return task


def _guarded(receiver: Any, slot: Callable) -> Callable:
    from shiboken6 import isValid

    def call(*args):
        if isValid(receiver):
            slot(*args)

    return call


def _is_running(task: BackgroundTask) -> bool:
    try:
        return task.isRunning()
    except RuntimeError:  # the C++ object is gone: it had finished
        return False


class TaskGroup:
    """The background tasks one widget started, so it can cancel and join all of them.

    A task abandoned earlier (cancelled, its result no longer wanted) still counts
    until its thread ends: shutdown() waits for it too.
    """

    def __init__(self) -> None:
        self._tasks: list[BackgroundTask] = []
        self.closed = False

    def start(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> BackgroundTask | None:
        """run_in_background(...), remembered; None once the group was shut down."""
        if self.closed:
            return None
        self._tasks = [t for t in self._tasks if _is_running(t)]
        task = run_in_background(fn, *args, **kwargs)
        self._tasks.append(task)
        return task

    def slot(self, name: str) -> TaskSlot:
        """A TaskSlot whose tasks this group joins on shutdown."""
        return TaskSlot(self, name)

    def running(self) -> list[BackgroundTask]:
        return [t for t in self._tasks if _is_running(t)]

    def shutdown(self, timeout_ms: int = 10_000) -> bool:
        """Refuse new tasks, cancel the running ones and wait for them; True if all ended."""
        self.closed = True
        tasks = self.running()
        for t in tasks:
            t.cancel()
        deadline = time.monotonic() + timeout_ms / 1000
        for t in tasks:
            try:
                t.wait(max(1, int((deadline - time.monotonic()) * 1000)))
            except RuntimeError:
                pass
        self._tasks = self.running()
        return not self._tasks


class TaskSlot:
    """One kind of background job, latest result wins.

    `start()` cancels the job before it (if any) and runs the new one; only the current
    job's callbacks are called, so a late result of an abandoned job never reaches the
    widget. `busy` is true from start() until the current job's thread has ended (or it
    was cancelled). `on_finished` runs when the current job's thread ends, whatever the
    ending.
    """

    def __init__(self, group: TaskGroup, name: str) -> None:
        self.group = group
        self.name = name
        self.task: BackgroundTask | None = None

    @property
    def busy(self) -> bool:
        return self.task is not None

    def start(
        self,
        fn: Callable[..., Any],
        *args: Any,
        receiver: Any,
        on_result: Callable[[Any], None] | None = None,
        on_error: Callable[[str], None] | None = None,
        on_progress: Callable[[Any], None] | None = None,
        on_finished: Callable[[], None] | None = None,
    ) -> BackgroundTask | None:
        """Run `fn(task, *args)` in the background in place of the current job (None once
        the group was shut down)."""
        self.cancel()
        holder: list[BackgroundTask] = []

        def current(callback):
            if callback is None:
                return None

            def call(*values):
                if holder and holder[0] is self.task:
                    callback(*values)

            return call

        def ended():
            if holder and holder[0] is self.task:
                self.task = None
                if on_finished is not None:
                    on_finished()

        task = self.group.start(
            fn,
            *args,
            on_result=current(on_result),
            on_error=current(on_error),
            on_progress=current(on_progress),
            on_finished=ended,
            receiver=receiver,
            name=self.name,
        )
        if task is not None:
            holder.append(task)
            self.task = task
        return task

    def cancel(self) -> None:
        """Stop caring about the current job: it is told to stop, and its results are dropped."""
        if self.task is not None:
            self.task.cancel()
            self.task = None


def running_background_tasks() -> list[BackgroundTask]:
    with BackgroundTask._live_lock:
        return [t for t in BackgroundTask._live if _is_running(t)]


def wait_for_background_tasks(timeout_ms: int = 10_000, cancel: bool = False) -> bool:
    """Wait for every BackgroundTask's thread to end and deliver its last signals.

    Returns True when none is running any more. With `cancel`, ask each to stop first.
    """
    deadline = time.monotonic() + timeout_ms / 1000
    app = QCoreApplication.instance()
    while True:
        with BackgroundTask._live_lock:
            tasks = list(BackgroundTask._live)
        running = [t for t in tasks if _is_running(t)]
        if cancel:
            for t in running:
                t.cancel()
        for t in running:
            left = max(1, int((deadline - time.monotonic()) * 1000))
            t.wait(left)
        if app is not None:  # deliver queued results, then the finished -> _forget slots
            for _ in range(3):
                app.processEvents()
        with BackgroundTask._live_lock:
            still = [t for t in BackgroundTask._live if _is_running(t)]
        if not still or time.monotonic() > deadline:
            return not still
