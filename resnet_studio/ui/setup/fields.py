"""The setup panel's fields: one table drives the widgets, the saved settings and the TrainConfig.

Each `Field` edits one TrainConfig setting. Its limits, choices and default come from
the engine (`engine.config.SETTINGS`); what a person reads (label, tooltip, the names of
the choices) is written here. A field knows how to give its value to the config, how to
show a value, and how to keep it in QSettings; the panel only lays the fields out and
shows the engine's problems under the field they name.

`make_fields()` is the table: (section, field) in the order the panel shows them.
"""

from __future__ import annotations

from typing import Any

from PySide6.QtCore import QObject, QSettings, Qt, Signal
from PySide6.QtWidgets import QCheckBox, QComboBox, QLineEdit, QSpinBox, QVBoxLayout, QWidget

from resnet_studio.engine.config import SETTINGS, Setting

from ..widgets import InlineMessage, muted_label

__all__ = ["Field", "SpinField", "ComboField", "CheckField", "LrField", "DeviceField", "make_fields", "select"]

SPIN_MAX = 2**31 - 1  # QSpinBox holds a C int


class Field(QObject):
    """One TrainConfig setting in the window: an editor, extras under it, its message."""

    changed = Signal()

    def __init__(self, name: str, label: str, tooltip: str, editor: QWidget, *extras: QWidget) -> None:
        super().__init__()
        self.name = name
        self.label = label
        self.setting: Setting = SETTINGS[name]
        self.editor = editor
        editor.setToolTip(tooltip)
        self.message = InlineMessage()
        self.box = QWidget()
        column = QVBoxLayout(self.box)
        column.setContentsMargins(0, 0, 0, 0)
        column.setSpacing(3)
        for widget in (editor, *extras, self.message):
            column.addWidget(widget)

    def value(self) -> Any:
        """The value for TrainConfig."""
        raise NotImplementedError

    def set_value(self, value: Any) -> None:
        raise NotImplementedError

    def save(self, settings: QSettings) -> None:
        settings.setValue(self.name, self.value())

    def restore(self, settings: QSettings) -> None:
        """The saved value, if there is one that fits; otherwise the field keeps its own."""
        if settings.contains(self.name):
            self.set_value(settings.value(self.name))

    def problem(self) -> str:
        """Why the text in the editor is not a value at all ("" when it is): the engine
        checks values; this is only for editors that take free text."""
        return ""


class SpinField(Field):
    """A whole number in the engine's range; `scale` shows fractions as percent; `off`
    names the spin box's lowest value, which stands for None ("Off")."""

    def __init__(self, name: str, label: str, tooltip: str, *, suffix: str = "", step: int = 1, scale: int = 1,
                 off: str = "") -> None:
        spin = QSpinBox()
        super().__init__(name, label, tooltip, spin)
        self.spin, self.scale, self.off = spin, scale, off
        s = self.setting
        low = int(round(s.minimum * scale)) + (1 if s.above_minimum else 0)
        high = int(round(s.maximum * scale)) - (1 if s.below_maximum else 0) if s.maximum is not None else SPIN_MAX
        if off:
            low -= 1  # one below the engine's minimum: "Off"
            spin.setSpecialValueText(off)
        spin.setRange(low, min(high, SPIN_MAX))
        spin.setSingleStep(step)
        spin.setSuffix(suffix)
        self.set_value(s.default)
        spin.valueChanged.connect(self.changed)

    def value(self):
        raw = self.spin.value()
        if self.off and raw == self.spin.minimum():
            return None
        return raw / self.scale if self.scale != 1 else raw

    def set_value(self, value) -> None:
        if value is None:
            self.spin.setValue(self.spin.minimum() if self.off else self.spin.value())
            return
        try:
            self.spin.setValue(int(round(float(value) * self.scale)))
        except (TypeError, ValueError):
            pass

    def save(self, settings: QSettings) -> None:
        settings.setValue(self.name, self.spin.value())  # what the spin box shows (0 for "Off", percent)

    def restore(self, settings: QSettings) -> None:
        if settings.contains(self.name):
            try:
                self.spin.setValue(int(settings.value(self.name)))
            except (TypeError, ValueError):
                pass


def select(combo: QComboBox, data: Any) -> bool:
    """Make the item holding `data` current; False when there is none."""
    index = combo.findData(data)
    if index >= 0:
        combo.setCurrentIndex(index)
    return index >= 0


class ComboField(Field):
    """One of the engine's choices, each with a name for people (and an explanation under it)."""

    def __init__(self, name: str, label: str, tooltip: str, names: dict[str, str], explanations: dict[str, str] | None = None,
                 requires: CheckField | None = None):
        combo = QComboBox()
        self.explain = muted_label() if explanations else None
        super().__init__(name, label, tooltip, combo, *([self.explain] if self.explain else []))
        self.combo, self.explanations = combo, explanations or {}
        for key in self.setting.choices:
            combo.addItem(names.get(str(key), str(key)), key)
        self.set_value(self.setting.default)
        combo.currentIndexChanged.connect(self._on_change)
        if requires is not None:  # greyed out while the check box it depends on is off
            requires.check.toggled.connect(combo.setEnabled)
            combo.setEnabled(requires.check.isChecked())
        self._on_change()

    def value(self):
        return self.combo.currentData()

    def set_value(self, value) -> None:
        select(self.combo, value)

    def _on_change(self) -> None:
        if self.explain is not None:
            self.explain.setText(self.explanations.get(str(self.value()), ""))
        self.changed.emit()


