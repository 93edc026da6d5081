"""What the tabs share, in one object: they write to it and observe it, never each other.

    scan       the dataset as last scanned (DatasetScan or None)         datasetChanged
    config     the run the setup panel describes (TrainConfig or None)   configChanged
    blocker    why that run cannot start now ("" when it can)            blockerChanged
    run_dir    the current run: just trained, or opened from History     runChanged
    predictor  the model loaded for prediction, with its label           modelChanged
    running    whether a run is training                                 runningChanged

Setters emit only when the value changed. `load_model(run_dir)` reads a run's model in
the background (latest request wins) and publishes it as the current model.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject, Signal

from .tasks import TaskGroup

__all__ = ["StudioState"]


def _load_predictor(task, path: str):
    from resnet_studio.engine.predict import Predictor

    predictor = Predictor.from_path(path)
    task.check()
    predictor.warm_up()  # off the UI thread: the first dropped photo does not pay for it
    return predictor


class StudioState(QObject):
    datasetChanged = Signal(object)  # DatasetScan or None
    configChanged = Signal(object)  # TrainConfig or None
    blockerChanged = Signal(str)  # "" when a run can start
    runChanged = Signal(str)  # a run folder, "" for none
    modelChanged = Signal(object, str)  # Predictor or None, its label
    modelFailed = Signal(str, str)  # run folder, one-line reason
    runningChanged = Signal(bool)

    def __init__(self, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.scan = None
        self.config = None
        self.blocker = "The setup is not complete yet."
        self.run_dir = ""
        self.predictor = None
        self.model_label = ""
        self.running = False
        self._tasks = TaskGroup()
        self._model_slot = self._tasks.slot("load-model")

    # ------------------------------------------------------------ setters

    def set_scan(self, scan) -> None:
        if scan is not self.scan:
            self.scan = scan
            self.datasetChanged.emit(scan)

    def set_config(self, config, blocker: str) -> None:
        """The setup's current run, and the first reason it cannot start ("" when it can)."""
        if config != self.config:
            self.config = config
            self.configChanged.emit(config)
        if blocker != self.blocker:
            self.blocker = blocker
            self.blockerChanged.emit(blocker)

    def set_run(self, run_dir: str | None, refresh: bool = False) -> None:
        """The current run; `refresh` says it again when the same run has changed (a new model)."""
        run_dir = str(run_dir or "")
        if run_dir != self.run_dir or refresh:
            self.run_dir = run_dir
            self.runChanged.emit(run_dir)

    def set_model(self, predictor, label: str = "") -> None:
        self._model_slot.cancel()
        self.predictor, self.model_label = predictor, label if predictor is not None else ""
        self.modelChanged.emit(predictor, self.model_label)

    def set_running(self, running: bool) -> None:
        if bool(running) != self.running:
            self.running = bool(running)
            self.runningChanged.emit(self.running)

    # ------------------------------------------------------------ the model

    def load_model(self, run_dir: str) -> bool:
        """Load a run's model in the background and make it the current model (modelChanged,
        or modelFailed with the reason). False when the run has no model yet."""
        from resnet_studio.engine.runs import MODEL

        label = Path(run_dir).name
        if not (Path(run_dir) / MODEL).exists():  # a folder in its place: the load says so
            return False
        self._model_slot.start(
            _load_predictor,
            str(run_dir),
            receiver=self,
            on_result=lambda predictor: self.set_model(predictor, label),
            on_error=lambda message: self.modelFailed.emit(run_dir, f"Could not load the model of {label}: {message}"),
        )
        return True

    def shutdown(self, timeout_ms: int = 10_000) -> bool:
        return self._tasks.shutdown(timeout_ms)
