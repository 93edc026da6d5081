"""The chosen data folder, checked in the background: the one dataset every tab sees.

`DatasetScanner` holds the folder, runs the engine's scan off the UI thread (the
latest request wins), creates the demo data when asked, and publishes each result to
the studio state (`state.set_scan`). The setup panel and the Data tab show what it
says and hand it the folders people choose; neither scans anything itself. A folder that
cannot be trained on is published too: the classes are listed and `scan.problem` says why.

The split settings (validation share, seed) are the setup's: a change of them rescans
after a short pause, so a spin box being stepped does not start a scan per step.
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import QObject, QTimer, Signal

from resnet_studio.engine.config import SETTINGS

from .format import sentence
from .state import StudioState
from .tasks import TaskGroup

__all__ = ["DatasetScanner", "CHECKING", "CREATING_DEMO"]

CHECKING = "Checking the photos…"
CREATING_DEMO = "Creating the demo dataset…"
RESCAN_DELAY_MS = 450


def _scan(task, root: str, val_split: float, seed: int):
    from resnet_studio.engine.data import scan_dataset

    # not strict: a folder that cannot be trained on is still listed, with the reason (scan.problem)
    return scan_dataset(
        root, val_split=val_split, seed=seed, progress=lambda done, total: task.report((done, total)), strict=False
    )


def _make_demo(task, out_dir: str) -> tuple[str, dict[int, bool]]:
    """The demo folder, and for each depth whether its ImageNet weights are at hand (no download)."""
    from resnet_studio.engine import models
    from resnet_studio.engine.demo import make_demo_dataset

    folder = str(make_demo_dataset(out_dir, reuse=True, check=task.check))
    return folder, {depth: models.imagenet_weights_cached(depth) for depth in models.DEPTHS}


class DatasetScanner(QObject):
    """The data folder and its scan. `busy` is the text of the work under way ("" when idle);
    `error` the reason the folder cannot be used ("" when it can, or none is chosen)."""

    busyChanged = Signal(str)  # "" when idle
    progress = Signal(int, int)  # files checked, files in all
    folderChanged = Signal(str)
    errorChanged = Signal(str)
    #: the demo dataset is ready (just before it is scanned): {depth: its ImageNet weights are cached}
    demoReady = Signal(object)

    def __init__(self, state: StudioState, parent: QObject | None = None) -> None:
        super().__init__(parent)
        self.state = state
        self.folder = ""
        self.busy = ""
        self.error = ""
        self._split: tuple[float, int] = (SETTINGS["val_split"].default, SETTINGS["seed"].default)
        self._tasks = TaskGroup()
        self._job = self._tasks.slot("scan")
        self._rescan = QTimer(self)
        self._rescan.setSingleShot(True)
        self._rescan.setInterval(RESCAN_DELAY_MS)
        self._rescan.timeout.connect(self.rescan)

    # ------------------------------------------------------------ requests

    def set_folder(self, path: str) -> None:
        """Use this folder as the dataset and check it now (not while a run trains: the run
        uses the data it started with)."""
        if self.state.running:
            return
        folder = str(Path(path).expanduser()) if path else ""
        if folder != self.folder:
            self.folder = folder
            self.folderChanged.emit(folder)
        self._rescan.stop()
        self.rescan()

    def choose_folder(self, parent) -> None:
        """Ask for a folder of photos (a dialog over `parent`) and use it."""
        from PySide6.QtWidgets import QFileDialog

        start = self.folder or str(Path.home())
        folder = QFileDialog.getExistingDirectory(parent, "Choose a folder of photos (one subfolder per class)", start)
        if folder:
            self.set_folder(folder)

    def set_split(self, val_split: float, seed: int) -> None:
        """The setup's split settings; a change rescans a split-here folder after a pause."""
        split = (float(val_split), int(seed))
        if split == self._split:
            return
        self._split = split
        scan = self.state.scan
        if self.folder and not (scan is not None and scan.layout == "split"):  # train/ and val/ given: no effect
            self._rescan.start()

    def make_demo(self) -> None:
        """Create the demo dataset in the studio folder (once; reused after) and use it."""
        from resnet_studio.engine.runs import default_demo_dir

        if self.state.running:
            return
        self._rescan.stop()
        self.folder = str(default_demo_dir())
        self.folderChanged.emit(self.folder)
        self._set_result(None, "")
        self._set_busy(CREATING_DEMO)
        self._job.start(
            _make_demo,
            self.folder,
            receiver=self,
            on_result=self._on_demo,
            on_error=lambda message: self._finish(None, f"Could not create the demo dataset: {message}"),
        )

    def rescan(self) -> None:
        """Check the folder again (its files may have changed)."""
        self._job.cancel()
        self._set_result(None, "")
        path = self.folder
        if not path:
            self._set_busy("")
            return
        folder = Path(path)
        if not folder.exists():
            self._finish(None, f"Folder not found: {path}")
            return
        if not folder.is_dir():
            self._finish(None, f"Not a folder: {path} (choose the folder that holds the class subfolders)")
            return
        self._set_busy(CHECKING)
        val_split, seed = self._split
        self._job.start(
            _scan,
            path,
            val_split,
            seed,
            receiver=self,
            on_result=lambda scan: self._finish(scan, ""),
            on_error=lambda message: self._finish(None, sentence(message) or "The folder cannot be used."),
            on_progress=lambda value: self.progress.emit(*value),
        )

    def shutdown(self, timeout_ms: int = 10_000) -> bool:
        """Cancel and join the background work; nothing new starts afterwards."""
        self._rescan.stop()
        self._job.cancel()
        return self._tasks.shutdown(timeout_ms)

    # ------------------------------------------------------------ results

    def _on_demo(self, result: tuple[str, dict[int, bool]]) -> None:
        folder, cached = result
        self.demoReady.emit(cached)
        self.set_folder(folder)

    def _finish(self, scan, error: str) -> None:
        self._set_busy("")
        self._set_result(scan, error)

    def _set_result(self, scan, error: str) -> None:
        if error != self.error:
            self.error = error
            self.errorChanged.emit(error)
        self.state.set_scan(scan)

    def _set_busy(self, text: str) -> None:
        if text != self.busy:
            self.busy = text
            self.busyChanged.emit(text)
