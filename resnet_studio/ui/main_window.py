"""The main window: it builds the rooms and wires them, nothing more.

Left, the setup panel; right, the tabs (Data, Train, Architecture, Predict, Evaluate,
History); a status bar. The rooms share one StudioState (state.py) and never call each
other: the window connects their signals to the state and to each other's public
methods. Training goes through the TrainingController (worker.py), the data folder
through the DatasetScanner (data/scanner.py).

Nothing here imports torch at module level. The Architecture tab, whose module needs
torch, is built once a background import of torch has finished, so the window appears
at once and torch loads while the user looks at it.
"""

from __future__ import annotations

import gc
import os
from pathlib import Path

from PySide6.QtCore import QByteArray, QRect, QSettings, Qt, QTimer, Signal
from PySide6.QtGui import QAction, QCloseEvent, QGuiApplication, QKeySequence, QPainter
from PySide6.QtWidgets import (
    QApplication,
    QLabel,
    QMainWindow,
    QMessageBox,
    QProgressBar,
    QSplitter,
    QStatusBar,
    QStyle,
    QStyleOption,
    QTabWidget,
    QVBoxLayout,
    QWidget,
)

from resnet_studio import __version__, desktop
from resnet_studio.engine import runs as engine_runs

from . import format as fmt
from .data.tab import DataTab
from .history.panel import RunsPanel
from .scanner import DatasetScanner
from .session import ResumeOffer, offer_weights_choices, weights_unavailable
from .setup.panel import SetupPanel
from .state import StudioState
from .tasks import TaskGroup
from .train.tab import TrainTab
from .widgets import local_paths, open_folder
from .worker import TrainingController

__all__ = ["MainWindow", "ORGANIZATION", "APPLICATION", "app_settings", "TAB_NAMES"]

ORGANIZATION = "ResNetStudio"
APPLICATION = "ResNet Studio"
TAB_NAMES = ("Data", "Train", "Architecture", "Predict", "Evaluate", "History")
TAB_TIPS = (
    "The dataset: classes, counts, examples and skipped files",
    "Start, pause and stop training; live curves and the log",
    "The network's blocks, shapes and what trains",
    "Drop images to classify them with the loaded model",
    "Where the model goes wrong: metrics, confusion matrix, mistakes and Grad-CAM",
    "Past runs: open their curves and models, resume or compare them",
)
ARCHITECTURE = 2
ERROR_MESSAGE_MS = 30_000  # an error stays in the status bar this long, unless a newer message replaces it


def app_settings() -> QSettings:
    """The studio's persistent settings (window layout, last choices)."""
    return QSettings(ORGANIZATION, APPLICATION)


def _warm_up_engine(task) -> dict:
    """Import torch and the engine off the UI thread; describe what was found."""
    import importlib

    import torch

    for name in ("architecture", "predict", "train", "evaluate"):  # what the tabs will need, loaded now
        importlib.import_module(f"resnet_studio.engine.{name}")
    from resnet_studio.engine import devices

    try:
        device = devices.available_devices()[0].label
    except Exception:  # a broken driver must not stop the studio: the CPU always works
        device = "CPU"
    return {"torch": torch.__version__.split("+")[0], "device": device}


class _Placeholder(QWidget):
    """Stands in for a tab while torch loads, or says why it could not be built."""

    def __init__(self, text: str, busy: bool = True):
        super().__init__()
        label = QLabel(text)
        label.setAlignment(Qt.AlignmentFlag.AlignCenter)
        label.setWordWrap(True)
        layout = QVBoxLayout(self)
        layout.addStretch(1)
        layout.addWidget(label)
        if busy:
            bar = QProgressBar()
            bar.setRange(0, 0)
            bar.setMaximumWidth(260)
            bar.setTextVisible(False)
            layout.addWidget(bar, 0, Qt.AlignmentFlag.AlignHCenter)
        layout.addStretch(2)


