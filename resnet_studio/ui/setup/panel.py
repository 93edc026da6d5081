"""The setup side panel: model, data, training and device settings, with the reason a choice
cannot work shown under it.

The fields come from one table (fields.py). Whatever a field holds, the engine decides
whether it can work (`TrainConfig.problems`, the same check the command line and the
trainer make); the panel shows each problem under the field it names and publishes the
config, and the first reason a run cannot start, to the studio state.

The panel imports no torch at construction. The numbers that need torchvision
(parameter counts, GMACs (multiply-adds), ImageNet top-1, default learning rates, the device list)
arrive from a background task shortly after the panel is first shown.
"""

from __future__ import annotations

import dataclasses

from PySide6.QtCore import QSettings, QSize, Qt, QTimer
from PySide6.QtWidgets import (
    QFormLayout,
    QFrame,
    QHBoxLayout,
    QLabel,
    QProgressBar,
    QPushButton,
    QScrollArea,
    QToolButton,
    QVBoxLayout,
    QWidget,
)

from resnet_studio.engine.config import (
    DEMO_PER_CLASS,
    DEMO_SCRATCH_IMAGE_SIZE,
    DEPTHS,
    OPTIMIZERS,
    Problem,
    TrainConfig,
    default_lr,
)
from resnet_studio.engine.recommend import Suggestion, suggestion

from ..format import sentence
from ..scanner import CHECKING, DatasetScanner
from ..state import StudioState
from ..tasks import TaskGroup
from ..widgets import Banner, ElidedLabel, InlineMessage, SectionHeader, muted_label, palette_colors
from .fields import DeviceField, Field, LrField, make_fields
from .weights import WeightsField

__all__ = ["SetupPanel", "SETTINGS_GROUP"]

SETTINGS_GROUP = "setup"
SECTIONS = ("Model", "Data", "Training", "Advanced", "Device")


def _engine_info(task) -> dict:
    """What needs torch: the devices (and torchvision loaded, for the depths' numbers)."""
    from resnet_studio.engine import devices, models  # models: loaded here, off the UI thread, for the depth numbers

    task.check()
    try:
        found = [(d.id, d.label, d.note) for d in devices.available_devices()]
    except Exception:  # a broken driver must not cost the panel: the CPU always works
        found = [("cpu", "CPU", "much slower than a GPU")]
    # the numbers counted once (the CIFAR ResNets', the small stem's): cached here, off the UI thread
    for depth in (*models.DEPTHS, *models.CIFAR_DEPTHS):
        task.check()
        models.depth_summary(depth, 224, "small")
    return {"devices": found, "depths": list(models.DEPTHS)}


