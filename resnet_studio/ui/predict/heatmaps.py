"""The Predict tab's Grad-CAM: heat layers over the thumbnails, and the selected photo large.

While it is on, every predicted photo gets a heat layer for its top class (or the class
chosen for it in the pane), computed a few at a time in the background, one job at a
time (jobs.cam_thumbnails); the pane (cam_view.CamView) follows the selection, and its
class chooser and opacity slider act on the thumbnails too. Both come from the engine's
`explain` on the pixels prediction read, so they show the cards' probabilities.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QObject

from ..cam_view import CamView
from ..tasks import TaskGroup
from .jobs import cam_thumbnails
from .results import PredictEntry, ResultsModel, ResultsView

__all__ = ["Heatmaps"]

SELECT = "Select a result to see where the model looked."


class Heatmaps(QObject):
    """Grad-CAM for the results in `view`, with `pane` showing the current one."""

    def __init__(self, tasks: TaskGroup, view: ResultsView, pane: CamView, predictor: Callable[[], object]) -> None:
        super().__init__(view)
        self._job = tasks.slot("grad-cam-thumbnails")
        self._queue: list[int] = []  # entry ids waiting for their heat layer
        self._view = view
        self._results: ResultsModel = view.model()
        self._pane = pane
        self._predictor = predictor
        pane.classChanged.connect(self._on_class_chosen)
        pane.opacityChanged.connect(self._on_opacity)
        view.selectionModel().currentChanged.connect(lambda current, _previous: self.show(self._results.entry_at(current)))

    @property
    def enabled(self) -> bool:
        return self._view.cam_enabled

    def set_enabled(self, enabled: bool) -> None:
        """Heat layers and the pane on (computing what is missing) or off (dropping what is pending)."""
        self._view.cam_enabled = enabled
        self._pane.setVisible(enabled)
        if enabled:
            self._add([e.id for e in self._results.entries() if e.done and not e.error and e.cam_heat is None])
            self.show(self._results.entry_at(self._view.currentIndex()) or self._results.entry_at(self._results.index(0)))
        else:
            self.reset()
        self._view.viewport().update()

    def is_busy(self) -> bool:
        return self._job.busy or bool(self._queue) or self._pane.is_busy()

    def reset(self) -> None:
        """Drop the pending heat layers (the photos were cleared, or another model came)."""
        self._job.cancel()
        self._queue.clear()

    def clear_pane(self) -> None:
        self._pane.clear(SELECT)

    def predicted(self, ids: list[int]) -> None:
        """These entries just got their result: their heat layers, and the pane if it shows one of them."""
        if not self.enabled:
            return
        self._add([i for i in ids if not self._results.get(i).error])
        current = self._results.entry_at(self._view.currentIndex())
        if current is None or current.id in ids:
            self.show(current or self._results.entry_at(self._results.index(0)))

    def show(self, entry: PredictEntry | None) -> None:
        """`entry` large in the pane (when Grad-CAM is on)."""
        if not self.enabled:
            return
        if entry is None:
            self._pane.clear(SELECT)
            return
        self._pane.set_title(entry.name)
        if entry.error:
            self._pane.clear("This file could not be read.")
        elif not entry.done or self._predictor() is None:
            self._pane.clear("Waiting for the prediction…")
        else:
            self._pane.show_image(self._predictor(), entry.source, entry.predictions, entry.cam_class)

    # ------------------------------------------------------------ internals

    def _add(self, ids: list[int]) -> None:
        for i in ids:
            if i not in self._queue:
                self._queue.append(i)
        self._next()

    def _next(self) -> None:
        """Start the heat layers of the queued thumbnails, unless a job is running or Grad-CAM is off."""
        if self._job.busy or self._predictor() is None or not self.enabled:
            return
        ids, self._queue = self._queue, []
        entries = [e for e in map(self._results.get, ids) if e is not None and e.done and not e.error and e.thumb is not None]
        items = [(e.id, e.source, e.cam_class, (e.thumb.width(), e.thumb.height())) for e in entries]
        if items:
            self._job.start(cam_thumbnails, self._predictor(), items,
                            receiver=self, on_progress=self._arrived, on_finished=self._next)

    def _arrived(self, results: list) -> None:
        changed = []
        for entry_id, heat, class_index, label, crop in results:
            e = self._results.get(entry_id)
            if e is None or e.cam_class != class_index:
                continue  # removed, or another class was chosen meanwhile
            e.cam_heat, e.cam_pixmap, e.cam_label, e.cam_crop = heat, None, label, crop
            changed.append(entry_id)
        self._results.changed(changed)

    def _on_class_chosen(self, class_index: int) -> None:
        entry = self._results.entry_at(self._view.currentIndex())
        if entry is None:
            return
        classes = self._predictor().classes if self._predictor() is not None else []
        top = classes.index(entry.predictions[0][0]) if entry.predictions and classes else None
        entry.cam_class = None if class_index == top else class_index
        entry.clear_cam()
        self._results.changed([entry.id])
        self._add([entry.id])

    def _on_opacity(self, opacity: float) -> None:
        self._view.cam_opacity = opacity
        self._view.viewport().update()
