"""Where the network starts: ImageNet, from scratch, or a weights file (checked in the background).

The engine says whether a path can be used at all (`engine.config.weights_problem`,
part of the config's problems). Whether the file's tensors fit a depth takes reading
the file: that runs off the UI thread, once per file version, and the verdict for the
chosen depth is shown under the field.
"""

from __future__ import annotations

import os
from pathlib import Path

from PySide6.QtCore import QSettings
from PySide6.QtWidgets import QComboBox, QFileDialog, QHBoxLayout, QLineEdit, QPushButton, QWidget

from resnet_studio.engine.config import WEIGHTS_SUFFIXES

from ..format import sentence
from ..tasks import TaskGroup
from .fields import Field, select

__all__ = ["WeightsField", "WEIGHTS_FILE_FILTER"]

WEIGHTS_FILE_FILTER = f"Weights ({' '.join('*' + s for s in WEIGHTS_SUFFIXES)});;All files (*)"
CHOICES = (
    ("imagenet", "ImageNet pretrained (recommended)"),
    ("none", "From scratch (random start)"),
    ("file", "From a file…"),
)


def _check_weights(task, path: str) -> dict[int, str]:
    """{depth: "" or why the file cannot start that depth}; raises for an unreadable or unsafe file."""
    from resnet_studio.engine.models import check_weights_file

    return check_weights_file(path)


class WeightsField(Field):
    """The start weights; `tasks` (set by the panel) runs the file checks."""

    def __init__(self) -> None:
        combo = QComboBox()
        for key, text in CHOICES:
            combo.addItem(text, key)
        self.path = QLineEdit()
        self.path.setPlaceholderText("model.safetensors, .pt or .pth")
        self.path.setClearButtonEnabled(True)
        self.browse = QPushButton("Browse…")
        self.file_row = QWidget()
        row = QHBoxLayout(self.file_row)
        row.setContentsMargins(0, 0, 0, 0)
        row.setSpacing(6)
        row.addWidget(self.path, 1)
        row.addWidget(self.browse)
        super().__init__(
            "weights", "Weights",
            "Where the network starts. ImageNet weights already know edges, textures and shapes, so far fewer photos "
            "are needed. From scratch needs thousands of photos per class.",
            combo, self.file_row,
        )
        self.combo = combo
        self.tasks: TaskGroup | None = None
        self._verdicts: dict[tuple, dict[int, str] | str] = {}  # (path, size, mtime) -> verdict
        self._checking: tuple | None = None
        combo.currentIndexChanged.connect(self._on_kind_change)
        self.path.textChanged.connect(self.changed)
        self.browse.clicked.connect(self._browse)
        self._on_kind_change()

    def kind(self) -> str:
        return self.combo.currentData()

    def value(self) -> str:
        return self.path.text().strip() if self.kind() == "file" else self.kind()

    def set_value(self, value) -> None:
        value = str(value or "imagenet")
        if value in ("imagenet", "none"):
            select(self.combo, value)
        else:
            select(self.combo, "file")
            self.path.setText(value)

    def save(self, settings: QSettings) -> None:
        settings.setValue("weights", self.kind())
        settings.setValue("weights_file", self.path.text())

    def restore(self, settings: QSettings) -> None:
        if settings.contains("weights_file"):
            self.path.setText(str(settings.value("weights_file") or ""))
        if settings.contains("weights"):
            select(self.combo, str(settings.value("weights")))

    # ------------------------------------------------------------ the file's contents

    def is_checking(self) -> bool:
        return self._checking is not None

    def content_problem(self, depth: int) -> str:
        """Why the chosen file cannot start ResNet-`depth` ("" when it can, or while it is being
        checked: until then the choice counts as valid; the run itself refuses a bad file too)."""
        if self.kind() != "file":
            return ""
        try:
            path = str(Path(self.value()).expanduser())
            stat = os.stat(path)
        except OSError:
            return ""  # missing: the engine's own check says so
        key = (path, stat.st_size, stat.st_mtime_ns)
        verdict = self._verdicts.get(key)
        if verdict is None:
            if self._checking != key and self.tasks is not None and not self.tasks.closed:
                self._checking = key
                self.tasks.start(
                    _check_weights, path,
                    on_result=lambda v: self._on_checked(key, v),
                    on_error=lambda message: self._on_checked(key, message),
                    receiver=self, name="check-weights",
                )
            return ""
        if isinstance(verdict, str):  # unreadable or refused; the message starts with the file's name
            return verdict
        return sentence(verdict.get(depth, ""))

    def _on_checked(self, key: tuple, verdict) -> None:
        self._verdicts[key] = verdict
        if self._checking == key:
            self._checking = None
        self.changed.emit()

    # ------------------------------------------------------------ widgets

    def _on_kind_change(self) -> None:
        self.file_row.setVisible(self.kind() == "file")
        self.changed.emit()

    def browse_file(self) -> str:
        """Ask for a weights file; its path, or "" when the dialog was cancelled."""
        start = self.path.text() or str(Path.home())
        path, _ = QFileDialog.getOpenFileName(self.box, "Choose a weights file", start, WEIGHTS_FILE_FILTER)
        return path

    def _browse(self) -> None:
        path = self.browse_file()
        if path:
            self.path.setText(path)
