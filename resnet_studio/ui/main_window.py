"""The main window: layout and wiring only.

Left, the SetupPanel; right, the tabs (Data, Train, Architecture, Predict, Evaluate, History);
a status bar. Widgets never call each other: the window connects their signals and
calls their public methods. Training goes through the TrainingController (worker.py).

Nothing here imports torch at module level. The Architecture tab, whose module needs
torch, is built once a background import of torch has finished, so the window appears
at once and torch loads while the user looks at it.
"""

from __future__ import annotations

import gc
import os
from pathlib import Path

from PySide6.QtCore import QByteArray, QSettings, Qt, QTimer, QUrl, Signal
from PySide6.QtGui import QAction, QCloseEvent, QDesktopServices, QDragEnterEvent, QDropEvent, QGuiApplication, QKeySequence
from PySide6.QtWidgets import (
    QApplication,
    QLabel,
    QMainWindow,
    QMessageBox,
    QProgressBar,
    QSplitter,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from resnet_studio import __version__
from resnet_studio.engine import runs as engine_runs

from .history.panel import RunsPanel
from .setup.panel import SetupPanel
from .tasks import run_in_background
from .train.tab import TrainTab
from .worker import TrainingController

__all__ = ["MainWindow", "ORGANIZATION", "APPLICATION", "app_settings", "TAB_NAMES"]

ORGANIZATION = "ResNetStudio"
APPLICATION = "ResNet Studio"
TAB_NAMES = ("Data", "Train", "Architecture", "Predict", "Evaluate", "History")


def app_settings() -> QSettings:
    """The studio's persistent settings (window layout, last choices)."""
    return QSettings(ORGANIZATION, APPLICATION)


def _warm_up_engine(task) -> dict:
    """Import torch and the engine off the UI thread; describe what was found."""
    import torch  # noqa: F401 - the point is the import
    import torchvision  # noqa: F401

    from resnet_studio.engine import architecture, devices, predict, train  # noqa: F401

    try:
        best = devices.available_devices()[0]
        device = best.label
    except Exception:  # a broken driver must not stop the studio: the CPU always works
        device = "CPU"
    return {"torch": torch.__version__.split("+")[0], "device": device}


def _alive(task) -> bool:
    from shiboken6 import isValid

    return isValid(task) and task.isRunning()


class _Loading(QWidget):
    """Stands in for a tab while torch loads."""

    def __init__(self, what: str):
        super().__init__()
        label = QLabel(f"Loading PyTorch for the {what}…")
        label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        bar = QProgressBar()
        bar.setRange(0, 0)
        bar.setMaximumWidth(260)
        bar.setTextVisible(False)
        layout = QVBoxLayout(self)
        layout.addStretch(1)
        layout.addWidget(label)
        layout.addWidget(bar, 0, Qt.AlignmentFlag.AlignHCenter)
        layout.addStretch(2)


class _Missing(QWidget):
    """Shown when a tab's module could not be loaded (a broken install)."""

    def __init__(self, what: str, error: str):
        super().__init__()
        label = QLabel(f"The {what} could not be loaded:\n{error}")
        label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        label.setWordWrap(True)
        QVBoxLayout(self).addWidget(label)


class MainWindow(QMainWindow):
    """ResNet Studio's window. `ready` is emitted once every tab is built (torch loaded)."""

    ready = Signal()

    def __init__(self, settings: QSettings | None = None, deferred: bool = True):
        super().__init__()
        self.setWindowTitle("ResNet Studio")
        self.setAcceptDrops(True)
        self._settings = settings if settings is not None else app_settings()
        self._ready = False
        self._closed = False
        self._shown = False
        self._num_classes = 1000
        self._arch: tuple[int, int, str] | None = None
        self._tasks: list = []  # background tasks this window started (warm-up, model loads)
        self._loaded_label = ""

        self.controller = TrainingController(self)
        self.setup_panel = SetupPanel()
        self.train_tab = TrainTab()
        self.train_tab.attach(self.controller)
        self.runs_panel = RunsPanel()
        self.architecture_view: QWidget | None = None
        self.predict_tab = self._make_predict_tab()
        self.evaluate_tab = self._make_evaluate_tab()
        self._dialogs: list = []  # export and compare windows this window opened

        self.tabs = QTabWidget()
        self.tabs.setObjectName("mainTabs")
        self.tabs.addTab(self.setup_panel.data_summary_widget(), "Data")
        self.tabs.addTab(self.train_tab, "Train")
        self.tabs.addTab(_Loading("architecture diagram"), "Architecture")
        self.tabs.addTab(self.predict_tab, "Predict")
        self.tabs.addTab(self.evaluate_tab, "Evaluate")
        self.tabs.addTab(self.runs_panel, "History")
        for i, tip in enumerate(
            (
                "The dataset: classes, counts, examples and skipped files",
                "Start, pause and stop training; live curves and the log",
                "The network's blocks, shapes and what trains",
                "Drop images to classify them with the loaded model",
                "Where the model goes wrong: metrics, confusion matrix, mistakes and Grad-CAM",
                "Past runs: open their curves and models, resume or compare them",
            )
        ):
            self.tabs.setTabToolTip(i, tip)

        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.setObjectName("mainSplitter")
        self.splitter.setChildrenCollapsible(False)
        self.splitter.addWidget(self.setup_panel)
        self.splitter.addWidget(self.tabs)
        self.splitter.setStretchFactor(0, 0)
        self.splitter.setStretchFactor(1, 1)
        self.splitter.setSizes([380, 900])
        self.setCentralWidget(self.splitter)

        self._build_status_bar()
        self._build_menus()
        self._connect()
        self._restore_settings()
        self.train_tab.set_can_start(self.setup_panel.is_valid(), self.setup_panel.validation_message)

        if deferred:
            task = run_in_background(
                _warm_up_engine, on_result=self._on_engine_loaded, on_error=self._on_engine_failed, receiver=self, name="warm-up"
            )
            self._tasks.append(task)
        else:
            self._on_engine_loaded(_warm_up_engine(None))

    # ================================================================ construction

    def _build_status_bar(self) -> None:
        self.engine_label = QLabel("Loading PyTorch…")
        self.engine_label.setContentsMargins(8, 0, 8, 0)
        self.statusBar().addPermanentWidget(self.engine_label)
        self.statusBar().setSizeGripEnabled(True)

    def _build_menus(self) -> None:
        bar = self.menuBar()

        def action(menu, text, slot, shortcut=None, tip=""):
            act = QAction(text, self)
            if shortcut is not None:
                act.setShortcut(QKeySequence(shortcut))
            act.setStatusTip(tip)
            act.triggered.connect(slot)
            menu.addAction(act)
            return act

        file_menu = bar.addMenu("&File")
        self.open_data_action = action(
            file_menu, "Open &Data Folder…", self.setup_panel.choose_dataset, QKeySequence.StandardKey.Open,
            "Choose a folder with one subfolder of photos per class",
        )
        self.demo_action = action(file_menu, "Use De&mo Dataset", self.setup_panel.use_demo_dataset, None,
                                  "Generate a small dataset of textures to try the studio with")
        file_menu.addSeparator()
        action(file_menu, "Open &Runs Folder", self._open_runs_folder, None, "Show the folder that keeps every run")
        self.export_action = action(file_menu, "&Export Model…", lambda: self.export_model(), "Ctrl+E",
                                    "Export the current run's model to ONNX or TorchScript")
        file_menu.addSeparator()
        self.quit_action = action(file_menu, "&Quit", self.close, QKeySequence.StandardKey.Quit, "Quit ResNet Studio")
        self.quit_action.setShortcut(QKeySequence("Ctrl+Q"))
        self.quit_action.setMenuRole(QAction.MenuRole.QuitRole)

        run_menu = bar.addMenu("&Run")
        self.start_action = action(run_menu, "&Start Training", lambda: self.start_training(), "Ctrl+Return",
                                   "Train with the settings on the left")
        self.pause_action = action(run_menu, "&Pause / Resume", self.controller.toggle_pause, "Ctrl+Shift+P",
                                   "Pause after the current batch, or continue")
        self.stop_action = action(run_menu, "S&top", self.controller.stop, "Ctrl+Shift+S",
                                  "Stop after the current batch; the checkpoint is kept")

        view_menu = bar.addMenu("&View")
        for i, name in enumerate(TAB_NAMES):
            action(view_menu, f"&{name}", lambda checked=False, i=i: self.tabs.setCurrentIndex(i), f"Ctrl+{i + 1}")

        help_menu = bar.addMenu("&Help")
        about = action(help_menu, "&About ResNet Studio", self._about)
        about.setMenuRole(QAction.MenuRole.AboutRole)
        self._update_actions()

    def _connect(self) -> None:
        sp = self.setup_panel
        sp.validityChanged.connect(self._on_validity_change)
        sp.architectureChanged.connect(self._on_architecture_change)
        sp.datasetChanged.connect(self._on_dataset_change)
        self.train_tab.startRequested.connect(self.start_training)
        c = self.controller
        c.runningChanged.connect(self._on_running_change)
        c.pausedChanged.connect(lambda paused: self._update_actions())
        c.runStarted.connect(self._on_run_started)
        c.epochEnded.connect(self._on_epoch_end)
        c.finished.connect(self._on_run_finished)
        c.failed.connect(self._on_run_failed)
        c.memoryFallback.connect(self._on_memory_fallback)
        self.runs_panel.openRequested.connect(self.open_run)
        self.runs_panel.resumeRequested.connect(lambda path: self.start_training(resume_dir=path))
        self.runs_panel.compareRequested.connect(self.compare_runs)
        self.runs_panel.exportRequested.connect(self.export_model)

    def _on_engine_loaded(self, info: dict) -> None:
        if self._closed:
            return
        self._loaded_label = f"PyTorch {info.get('torch', '?')}  ·  {info.get('device', 'CPU')}"
        self.engine_label.setText(self._loaded_label)
        self._install_tab(2, "architecture diagram", self._make_architecture_view)
        if self._arch is None:
            try:  # the panel signals changes only; start from what it shows now
                config = self.setup_panel.train_config()
                self._arch = (int(config.depth), int(config.image_size), str(config.trainable))
            except Exception:  # an unfinished field: the next change will tell us
                self._arch = None
        self._show_architecture()
        # torch, the engine and every widget are loaded now and stay for good: move them
        # out of the collector's sight, so a full collection takes ~0 ms instead of ~200
        gc.freeze()
        self._ready = True
        self.ready.emit()

    def _on_engine_failed(self, message: str) -> None:
        self.engine_label.setText("PyTorch could not be loaded")
        self.statusBar().showMessage(f"PyTorch could not be loaded: {message}")
        self._replace_tab(2, _Missing("architecture diagram", message))
        self._ready = True
        self.ready.emit()

    def _install_tab(self, index: int, what: str, factory) -> None:
        try:
            widget = factory()
        except Exception as exc:  # a tab that cannot load must not take the window down
            widget = _Missing(what, f"{type(exc).__name__}: {exc}")
        self._replace_tab(index, widget)

    def _replace_tab(self, index: int, widget: QWidget) -> None:
        current = self.tabs.currentIndex()
        old = self.tabs.widget(index)
        text, tip = self.tabs.tabText(index), self.tabs.tabToolTip(index)
        self.tabs.removeTab(index)
        self.tabs.insertTab(index, widget, text)
        self.tabs.setTabToolTip(index, tip)
        self.tabs.setCurrentIndex(current)
        if old is not None:
            old.deleteLater()

    def _make_architecture_view(self) -> QWidget:
        from .architecture.view import ArchitectureView

        self.architecture_view = ArchitectureView()
        return self.architecture_view

    @staticmethod
    def _make_predict_tab() -> QWidget:
        from .predict.tab import PredictTab

        return PredictTab()

    @staticmethod
    def _make_evaluate_tab() -> QWidget:
        from .evaluate.tab import EvaluateTab  # torch-free until it evaluates

        return EvaluateTab()

    # ================================================================ public

    def is_ready(self) -> bool:
        """True once every tab is built (torch imported)."""
        return self._ready

    def start_training(self, resume_dir: str | None = None) -> bool:
        """Start a run from the setup panel's settings, or resume `resume_dir`."""
        if self.controller.is_running() or self._closed:
            return False
        from resnet_studio.engine.errors import StudioError

        history = None
        try:
            if resume_dir:
                config = engine_runs.resume_config(resume_dir)
                history = engine_runs.read_metrics(resume_dir)
                title = f"resuming {Path(resume_dir).name}"
            else:
                if not self.setup_panel.is_valid():
                    self.statusBar().showMessage(self.setup_panel.validation_message() or "The setup is not complete yet.", 6000)
                    return False
                config = self.setup_panel.train_config()
                title = f"ResNet-{config.depth} on {Path(config.data_dir).name}"
        except (OSError, ValueError, StudioError) as exc:
            self._report_error(f"Cannot start: {exc}")
            return False
        self.train_tab.begin_run(title, history)
        self.tabs.setCurrentWidget(self.train_tab)
        if self.architecture_view is not None:
            self.architecture_view.clear_block_stats()
        self.controller.start(config, resume_dir=resume_dir)
        self.statusBar().showMessage("Preparing the run…")
        return True

    def open_run(self, run_dir: str) -> None:
        """Show a past run's curves and load its model for prediction."""
        if self.controller.is_running():
            self.statusBar().showMessage("A run is training: open past runs when it has finished.", 6000)
            return
        info = next((r for r in self.runs_panel.runs() if os.path.normpath(r.path) == os.path.normpath(run_dir)), None)
        name = Path(run_dir).name
        status = ""
        if info is not None:
            acc = f", best validation accuracy {info.best_val_acc:.1%}" if info.best_val_acc is not None else ""
            status = f"ResNet-{info.depth} on {info.dataset}: {info.status}, {info.epochs_completed} epoch(s){acc}"
        self.train_tab.show_history(
            name, engine_runs.read_metrics(run_dir), status=status, run_dir=run_dir, epochs=info.epochs if info else None
        )
        self.tabs.setCurrentWidget(self.train_tab)
        self.load_model(run_dir)
        self.evaluate_tab.set_run(run_dir)

    def load_model(self, run_dir: str) -> None:
        """Load a run's model in the background and hand it to the Predict tab."""
        if not (Path(run_dir) / engine_runs.MODEL).exists():  # a folder in its place: the load says so
            self.statusBar().showMessage(f"{Path(run_dir).name} has no saved model yet (no epoch finished).", 8000)
            return

        def load(task, path):
            from resnet_studio.engine.predict import Predictor

            return Predictor.from_path(path)

        label = Path(run_dir).name
        self.statusBar().showMessage(f"Loading the model of {label}…")
        self._tasks = [t for t in self._tasks if _alive(t)]
        task = run_in_background(
            load,
            run_dir,
            on_result=lambda predictor: self._on_model_loaded(predictor, label),
            on_error=lambda message: self._report_error(f"Could not load the model of {label}: {message}"),
            receiver=self,
            name="load-model",
        )
        self._tasks.append(task)

    def export_model(self, run_dir: str | None = None):
        """Open the export dialog for a run: the given one, the current one, the one selected in
        History, or one the user picks. Returns the dialog (None when there is no run)."""
        from PySide6.QtWidgets import QFileDialog

        from .history.export_dialog import ExportDialog

        run_dir = run_dir or self.evaluate_tab.run_dir() or self.runs_panel.selected_path()
        if not run_dir:
            start = engine_runs.default_runs_dir()
            run_dir = QFileDialog.getExistingDirectory(self, "Export the model of a run", str(start if start.is_dir() else Path.home()))
            if not run_dir:
                return None
        if not (Path(run_dir) / engine_runs.MODEL).exists():
            self.statusBar().showMessage(f"{Path(run_dir).name} has no saved model to export yet.", 8000)
            return None
        dialog = ExportDialog(str(run_dir), self)
        self._keep(dialog)
        dialog.show()
        return dialog

    def compare_runs(self, run_dirs: list[str]):
        """A window with the runs' validation curves overlaid and their settings side by side."""
        from .history.compare import CompareDialog

        dialog = CompareDialog(list(run_dirs), self)
        self._keep(dialog)
        dialog.show()
        return dialog

    def _keep(self, dialog) -> None:
        from shiboken6 import isValid

        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose, True)
        self._dialogs = [d for d in self._dialogs if isValid(d)] + [dialog]

    def shutdown(self) -> None:
        """Stop training (keeping its checkpoint), join every thread, save settings. Idempotent."""
        if self._closed:
            return
        self._closed = True
        self._save_settings()
        if self.controller.is_running():
            QApplication.setOverrideCursor(Qt.CursorShape.WaitCursor)
            try:
                self.controller.shutdown()
            finally:
                QApplication.restoreOverrideCursor()
        self.setup_panel.shutdown()  # joins its tasks; nothing new starts afterwards
        for task in self._tasks:
            try:
                task.cancel()
                task.wait()
            except RuntimeError:  # already finished and deleted
                pass
        self._tasks.clear()
        self.predict_tab.shutdown()
        self.evaluate_tab.shutdown()
        from shiboken6 import isValid

        for dialog in [d for d in self._dialogs if isValid(d)]:
            shutdown = getattr(dialog, "shutdown", None)
            if callable(shutdown):
                shutdown()
            dialog.close()
        self._dialogs.clear()

    # ================================================================ handlers

    def _on_validity_change(self, valid: bool) -> None:
        self.train_tab.set_can_start(valid, self.setup_panel.validation_message)
        self._update_actions()

    def _on_architecture_change(self, depth: int, image_size: int, trainable: str) -> None:
        self._arch = (depth, image_size, trainable)
        self._show_architecture()

    def _on_dataset_change(self, scan) -> None:
        self._num_classes = len(scan.classes) if scan is not None and scan.classes else 1000
        self.train_tab.set_can_start(self.setup_panel.is_valid(), self.setup_panel.validation_message)
        self._show_architecture()
        if scan is not None:
            skipped = f", {len(scan.skipped)} skipped" if scan.skipped else ""
            self.statusBar().showMessage(
                f"{scan.name}: {scan.num_train + scan.num_val} images in {len(scan.classes)} classes{skipped}", 8000
            )

    def _show_architecture(self) -> None:
        if self.architecture_view is not None and self._arch is not None:
            depth, image_size, trainable = self._arch
            try:
                self.architecture_view.show_depth(depth, image_size, self._num_classes, trainable)
            except Exception as exc:  # e.g. an image size the network cannot take: say so, keep going
                self.statusBar().showMessage(f"Architecture: {exc}", 8000)

    def _on_running_change(self, running: bool) -> None:
        self.setup_panel.set_running(running)
        self.runs_panel.set_busy(running)
        self._update_actions()

    def _on_run_started(self, event) -> None:
        self.statusBar().showMessage(f"Training on {event.device}: run folder {event.run_dir}", 10000)
        self.runs_panel.mark_stale()

    def _on_epoch_end(self, event) -> None:
        if self.architecture_view is not None and event.block_grad_norms:
            self.architecture_view.set_block_stats(event.block_grad_norms)
        self.runs_panel.mark_stale()

    def _on_run_finished(self, result) -> None:
        self.runs_panel.refresh()
        if result.run_dir:
            self.runs_panel.select_run(result.run_dir)
        if result.status == "completed":
            acc = f": best validation accuracy {result.best_val_acc:.1%}" if result.best_val_acc is not None else ""
            self.statusBar().showMessage(f"Training complete{acc}. The model is ready in the Predict tab.")
        else:
            self.statusBar().showMessage("Training stopped; resume it from the History tab.")
        if result.model_path and not self._closed:
            self.load_model(result.run_dir)
            self.evaluate_tab.set_run(result.run_dir)

    def _on_memory_fallback(self, event) -> None:
        """Training, or its validation, went on in smaller pieces after running out of memory."""
        title = "Out of memory: carrying on with smaller batches"
        self.train_tab.show_warning(title, event.message[0].upper() + event.message[1:])
        self.statusBar().showMessage(f"{title} ({event.piece_size} images at a time)", 15000)

    def _on_run_failed(self, message: str) -> None:
        self.runs_panel.refresh()
        self.statusBar().showMessage(f"Training failed: {message}")

    def _on_model_loaded(self, predictor, label: str) -> None:
        if self._closed:
            return
        self.predict_tab.set_predictor(predictor, label)
        self.statusBar().showMessage(f"Model {label} loaded: drop images on the Predict tab to classify them.", 8000)

    def _report_error(self, message: str) -> None:
        self.statusBar().showMessage(message, 15000)
        self.train_tab.append_log("error", message)

    def _update_actions(self) -> None:
        running = self.controller.is_running()
        self.start_action.setEnabled(not running and self.setup_panel.is_valid())
        self.pause_action.setEnabled(running)
        self.pause_action.setText("&Resume" if self.controller.is_paused() else "&Pause")
        self.stop_action.setEnabled(running)
        self.open_data_action.setEnabled(not running)
        self.demo_action.setEnabled(not running)

    def _open_runs_folder(self) -> None:
        folder = engine_runs.default_runs_dir()
        folder.mkdir(parents=True, exist_ok=True)
        QDesktopServices.openUrl(QUrl.fromLocalFile(str(folder)))

    def _about(self) -> None:
        QMessageBox.about(
            self,
            "About ResNet Studio",
            f"<h3>ResNet Studio {__version__}</h3>"
            "<p>Fine-tune torchvision ResNets on your own photo folders, watch them learn, "
            "and drop images on the window to classify them.</p>"
            f"<p>{self._loaded_label or 'PyTorch is loading…'}</p>"
            f"<p>Runs are kept in <code>{engine_runs.default_runs_dir()}</code>.</p>",
        )

    def showEvent(self, event) -> None:  # noqa: N802
        super().showEvent(event)
        if not self._shown:
            self._shown = True
            # build the plots right after the first frame, not at the first training step
            QTimer.singleShot(100, self.train_tab, self.train_tab.ensure_plots)

    # ================================================================ drag and drop

    def dragEnterEvent(self, event: QDragEnterEvent) -> None:  # noqa: N802
        if self._local_paths(event.mimeData()):
            event.acceptProposedAction()
        else:
            event.ignore()

    def dragMoveEvent(self, event) -> None:  # noqa: N802
        if self._local_paths(event.mimeData()):
            event.acceptProposedAction()

    def dropEvent(self, event: QDropEvent) -> None:  # noqa: N802
        paths = self._local_paths(event.mimeData())
        if not paths:
            event.ignore()
            return
        event.acceptProposedAction()
        self.open_paths(paths)

    def open_paths(self, paths: list[str]) -> None:
        """A folder becomes the dataset; image files go to the Predict tab."""
        from resnet_studio.engine.data import is_image_file

        folders = [p for p in paths if os.path.isdir(p)]
        images = [p for p in paths if os.path.isfile(p) and is_image_file(p)]
        if folders and not images:
            if self.controller.is_running():
                self.statusBar().showMessage("A run is training: choose a new dataset when it has finished.", 6000)
                return
            self.setup_panel.set_dataset(folders[0])
            self.tabs.setCurrentIndex(0)
            return
        if images:
            self.tabs.setCurrentWidget(self.predict_tab)
            self.predict_tab.add_paths(images)
            return
        self.statusBar().showMessage("Drop a folder of photos (one subfolder per class) or image files.", 6000)

    @staticmethod
    def _local_paths(mime) -> list[str]:
        if mime is None or not mime.hasUrls():
            return []
        return [url.toLocalFile() for url in mime.urls() if url.isLocalFile() and url.toLocalFile()]

    # ================================================================ closing and settings

    def closeEvent(self, event: QCloseEvent) -> None:  # noqa: N802
        if self.controller.is_running() and not self._closed:
            answer = QMessageBox.question(
                self,
                "Stop training and quit?",
                "A training run is in progress.\n\nStop it and quit? The checkpoint of the last finished "
                "epoch is kept, so the run can be resumed later from the History tab.",
                QMessageBox.StandardButton.Yes | QMessageBox.StandardButton.Cancel,
                QMessageBox.StandardButton.Cancel,
            )
            if answer != QMessageBox.StandardButton.Yes:
                event.ignore()
                return
            self.statusBar().showMessage("Stopping the run and keeping its checkpoint…")
            self.repaint()
        self.shutdown()
        event.accept()

    def _save_settings(self) -> None:
        s = self._settings
        s.setValue("window/geometry", self.saveGeometry())
        s.setValue("window/state", self.saveState())
        s.setValue("window/splitter", self.splitter.saveState())
        s.setValue("window/tab", self.tabs.currentIndex())
        self.train_tab.save_settings(s)
        self.runs_panel.save_settings(s)
        self.setup_panel.save_settings(s)
        s.sync()

    def _restore_settings(self) -> None:
        s = self._settings
        geometry = s.value("window/geometry")
        if isinstance(geometry, QByteArray) and not geometry.isEmpty():
            self.restoreGeometry(geometry)
        else:
            self._default_geometry()
        for key, restore in (("window/state", self.restoreState), ("window/splitter", self.splitter.restoreState)):
            value = s.value(key)
            if isinstance(value, QByteArray) and not value.isEmpty():
                restore(value)
        self.train_tab.restore_settings(s)
        self.runs_panel.restore_settings(s)
        self.setup_panel.restore_settings(s)
        try:
            tab = int(s.value("window/tab", -1))
        except (TypeError, ValueError):
            tab = -1
        if 0 <= tab < self.tabs.count():
            self.tabs.setCurrentIndex(tab)
        else:
            self.tabs.setCurrentIndex(0 if not self.setup_panel.data_dir() else 1)

    def _default_geometry(self) -> None:
        screen = QGuiApplication.primaryScreen()
        width, height = 1320, 840
        if screen is not None:
            available = screen.availableGeometry()
            width = min(width, int(available.width() * 0.92))
            height = min(height, int(available.height() * 0.9))
            self.resize(width, height)
            frame = self.frameGeometry()
            frame.moveCenter(available.center())
            self.move(frame.topLeft())
        else:
            self.resize(width, height)
