"""The setup side panel: model depth and weights, the dataset, hyper-parameters, device.

The panel imports no torch at construction. The numbers that need torchvision
(parameter counts, GFLOPs, ImageNet top-1, default learning rates, the device list)
arrive from a background task shortly after the panel is first shown. Dataset scans
and thumbnails also run off the UI thread.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

from PySide6.QtCore import QSettings, QSize, Qt, QTimer, Signal
from PySide6.QtWidgets import (
    QAbstractItemView,
    QCheckBox,
    QComboBox,
    QFileDialog,
    QFormLayout,
    QFrame,
    QHBoxLayout,
    QHeaderView,
    QLabel,
    QLineEdit,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QSizePolicy,
    QSpinBox,
    QToolButton,
    QTreeWidget,
    QTreeWidgetItem,
    QVBoxLayout,
    QWidget,
)

from .. import format as fmt
from ..data.tab import DataSummaryWidget, balance_warning
from ..tasks import BackgroundTask, TaskGroup
from ..widgets import ElidedLabel, InlineMessage, SectionHeader, muted_label, palette_colors

__all__ = ["SetupPanel", "DataSummaryWidget"]

DEPTH_CHOICES = (18, 34, 50, 101, 152)
WEIGHTS_FILE_FILTER = "Weights (*.safetensors *.pt *.pth);;All files (*)"
WEIGHTS_SUFFIXES = (".safetensors", ".pt", ".pth")
TRAINABLE = (
    ("all", "Whole network", "Every layer adapts to your photos. Most accurate with a few hundred photos per class; slowest."),
    ("layer3", "Last two stages + head", "The early layers keep their ImageNet features; layer3, layer4 and the classifier learn. A good middle ground."),
    ("layer4", "Last stage + head", "Only layer4 and the classifier learn. Quick, and robust with small datasets."),
    ("head", "Classifier head only", "Only the final classifier learns, on top of fixed ImageNet features. Fastest; fine for very few photos."),
)
WEIGHTS = (
    ("imagenet", "ImageNet pretrained (recommended)"),
    ("none", "From scratch (random start)"),
    ("file", "From a file…"),
)
OPTIMIZERS = (("sgd", "SGD with momentum"), ("adamw", "AdamW"))
MIN_IMAGE_SIZE = 32
THUMB = 72
SETTINGS_GROUP = "setup"


# ---------------------------------------------------------------- background functions (worker threads)


def _engine_info(task: BackgroundTask) -> dict:
    """What needs torch: depth summaries, default learning rates, devices."""
    from resnet_studio.engine import devices, models

    summaries = {d: models.depth_summary(d, 224) for d in DEPTH_CHOICES}
    task.check()
    from resnet_studio.engine.config import default_lr

    lrs = {(opt, pre): default_lr(opt, pre) for opt, _ in OPTIMIZERS for pre in (True, False)}
    try:
        devs = [(d.id, d.label, d.note) for d in devices.available_devices()]
    except Exception:  # a broken driver must not cost the panel: the CPU always works
        devs = [("cpu", "CPU", "much slower than a GPU")]
    return {"summaries": summaries, "lrs": lrs, "devices": devs}


def _scan(task: BackgroundTask, root: str, val_split: float, seed: int):
    from resnet_studio.engine.data import scan_dataset

    return scan_dataset(root, val_split=val_split, seed=seed, progress=lambda done, total: task.report((done, total)))


def _make_demo(task: BackgroundTask, out_dir: str) -> str:
    from resnet_studio.engine.demo import make_demo_dataset

    return str(make_demo_dataset(out_dir, reuse=True, check=task.check))


def _check_weights(task: BackgroundTask, path: str) -> dict[int, str]:
    """{depth: "" or why the file cannot start that depth}; raises for an unreadable or unsafe file."""
    from resnet_studio.engine.models import check_weights_file

    return check_weights_file(path)


# ---------------------------------------------------------------- small pieces


def _field(widget: QWidget, *extra: QWidget) -> tuple[QWidget, InlineMessage]:
    """A form field with its inline message underneath."""
    box = QWidget()
    col = QVBoxLayout(box)
    col.setContentsMargins(0, 0, 0, 0)
    col.setSpacing(3)
    col.addWidget(widget)
    for w in extra:
        col.addWidget(w)
    message = InlineMessage()
    col.addWidget(message)
    return box, message


_FORMS: list[QFormLayout] = []  # filled while a panel is built, then aligned


def _align_form_labels(forms: list[QFormLayout]) -> None:
    """One label column width for every section, so the fields line up down the panel."""
    labels = []
    for form in forms:
        for row in range(form.rowCount()):
            item = form.itemAt(row, QFormLayout.ItemRole.LabelRole)
            if item is not None and item.widget() is not None:
                labels.append(item.widget())
    width = max((label.sizeHint().width() for label in labels), default=0)
    for label in labels:
        label.setMinimumWidth(width)


def _form() -> QFormLayout:
    form = QFormLayout()
    _FORMS.append(form)
    form.setContentsMargins(0, 0, 0, 0)
    form.setHorizontalSpacing(10)
    form.setVerticalSpacing(8)
    form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
    form.setLabelAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
    form.setRowWrapPolicy(QFormLayout.RowWrapPolicy.DontWrapRows)
    return form


class _DepthTable(QTreeWidget):
    """ResNet depths as rows: name, parameters, GFLOPs at the image size, ImageNet top-1."""

    depthChanged = Signal(int)

    def __init__(self) -> None:
        super().__init__()
        self.setColumnCount(4)
        self.setHeaderLabels(["Model", "Params", "GFLOPs", "Top-1"])
        header = self.headerItem()
        header.setToolTip(1, "Number of weights in the network (with the 1,000-class ImageNet head)")
        header.setToolTip(2, "Compute per image at the chosen image size (billions of multiply-adds)")
        header.setToolTip(3, "Top-1 accuracy of torchvision's ImageNet weights for this depth")
        for col in (1, 2, 3):
            header.setTextAlignment(col, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
        self.setRootIsDecorated(False)
        self.setUniformRowHeights(True)
        self.setAllColumnsShowFocus(True)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.setVerticalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        self.header().setStretchLastSection(False)
        self.header().setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        for col in (1, 2, 3):
            self.header().setSectionResizeMode(col, QHeaderView.ResizeMode.ResizeToContents)
        self.header().setSectionsMovable(False)
        self._items: dict[int, QTreeWidgetItem] = {}
        for depth in DEPTH_CHOICES:
            item = QTreeWidgetItem([f"ResNet-{depth}", "…", "…", "…"])
            item.setData(0, Qt.ItemDataRole.UserRole, depth)
            for col in (1, 2, 3):
                item.setTextAlignment(col, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            self.addTopLevelItem(item)
            self._items[depth] = item
        self.currentItemChanged.connect(self._on_current_change)
        self.setCurrentItem(self._items[18])
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)

    def sizeHint(self) -> QSize:  # noqa: N802
        rows = self.sizeHintForRow(0) * len(DEPTH_CHOICES) if self.topLevelItemCount() else 100
        return QSize(300, rows + self.header().sizeHint().height() + 2 * self.frameWidth() + 2)

    def minimumSizeHint(self) -> QSize:  # noqa: N802
        return QSize(240, self.sizeHint().height())

    def depth(self) -> int:
        item = self.currentItem()
        return int(item.data(0, Qt.ItemDataRole.UserRole)) if item else 18

    def set_depth(self, depth: int) -> None:
        if depth in self._items:
            self.setCurrentItem(self._items[depth])

    def set_summary(self, depth: int, summary: dict) -> None:
        item = self._items[depth]
        item.setText(1, fmt.count(summary["params"]))
        item.setText(2, f"{summary['gflops']:.2f}" if summary["gflops"] < 10 else f"{summary['gflops']:.1f}")
        item.setText(3, f"{summary['imagenet_top1']:.1f} %")
        tip = (
            f"ResNet-{depth}: {summary['params']:,} parameters, {summary['gflops']:.2f} GFLOPs per image, "
            f"{summary['imagenet_top1']:.1f} % ImageNet top-1 ({summary.get('weights_name', '')})"
        )
        for col in range(4):
            item.setToolTip(col, tip)

    def row_text(self, depth: int) -> list[str]:
        item = self._items[depth]
        return [item.text(c) for c in range(4)]

    def _on_current_change(self, current, _previous) -> None:
        if current is not None:
            self.depthChanged.emit(int(current.data(0, Qt.ItemDataRole.UserRole)))


class _Collapsible(QWidget):
    """A titled section that folds away (for the advanced options)."""

    def __init__(self, title: str, content: QWidget) -> None:
        super().__init__()
        self._button = QToolButton()
        self._button.setText(title)
        self._button.setCheckable(True)
        self._button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self._button.setArrowType(Qt.ArrowType.RightArrow)
        self._button.setAutoRaise(True)
        self._button.toggled.connect(self._on_toggle)
        self._content = content
        content.setVisible(False)
        col = QVBoxLayout(self)
        col.setContentsMargins(0, 0, 0, 0)
        col.setSpacing(4)
        col.addWidget(self._button)
        col.addWidget(content)

    def set_expanded(self, expanded: bool) -> None:
        self._button.setChecked(expanded)

    def _on_toggle(self, on: bool) -> None:
        self._button.setArrowType(Qt.ArrowType.DownArrow if on else Qt.ArrowType.RightArrow)
        self._content.setVisible(on)


# ---------------------------------------------------------------- the panel


class SetupPanel(QWidget):
    """Everything a run needs, with the reasons a choice cannot work shown next to it."""

    validityChanged = Signal(bool)
    architectureChanged = Signal(int, int, str)  # depth, image_size, trainable
    datasetChanged = Signal(object)  # DatasetScan or None

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._data_dir = ""
        self._generation = 0  # bumped whenever a scan or demo task is started or abandoned
        self._scan = None
        self._scan_error = ""
        self._busy_text = ""  # "Checking the photos…" while a scan or demo creation runs
        self._scan_task: BackgroundTask | None = None
        self._demo_task: BackgroundTask | None = None
        self._info_task: BackgroundTask | None = None
        self._info: dict | None = None
        self._running = False
        self._valid: bool | None = None
        self._messages: dict[str, tuple[str, str]] = {}  # field -> (kind, text)
        self._arch: tuple[int, int, str] | None = None
        # the weights file's contents, checked in the background: (path, size, mtime) -> verdicts
        self._weights_checked: dict[tuple, dict[int, str] | str] = {}
        self._weights_checking: tuple | None = None

        self._tasks = TaskGroup()
        self._summary = DataSummaryWidget(tasks=self._tasks)
        self._summary.chooseFolderRequested.connect(self.choose_dataset)
        self._summary.demoRequested.connect(self.use_demo_dataset)

        self._rescan_timer = QTimer(self)
        self._rescan_timer.setSingleShot(True)
        self._rescan_timer.setInterval(450)
        self._rescan_timer.timeout.connect(self._start_scan)

        self._build()
        self._connect()
        self._on_weights_change()
        self._on_trainable_change()
        self._update_lr_placeholder()
        self._revalidate()

    # ------------------------------------------------------------ layout

    def _build(self) -> None:
        _FORMS.clear()
        self._content = QWidget()
        col = QVBoxLayout(self._content)
        col.setContentsMargins(14, 6, 14, 14)
        col.setSpacing(6)

        # Model
        col.addWidget(SectionHeader("Model"))
        self.depth_table = _DepthTable()
        self.depth_hint = muted_label("GFLOPs per image at 224 px. Top-1: torchvision's ImageNet weights.")
        col.addWidget(self.depth_table)
        col.addWidget(self.depth_hint)
        form = _form()
        self.weights_combo = QComboBox()
        for key, text in WEIGHTS:
            self.weights_combo.addItem(text, key)
        self.weights_combo.setToolTip(
            "Where the network starts. ImageNet weights already know edges, textures and shapes, so far fewer "
            "photos are needed. From scratch needs thousands of photos per class."
        )
        self.weights_path = QLineEdit()
        self.weights_path.setPlaceholderText("model.safetensors, .pt or .pth")
        self.weights_path.setClearButtonEnabled(True)
        self.weights_browse = QPushButton("Browse…")
        self.weights_file_row = QWidget()
        row = QHBoxLayout(self.weights_file_row)
        row.setContentsMargins(0, 0, 0, 0)
        row.setSpacing(6)
        row.addWidget(self.weights_path, 1)
        row.addWidget(self.weights_browse)
        box, self.weights_msg = _field(self.weights_combo, self.weights_file_row)
        form.addRow("Weights", box)
        self.trainable_combo = QComboBox()
        for key, text, _ in TRAINABLE:
            self.trainable_combo.addItem(text, key)
        self.trainable_combo.setToolTip("Which part of the network learns; the rest keeps its pretrained weights.")
        self.trainable_explain = muted_label()
        box, self.trainable_msg = _field(self.trainable_combo, self.trainable_explain)
        form.addRow("Train", box)
        col.addLayout(form)

        # Data
        col.addWidget(SectionHeader("Data"))
        data_box = QWidget()
        data_col = QVBoxLayout(data_box)
        data_col.setContentsMargins(0, 0, 0, 0)
        data_col.setSpacing(5)
        path_row = QHBoxLayout()
        path_row.setSpacing(6)
        self.data_path_label = ElidedLabel("No folder chosen")
        self.data_path_label.setFrameShape(QFrame.Shape.StyledPanel)
        self.data_path_label.setMargin(4)
        self.choose_button = QPushButton("Choose…")
        self.choose_button.setToolTip("A folder with one subfolder of photos per class (or train/ and val/ folders)")
        path_row.addWidget(self.data_path_label, 1)
        path_row.addWidget(self.choose_button)
        data_col.addLayout(path_row)
        self.demo_button = QPushButton("Use demo dataset")
        self.demo_button.setFlat(True)
        self.demo_button.setCursor(Qt.CursorShape.PointingHandCursor)
        self.demo_button.setToolTip("Generate 4 classes of textures (400 small images) in your studio folder and use them")
        link = palette_colors(self)["info"]
        self.demo_button.setStyleSheet(
            f"QPushButton {{ color: {link.name()}; text-align: left; padding: 0 2px; border: none; }}"
            "QPushButton:disabled { color: gray; }"
        )
        demo_row = QHBoxLayout()
        demo_row.addWidget(muted_label("or drop a folder on the window, or", wrap=False))
        demo_row.addWidget(self.demo_button)
        demo_row.addStretch(1)
        data_col.addLayout(demo_row)
        self.scan_progress = QProgressBar()
        self.scan_progress.setTextVisible(False)
        self.scan_progress.setFixedHeight(6)
        self.scan_progress.hide()
        data_col.addWidget(self.scan_progress)
        self.data_status = QLabel()
        self.data_status.setWordWrap(True)
        self.data_status.hide()
        data_col.addWidget(self.data_status)
        self.data_msg = InlineMessage()
        data_col.addWidget(self.data_msg)
        col.addWidget(data_box)
        form = _form()
        self.val_split_spin = QSpinBox()
        self.val_split_spin.setRange(5, 50)
        self.val_split_spin.setValue(20)
        self.val_split_spin.setSuffix(" %")
        self.val_split_spin.setToolTip(
            "Share of each class held out to measure accuracy on photos the model never trained on "
            "(ignored when the folder has its own train/ and val/ folders)."
        )
        box, self.val_split_msg = _field(self.val_split_spin)
        form.addRow("Validation", box)
        col.addLayout(form)

        # Training
        col.addWidget(SectionHeader("Training"))
        form = _form()
        self.epochs_spin = QSpinBox()
        self.epochs_spin.setRange(1, 1000)
        self.epochs_spin.setValue(10)
        self.epochs_spin.setToolTip("Passes over the training photos. 5–20 is typical when fine-tuning.")
        box, self.epochs_msg = _field(self.epochs_spin)
        form.addRow("Epochs", box)
        self.batch_spin = QSpinBox()
        self.batch_spin.setRange(1, 4096)
        self.batch_spin.setValue(32)
        self.batch_spin.setToolTip("Photos per training step. If a step does not fit in the GPU's memory, it runs in smaller pieces "
            "whose gradients add up to the same step, and the log says so.")
        box, self.batch_msg = _field(self.batch_spin)
        form.addRow("Batch size", box)
        self.image_size_spin = QSpinBox()
        self.image_size_spin.setRange(8, 1024)
        self.image_size_spin.setSingleStep(32)
        self.image_size_spin.setValue(224)
        self.image_size_spin.setSuffix(" px")
        self.image_size_spin.setToolTip(
            "Side of the square the photos are resized and cropped to. 224 px matches the ImageNet weights; "
            "smaller is faster (good on a CPU), larger keeps more detail."
        )
        box, self.image_size_msg = _field(self.image_size_spin)
        form.addRow("Image size", box)
        self.lr_edit = QLineEdit()
        self.lr_edit.setClearButtonEnabled(True)
        self.lr_edit.setToolTip(
            "Step size of the optimizer. Leave empty for the studio's default, chosen by optimizer and by "
            "whether the network starts from ImageNet weights."
        )
        box, self.lr_msg = _field(self.lr_edit)
        form.addRow("Learning rate", box)
        self.optimizer_combo = QComboBox()
        for key, text in OPTIMIZERS:
            self.optimizer_combo.addItem(text, key)
        self.optimizer_combo.setToolTip("SGD with momentum is the classic ResNet recipe; AdamW is less sensitive to the learning rate.")
        box, self.optimizer_msg = _field(self.optimizer_combo)
        form.addRow("Optimizer", box)
        self.augment_check = QCheckBox("Random crops and flips")
        self.augment_check.setChecked(True)
        self.augment_check.setToolTip("Show each photo slightly differently every epoch, so the model generalises instead of memorising.")
        self.jitter_check = QCheckBox("Colour jitter")
        self.jitter_check.setToolTip("Also vary brightness, contrast and saturation (helps when lighting varies; not if colour defines the class).")
        aug_box = QWidget()
        aug_col = QVBoxLayout(aug_box)
        aug_col.setContentsMargins(0, 0, 0, 0)
        aug_col.setSpacing(3)
        aug_col.addWidget(self.augment_check)
        aug_col.addWidget(self.jitter_check)
        form.addRow("Augmentation", aug_box)
        col.addLayout(form)

        advanced = QWidget()
        form = _form()
        advanced.setLayout(form)
        self.seed_spin = QSpinBox()
        self.seed_spin.setRange(0, 2**31 - 1)
        self.seed_spin.setToolTip("Fixes the train/validation split and the random choices, so a run can be repeated.")
        form.addRow("Seed", self.seed_spin)
        self.patience_spin = QSpinBox()
        self.patience_spin.setRange(0, 1000)
        self.patience_spin.setSpecialValueText("Off")
        self.patience_spin.setSuffix(" epochs")
        self.patience_spin.setToolTip("Stop early when validation accuracy has not improved for this many epochs.")
        form.addRow("Early stop", self.patience_spin)
        self.advanced = _Collapsible("Advanced", advanced)
        _align_form_labels([f for f in _FORMS if f is not form])
        _FORMS.clear()
        col.addWidget(self.advanced)

        # Device
        col.addWidget(SectionHeader("Device"))
        self.device_combo = QComboBox()
        self.device_combo.addItem("Automatic (best available)", "auto")
        self.device_combo.setToolTip("Where the network trains. A GPU is typically 10–50× faster than the CPU.")
        self.device_note = muted_label()
        box, self.device_msg = _field(self.device_combo, self.device_note)
        col.addWidget(box)
        col.addStretch(1)

        scroll = QScrollArea()
        scroll.setWidgetResizable(True)
        scroll.setFrameShape(QFrame.Shape.NoFrame)
        scroll.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        scroll.setWidget(self._content)
        outer = QVBoxLayout(self)
        outer.setContentsMargins(0, 0, 0, 0)
        outer.addWidget(scroll)
        # never narrower than the fields need: the scroll area has no horizontal bar, so a
        # narrower panel would cut the fields off instead of scrolling them
        self.setMinimumWidth(self._content.minimumSizeHint().width() + scroll.verticalScrollBar().sizeHint().width())

    def _connect(self) -> None:
        self.depth_table.depthChanged.connect(self._on_arch_change)
        self.image_size_spin.valueChanged.connect(self._on_image_size_change)
        self.trainable_combo.currentIndexChanged.connect(self._on_trainable_change)
        self.weights_combo.currentIndexChanged.connect(self._on_weights_change)
        self.weights_path.textChanged.connect(self._revalidate)
        self.weights_browse.clicked.connect(self._browse_weights)
        self.choose_button.clicked.connect(self.choose_dataset)
        self.demo_button.clicked.connect(self.use_demo_dataset)
        self.val_split_spin.valueChanged.connect(self._on_split_change)
        self.seed_spin.valueChanged.connect(self._on_split_change)
        self.batch_spin.valueChanged.connect(self._revalidate)
        self.lr_edit.textChanged.connect(self._revalidate)
        self.optimizer_combo.currentIndexChanged.connect(self._update_lr_placeholder)
        self.augment_check.toggled.connect(self.jitter_check.setEnabled)
        self.device_combo.currentIndexChanged.connect(self._on_device_change)

    def sizeHint(self) -> QSize:  # noqa: N802
        return QSize(380, 720)

    def showEvent(self, event) -> None:  # noqa: N802
        super().showEvent(event)
        if self._info is None and self._info_task is None and not self._tasks.closed:
            # after the window has painted: this import of torch must not delay the first frame
            QTimer.singleShot(150, self.load_engine_info)

    # ------------------------------------------------------------ public API

    def data_summary_widget(self) -> QWidget:
        return self._summary

    def is_valid(self) -> bool:
        return bool(self._valid)

    def validation_message(self) -> str:
        """The first reason the setup cannot start, or "" when it can."""
        for kind, text in self._messages.values():
            if kind == "error":
                return text
        return ""

    def dataset(self):
        """The current DatasetScan, or None."""
        return self._scan

    def data_dir(self) -> str:
        return self._data_dir

    def is_busy(self) -> bool:
        """True while the dataset is being scanned or the demo data generated."""
        return bool(self._busy_text)

    def set_dataset(self, path: str) -> None:
        """Use this folder as the dataset and scan it in the background."""
        if self._running:
            return
        self._cancel_demo()
        self._data_dir = str(Path(path).expanduser()) if path else ""
        self.data_path_label.setText(self._data_dir or "No folder chosen")
        self._rescan_timer.stop()
        self._start_scan()

    def choose_dataset(self) -> None:
        start = self._data_dir or str(Path.home())
        folder = QFileDialog.getExistingDirectory(self, "Choose a folder of photos (one subfolder per class)", start)
        if folder:
            self.set_dataset(folder)

    def use_demo_dataset(self) -> None:
        """Generate the demo data in the studio folder (once, in the background) and select it."""
        if self._running:
            return
        from resnet_studio.engine.runs import default_demo_dir

        out = default_demo_dir()
        self._cancel_scan()
        self._cancel_demo()
        self._data_dir = str(out)
        self.data_path_label.setText(self._data_dir)
        self._set_scan_state(None, "")
        self._set_busy("Creating the demo dataset…")
        gen = self._generation
        self._demo_task = self._tasks.start(
            _make_demo,
            str(out),
            on_result=lambda path: self._on_demo_ready(gen, path),
            on_error=lambda message: self._on_demo_failed(gen, message),
            receiver=self,
            name="demo-data",
        )

    def set_running(self, running: bool) -> None:
        """Lock the fields while a run trains (the run uses the values it started with)."""
        self._running = bool(running)
        self._content.setEnabled(not running)
        self._summary.set_enabled_actions(not running)

    def load_engine_info(self) -> None:
        """Start filling in what needs torch (called on first show; safe to call again)."""
        if self._info is not None or self._info_task is not None or self._tasks.closed:
            return
        self._info_task = self._tasks.start(
            _engine_info, on_result=self._on_info, on_error=self._on_info_failed, receiver=self, name="engine-info"
        )

    def shutdown(self, timeout_ms: int = 10_000) -> bool:
        """Cancel and join this panel's background work; nothing new starts afterwards.

        Call before the window closes. True when every thread has ended.
        """
        self._rescan_timer.stop()
        self._generation += 1
        return self._tasks.shutdown(timeout_ms)

    def train_config(self):
        """The engine TrainConfig for the current fields."""
        from resnet_studio.engine.config import TrainConfig
        from resnet_studio.engine.runs import default_runs_dir

        lr = self._parse_lr()
        return TrainConfig(
            data_dir=self._data_dir,
            depth=self.depth_table.depth(),
            weights=self._weights_value(),
            epochs=self.epochs_spin.value(),
            batch_size=self.batch_spin.value(),
            image_size=self.image_size_spin.value(),
            lr=lr if isinstance(lr, float) else None,
            optimizer=self.optimizer_combo.currentData(),
            trainable=self.trainable_combo.currentData(),
            val_split=self.val_split_spin.value() / 100.0,
            seed=self.seed_spin.value(),
            device=self.device_combo.currentData() or "auto",
            out_dir=str(default_runs_dir()),
            patience=self.patience_spin.value() or None,
            augment=self.augment_check.isChecked(),
            color_jitter=self.jitter_check.isChecked() and self.augment_check.isChecked(),
        )

    def save_settings(self, settings: QSettings) -> None:
        settings.beginGroup(SETTINGS_GROUP)
        try:
            settings.setValue("depth", self.depth_table.depth())
            settings.setValue("weights", self.weights_combo.currentData())
            settings.setValue("weights_file", self.weights_path.text())
            settings.setValue("trainable", self.trainable_combo.currentData())
            settings.setValue("data_dir", self._data_dir)
            settings.setValue("val_split", self.val_split_spin.value())
            settings.setValue("epochs", self.epochs_spin.value())
            settings.setValue("batch_size", self.batch_spin.value())
            settings.setValue("image_size", self.image_size_spin.value())
            settings.setValue("lr", self.lr_edit.text().strip())
            settings.setValue("optimizer", self.optimizer_combo.currentData())
            settings.setValue("augment", self.augment_check.isChecked())
            settings.setValue("color_jitter", self.jitter_check.isChecked())
            settings.setValue("seed", self.seed_spin.value())
            settings.setValue("patience", self.patience_spin.value())
            settings.setValue("device", self.device_combo.currentData())
        finally:
            settings.endGroup()

    def restore_settings(self, settings: QSettings) -> None:
        settings.beginGroup(SETTINGS_GROUP)
        try:
            def get(key: str, default: Any, kind: type) -> Any:
                if not settings.contains(key):
                    return default
                try:
                    value = settings.value(key, default, type=kind)
                except Exception:
                    return default
                return default if value is None else value

            self.depth_table.set_depth(get("depth", 18, int))
            _select(self.weights_combo, get("weights", "imagenet", str))
            self.weights_path.setText(get("weights_file", "", str))
            _select(self.trainable_combo, get("trainable", "all", str))
            for spin, key in (
                (self.val_split_spin, "val_split"),
                (self.epochs_spin, "epochs"),
                (self.batch_spin, "batch_size"),
                (self.image_size_spin, "image_size"),
                (self.seed_spin, "seed"),
                (self.patience_spin, "patience"),
            ):
                spin.setValue(get(key, spin.value(), int))
            self.lr_edit.setText(get("lr", "", str))
            _select(self.optimizer_combo, get("optimizer", "sgd", str))
            self.augment_check.setChecked(get("augment", True, bool))
            self.jitter_check.setChecked(get("color_jitter", False, bool))
            self._wanted_device = get("device", "auto", str)
            _select(self.device_combo, self._wanted_device)
            data_dir = get("data_dir", "", str)
        finally:
            settings.endGroup()
        self._rescan_timer.stop()
        if data_dir and data_dir != self._data_dir:
            self.set_dataset(data_dir)
        self._revalidate()

    # ------------------------------------------------------------ dataset scanning

    def _start_scan(self) -> None:
        self._cancel_scan()
        self._set_scan_state(None, "")
        path = self._data_dir
        if not path:
            self._revalidate()
            return
        p = Path(path)
        if not p.exists():
            self._set_scan_state(None, f"Folder not found: {path}")
            return
        if not p.is_dir():
            self._set_scan_state(None, f"Not a folder: {path} (choose the folder that holds the class subfolders)")
            return
        self._set_busy("Checking the photos…")
        self._generation += 1
        gen = self._generation
        self._scan_task = self._tasks.start(
            _scan,
            path,
            self.val_split_spin.value() / 100.0,
            self.seed_spin.value(),
            on_result=lambda scan: self._on_scan_done(gen, scan),
            on_error=lambda message: self._on_scan_failed(gen, message),
            on_progress=lambda value: self._on_scan_progress(gen, value),
            receiver=self,
            name="scan",
        )

    def _cancel_scan(self) -> None:
        self._generation += 1
        if self._scan_task is not None:
            self._scan_task.cancel()
            self._scan_task = None

    def _cancel_demo(self) -> None:
        self._generation += 1
        if self._demo_task is not None:
            self._demo_task.cancel()
            self._demo_task = None

    def _set_busy(self, text: str) -> None:
        self._busy_text = text
        self.scan_progress.setRange(0, 0)
        self.scan_progress.show()
        self.data_status.setText(text)
        self.data_status.show()
        self._summary.show_busy(text)
        self._revalidate()

    def _on_scan_progress(self, gen: int, value) -> None:
        if gen != self._generation:
            return
        done, total = value
        if total:
            self.scan_progress.setRange(0, total)
            self.scan_progress.setValue(done)
            self.data_status.setText(f"Checking the photos… {done:,} of {total:,}")
        self._summary.show_busy("Checking the photos…", done, total)

    def _on_scan_done(self, gen: int, scan) -> None:
        if gen != self._generation:
            return  # a late result for a folder no longer chosen
        self._scan_task = None
        self._set_scan_state(scan, "")

    def _on_scan_failed(self, gen: int, message: str) -> None:
        if gen != self._generation:
            return
        self._scan_task = None
        self._set_scan_state(None, _sentence(message))

    def _on_demo_ready(self, gen: int, path: str) -> None:
        if gen != self._generation:
            return
        self._demo_task = None
        self._data_dir = path
        self.data_path_label.setText(path)
        self._start_scan()

    def _on_demo_failed(self, gen: int, message: str) -> None:
        if gen != self._generation:
            return
        self._demo_task = None
        self._set_scan_state(None, f"Could not create the demo dataset: {message}")

    def _set_scan_state(self, scan, error: str) -> None:
        previous = self._scan
        self._scan = scan
        self._scan_error = error
        self._busy_text = ""
        self.scan_progress.hide()
        if scan is not None:
            self.data_status.setText(
                f"{len(scan.classes)} classes · {scan.num_train:,} training · {scan.num_val:,} validation"
                + (f" · {len(scan.skipped):,} skipped" if scan.skipped else "")
            )
            self.data_status.show()
            self._summary.show_scan(scan)
        else:
            self.data_status.hide()
            self._summary.show_empty(error)
        split_given = scan is not None and scan.layout == "split"
        self.val_split_spin.setEnabled(not split_given)
        if split_given:
            self.val_split_msg.show_hint("The folder's own train/ and val/ folders are used.")
        else:
            self.val_split_msg.clear_message()
        self._revalidate()
        if scan is not None or previous is not None:
            self.datasetChanged.emit(scan)

    def _on_split_change(self) -> None:
        if self._data_dir and not (self._scan is not None and self._scan.layout == "split"):
            if self._scan is not None or self._scan_task is not None:
                self._rescan_timer.start()
        self._revalidate()

    # ------------------------------------------------------------ engine info

    def _on_info(self, info: dict) -> None:
        self._info_task = None
        self._info = info
        self._update_depth_numbers()
        self._update_lr_placeholder()
        current = getattr(self, "_wanted_device", None) or self.device_combo.currentData()
        self.device_combo.blockSignals(True)
        while self.device_combo.count() > 1:
            self.device_combo.removeItem(1)
        for dev_id, label, note in info["devices"]:
            text = label if dev_id != "cpu" else f"{label} — slower"
            self.device_combo.addItem(text, dev_id)
            self.device_combo.setItemData(self.device_combo.count() - 1, note or label, Qt.ItemDataRole.ToolTipRole)
        _select(self.device_combo, current or "auto")
        self.device_combo.blockSignals(False)
        self._on_device_change()

    def _on_info_failed(self, message: str) -> None:
        self._info_task = None
        self.depth_hint.setText(f"Model details are unavailable: {message}")

    def _update_depth_numbers(self) -> None:
        if self._info is None:
            return
        size = self.image_size_spin.value()
        models = sys.modules.get("resnet_studio.engine.models")
        for depth in DEPTH_CHOICES:
            if models is not None:
                summary = models.depth_summary(depth, max(1, size))
            else:  # pragma: no cover - the info task imported it
                summary = self._info["summaries"][depth]
            self.depth_table.set_summary(depth, summary)
        self.depth_hint.setText(f"GFLOPs per image at {size} px. Top-1: torchvision's ImageNet weights.")

    def _on_device_change(self) -> None:
        dev = self.device_combo.currentData()
        devices = (self._info or {}).get("devices") or []
        if dev == "auto":
            best = devices[0] if devices else None
            if best is None:
                self.device_note.setText("The fastest device found: a GPU when there is one.")
            elif best[0] == "cpu":
                self.device_note.setText(
                    "No GPU found: training runs on the CPU, which is much slower. "
                    "ResNet-18 with 128 px images keeps it quick."
                )
            else:
                self.device_note.setText(f"Uses {best[1]}.")
        elif dev == "cpu":
            self.device_note.setText("The CPU works everywhere but is much slower than a GPU: prefer ResNet-18 and small images.")
        else:
            note = next((n for d, _, n in devices if d == dev), "")
            self.device_note.setText(note or "Trains on this GPU.")
        self._wanted_device = dev

    # ------------------------------------------------------------ field changes

    def _on_image_size_change(self) -> None:
        self._update_depth_numbers()
        self._on_arch_change()

    def _on_trainable_change(self) -> None:
        key = self.trainable_combo.currentData()
        self.trainable_explain.setText(next(text for k, _, text in TRAINABLE if k == key))
        self._revalidate()
        self._on_arch_change()

    def _on_weights_change(self) -> None:
        self.weights_file_row.setVisible(self.weights_combo.currentData() == "file")
        self._update_lr_placeholder()
        self._revalidate()

    def _on_arch_change(self, *_args) -> None:
        arch = (self.depth_table.depth(), self.image_size_spin.value(), self.trainable_combo.currentData())
        self._revalidate()
        if arch != self._arch:
            self._arch = arch
            self.architectureChanged.emit(*arch)

    def _browse_weights(self) -> None:
        start = self.weights_path.text() or str(Path.home())
        path, _ = QFileDialog.getOpenFileName(self, "Choose a weights file", start, WEIGHTS_FILE_FILTER)
        if path:
            self.weights_path.setText(path)

    def _update_lr_placeholder(self) -> None:
        lrs = (self._info or {}).get("lrs")
        pretrained = self.weights_combo.currentData() != "none"
        opt = self.optimizer_combo.currentData()
        if lrs:
            self.lr_edit.setPlaceholderText(f"auto ({_format_lr(lrs[(opt, pretrained)])})")
        else:
            self.lr_edit.setPlaceholderText("auto")

    def _weights_value(self) -> str:
        key = self.weights_combo.currentData()
        if key == "file":
            return self.weights_path.text().strip()
        return key

    def weights_file_problem(self) -> str:
        """Why the chosen weights file cannot start the chosen depth ("" when it can, or while
        it is still being checked in the background)."""
        kind, text = self._messages.get("weights", ("", ""))
        return text if kind == "error" else ""

    def is_checking_weights(self) -> bool:
        return self._weights_checking is not None

    def _weights_problem(self, path: str) -> str:
        """The checked verdict for `path` at the current depth; starts a check if none is known.
        Until it is known the choice counts as valid: the run itself refuses a bad file too."""
        try:
            stat = os.stat(path)
        except OSError:
            return ""
        key = (path, stat.st_size, stat.st_mtime_ns)
        verdict = self._weights_checked.get(key)
        if verdict is None:
            if self._weights_checking != key and not self._tasks.closed:
                self._weights_checking = key
                self._tasks.start(
                    _check_weights,
                    path,
                    on_result=lambda v: self._on_weights_checked(key, v),
                    on_error=lambda message: self._on_weights_checked(key, message),
                    receiver=self,
                    name="check-weights",
                )
            return ""
        if isinstance(verdict, str):  # unreadable or refused; the message starts with the file's name
            return verdict
        problem = verdict.get(self.depth_table.depth(), "")
        return _sentence(problem) if problem else ""

    def _on_weights_checked(self, key: tuple, verdict) -> None:
        self._weights_checked[key] = verdict
        if self._weights_checking == key:
            self._weights_checking = None
        self._revalidate()

    def _parse_lr(self) -> float | str | None:
        text = self.lr_edit.text().strip().replace(",", ".")
        if not text or text.lower() == "auto":
            return None
        try:
            value = float(text)
        except ValueError:
            return text
        return value if 0 < value < 10 else text

    # ------------------------------------------------------------ validation

    def _revalidate(self, *_args) -> None:
        messages: dict[str, tuple[str, str]] = {}
        # data
        if self._busy_text:
            messages["data"] = ("busy", self._busy_text)
        elif not self._data_dir:
            messages["data"] = ("error", "Choose a folder of photos (one subfolder per class), or use the demo dataset.")
        elif self._scan_error:
            messages["data"] = ("error", self._scan_error)
        elif self._scan is None:
            messages["data"] = ("busy", "The folder has not been checked yet.")
        elif balance_warning(self._scan):
            messages["data"] = ("warning", balance_warning(self._scan) + " See the Data tab.")
        # weights
        if self.weights_combo.currentData() == "file":
            path = self.weights_path.text().strip()
            if not path:
                messages["weights"] = ("error", "Choose a weights file (.safetensors, .pt or .pth).")
            elif Path(path).expanduser().is_dir():
                messages["weights"] = ("error", f"{path} is a folder: choose a weights file (.safetensors, .pt or .pth).")
            elif not Path(path).expanduser().is_file():
                messages["weights"] = ("error", f"Weights file not found: {path}")
            elif Path(path).suffix.lower() not in WEIGHTS_SUFFIXES:
                messages["weights"] = ("error", "Use a .safetensors, .pt or .pth file.")
            else:
                problem = self._weights_problem(str(Path(path).expanduser()))
                if problem:
                    messages["weights"] = ("error", problem)
        # trainable
        if self.weights_combo.currentData() == "none" and self.trainable_combo.currentData() != "all":
            messages["trainable"] = (
                "warning",
                "From scratch, the frozen layers stay random: train the whole network instead.",
            )
        # batch size
        batch = self.batch_spin.value()
        if self._scan is not None and batch > self._scan.num_train:
            messages["batch"] = (
                "error",
                f"Batch size {batch} is larger than the training set ({self._scan.num_train} photos): "
                f"use {max(1, self._scan.num_train)} or less.",
            )
        # image size
        size = self.image_size_spin.value()
        if size < MIN_IMAGE_SIZE:
            messages["image_size"] = ("error", f"Image size must be at least {MIN_IMAGE_SIZE} px: a ResNet shrinks its input 32×.")
        elif size > 512 and self.depth_table.depth() >= 101:
            messages["image_size"] = ("warning", "Large images with a deep ResNet need a lot of GPU memory; lower the batch size if it runs out.")
        # learning rate
        lr = self._parse_lr()
        if isinstance(lr, str):
            messages["lr"] = ("error", "Enter a positive number below 10, such as 0.01, or leave it empty for auto.")
        elif isinstance(lr, float) and self.optimizer_combo.currentData() == "adamw" and lr > 0.01:
            messages["lr"] = ("warning", f"{_format_lr(lr)} is very high for AdamW; 0.0001–0.001 is usual.")

        self._messages = messages
        show = {
            "weights": self.weights_msg,
            "trainable": self.trainable_msg,
            "batch": self.batch_msg,
            "image_size": self.image_size_msg,
            "lr": self.lr_msg,
        }
        for key, label in show.items():
            kind, text = messages.get(key, ("", ""))
            if kind == "error":
                label.show_error(text)
            elif kind == "warning":
                label.show_warning(text)
            else:
                label.clear_message()
        kind, text = messages.get("data", ("", ""))
        if kind == "error" and self._data_dir:
            self.data_msg.show_error(text)
        elif kind == "error":
            self.data_msg.show_hint(text)  # nothing chosen yet: a hint, not an alarm
        elif kind == "warning":
            self.data_msg.show_warning(text)
        else:
            self.data_msg.clear_message()

        valid = not any(kind in ("error", "busy") for kind, _ in messages.values())
        if kind == "busy":
            self._messages["data"] = ("error", text)  # validation_message() reports it while waiting
        if valid != self._valid:
            self._valid = valid
            self.validityChanged.emit(valid)


def _select(combo: QComboBox, data: Any) -> None:
    index = combo.findData(data)
    if index >= 0:
        combo.setCurrentIndex(index)


def _format_lr(lr: float) -> str:
    return f"{lr:g}"


def _sentence(message: str) -> str:
    message = message.strip()
    return message[:1].upper() + message[1:] if message else "The folder cannot be used."
