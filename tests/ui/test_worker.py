"""The training worker and its controller: endings, throttling, stop, pause, shutdown."""

from __future__ import annotations

import pytest

from resnet_studio.engine.events import EpochEnd, LogMessage, RunFinished, StepEnd
from resnet_studio.ui import worker as worker_module
from resnet_studio.ui.worker import FLUSH_INTERVAL_S, TrainingController, TrainWorker, training_threads

RUN_TIMEOUT_MS = 120_000


class Recorder:
    """Collects what a controller emits."""

    def __init__(self, controller: TrainingController):
        self.started, self.steps, self.epochs, self.logs, self.finished, self.failed = [], [], [], [], [], []
        controller.runStarted.connect(self.started.append)
        controller.stepsReady.connect(lambda batch: self.steps.append(tuple(batch)))
        controller.epochEnded.connect(self.epochs.append)
        controller.logMessage.connect(lambda level, message: self.logs.append((level, message)))
        controller.finished.connect(self.finished.append)
        controller.failed.connect(self.failed.append)

    @property
    def step_count(self) -> int:
        return sum(len(b) for b in self.steps)


def _step(i: int, steps_per_epoch: int = 1000) -> StepEnd:
    epoch = (i - 1) // steps_per_epoch + 1
    step = (i - 1) % steps_per_epoch + 1
    return StepEnd(epoch, step, steps_per_epoch, i, 1.0 / i, 0.5, 0.1, 100.0, 10.0)


def _epoch(epoch: int) -> EpochEnd:
    return EpochEnd(epoch, 3, 1.0, 0.5, 1.1, 0.4, 0.1, 100.0, 2.0, {"a": 0.4}, True, {"layer1.0": 0.3})


def test_run_ends_with_finished(qtbot, tiny_config):
    import torch

    threads = torch.get_num_threads()
    controller = TrainingController()
    rec = Recorder(controller)
    with qtbot.waitSignal(controller.finished, timeout=RUN_TIMEOUT_MS) as blocker:
        controller.start(tiny_config(epochs=1))
        assert controller.is_running()
    result = blocker.args[0]
    assert isinstance(result, RunFinished)
    assert result.status == "completed" and result.epochs_completed == 1
    assert not controller.is_running()  # finished comes after the thread was joined
    assert len(rec.started) == 1 and rec.started[0].run_dir == result.run_dir
    assert rec.step_count == rec.started[0].steps_per_epoch
    assert [b[-1].global_step for b in rec.steps] == sorted(b[-1].global_step for b in rec.steps)
    assert len(rec.epochs) == 1 and rec.failed == []
    assert any("ResNet-18" in message for _, message in rec.logs)
    assert torch.get_num_threads() == threads  # restored for predictions after the run


def test_bad_data_folder_ends_with_failed(qtbot, tiny_config, tmp_path):
    empty = tmp_path / "empty"
    empty.mkdir()
    controller = TrainingController()
    rec = Recorder(controller)
    with qtbot.waitSignal(controller.failed, timeout=RUN_TIMEOUT_MS) as blocker:
        controller.start(tiny_config(data_dir=str(empty)))
    message = blocker.args[0]
    assert message and "\n" not in message and "Traceback" not in message
    assert rec.finished == [] and not controller.is_running()


@pytest.mark.parametrize(
    "exc, expected",
    [
        (RuntimeError("boom"), "RuntimeError: boom"),
        (MemoryError(), "out of memory"),
        (RuntimeError("[enforce fail at alloc_cpu.cpp:117] DefaultCPUAllocator: can't allocate memory"), "out of memory"),
    ],
)
def test_unexpected_errors_end_with_failed(qtbot, tiny_config, monkeypatch, exc, expected):
    import resnet_studio.engine.train as trainer

    def explode(self):
        raise exc

    monkeypatch.setattr(trainer.Trainer, "run", explode)
    controller = TrainingController()
    with qtbot.waitSignal(controller.failed, timeout=RUN_TIMEOUT_MS) as blocker:
        controller.start(tiny_config())
    assert expected in blocker.args[0]


