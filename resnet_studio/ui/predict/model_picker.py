"""Which model the Predict tab classifies with: the one set, one opened from disk, or ImageNet's.

`ModelPicker` is the start of the tab's tool bar (the model's name under a "Model" caption,
then Open model… with its menu) and the banner under it, which says what is going on:
opening a model, why one could not be opened, that torchvision's ImageNet ResNet-50 is in
use, or what to do when there is no model at all. Models load in the background, the
newest request winning; with no fine-tuned model the ImageNet model is offered once the
tab is first shown (and when photos arrive), when its weights are available, unless a
trained model is on its way (`expect`: the window loads the newest run's model at start).
"""

from __future__ import annotations

from pathlib import Path

from PySide6.QtCore import Qt, QTimer, Signal
from PySide6.QtWidgets import QFileDialog, QGridLayout, QMenu, QToolButton, QWidget

from .. import format as fmt
from ..tasks import TaskGroup
from ..widgets import Banner, ElidedLabel, muted_label
from .jobs import load_predictor

__all__ = ["ModelPicker", "describe"]

MODEL_FILTER = "Models (*.safetensors model.json);;All files (*)"
IMAGENET_LABEL = "ResNet-50 · ImageNet (1,000 categories)"


def describe(predictor) -> str:
    """'ResNet-18 · 4 classes': the depth (when known) and the number of classes."""
    classes = f"{fmt.count(len(predictor.classes))} classes"
    return f"ResNet-{predictor.depth} · {classes}" if predictor.depth else classes