class CheckField(Field):
    """On or off; `requires` names a check box that must be on for this one to count."""

    def __init__(self, name: str, text: str, tooltip: str, label: str = "", requires: CheckField | None = None):
        check = QCheckBox(text)
        super().__init__(name, label, tooltip, check)
        self.check, self.requires = check, requires
        check.setChecked(bool(self.setting.default))
        check.toggled.connect(self.changed)
        if requires is not None:
            requires.check.toggled.connect(check.setEnabled)
            requires.check.toggled.connect(self.changed)
            check.setEnabled(requires.check.isChecked())

    def value(self) -> bool:
        return self.check.isChecked() and (self.requires is None or self.requires.value())

    def set_value(self, value) -> None:
        self.check.setChecked(value in (True, "true", "True", 1, "1"))

    def save(self, settings: QSettings) -> None:
        settings.setValue(self.name, self.check.isChecked())


class LrField(Field):
    """The learning rate as text: empty (or "auto") for the engine's default, shown as the placeholder."""

    def __init__(self, tooltip: str):
        edit = QLineEdit()
        edit.setClearButtonEnabled(True)
        super().__init__("lr", "Learning rate", tooltip, edit)
        self.edit = edit
        edit.textChanged.connect(self.changed)
        self.set_auto(None)

    def _parse(self):
        text = self.edit.text().strip().replace(",", ".")
        if not text or text.lower() == "auto":
            return None
        try:
            return float(text)
        except ValueError:
            return text

    def value(self):
        value = self._parse()
        return value if not isinstance(value, str) else None

    def problem(self) -> str:
        return "enter a number such as 0.01, or leave it empty for auto" if isinstance(self._parse(), str) else ""

    def set_value(self, value) -> None:
        self.edit.setText("" if value is None else f"{float(value):g}")

    def save(self, settings: QSettings) -> None:
        settings.setValue(self.name, self.edit.text().strip())

    def restore(self, settings: QSettings) -> None:
        if settings.contains(self.name):
            self.edit.setText(str(settings.value(self.name) or ""))

    def set_auto(self, lr: float | None) -> None:
        """The engine's default for the chosen optimizer and weights, shown while the field is empty."""
        self.edit.setPlaceholderText(f"auto ({lr:g})" if lr is not None else "auto")


class DeviceField(Field):
    """Automatic, then the devices the engine found (filled in once torch has loaded)."""

    def __init__(self, tooltip: str):
        combo = QComboBox()
        self.note = muted_label()
        super().__init__("device", "", tooltip, combo, self.note)  # under its own "Device" header
        self.combo = combo
        combo.addItem("Automatic (best available)", "auto")
        self.devices: list[tuple[str, str, str]] = []  # (id, label, note)
        self._wanted = "auto"
        combo.currentIndexChanged.connect(self._on_change)
        self._on_change()

    def set_devices(self, devices: list[tuple[str, str, str]]) -> None:
        self.devices = list(devices)
        self.combo.blockSignals(True)
        while self.combo.count() > 1:
            self.combo.removeItem(1)
        for dev_id, label, note in devices:
            self.combo.addItem(label if dev_id != "cpu" else f"{label} — slower", dev_id)
            self.combo.setItemData(self.combo.count() - 1, note or label, Qt.ItemDataRole.ToolTipRole)
        select(self.combo, self._wanted)
        self.combo.blockSignals(False)
        self._on_change()

    def value(self) -> str:
        return self.combo.currentData() or "auto"

    def set_value(self, value) -> None:
        self._wanted = str(value or "auto")  # a GPU saved last time appears once the devices are known
        select(self.combo, self._wanted)

    def _on_change(self) -> None:
        device = self.value()
        if self.combo.currentIndex() >= 0 and self.combo.count() > 1:
            self._wanted = device
        best = self.devices[0] if self.devices else None
        if device == "auto":
            if best is None:
                text = "The fastest device found: a GPU when there is one."
            elif best[0] == "cpu":
                text = ("No GPU found: training runs on the CPU, which is much slower. "
                        "ResNet-18 with 128 px images keeps it quick.")
            else:
                text = f"Uses {best[1]}."
        elif device == "cpu":
            text = "The CPU works everywhere but is much slower than a GPU: prefer ResNet-18 and small images."
        else:
            text = next((n for d, _, n in self.devices if d == device), "") or "Trains on this GPU."
        self.note.setText(text)
        self.changed.emit()