def test_stop_mid_run_ends_promptly(qtbot, tiny_config):
    controller = TrainingController()
    rec = Recorder(controller)
    controller.start(tiny_config(epochs=50))
    qtbot.waitUntil(lambda: rec.step_count > 0, timeout=RUN_TIMEOUT_MS)
    with qtbot.waitSignal(controller.finished, timeout=30_000) as blocker:
        controller.stop()
        assert controller.is_stopping()
    result = blocker.args[0]
    assert result.status == "cancelled"
    assert result.epochs_completed < 50
    assert not controller.is_running()


def test_pause_resume_then_stop(qtbot, tiny_config):
    controller = TrainingController()
    rec = Recorder(controller)
    paused = []
    controller.pausedChanged.connect(paused.append)
    controller.start(tiny_config(epochs=50))
    qtbot.waitUntil(lambda: rec.step_count > 0, timeout=RUN_TIMEOUT_MS)
    controller.pause()
    assert controller.is_paused() and controller.control.paused
    controller.resume()
    assert not controller.is_paused() and not controller.control.paused
    controller.pause()
    with qtbot.waitSignal(controller.finished, timeout=30_000) as blocker:
        controller.stop()  # a paused run wakes up to stop
    assert blocker.args[0].status == "cancelled"
    assert paused == [True, False, True, False]


def test_shutdown_joins_the_thread(qtbot, tiny_config):
    controller = TrainingController()
    rec = Recorder(controller)
    controller.start(tiny_config(epochs=50))
    qtbot.waitUntil(lambda: rec.step_count > 0, timeout=RUN_TIMEOUT_MS)
    assert controller.shutdown() is True
    assert not controller.is_running()
    assert rec.finished and rec.finished[0].status == "cancelled"


def test_start_twice_is_refused(qtbot, tiny_config):
    controller = TrainingController()
    controller.start(tiny_config(epochs=50))
    try:
        with pytest.raises(RuntimeError):
            controller.start(tiny_config())
    finally:
        controller.shutdown()


def test_steps_are_throttled_and_flushed_at_epoch_end(qtbot, monkeypatch):
    """1,000 steps in one simulated second arrive as ~12 batches, none lost, in order."""
    clock = [100.0]
    monkeypatch.setattr(worker_module.time, "monotonic", lambda: clock[0])
    w = TrainWorker(config=None)
    batches, epochs, logs = [], [], []
    w.stepsReady.connect(lambda b: batches.append(b))
    w.epochEnded.connect(epochs.append)
    w.logMessage.connect(lambda level, message: logs.append((level, message)))
    for i in range(1, 1001):
        clock[0] += 0.001
        w._on_event(_step(i))
    w._on_event(LogMessage("warning", "skipped x.jpg: truncated"))
    w._on_event(_epoch(1))
    assert epochs and logs == [("warning", "skipped x.jpg: truncated")]
    delivered = [s.global_step for b in batches for s in b]
    assert delivered == list(range(1, 1001))
    assert len(batches) <= 1.0 / FLUSH_INTERVAL_S + 2
    assert batches[-1][-1].global_step == 1000  # everything flushed before the epoch end
    w.deleteLater()


def test_training_threads_leave_the_ui_a_share():
    assert training_threads(1) == 1
    assert training_threads(2) == 1
    assert training_threads(8) == 7


def test_garbage_is_collected_on_the_ui_thread_only(qtbot):
    import gc
    import weakref

    from resnet_studio.ui.worker import UiThreadGarbageCollector

    collector = UiThreadGarbageCollector.install()
    assert collector is not None and not gc.isenabled()

    class Node:
        pass

    a, b = Node(), Node()
    a.other, b.other = b, a  # a cycle: only the cyclic collector frees it
    gone = weakref.ref(a)
    del a, b
    # push generation 0 well over its threshold: objects freed meanwhile (widgets of earlier
    # tests deleted by the event loop) lower the count, and a margin of 10 was not always enough
    keep = [[] for _ in range(collector.threshold[0] * 3)]
    qtbot.waitUntil(lambda: gone() is None, timeout=5000)
    assert keep