class ModelPicker(QWidget):
    """The model in use and the ways to change it; `banner` is laid out by the tab."""

    predictorChanged = Signal(str)  # another model (or none) is in use: its label
    updated = Signal()  # the banner changed: what the tab says about its photos may too

    def __init__(self, tasks: TaskGroup, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._load = tasks.slot("open-model")
        self.predictor = None
        self.label = ""
        self.source = "none"  # "none", "custom" (set or opened) or "imagenet"
        self.imagenet_enabled = True
        self._imagenet_state = "idle"  # idle, loading, ready, failed
        self._imagenet_error = ""
        self._open_error: str | None = None  # the last model that could not be opened: shown until dismissed or replaced
        self._shown_once = False
        self._expected = ""  # a model the window is loading for this tab (a run's name): no ImageNet meanwhile
        self.banner = Banner()

        self.caption = muted_label("Model", wrap=False)
        self.name_label = ElidedLabel(mode=Qt.TextElideMode.ElideRight)
        font = self.name_label.font()
        font.setBold(True)
        self.name_label.setFont(font)
        self.open_button = QToolButton()
        self.open_button.setText("Open model…")
        self.open_button.setPopupMode(QToolButton.ToolButtonPopupMode.MenuButtonPopup)
        self.open_button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextOnly)
        self.open_button.setToolTip("Open a trained model: a model.safetensors file (with its model.json) or a run folder")
        menu = QMenu(self.open_button)
        self.action_open_file = menu.addAction("Model file (model.safetensors)…", self.open_model_file)
        self.action_open_run = menu.addAction("Run folder…", self.open_run_folder)
        menu.addSeparator()
        self.action_imagenet = menu.addAction("ImageNet ResNet-50 (1,000 everyday categories)", self.use_imagenet_model)
        self.open_button.setMenu(menu)
        self.open_button.clicked.connect(self.open_model_file)

        grid = QGridLayout(self)  # the caption over the name, the button beside them
        grid.setContentsMargins(0, 0, 0, 0)
        grid.setHorizontalSpacing(8)
        grid.setVerticalSpacing(0)
        grid.addWidget(self.caption, 0, 0)
        grid.addWidget(self.name_label, 1, 0)
        grid.addWidget(self.open_button, 0, 1, 2, 1)
        grid.setColumnStretch(0, 1)
        self._update_name()

    # ------------------------------------------------------------ public

    def is_loading(self) -> bool:
        return self._load.busy

    def expect(self, label: str) -> None:
        """A model is being loaded for this tab elsewhere (`label` names it): say so, and offer no
        ImageNet model meanwhile. "": it will not come (the ImageNet model may be offered again)."""
        self._expected = label
        if label:
            self._update_banner()
        elif self._shown_once:
            self.offer_imagenet()
        else:
            self._update_banner()

    def set_predictor(self, predictor, label: str = "") -> None:
        """Use this engine Predictor (None: back to the ImageNet model, when available)."""
        self._expected = ""
        self.cancel_load()
        if predictor is None:
            self._set(None, "", "none")
            self.offer_imagenet()
        else:
            self._set(predictor, label, "custom")

    def open_model(self, path: str) -> None:
        """Load a model from a run folder, model.safetensors or model.json (in the background)."""
        self.cancel_load()
        self._open_error = None
        self.banner.show_message("info", "Opening the model…", fmt.escape(str(path)))
        folder = (Path(path) if Path(path).is_dir() else Path(path).parent).name
        self._load.start(
            load_predictor,
            str(path),
            receiver=self,
            on_result=lambda predictor: self._set(predictor, " · ".join(filter(None, [describe(predictor), folder])), "custom"),
            on_error=self._on_open_failed,
        )

    def open_model_file(self) -> None:
        path, _ = QFileDialog.getOpenFileName(self, "Open a model", str(_runs_dir()), MODEL_FILTER)
        if path:
            self.open_model(path)

    def open_run_folder(self) -> None:
        folder = QFileDialog.getExistingDirectory(self, "Open a run folder", str(_runs_dir()))
        if folder:
            self.open_model(folder)

    def use_imagenet_model(self) -> None:
        self.cancel_load()
        self._open_error = None
        self._imagenet_state = "idle"
        self._set(None, "", "none")
        self.offer_imagenet(force=True)

    def offer_imagenet(self, force: bool = False) -> None:
        """With no model, load the ImageNet one (unless it is off, or failed before and not `force`)."""
        wanted = (self.imagenet_enabled and not self._expected) or force
        if self._load.group.closed or self._load.busy or self.predictor is not None or not wanted:
            self._update_banner()
            return
        if self._imagenet_state == "failed" and not force:
            self._update_banner()
            return
        self._imagenet_state = "loading"
        self._update_banner()
        self._load.start(
            load_predictor,
            None,
            receiver=self,
            on_result=self._on_imagenet_loaded,
            on_error=self._on_imagenet_failed,
        )

    def cancel_load(self) -> None:
        """Stop waiting for the model being loaded (its result is dropped)."""
        if self._load.busy:
            self._load.cancel()
            if self._imagenet_state == "loading":
                self._imagenet_state = "idle"

    # ------------------------------------------------------------ internals

    def showEvent(self, event) -> None:
        super().showEvent(event)
        if not self._shown_once:
            self._shown_once = True
            # after the first frame: building ResNet-50 takes a moment, even in the background
            QTimer.singleShot(200, self.offer_imagenet)

    def _set(self, predictor, label: str, source: str) -> None:
        changed = predictor is not self.predictor
        if predictor is not None and source == "custom":
            self._open_error = None  # another model chosen: the failed one no longer matters
        self.predictor = predictor
        self.source = source if predictor is not None else "none"
        self.label = (label or describe(predictor)) if predictor is not None else ""
        self._update_banner()
        if changed:
            self.predictorChanged.emit(self.label)

    def _on_imagenet_loaded(self, predictor) -> None:
        self._imagenet_state = "ready"
        self._set(predictor, IMAGENET_LABEL, "imagenet")

    def _on_imagenet_failed(self, message: str) -> None:
        self._imagenet_state = "failed"
        self._imagenet_error = message
        self._update_banner()

    def _on_open_failed(self, message: str) -> None:
        self._open_error = message
        self._update_banner()  # shows it, and keeps showing it whatever else updates the banner

    def _dismiss(self) -> None:
        self._open_error = None
        self.banner.hide()
        self._update_banner()

    def _update_name(self) -> None:
        if self.predictor is not None:
            self.name_label.setText(self.label)
        elif self._expected:
            self.name_label.setText(f"Loading {self._expected}…")
        elif self._imagenet_state == "loading":
            self.name_label.setText("Loading the ImageNet model…")
        else:
            self.name_label.setText("None yet")
        self.action_imagenet.setEnabled(self.source != "imagenet")

    def _update_banner(self) -> None:
        self._update_name()
        if self._open_error is not None:
            kept = "<br>The model in use is unchanged." if self.predictor is not None else ""
            self.banner.show_message("error", "Could not open the model", fmt.escape(self._open_error) + kept,
                                     [("Open another…", self.open_model_file), ("Dismiss", self._dismiss)])
        elif self._expected:
            kept = "Photos are kept and classified again with it." if self.predictor is not None else (
                "Photos dropped meanwhile are classified as soon as it is ready.")
            self.banner.show_message("info", f"Loading the model of {self._expected}…", kept)
        elif self.predictor is not None and self.source == "custom":
            self.banner.hide()
        elif self.predictor is not None:
            self.banner.show_message(
                "info",
                "Using torchvision's ImageNet ResNet-50",
                "It knows 1,000 everyday categories (dogs, cars, food…). To recognise <i>your</i> classes, "
                "train a model in the Train tab or open one with <b>Open model…</b>",
            )
        elif self._imagenet_state == "loading":
            self.banner.show_message("info", "Loading the ImageNet model…", "")
        elif self._imagenet_state == "failed":
            self.banner.show_message("warning", "No model to classify with yet", self._imagenet_failure(),
                                     [("Open model…", self.open_model_file), ("Try again", self.use_imagenet_model)])
        else:
            self.banner.show_message(
                "warning",
                "No model yet",
                "Train a model on your photos, or open one (a run folder or a <i>model.safetensors</i> file) "
                "with <b>Open model…</b>",
                [("Open model…", self.open_model_file)],
            )
        self.updated.emit()

    def _imagenet_failure(self) -> str:
        error = self._imagenet_error.lower()
        if "download" in error or "unavailable" in error:
            reason = (
                "The ImageNet-pretrained ResNet-50 is not on this computer and could not be downloaded "
                "(no internet connection?)."
            )
        else:
            reason = "The ImageNet-pretrained ResNet-50 could not be loaded."
        return (
            f"{reason} To classify photos, <b>train a model</b> on your photos (Setup and Train), or "
            "<b>open one</b>: a run folder or a <i>model.safetensors</i> file."
            f"<br><span style='font-size:small'>Details: {fmt.escape(self._imagenet_error)}</span>"
        )


def _runs_dir() -> Path:
    from resnet_studio.engine.runs import default_runs_dir

    runs = default_runs_dir()
    return runs if runs.is_dir() else Path.home()
