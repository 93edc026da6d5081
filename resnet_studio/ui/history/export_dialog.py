"""Export a run's model to ONNX or TorchScript, from the window.

The export and its check (the exported model and PyTorch on sample images, top-1
compared, largest probability difference measured) run in the background; the
dialog then says what was written and what was measured, or why it failed. With ONNX,
"int8 (quantized)" exports a statically quantized model instead (engine/quantize.py:
calibrated on the run's training images, fp32 and int8 top-1 compared on its validation
images, sizes and CPU latency measured), refused when int8 loses more accuracy points than
the "largest drop" box allows; the refusal is shown like any failure. When
onnx/onnxruntime are missing, the ONNX choice says how to install them. The window opens
it for a run folder (from History, the Evaluate tab or File > Export Model…).

Its texts wrap; whenever what it shows changes (the result, a message, the progress) and
when it is shown or resized, the dialog grows to the height its texts need at its width
and keeps that as its minimum, so no text is cut off and none overlaps another.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from PySide6.QtWidgets import (
    QButtonGroup,
    QCheckBox,
    QDialog,
    QDialogButtonBox,
    QDoubleSpinBox,
    QFileDialog,
    QHBoxLayout,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QRadioButton,
    QStyle,
    QVBoxLayout,
    QWidget,
)

from .. import format as fmt
from ..tasks import TaskGroup
from ..widgets import Banner, InlineMessage, muted_label, open_folder

__all__ = ["ExportDialog"]

_DEFAULT_MAX_DROP = 1.0  # engine/quantize.py DEFAULT_MAX_DROP (not imported here: it would load torch as the dialog opens)
_INT8_FILE = "model.int8.onnx"
_TRAVELS = (
    "The class names and the preprocessing travel with it: in <i>FILE.json</i> beside it and in the file's own metadata."
)
_NOTE = (
    f"{_TRAVELS} After writing, the exported model and PyTorch are run on sample images and compared; the export "
    "fails if their top class ever differs."
)
_INT8_NOTE = (
    f"{_TRAVELS} The int8 model is calibrated on the run's training images; then fp32 and int8 top-1 accuracy on "
    "its validation images, file sizes and CPU latency are measured, and nothing is written if int8 loses more "
    "than the largest drop."
)
_CHOICES = (
    ("onnx", "ONNX", "model.onnx", "For ONNX Runtime, OpenCV DNN, TensorRT, Core ML converters and other frameworks"),
    ("torchscript", "TorchScript", "model.torchscript.pt", "For LibTorch (C++) and plain PyTorch, without this app"),
)


def _breakable(text: str) -> str:
    """Escaped for a rich-text label, with a break allowed after each slash: a long path wraps
    instead of widening the dialog."""
    return fmt.escape(text).replace("/", "/\u200b").replace("\\", "\\\u200b")


def _export(task, model_path: str, kind: str, out: str, int8: bool = False, max_drop: float = 1.0):
    if int8:
        from resnet_studio.engine.quantize import AccuracyDropRefused, export_int8

        try:
            return export_int8(model_path, out, max_drop=max_drop, progress=task.report)
        except AccuracyDropRefused as exc:  # not a failure: the check did its job; shown as such
            return _Refused(str(exc))
    from resnet_studio.engine.export import export_model

    return export_model(model_path, kind, out, progress=task.report)


@dataclass(frozen=True)
class _Refused:
    """An int8 export refused for its accuracy drop (nothing written)."""

    message: str


def _int8_message(result) -> str:
    """What a finished int8 export measured, for the banner."""
    return (
        f"{_breakable(result.path)}<br>Top-1 on {result.validation_images} validation images: int8 "
        f"<b>{result.int8_acc:.1%}</b>, fp32 {result.fp32_acc:.1%} (drop {result.drop_points:.2f} points). "
        f"Size {result.int8_bytes / 1e6:.1f} MB, fp32 {result.fp32_bytes / 1e6:.1f} MB. Batch-1 CPU latency "
        f"{result.int8_ms:.1f} ms, fp32 {result.fp32_ms:.1f} ms: <b>{result.speedup:.2f}x faster</b>."
    )


class ExportDialog(QDialog):
    """Choose a format and a file; export in the background; report the measured difference."""

    def __init__(self, model_path: str, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWindowTitle("Export model")
        self.setMinimumWidth(560)
        self.model_path = str(model_path)
        self._tasks = TaskGroup()
        self._job = self._tasks.slot("export")
        self._out_edited = False
        self.result = None  # the engine ExportResult once done
        self.error = ""

        title = QLabel(f"Export the model of <b>{fmt.escape(Path(model_path).name)}</b>")
        title.setWordWrap(True)
        self.format_group = QButtonGroup(self)
        formats = QVBoxLayout()
        formats.setSpacing(2)
        self.format_buttons: dict[str, QRadioButton] = {}
        self.format_hints: dict[str, QLabel] = {}
        indent = self.style().pixelMetric(QStyle.PixelMetric.PM_ExclusiveIndicatorWidth) + 8
        for i, (key, name, _file, note) in enumerate(_CHOICES):
            button = QRadioButton(name)
            self.format_group.addButton(button, i)
            self.format_buttons[key] = button
            hint = muted_label(note)
            hint.setContentsMargins(indent, 0, 0, 4)  # under the button's text, on lines of its own
            self.format_hints[key] = hint
            formats.addWidget(button)
            formats.addWidget(hint)
        self.missing_message = InlineMessage()
        formats.addWidget(self.missing_message)
        self.int8_check = QCheckBox("int8 (quantized)")
        self.int8_check.setToolTip(
            "Static int8 quantization with ONNX Runtime, calibrated on the run's training images; about 4x smaller "
            "and faster on a CPU. Refused when it loses more validation accuracy than the largest drop allows."
        )
        self.max_drop_spin = QDoubleSpinBox()
        self.max_drop_spin.setRange(0.0, 100.0)
        self.max_drop_spin.setDecimals(1)
        self.max_drop_spin.setSingleStep(0.5)
        self.max_drop_spin.setValue(_DEFAULT_MAX_DROP)
        self.max_drop_spin.setSuffix(" points")
        self.max_drop_spin.setToolTip("The most top-1 accuracy (in percentage points) int8 may lose on the validation images")
        int8_row = QHBoxLayout()
        int8_row.setContentsMargins(indent, 0, 0, 0)  # under ONNX, which it belongs to
        int8_row.addWidget(self.int8_check)
        int8_row.addSpacing(12)
        self.max_drop_label = QLabel("largest accuracy drop")
        int8_row.addWidget(self.max_drop_label)
        int8_row.addWidget(self.max_drop_spin)
        int8_row.addStretch(1)
        formats.insertLayout(2, int8_row)  # right after ONNX's hint
        self.int8_check.toggled.connect(lambda _checked: self._on_format_change())

        self.out_edit = QLineEdit()
        self.out_edit.textEdited.connect(self._on_out_edited)
        browse = QPushButton("Browse…")
        browse.clicked.connect(self._browse)
        out_row = QHBoxLayout()
        out_row.addWidget(QLabel("File"))
        out_row.addWidget(self.out_edit, 1)
        out_row.addWidget(browse)
        self.note = muted_label(_NOTE)

        self.progress = QProgressBar()
        self.progress.setRange(0, 0)
        self.progress.setTextVisible(False)
        self.progress.setFixedHeight(10)
        self.progress.hide()
        self.stage_label = QLabel()
        self.stage_label.hide()  # shown while it has something to say
        self.banner = Banner()

        self.buttons = QDialogButtonBox()
        self.export_button = self.buttons.addButton("Export", QDialogButtonBox.ButtonRole.AcceptRole)
        self.folder_button = self.buttons.addButton("Show in folder", QDialogButtonBox.ButtonRole.ActionRole)
        self.close_button = self.buttons.addButton(QDialogButtonBox.StandardButton.Close)
        self.folder_button.hide()
        self.export_button.clicked.connect(self.start_export)
        self.folder_button.clicked.connect(self._show_folder)
        self.close_button.clicked.connect(self.reject)
        self.export_button.setDefault(True)

        layout = QVBoxLayout(self)
        layout.setSpacing(10)
        layout.addWidget(title)
        layout.addLayout(formats)
        layout.addLayout(out_row)
        layout.addWidget(self.note)
        layout.addWidget(self.stage_label)
        layout.addWidget(self.progress)
        layout.addWidget(self.banner)
        layout.addWidget(self.buttons)

        self.format_group.idToggled.connect(lambda _id, checked: checked and self._on_format_change())
        self.format_buttons["onnx"].setChecked(True)
        self._on_format_change()
        self.resize(self.minimumWidth(), self.height())
        self.fit_to_text()

    # ------------------------------------------------------------ public

    def format(self) -> str:
        return _CHOICES[max(0, self.format_group.checkedId())][0]

    def int8(self) -> bool:
        """int8 chosen (and possible: ONNX only)."""
        return self.int8_check.isChecked() and self.format() == "onnx"

    def set_int8(self, on: bool, max_drop: float | None = None) -> None:
        self.int8_check.setChecked(on)
        if max_drop is not None:
            self.max_drop_spin.setValue(max_drop)

    def set_format(self, kind: str) -> None:
        """'onnx' or 'torchscript'."""
        self.format_buttons[kind].setChecked(True)

    def out_path(self) -> str:
        return self.out_edit.text().strip()

    def set_out_path(self, path: str) -> None:
        self.out_edit.setText(str(path))
        self._out_edited = True

    def is_busy(self) -> bool:
        return self._job.busy

    def fit_to_text(self) -> None:
        """Grow (never shrink) to the height the wrapped texts need at the present width, and make
        that the minimum height: nothing is cut off or drawn over another."""
        layout = self.layout()
        layout.activate()
        width = self.width()
        needed = layout.totalHeightForWidth(width) if layout.hasHeightForWidth() else layout.totalSizeHint().height()
        needed = max(needed, layout.totalMinimumSize().height())
        if self.minimumHeight() != needed:
            self.setMinimumHeight(needed)
        if self.height() < needed:
            self.resize(width, needed)

    def start_export(self) -> None:
        if self._job.busy or not self.out_path():
            return
        self.result, self.error = None, ""
        self.banner.hide()
        self.folder_button.hide()
        self._set_stage("Starting…")
        task = self._job.start(
            _export,
            self.model_path,
            self.format(),
            self.out_path(),
            self.int8(),
            self.max_drop_spin.value(),
            receiver=self,
            on_progress=self._set_stage,
            on_result=self._on_done,
            on_error=self._on_failed,
            on_finished=lambda: self._set_busy(False),
        )
        self._set_busy(task is not None)

    def shutdown(self, timeout_ms: int = 60_000) -> bool:
        """Stop the export and wait for its thread; True when it ended (the dialog may then close)."""
        ended = self._tasks.shutdown(timeout_ms)
        if ended:
            self._job.cancel()  # its last signals are of no use now
        return ended

    # ------------------------------------------------------------ internals

    def _on_format_change(self) -> None:
        from resnet_studio.engine.export import default_export_path, install_hint, missing_packages

        kind = self.format()
        int8 = self.int8()
        if not self._out_edited:
            default = default_export_path(self.model_path, kind)
            self.out_edit.setText(str(default.with_name(_INT8_FILE) if int8 else default))
        else:
            path = Path(self.out_path())
            suffix = ".onnx" if kind == "onnx" else ".pt"
            if path.suffix.lower() in (".onnx", ".pt") and path.suffix.lower() != suffix:
                self.out_edit.setText(str(path.with_suffix(suffix)))
        missing = missing_packages(kind)
        if missing:
            self.missing_message.show_warning(install_hint(missing))
        else:
            self.missing_message.clear_message()
        self.export_button.setEnabled(not missing and not self._job.busy)
        onnx_ready = kind == "onnx" and not missing and not self._job.busy
        self.note.setText(_INT8_NOTE if int8 else _NOTE)
        self.int8_check.setEnabled(onnx_ready)
        for widget in (self.max_drop_label, self.max_drop_spin):
            widget.setEnabled(onnx_ready and int8)
        self.fit_to_text()

    def _set_stage(self, text: str) -> None:
        self.stage_label.setText(text)
        if self.stage_label.isHidden() == bool(text):
            self.stage_label.setVisible(bool(text))
            self.fit_to_text()

    def _on_out_edited(self, _text: str) -> None:
        self._out_edited = True

    def _browse(self) -> None:
        filters = "ONNX (*.onnx)" if self.format() == "onnx" else "TorchScript (*.pt)"
        path, _ = QFileDialog.getSaveFileName(self, "Export to", self.out_path(), filters)
        if path:
            self.set_out_path(path)

    def _set_busy(self, busy: bool) -> None:
        self.progress.setVisible(busy)
        self.export_button.setEnabled(not busy)
        self.close_button.setEnabled(not busy)
        for button in (*self.format_buttons.values(), self.int8_check, self.max_drop_spin):
            button.setEnabled(not busy)
        self.out_edit.setEnabled(not busy)
        if not busy:
            self._on_format_change()
        self.fit_to_text()

    def _on_done(self, result) -> None:
        self._set_stage("")
        if isinstance(result, _Refused):
            self.error = result.message
            self.banner.show_message("warning", "int8 export refused", _breakable(result.message))
            self.fit_to_text()
            return
        self.result = result
        if hasattr(result, "int8_acc"):
            self.banner.show_message("info", f"Exported int8 to {Path(result.path).name}", _int8_message(result))
            self.folder_button.show()
            self.fit_to_text()
            return
        agree = "top-1 identical on all of them" if result.top1_agree == result.images_checked else (
            f"top-1 identical on {result.top1_agree}")
        self.banner.show_message(
            "info",
            f"Exported to {Path(result.path).name}",
            f"{_breakable(result.path)}<br>Checked against PyTorch on {result.images_checked} images: {agree}; "
            f"largest probability difference <b>{result.max_prob_diff:.2e}</b>.",
        )
        self.folder_button.show()
        self.fit_to_text()

    def _on_failed(self, message: str) -> None:
        self.error = message
        self._set_stage("")
        self.banner.show_message("error", "Export failed", _breakable(message))
        self.fit_to_text()

    def _show_folder(self) -> None:
        if self.result is not None:
            open_folder(Path(self.result.path).parent, self)

    def showEvent(self, event) -> None:
        super().showEvent(event)
        self.fit_to_text()

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        if event.size().width() != event.oldSize().width():  # narrower: the texts wrap onto more lines
            self.fit_to_text()

    def reject(self) -> None:
        if self._job.busy:
            return  # the export finishes first (it cannot be interrupted halfway safely)
        super().reject()

    def done(self, code: int) -> None:
        if self._job.busy:
            return
        self._tasks.shutdown()
        super().done(code)

    def closeEvent(self, event) -> None:
        if self._job.busy:
            event.ignore()
            return
        super().closeEvent(event)