TRAINABLE = {
    "all": ("Whole network", "Every layer adapts to your photos. Most accurate with a few hundred photos per class; slowest."),
    "layer3": ("Last two stages + head", "The early layers keep their ImageNet features; layer3, layer4 and the classifier "
               "learn. A good middle ground."),
    "layer4": ("Last stage + head", "Only layer4 and the classifier learn. Quick, and robust with small datasets."),
    "head": ("Classifier head only", "Only the final classifier learns, on top of fixed ImageNet features. Fastest; fine "
             "for very few photos."),
}
OPTIMIZERS = {"sgd": "SGD with momentum", "adamw": "AdamW"}
AUGMENTATION_LEVELS = {"auto": "Automatic", "light": "Light", "standard": "Standard", "strong": "Strong"}
AUGMENTATION_EXPLAINED = {
    "light": "Crops keep 75–100 % of the photo, turns up to 5°, slight lighting changes.",
    "standard": "Crops keep 35–100 % of the photo, turns up to 10°, moderate lighting changes.",
    "strong": "Crops keep 8–100 % of the photo, turns up to 15°, lighting and colour changes.",
}


def make_fields() -> list[tuple[str, Field]]:
    """The table: (section, field), in the panel's order. The depth and weights fields,
    which need more than one widget, come from their own modules."""
    from .depth_table import DepthField
    from .weights import WeightsField

    augment = CheckField(
        "augment", "Random crops, turns, flips and lighting", label="Augmentation",
        tooltip="Show each photo slightly differently every epoch, so the model generalises instead of memorising.",
    )
    return [
        ("Model", DepthField()),
        ("Model", WeightsField()),
        ("Model", ComboField(
            "trainable", "Train", "Which part of the network learns; the rest keeps its pretrained weights.",
            {k: name for k, (name, _) in TRAINABLE.items()}, {k: text for k, (_, text) in TRAINABLE.items()},
        )),
        ("Data", SpinField(
            "val_split", "Validation", "Share of each class held out to measure accuracy on photos the model never "
            "trained on (ignored when the folder has its own train/ and val/ folders).", suffix=" %", scale=100,
        )),
        ("Training", SpinField("epochs", "Epochs", "Passes over the training photos. 5–20 is typical when fine-tuning.")),
        ("Training", SpinField(
            "batch_size", "Batch size", "Photos per training step. If a step does not fit in the GPU's memory, it runs in "
            "smaller pieces whose gradients add up to the same step, and the log says so.",
        )),
        ("Training", SpinField(
            "image_size", "Image size", "Side of the square the photos are resized and cropped to. 224 px matches the "
            "ImageNet weights; smaller is faster (good on a CPU), larger keeps more detail.", suffix=" px", step=32,
        )),
        ("Training", LrField(
            "Step size of the optimizer. Leave empty for the studio's default, chosen by optimizer, by whether the "
            "network starts from ImageNet weights and, for SGD, by the batch size."
        )),
        ("Training", ComboField(
            "optimizer", "Optimizer", "SGD with momentum is the classic ResNet recipe; AdamW is less sensitive to the "
            "learning rate.", OPTIMIZERS,
        )),
        ("Training", augment),
        ("Training", CheckField(
            "color_jitter", "Colour jitter", requires=augment,
            tooltip="Also vary saturation and hue, and lighting at least moderately (helps when lighting varies; not if "
            "colour defines the class).",
        )),
        ("Training", ComboField(
            "augmentation", "Strength", "How different each showing of a photo may be. Light suits small images; "
            "strong suits long runs from scratch on few photos. Automatic picks by the image size, the "
            "number of photos and epochs.", AUGMENTATION_LEVELS, AUGMENTATION_EXPLAINED, requires=augment,
        )),
        ("Advanced", SpinField(
            "seed", "Seed", "Fixes the train/validation split and the random choices, so a run can be repeated.",
        )),
        ("Advanced", SpinField(
            "patience", "Early stop", "Stop early when validation accuracy has not improved for this many epochs.",
            suffix=" epochs", off="Off",
        )),
        ("Advanced", ComboField(
            "precision", "Precision", "The arithmetic of training. Mixed precision is about twice as fast on an NVIDIA "
            "GPU and learns as well; Automatic picks bf16 on recent GPUs (RTX 30xx, A100 and later), fp16 with loss "
            "scaling on older ones, and full fp32 on Apple GPUs and CPUs.",
            {"auto": "Automatic", "fp32": "fp32 (full)", "bf16": "bf16 (mixed)", "fp16": "fp16 (mixed, loss scaling)"},
        )),
        ("Advanced", ComboField(
            "stem", "Stem", "The first layers of ResNet-18 to 152. Small images (3×3, no max-pool) keeps the detail of "
            "small photos at 16× the multiply-adds; Automatic picks it from scratch below 96 px and keeps the ImageNet "
            "stem with ImageNet weights. The CIFAR ResNets have their own small stem.",
            {"auto": "Automatic", "imagenet": "ImageNet (7×7, max-pool)", "small": "Small images (3×3, no max-pool)"},
        )),
        ("Device", DeviceField("Where the network trains. A GPU is typically 10–50× faster than the CPU.")),
    ]