class _StatusBar(QStatusBar):
    """The window's status bar: a message longer than the room it has ends in "…", and the
    whole of it is the bar's tooltip (a plain QStatusBar cuts it off)."""

    def __init__(self) -> None:
        super().__init__()
        self.messageChanged.connect(lambda _message: self._sync())

    def shown_message(self) -> str:
        """The message as it is drawn: elided to the room left of the permanent widgets."""
        return self.fontMetrics().elidedText(self.currentMessage(), Qt.TextElideMode.ElideRight, self._message_rect().width())

    def _message_rect(self) -> QRect:
        right = self.width() - 12  # as QStatusBar lays its message out: up to the first permanent widget
        for child in self.children():
            if isinstance(child, QWidget) and child.isVisible():
                right = min(right, child.x() - 2)
        return QRect(6, 0, max(0, right - 6), self.height())

    def _sync(self) -> None:
        message = self.currentMessage()
        self.setToolTip(message if message and self.shown_message() != message else "")
        self.update()

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self._sync()

    def paintEvent(self, event) -> None:
        shown = self.shown_message()
        if shown == self.currentMessage():
            super().paintEvent(event)
            return
        painter = QPainter(self)
        option = QStyleOption()
        option.initFrom(self)
        self.style().drawPrimitive(QStyle.PrimitiveElement.PE_PanelStatusBar, option, painter, self)
        painter.setPen(self.palette().windowText().color())
        flags = Qt.AlignmentFlag.AlignLeading | Qt.AlignmentFlag.AlignVCenter | Qt.TextFlag.TextSingleLine
        painter.drawText(self._message_rect(), flags, shown)


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
        self._tasks = TaskGroup()
        self._loaded_label = ""
        self._dialogs: list = []  # export and compare windows this window opened
        self._run_config = None  # the settings of the run started last (None: a resumed run)

        self.state = StudioState(self)
        self.controller = TrainingController(self)
        self.scanner = DatasetScanner(self.state, self)
        self.setup_panel = SetupPanel(self.state, self.scanner)
        self.data_tab = DataTab(self.state, self.scanner)
        self.train_tab = TrainTab()
        self.train_tab.attach(self.controller)
        self.runs_panel = RunsPanel()
        self.architecture_view: QWidget | None = None
        from .evaluate.tab import EvaluateTab  # torch-free until it evaluates
        from .predict.tab import PredictTab

        self.predict_tab = PredictTab()
        self.evaluate_tab = EvaluateTab()

        self.tabs = QTabWidget()
        self.tabs.setObjectName("mainTabs")
        pages = (self.data_tab, self.train_tab, _Placeholder("Loading PyTorch for the architecture diagram…"),
                 self.predict_tab, self.evaluate_tab, self.runs_panel)
        for page, name, tip in zip(pages, TAB_NAMES, TAB_TIPS):
            self.tabs.setTabToolTip(self.tabs.addTab(page, name), tip)

        self.splitter = QSplitter(Qt.Orientation.Horizontal)
        self.splitter.setObjectName("mainSplitter")
        self.splitter.setChildrenCollapsible(False)
        self.splitter.addWidget(self.setup_panel)
        self.splitter.addWidget(self.tabs)
        self.splitter.setStretchFactor(0, 0)
        self.splitter.setStretchFactor(1, 1)
        self.splitter.setSizes([380, 900])
        self.resume_offer = ResumeOffer(self._settings)  # "Resume the interrupted run?" over everything
        central = QWidget()
        column = QVBoxLayout(central)
        column.setContentsMargins(0, 0, 0, 0)
        column.setSpacing(0)
        offer_row = QVBoxLayout()  # hidden with the banner: no gap then
        offer_row.setContentsMargins(10, 8, 10, 4)
        offer_row.addWidget(self.resume_offer)
        column.addLayout(offer_row)
        column.addWidget(self.splitter, 1)
        self.setCentralWidget(central)

        self.setStatusBar(_StatusBar())
        self.engine_label = QLabel("Loading PyTorch…")
        self.engine_label.setContentsMargins(8, 0, 8, 0)
        self.statusBar().addPermanentWidget(self.engine_label)
        self.statusBar().setSizeGripEnabled(True)
        self._build_menus()
        self._connect()
        self._restore_settings()

        if deferred:
            self._tasks.start(_warm_up_engine, on_result=self._on_engine_loaded, on_error=self._on_engine_failed,
                              receiver=self, name="warm-up")
        else:
            self._on_engine_loaded(_warm_up_engine(None))
        self._start_session()

    # ================================================================ construction

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
        self.open_data_action = action(file_menu, "Open &Data Folder…", self.setup_panel.choose_dataset,
                                       QKeySequence.StandardKey.Open, "Choose a folder with one subfolder of photos per class")
        self.demo_action = action(file_menu, "Use De&mo Dataset", self.scanner.make_demo, None,
                                  "Generate a small dataset of textures to try the studio with")
        file_menu.addSeparator()
        action(file_menu, "Open &Runs Folder", self._open_runs_folder, None, "Show the folder that keeps every run")
        self.export_action = action(file_menu, "&Export Model…", lambda: self.export_model(), "Ctrl+E",
                                    "Export the current run's model to ONNX or TorchScript")
        file_menu.addSeparator()
        self.quit_action = action(file_menu, "&Quit", self.close, "Ctrl+Q", "Quit ResNet Studio")
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
        if desktop.supported():  # a freedesktop.org desktop entry: Linux
            self.desktop_entry_action = action(help_menu, "Add to Application &Menu", self._add_to_application_menu, None,
                                               "Start ResNet Studio from the desktop's application menu, and open photos with it")
        action(help_menu, "&About ResNet Studio", self._about).setMenuRole(QAction.MenuRole.AboutRole)

    def _connect(self) -> None:
        state, c, status = self.state, self.controller, self.statusBar()
        state.blockerChanged.connect(self._on_setup_change)
        state.configChanged.connect(lambda _config: self._show_architecture())
        state.datasetChanged.connect(self._on_dataset_change)
        state.runningChanged.connect(self._on_running_change)
        state.runChanged.connect(self._on_run_change)
        state.modelChanged.connect(self._on_model_change)
        state.modelFailed.connect(lambda _run, message: self._report_error(message))
        state.modelFailed.connect(lambda _run, _message: self.predict_tab.expect_model(""))  # it will not come
        self.train_tab.startRequested.connect(self.start_training)
        self.train_tab.runSettingsChanged.connect(self.setup_panel.show_run_settings)
        c.runningChanged.connect(state.set_running)
        c.pausedChanged.connect(lambda _paused: self._update_actions())
        c.runStarted.connect(self._on_run_started)
        c.epochEnded.connect(self._on_epoch_end)
        c.finished.connect(self._on_run_finished)
        c.failed.connect(self._on_run_failed)
        c.memoryFallback.connect(self._on_memory_fallback)
        self.runs_panel.openRequested.connect(self.open_run)
        self.runs_panel.resumeRequested.connect(lambda path: self.start_training(resume_dir=path))
        self.resume_offer.resumeRequested.connect(lambda path: self.start_training(resume_dir=path))
        c.runningChanged.connect(lambda running: running and self.resume_offer.dismiss())  # a run goes: no offer
        self.runs_panel.compareRequested.connect(self.compare_runs)
        self.runs_panel.exportRequested.connect(self.export_model)
        self.runs_panel.runsDeleted.connect(self._on_runs_deleted)
        self.evaluate_tab.exportRequested.connect(self.export_model)
        self.scanner.errorChanged.connect(lambda error: error and status.showMessage(error, 8000))
        self._on_setup_change(state.blocker)

    def _on_engine_loaded(self, info: dict) -> None:
        if self._closed:
            return
        self._loaded_label = f"PyTorch {info.get('torch', '?')}  ·  {info.get('device', 'CPU')}"
        self.engine_label.setText(self._loaded_label)
        try:
            from .architecture.view import ArchitectureView

            self.architecture_view = ArchitectureView()
            self._replace_tab(ARCHITECTURE, self.architecture_view)
        except Exception as exc:  # a tab that cannot load must not take the window down
            self._replace_tab(ARCHITECTURE, _Placeholder(f"The architecture diagram could not be loaded:\n{exc}", False))
        self._show_architecture()
        # torch, the engine and every widget are loaded now and stay for good: move them
        # out of the collector's sight, so a full collection takes ~0 ms instead of ~200
        gc.freeze()
        self._ready = True
        self.ready.emit()

    def _on_engine_failed(self, message: str) -> None:
        self.engine_label.setText("PyTorch could not be loaded")
        self.statusBar().showMessage(f"PyTorch could not be loaded: {message}")
        self._replace_tab(ARCHITECTURE, _Placeholder(f"The architecture diagram could not be loaded:\n{message}", False))
        self._ready = True
        self.ready.emit()

    def _replace_tab(self, index: int, widget: QWidget) -> None:
        current, old = self.tabs.currentIndex(), self.tabs.widget(index)
        text, tip = self.tabs.tabText(index), self.tabs.tabToolTip(index)
        self.tabs.removeTab(index)
        self.tabs.insertTab(index, widget, text)
        self.tabs.setTabToolTip(index, tip)
        self.tabs.setCurrentIndex(current)
        if old is not None:
            old.deleteLater()

    # ================================================================ public

    def is_ready(self) -> bool:
        """True once every tab is built (torch imported)."""
        return self._ready

    def start_training(self, resume_dir: str | None = None) -> bool:
        """Start a run from the setup panel's settings, or resume `resume_dir`."""
        if self.controller.is_running() or self._closed:
            return False
        from resnet_studio.engine.errors import StudioError

        record = None
        try:
            if resume_dir:
                config = engine_runs.resume_config(resume_dir)  # the engine decides whether it can resume
                record = engine_runs.RunRecord.load(resume_dir)
                title = record.display_name  # the tab says it resumes while it runs, not after
            else:
                if not self.setup_panel.is_valid():
                    self.statusBar().showMessage(self.setup_panel.validation_message() or "The setup is not complete yet.", 6000)
                    return False
                config = self.setup_panel.train_config()
                title = f"ResNet-{config.depth} on {Path(config.data_dir).name}"
        except (OSError, ValueError, StudioError) as exc:
            self._report_error(f"Cannot start: {exc}")
            return False
        self.train_tab.begin_run(title, record)
        self.tabs.setCurrentWidget(self.train_tab)
        if self.architecture_view is not None:
            self.architecture_view.clear_block_stats()
        self._run_config = None if resume_dir else config
        self.controller.start(config, resume_dir=resume_dir)
        self.statusBar().showMessage("Preparing the run…")
        return True

    def open_run(self, run_dir: str) -> None:
        """Show a past run's curves, make it the current run and load its model."""
        if self.controller.is_running():
            self.statusBar().showMessage("A run is training: open past runs when it has finished.", 6000)
            return
        self.train_tab.show_run(engine_runs.RunRecord.load(run_dir))
        self.tabs.setCurrentWidget(self.train_tab)
        self.state.set_run(run_dir, refresh=True)

    def load_model(self, run_dir: str) -> None:
        """Load a run's model in the background for the Predict tab."""
        name = Path(run_dir).name
        if self.state.load_model(run_dir):
            self.predict_tab.expect_model(name)  # no ImageNet model meanwhile; the photos stay
            self.statusBar().showMessage(f"Loading the model of {name}…")
        else:
            self.statusBar().showMessage(f"{name} has no saved model yet (no epoch finished).", 8000)

    def export_model(self, run_dir: str | None = None):
        """Open the export dialog for a run: the given one, the current one, the one selected in
        History, or one the user picks. Returns the dialog (None when there is no run)."""
        from PySide6.QtWidgets import QFileDialog

        from .history.export_dialog import ExportDialog

        run_dir = run_dir or self.state.run_dir or self.runs_panel.selected_path()
        if not run_dir:
            start = engine_runs.default_runs_dir()
            start = start if start.is_dir() else Path.home()
            run_dir = QFileDialog.getExistingDirectory(self, "Export the model of a run", str(start))
            if not run_dir:
                return None
        if not engine_runs.RunRecord.load(run_dir).has_model:
            self.statusBar().showMessage(f"{Path(run_dir).name} has no saved model to export yet.", 8000)
            return None
        from shiboken6 import isValid

        for dialog in self._dialogs:  # one export window per run: a second would write the same file
            same = isinstance(dialog, ExportDialog) and os.path.abspath(dialog.model_path) == os.path.abspath(run_dir)
            if isValid(dialog) and same:
                dialog.raise_()
                dialog.activateWindow()
                return dialog
        return self._keep(ExportDialog(str(run_dir), self))

    def compare_runs(self, run_dirs: list[str]):
        """A window with the runs' validation curves overlaid and their settings side by side."""
        from .history.compare import CompareDialog

        return self._keep(CompareDialog(list(run_dirs), self))

    def _keep(self, dialog):
        from shiboken6 import isValid

        dialog.setAttribute(Qt.WidgetAttribute.WA_DeleteOnClose, True)
        self._dialogs = [d for d in self._dialogs if isValid(d)] + [dialog]
        dialog.show()
        return dialog

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
        from shiboken6 import isValid

        for dialog in [d for d in self._dialogs if isValid(d)]:
            dialog.shutdown()
            dialog.close()
        self._dialogs.clear()
        for part in (self.scanner, self.setup_panel, self.data_tab, self.predict_tab, self.evaluate_tab, self.state, self._tasks):
            part.shutdown()

    # ================================================================ handlers

    def _on_setup_change(self, blocker: str) -> None:
        self.train_tab.set_can_start(not blocker, blocker)
        self._update_actions()

    def _on_dataset_change(self, scan) -> None:
        self._show_architecture()
        if scan is not None:
            self.statusBar().showMessage(f"{scan.name}: {scan.summary()}", 8000)

    def _show_architecture(self) -> None:
        config, scan = self.state.config, self.state.scan
        if self.architecture_view is None or config is None:
            return
        num_classes = len(scan.classes) if scan is not None and scan.classes else 1000
        try:
            self.architecture_view.show_depth(
                config.depth, config.image_size, num_classes, config.trainable, config.resolved_stem()
            )
        except Exception as exc:  # e.g. an image size the network cannot take: say so, keep going
            self.statusBar().showMessage(f"Architecture: {exc}", 8000)

    def _on_running_change(self, running: bool) -> None:
        self.setup_panel.set_running(running)
        self.data_tab.set_enabled_actions(not running)
        self.runs_panel.set_busy(running)
        self._update_actions()

    def _on_run_started(self, event) -> None:
        self.statusBar().showMessage(f"Training on {event.device}: run folder {event.run_dir}", 10000)
        self.runs_panel.set_training_run(event.run_dir)  # not offered for deletion while it trains
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
            self.state.set_run(result.run_dir, refresh=True)  # its model is new: load and evaluate it

    def _on_memory_fallback(self, event) -> None:
        """Training, or its validation, went on in smaller pieces after running out of memory."""
        title = "Out of memory: carrying on with smaller batches"
        self.train_tab.show_warning(title, fmt.sentence(event.message))
        self.statusBar().showMessage(f"{title} ({event.piece_size} images at a time)", 15000)

    def _on_run_failed(self, message: str) -> None:
        self.runs_panel.refresh()
        if weights_unavailable(self._run_config, message):  # offline: the window's words and two ways on
            offer_weights_choices(self.train_tab.banner, self._run_config.depth, self._train_from_scratch,
                                  self.setup_panel.choose_weights_file)
            message = "the ImageNet weights could not be downloaded"
        # for a while (the Train tab keeps it in its banner and log); the next message replaces it
        self.statusBar().showMessage(f"Training failed: {message}", ERROR_MESSAGE_MS)

    def _train_from_scratch(self) -> None:
        self.setup_panel.train_from_scratch()
        self.start_training()

    def _start_session(self) -> None:
        """The newest completed run's model for Predict (ImageNet's only when there is none); the
        newest run, if it was cut off, is offered for resuming once."""
        try:
            newest = engine_runs.newest_completed_run()
            self.resume_offer.check()
        except OSError:  # an unreadable runs folder: History says so; the window opens all the same
            newest = None
        if newest is not None and self.state.predictor is None:
            self.load_model(newest.path)

    def _on_run_change(self, run_dir: str) -> None:
        """The current run changed (opened, or just trained): its model for the Predict and Evaluate tabs."""
        if run_dir and not self._closed:
            self.load_model(run_dir)
            self.evaluate_tab.set_run(run_dir)

    def _on_runs_deleted(self, run_dirs: list) -> None:
        """History removed these run folders: the tabs stop following them (a loaded model stays loaded)."""
        gone = {os.path.normpath(str(d)) for d in run_dirs}
        if self.evaluate_tab.run_dir() and os.path.normpath(self.evaluate_tab.run_dir()) in gone:
            self.evaluate_tab.set_run(None)
        if self.state.run_dir and os.path.normpath(self.state.run_dir) in gone:
            self.state.set_run(None)

    def _on_model_change(self, predictor, label: str) -> None:
        if self._closed or predictor is None:
            return
        self.predict_tab.set_predictor(predictor, label)
        self.statusBar().showMessage(f"Model {label} loaded: drop images on the Predict tab to classify them.", 8000)

    def _report_error(self, message: str) -> None:
        self.statusBar().showMessage(message, ERROR_MESSAGE_MS)
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
        open_folder(folder, self)

    def _add_to_application_menu(self) -> None:
        """Help > Add to Application Menu: `resnet-studio install-desktop` (desktop.py)."""
        from resnet_studio.engine.errors import StudioError

        try:
            done = desktop.install()
        except StudioError as exc:
            self._report_error(f"Cannot add ResNet Studio to the application menu: {exc}")
            return
        self.statusBar().showMessage(f"ResNet Studio is in the application menu ({done.entry}).", 8000)

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

    def showEvent(self, event) -> None:
        super().showEvent(event)
        if not self._shown:
            self._shown = True
            # build the plots right after the first frame, not at the first training step
            QTimer.singleShot(100, self.train_tab, self.train_tab.ensure_plots)

    # ================================================================ drag and drop

    # taken as a copy, whatever the source proposes: a file manager doing a Move would delete the files

    def dragEnterEvent(self, event) -> None:
        if local_paths(event.mimeData()):
            event.setDropAction(Qt.DropAction.CopyAction)
            event.accept()
        else:
            event.ignore()

    def dragMoveEvent(self, event) -> None:
        if local_paths(event.mimeData()):
            event.setDropAction(Qt.DropAction.CopyAction)
            event.accept()

    def dropEvent(self, event) -> None:
        paths = local_paths(event.mimeData())
        if not paths:
            event.ignore()
            return
        event.setDropAction(Qt.DropAction.CopyAction)
        event.accept()
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
            self.scanner.set_folder(folders[0])
            self.tabs.setCurrentWidget(self.data_tab)
        elif images:
            self.tabs.setCurrentWidget(self.predict_tab)
            self.predict_tab.add_paths(images)
        else:
            self.statusBar().showMessage("Drop a folder of photos (one subfolder per class) or image files.", 6000)


    # ================================================================ closing and settings

    def closeEvent(self, event: QCloseEvent) -> None:
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
        for part in (self.train_tab, self.runs_panel, self.setup_panel):
            part.save_settings(s)
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
        for part in (self.train_tab, self.runs_panel, self.setup_panel):
            part.restore_settings(s)
        try:
            tab = int(s.value("window/tab", -1))
        except (TypeError, ValueError):
            tab = -1
        self.tabs.setCurrentIndex(tab if 0 <= tab < self.tabs.count() else (1 if self.scanner.folder else 0))

    def _default_geometry(self) -> None:
        width, height = 1320, 840
        screen = QGuiApplication.primaryScreen()
        if screen is not None:
            available = screen.availableGeometry()
            width = min(width, int(available.width() * 0.92))
            height = min(height, int(available.height() * 0.9))
        self.resize(width, height)
        if screen is not None:
            frame = self.frameGeometry()
            frame.moveCenter(screen.availableGeometry().center())
            self.move(frame.topLeft())