def _form() -> QFormLayout:
    form = QFormLayout()
    form.setContentsMargins(0, 0, 0, 0)
    form.setHorizontalSpacing(10)
    form.setVerticalSpacing(8)
    form.setFieldGrowthPolicy(QFormLayout.FieldGrowthPolicy.AllNonFixedFieldsGrow)
    form.setLabelAlignment(Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
    form.setRowWrapPolicy(QFormLayout.RowWrapPolicy.DontWrapRows)
    return form


class Collapsible(QWidget):
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

    def _on_toggle(self, on: bool) -> None:
        self._button.setArrowType(Qt.ArrowType.DownArrow if on else Qt.ArrowType.RightArrow)
        self._content.setVisible(on)


class SetupPanel(QWidget):
    """Everything a run needs, with the reasons a choice cannot work shown next to it."""

    def __init__(self, state: StudioState, scanner: DatasetScanner, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.state = state
        self.scanner = scanner
        self.fields: dict[str, Field] = {}
        self._sections: dict[str, str] = {}  # field name -> section
        self._tasks = TaskGroup()
        self._info: dict | None = None
        self._numbers_size: tuple[int, str] | None = None  # the image size and stem the depth table's numbers are for
        self.suggestion: Suggestion | None = None
        self._info_job = self._tasks.slot("engine-info")
        self._problems: list[Problem] = []
        self._notes: dict[str, tuple[object, str]] = {}  # field -> (the value it is about, a hint shown under it)
        self._build()
        self.weights.tasks = self._tasks
        for f in self.fields.values():
            f.changed.connect(self._update)
        scanner.folderChanged.connect(self._on_folder)
        scanner.busyChanged.connect(lambda _text: self._update())
        scanner.errorChanged.connect(lambda _text: self._update())
        scanner.progress.connect(self._on_scan_progress)
        scanner.demoReady.connect(self._on_demo_ready)
        state.datasetChanged.connect(lambda _scan: self._update())
        self._update()

    # ------------------------------------------------------------ layout

    @property
    def weights(self) -> WeightsField:
        return self.fields["weights"]

    def _build(self) -> None:
        self._content = QWidget()
        col = QVBoxLayout(self._content)
        col.setContentsMargins(14, 6, 14, 14)
        col.setSpacing(6)
        table = make_fields()
        forms: dict[str, QFormLayout] = {}
        for section in SECTIONS:
            if section == "Advanced":
                advanced = QWidget()
                forms[section] = _form()
                advanced.setLayout(forms[section])
                self.advanced = Collapsible("Advanced", advanced)
                col.addWidget(self.advanced)
                continue
            col.addWidget(SectionHeader(section))
            if section == "Data":
                col.addWidget(self._build_data())
            forms[section] = _form()
            col.addLayout(forms[section])
        last_row: dict[str, QVBoxLayout] = {}
        for section, field in table:
            self.fields[field.name] = field
            self._sections[field.name] = section
            form = forms[section]
            if field.label:
                form.addRow(field.label, field.box)
                last_row[section] = field.box.layout()
            elif section in last_row:  # no label of its own: it joins the row above (colour jitter)
                last_row[section].insertWidget(last_row[section].count() - 1, field.box)
            else:
                form.addRow(field.box)
        col.addStretch(1)
        self._align_labels(list(forms.values()))

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

    def _build_data(self) -> QWidget:
        box = QWidget()
        col = QVBoxLayout(box)
        col.setContentsMargins(0, 0, 0, 0)
        col.setSpacing(5)
        path_row = QHBoxLayout()
        path_row.setSpacing(6)
        self.data_path_label = ElidedLabel("No folder chosen")
        self.data_path_label.setFrameShape(QFrame.Shape.StyledPanel)
        self.data_path_label.setMargin(4)
        self.choose_button = QPushButton("Choose…")
        self.choose_button.setToolTip("A folder with one subfolder of photos per class (or train/ and val/ folders)")
        self.choose_button.clicked.connect(self.choose_dataset)
        path_row.addWidget(self.data_path_label, 1)
        path_row.addWidget(self.choose_button)
        col.addLayout(path_row)
        self.demo_button = QPushButton("Use demo dataset")
        self.demo_button.setFlat(True)
        self.demo_button.setCursor(Qt.CursorShape.PointingHandCursor)
        self.demo_button.setToolTip(
            f"Generate classes of textures ({DEMO_PER_CLASS} small images each) in your studio folder and use them"
        )
        link = palette_colors(self)["info"]
        self.demo_button.setStyleSheet(
            f"QPushButton {{ color: {link.name()}; text-align: left; padding: 0 2px; border: none; }}"
            "QPushButton:disabled { color: gray; }"
        )
        self.demo_button.clicked.connect(lambda: self.scanner.make_demo())
        demo_row = QHBoxLayout()
        demo_row.addWidget(muted_label("or drop a folder on the window, or", wrap=False))
        demo_row.addWidget(self.demo_button)
        demo_row.addStretch(1)
        col.addLayout(demo_row)
        self.scan_progress = QProgressBar()
        self.scan_progress.setTextVisible(False)
        self.scan_progress.setFixedHeight(6)
        self.scan_progress.hide()
        col.addWidget(self.scan_progress)
        self.data_status = QLabel()
        self.data_status.setWordWrap(True)
        self.data_status.hide()
        col.addWidget(self.data_status)
        self.data_msg = InlineMessage()
        col.addWidget(self.data_msg)
        self.suggest_banner = Banner()  # small photos: the engine's suggestion (recommend.py), with Apply
        col.addWidget(self.suggest_banner)
        return box

    @staticmethod
    def _align_labels(forms: list[QFormLayout]) -> None:
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

    def sizeHint(self) -> QSize:
        return QSize(380, 720)

    def showEvent(self, event) -> None:
        super().showEvent(event)
        if self._info is None and not self._info_job.busy and not self._tasks.closed:
            # after the window has painted: this import of torch must not delay the first frame
            QTimer.singleShot(150, self.load_engine_info)

    # ------------------------------------------------------------ public API

    def field(self, name: str) -> Field:
        return self.fields[name]

    def message(self, name: str) -> InlineMessage:
        """The message under a field ("data" for the data folder's)."""
        return self.data_msg if name in ("data", "data_dir") else self.fields[name].message

    def is_valid(self) -> bool:
        return not self.state.blocker

    def validation_message(self) -> str:
        """The first reason the setup cannot start, or "" when it can."""
        return self.state.blocker

    def problems(self) -> list[Problem]:
        """Every problem shown now: the engine's, the data folder's and the fields' own."""
        return list(self._problems)

    def choose_dataset(self) -> None:
        self.scanner.choose_folder(self)

    def train_from_scratch(self) -> None:
        """Start from random weights (nothing to download); the demo dataset also at its small size."""
        self.weights.set_value("none")
        if self._is_demo_folder():
            self.fields["image_size"].set_value(DEMO_SCRATCH_IMAGE_SIZE)

    def choose_weights_file(self) -> bool:
        """Ask for a weights file (a dialog) and start from it; False when none was chosen."""
        chosen = self.weights.browse_file()
        if chosen:
            self.weights.set_value(chosen)
        return bool(chosen)

    def note(self, name: str) -> str:
        """The hint shown under a field while it has no problem ("" for none)."""
        value, text = self._notes.get(name, (None, ""))
        return text if text and self.fields[name].value() == value else ""

    def set_running(self, running: bool) -> None:
        """Lock the fields while a run trains (the run uses the values it started with)."""
        self._content.setEnabled(not running)

    def load_engine_info(self) -> None:
        """Start filling in what needs torch (called on first show; safe to call again)."""
        if self._info is None and not self._info_job.busy:
            self._info_job.start(_engine_info, receiver=self, on_result=self._on_info, on_error=self._on_info_failed)

    def is_checking_weights(self) -> bool:
        return self.weights.is_checking()

    def weights_file_problem(self) -> str:
        """Why the chosen weights file cannot start the chosen depth ("" when it can, or while
        it is still being checked in the background)."""
        return next((p.message for p in self._problems if p.field == "weights" and p.level == "error"), "")

    def train_config(self) -> TrainConfig:
        """The engine TrainConfig for the current fields."""
        from resnet_studio.engine.runs import default_runs_dir

        values = {name: f.value() for name, f in self.fields.items()}
        return TrainConfig(data_dir=self.scanner.folder or None, out_dir=str(default_runs_dir()), **values)

    def shutdown(self, timeout_ms: int = 10_000) -> bool:
        """Cancel and join this panel's background work; nothing new starts afterwards."""
        return self._tasks.shutdown(timeout_ms)

    def save_settings(self, settings: QSettings) -> None:
        settings.beginGroup(SETTINGS_GROUP)
        try:
            for f in self.fields.values():
                f.save(settings)
            settings.setValue("data_dir", self.scanner.folder)
        finally:
            settings.endGroup()

    def restore_settings(self, settings: QSettings) -> None:
        settings.beginGroup(SETTINGS_GROUP)
        try:
            for f in self.fields.values():
                f.restore(settings)
            data_dir = str(settings.value("data_dir", "") or "")
        finally:
            settings.endGroup()
        if data_dir and data_dir != self.scanner.folder:
            self.scanner.set_folder(data_dir)
        self._update()

    # ------------------------------------------------------------ what the panel shows

    def _update(self) -> None:
        """Check the settings as the engine does, show each problem under its field, and
        publish the config and the first reason a run cannot start."""
        config = self.train_config()
        scan = self.state.scan
        problems = [p for p in config.problems(num_train=scan.num_train if scan is not None else None)
                    if p.field != "data_dir"]
        for name, f in self.fields.items():
            own = f.problem()
            if own:
                problems = [p for p in problems if p.field != name] + [Problem(name, own)]
        content = self.weights.content_problem(config.depth)
        if content and not any(p.field == "weights" and p.level == "error" for p in problems):
            problems.append(Problem("weights", content))
        data = self._data_problem(scan)
        self._problems = ([data] if data else []) + problems
        level, why = config.resolved_augmentation(scan.num_train if scan is not None else None)
        self._notes["augmentation"] = ("auto", f"Automatic: {level} ({why}).")
        self._show_problems()
        self._show_data_state(scan)
        self._update_lr_placeholder(config)
        stem = dataclasses.replace(config, depth=DEPTHS[0]).resolved_stem()  # the ImageNet family's stem
        if self._info is not None and (config.image_size, stem) != self._numbers_size:
            self._show_depth_numbers(config.image_size, stem)
        self._show_suggestion(scan, config)
        self.scanner.set_split(config.val_split, config.seed)
        blocking = [p for p in self._problems if p.level in ("error", "busy")]
        self.state.set_config(config, sentence(blocking[0].message) if blocking else "")

    def _data_problem(self, scan) -> Problem | None:
        """The data folder's state as a problem: busy, missing, unusable, or a warning."""
        s = self.scanner
        if s.busy:
            return Problem("data", s.busy, "busy")
        if not s.folder:  # the engine's words for a config without a data folder
            missing = next(p for p in TrainConfig().problems(check_files=False) if p.field == "data_dir")
            return Problem("data", f"{missing.message}, or use the demo dataset")
        if s.error:
            return Problem("data", s.error)
        if scan is None:
            return Problem("data", "The folder has not been checked yet.", "busy")
        if scan.problem:
            return Problem("data", f"{sentence(scan.problem)}. See the Data tab.")
        warnings = scan.warnings()
        return Problem("data", f"{' '.join(warnings)} See the Data tab.", "warning") if warnings else None

    def _show_problems(self) -> None:
        by_field = {}
        for p in self._problems:
            by_field.setdefault(p.field, p)  # the first one of each field
        for name in [*self.fields, "data"]:
            label = self.message(name)
            p = by_field.get(name)
            if p is None and name in self.fields and self.note(name):
                label.show_hint(self.note(name))
            elif p is None:
                label.clear_message()
            elif p.level == "warning":
                label.show_warning(sentence(p.message))
            elif name == "data" and (p.level == "busy" or not self.scanner.folder):
                label.show_hint(sentence(p.message))  # nothing chosen yet, or checking: a hint, not an alarm
            else:
                label.show_error(sentence(p.message))
        split_given = self.state.scan is not None and self.state.scan.layout == "split"
        self.fields["val_split"].editor.setEnabled(not split_given)
        if split_given and "val_split" not in by_field:
            self.fields["val_split"].message.show_hint("The folder's own train/ and val/ folders are used.")

    def _is_demo_folder(self) -> bool:
        from resnet_studio.engine.runs import default_demo_dir

        return bool(self.scanner.folder) and self.scanner.folder == str(default_demo_dir())

    def _on_demo_ready(self, cached: dict) -> None:
        """The demo dataset: without the chosen depth's ImageNet weights at hand (offline, behind a
        proxy), it starts from scratch at a size fit for its small images, and the panel says so."""
        depth = self.fields["depth"].value()
        if self.weights.kind() != "imagenet" or cached.get(depth, True):
            return
        self.weights.set_value("none")
        self.fields["image_size"].set_value(DEMO_SCRATCH_IMAGE_SIZE)
        self._notes["weights"] = ("none", (
            f"The ImageNet weights for ResNet-{depth} are not on this computer, so the demo trains from scratch "
            f"at {DEMO_SCRATCH_IMAGE_SIZE} px: nothing to download, and the textures are learnt in minutes."
        ))
        self._update()

    def _on_folder(self, folder: str) -> None:
        self.data_path_label.setText(folder or "No folder chosen")
        self._update()

    def _on_scan_progress(self, done: int, total: int) -> None:
        if total:
            self.scan_progress.setRange(0, total)
            self.scan_progress.setValue(done)
            self.data_status.setText(f"{self.scanner.busy or CHECKING} {done:,} of {total:,}")

    def _show_data_state(self, scan) -> None:
        """The progress bar while the folder is checked; one line on what it holds once it is."""
        busy = self.scanner.busy
        self.scan_progress.setVisible(bool(busy))
        if busy:
            self.scan_progress.setRange(0, 0)
            self.data_status.setText(busy)
        elif scan is not None:
            self.data_status.setText(scan.summary())
        self.data_status.setVisible(bool(busy) or scan is not None)

    # ------------------------------------------------------------ what needs torch

    def _on_info(self, info: dict) -> None:
        self._info = info
        device: DeviceField = self.fields["device"]
        device.set_devices(info["devices"])
        self._update()

    def _on_info_failed(self, message: str) -> None:
        self.fields["depth"].hint.setText(f"Model details are unavailable: {message}")

    def _show_depth_numbers(self, image_size: int, stem: str = "imagenet") -> None:
        from resnet_studio.engine import models  # loaded by the info task by now

        self._numbers_size = (image_size, stem)
        summaries = {d: models.depth_summary(d, image_size, stem) for d in (*models.DEPTHS, *models.CIFAR_DEPTHS)}
        self.fields["depth"].show_numbers(summaries, image_size, stem)

    def _show_suggestion(self, scan, config: TrainConfig) -> None:
        """The engine's suggestion for small photos (a CIFAR ResNet near their size), with Apply."""
        found = suggestion(scan.median_side, scan.num_train, config) if scan is not None else None
        self.suggestion = found
        if found is None:
            self.suggest_banner.hide()
        elif self.suggest_banner.isHidden() or self.suggest_banner.message() != found.why:
            self.suggest_banner.show_message("info", "", found.why, actions=[("Apply", self.apply_suggestion)])

    def apply_suggestion(self) -> None:
        """Set the suggested depth, image size and weights (from scratch)."""
        if self.suggestion is None:
            return
        for name, value in self.suggestion.settings.items():
            self.fields[name].set_value(value)
        self._update()

    def _update_lr_placeholder(self, config: TrainConfig) -> None:
        lr: LrField = self.fields["lr"]
        known = config.optimizer in OPTIMIZERS
        lr.set_auto(default_lr(config.optimizer, config.pretrained, config.batch_size) if known else None)

    def show_run_settings(self, title: str, settings: str) -> None:
        """A note above the fields when the run on the Train tab has settings of its own (a
        resumed run, or a past run shown): `title` names it, `settings` gives them (plain
        text); the fields stay those of the next run. An empty `title` takes the note away."""
        from ..format import escape
        if getattr(self, "run_note", None) is None:
            self.run_note = Banner()
            self._run_note_box = QWidget()
            box = QVBoxLayout(self._run_note_box)
            box.setContentsMargins(10, 8, 10, 2)
            box.addWidget(self.run_note)
            self.layout().insertWidget(0, self._run_note_box)
        if title:
            self.run_note.show_message("info", title, escape(settings), actions=[("Hide", self._run_note_box.hide)])
        self._run_note_box.setVisible(bool(title))
