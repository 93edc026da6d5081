"""The setup panel: dataset scanning and summary, validation messages, config and settings."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest
from PySide6.QtCore import QSettings

from resnet_studio.engine import demo as demo_module
from resnet_studio.engine import runs
from resnet_studio.ui.setup.panel import SetupPanel
from resnet_studio.ui.tasks import running_background_tasks, wait_for_background_tasks

REPO = Path(__file__).resolve().parents[2]


@pytest.fixture(scope="module")
def demo_dir(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("demo") / "shapes"
    demo_module.make_demo_dataset(root, per_class=6, image_size=32)
    (root / "dots" / "broken.jpg").write_bytes(b"this is not a jpeg")
    (root / "dots" / "notes.txt").write_text("not a photo")
    return root


@pytest.fixture(autouse=True)
def studio_home(tmp_path, monkeypatch):
    monkeypatch.setenv("RESNET_STUDIO_HOME", str(tmp_path / "home"))
    return tmp_path / "home"


@pytest.fixture
def panel(qtbot):
    p = SetupPanel()
    qtbot.addWidget(p)
    yield p
    p.shutdown()
    assert wait_for_background_tasks(10_000), "a background task is still running"
    assert not running_background_tasks()


def _scan(qtbot, panel, path) -> object:
    with qtbot.waitSignal(panel.datasetChanged, timeout=20_000, check_params_cb=lambda scan: scan is not None):
        panel.set_dataset(str(path))
    return panel.dataset()


def _settle(qtbot, panel) -> None:
    qtbot.waitUntil(lambda: not panel.is_busy(), timeout=20_000)


def test_scanning_the_demo_dataset_fills_the_summary(qtbot, panel, demo_dir):
    panel.batch_spin.setValue(8)
    with qtbot.waitSignal(panel.validityChanged, timeout=20_000, check_params_cb=bool):
        scan = _scan(qtbot, panel, demo_dir)
    assert scan.classes == ["checkers", "dots", "rings", "stripes"]
    assert panel.is_valid() and panel.validation_message() == ""

    summary = panel.data_summary_widget()
    assert summary.stack.currentIndex() == 2  # the content page
    rows = summary.bars.rows()
    assert [name for name, _, _ in rows] == scan.classes
    assert sum(t + v for _, t, v in rows) == scan.num_train + scan.num_val == 24
    assert "4</b> classes" in summary.stats.text()
    # the broken jpeg and the text file are listed with their reasons
    assert summary.skipped_table.rowCount() == 2
    reasons = {summary.skipped_table.item(r, 0).text(): summary.skipped_table.item(r, 1).text() for r in range(2)}
    assert "not an image" in reasons[os.path.join("dots", "broken.jpg")]
    assert ".txt" in reasons[os.path.join("dots", "notes.txt")]
    # thumbnails arrive from the background, 4 per class
    qtbot.waitUntil(lambda: summary.thumbnails_loaded() == 16, timeout=20_000)
    assert "4 classes" in panel.data_status.text()


def test_missing_folder_is_invalid_with_the_reason_shown(qtbot, panel, tmp_path):
    missing = tmp_path / "no-such-folder"
    panel.set_dataset(str(missing))
    assert not panel.is_valid()
    assert "not found" in panel.validation_message().lower()
    assert panel.data_msg.isVisibleTo(panel) and panel.data_msg.kind == "error"
    assert str(missing) in panel.data_msg.text()
    assert panel.dataset() is None


@pytest.mark.parametrize(
    "make, expected",
    [
        (lambda root: None, "no class subfolders"),
        (lambda root: (root / "cats").mkdir() or (root / "cats" / "a.png").write_bytes(_png()), "only one class"),
    ],
    ids=["empty", "one-class"],
)
def test_unusable_folders_show_the_data_error(qtbot, panel, tmp_path, make, expected):
    root = tmp_path / "photos"
    root.mkdir()
    make(root)
    panel.set_dataset(str(root))
    _settle(qtbot, panel)
    assert not panel.is_valid()
    assert expected in panel.validation_message().lower()
    assert panel.data_msg.kind == "error" and expected in panel.data_msg.text().lower()
    assert expected in panel.data_summary_widget().empty_error.text().lower()


def test_nothing_chosen_is_invalid_with_a_hint(panel):
    assert not panel.is_valid()
    assert "choose a folder" in panel.validation_message().lower()
    assert panel.data_msg.kind == "muted"  # a hint, not an alarm, before anything was chosen


def test_field_errors_are_explained_and_block_start(qtbot, panel, demo_dir, tmp_path):
    panel.batch_spin.setValue(8)
    _scan(qtbot, panel, demo_dir)
    assert panel.is_valid()

    panel.batch_spin.setValue(64)  # the training set holds 20 photos
    assert not panel.is_valid()
    assert panel.batch_msg.kind == "error" and "larger than the training set" in panel.batch_msg.text()
    panel.batch_spin.setValue(8)
    assert panel.is_valid() and not panel.batch_msg.isVisibleTo(panel)

    panel.image_size_spin.setValue(16)
    assert not panel.is_valid() and "at least 32" in panel.image_size_msg.text()
    panel.image_size_spin.setValue(64)

    panel.weights_combo.setCurrentIndex(panel.weights_combo.findData("file"))
    assert not panel.is_valid() and "choose a weights file" in panel.validation_message().lower()
    panel.weights_path.setText(str(tmp_path / "missing.safetensors"))
    assert not panel.is_valid() and "not found" in panel.weights_msg.text()
    weights = tmp_path / "w.safetensors"
    weights.write_bytes(b"x")
    panel.weights_path.setText(str(weights))
    assert panel.is_valid()

    panel.lr_edit.setText("fast")
    assert not panel.is_valid() and panel.lr_msg.kind == "error"
    panel.lr_edit.setText("0.005")
    assert panel.is_valid()


def test_from_scratch_with_a_frozen_backbone_warns_but_allows(qtbot, panel, demo_dir):
    panel.batch_spin.setValue(8)
    _scan(qtbot, panel, demo_dir)
    panel.weights_combo.setCurrentIndex(panel.weights_combo.findData("none"))
    panel.trainable_combo.setCurrentIndex(panel.trainable_combo.findData("head"))
    assert panel.trainable_msg.kind == "warning"
    assert panel.is_valid()


def test_train_config_reflects_the_fields(qtbot, panel, demo_dir, studio_home):
    _scan(qtbot, panel, demo_dir)
    panel.depth_table.set_depth(50)
    panel.weights_combo.setCurrentIndex(panel.weights_combo.findData("none"))
    panel.trainable_combo.setCurrentIndex(panel.trainable_combo.findData("layer4"))
    panel.epochs_spin.setValue(3)
    panel.batch_spin.setValue(4)
    panel.image_size_spin.setValue(96)
    panel.lr_edit.setText("0,02")  # a decimal comma is understood
    panel.optimizer_combo.setCurrentIndex(panel.optimizer_combo.findData("adamw"))
    panel.val_split_spin.setValue(25)
    panel.augment_check.setChecked(True)
    panel.jitter_check.setChecked(True)
    panel.seed_spin.setValue(7)
    panel.patience_spin.setValue(2)
    cfg = panel.train_config()
    assert cfg.data_dir == str(demo_dir)
    assert (cfg.depth, cfg.weights, cfg.trainable) == (50, "none", "layer4")
    assert (cfg.epochs, cfg.batch_size, cfg.image_size) == (3, 4, 96)
    assert cfg.lr == pytest.approx(0.02) and cfg.optimizer == "adamw"
    assert cfg.val_split == pytest.approx(0.25) and cfg.seed == 7 and cfg.patience == 2
    assert cfg.augment and cfg.color_jitter and cfg.device == "auto"
    assert cfg.out_dir == str(runs.default_runs_dir()) == str(studio_home / "runs")

    panel.lr_edit.clear()
    panel.patience_spin.setValue(0)
    panel.augment_check.setChecked(False)
    cfg = panel.train_config()
    assert cfg.lr is None and cfg.patience is None and not cfg.augment and not cfg.color_jitter


def test_architecture_changes_are_signalled(qtbot, panel):
    with qtbot.waitSignal(panel.architectureChanged, check_params_cb=lambda d, s, t: (d, s, t) == (34, 224, "all")):
        panel.depth_table.set_depth(34)
    with qtbot.waitSignal(panel.architectureChanged, check_params_cb=lambda d, s, t: (d, s, t) == (34, 128, "all")):
        panel.image_size_spin.setValue(128)
    with qtbot.waitSignal(panel.architectureChanged, check_params_cb=lambda d, s, t: t == "head"):
        panel.trainable_combo.setCurrentIndex(panel.trainable_combo.findData("head"))


def test_settings_round_trip(qtbot, panel, demo_dir, tmp_path):
    _scan(qtbot, panel, demo_dir)
    panel.depth_table.set_depth(101)
    panel.weights_combo.setCurrentIndex(panel.weights_combo.findData("none"))
    panel.epochs_spin.setValue(4)
    panel.batch_spin.setValue(16)
    panel.image_size_spin.setValue(160)
    panel.lr_edit.setText("0.003")
    panel.optimizer_combo.setCurrentIndex(panel.optimizer_combo.findData("adamw"))
    panel.val_split_spin.setValue(30)
    panel.jitter_check.setChecked(True)
    panel.seed_spin.setValue(11)
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    panel.save_settings(settings)
    settings.sync()

    other = SetupPanel()
    qtbot.addWidget(other)
    try:
        with qtbot.waitSignal(other.datasetChanged, timeout=20_000, check_params_cb=lambda s: s is not None):
            other.restore_settings(QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat))
        assert other.train_config().to_dict() == panel.train_config().to_dict()
    finally:
        other.shutdown()


def test_restoring_empty_settings_keeps_the_defaults(qtbot, panel, tmp_path):
    before = panel.train_config().to_dict()
    panel.restore_settings(QSettings(str(tmp_path / "empty.ini"), QSettings.Format.IniFormat))
    assert panel.train_config().to_dict() == before


def test_use_demo_dataset_creates_and_selects_it(qtbot, panel, monkeypatch, studio_home):
    real = demo_module.make_demo_dataset
    monkeypatch.setattr(demo_module, "make_demo_dataset", lambda out, **kw: real(out, per_class=6, image_size=32, **kw))
    panel.batch_spin.setValue(8)
    with qtbot.waitSignal(panel.datasetChanged, timeout=30_000, check_params_cb=lambda s: s is not None):
        panel.use_demo_dataset()
    assert panel.train_config().data_dir == str(runs.default_demo_dir()) == str(studio_home / "demo-data")
    assert panel.dataset().num_train + panel.dataset().num_val == 24
    assert panel.is_valid()
    assert sorted(p.name for p in studio_home.iterdir() if p.name.startswith(".")) == []  # no partial folder left


def test_set_running_locks_the_fields(panel):
    panel.set_running(True)
    assert not panel.epochs_spin.isEnabled() and not panel.choose_button.isEnabled()
    panel.set_dataset("/somewhere/else")  # ignored while a run goes
    assert panel.train_config().data_dir == ""
    panel.set_running(False)
    assert panel.epochs_spin.isEnabled()


def test_engine_numbers_fill_in_from_the_background(qtbot, panel):
    assert panel.depth_table.row_text(50)[1] == "…"  # nothing computed on the UI thread at construction
    panel.load_engine_info()
    qtbot.waitUntil(lambda: panel.depth_table.row_text(50)[1] != "…", timeout=30_000)
    from resnet_studio.engine.config import default_lr
    from resnet_studio.engine.models import depth_summary

    summary = depth_summary(50, 224)
    assert panel.depth_table.row_text(50)[1] == f"{summary['params'] / 1e6:.1f} M"
    assert f"{summary['imagenet_top1']:.1f}" in panel.depth_table.row_text(50)[3]
    assert str(default_lr("sgd", True)) in panel.lr_edit.placeholderText()
    assert panel.device_combo.findData("cpu") >= 0
    panel.image_size_spin.setValue(448)
    assert float(panel.depth_table.row_text(50)[2]) == pytest.approx(depth_summary(50, 448)["gflops"], rel=0.01)


def test_panels_import_and_build_without_torch():
    code = (
        "import os, sys; os.environ['QT_QPA_PLATFORM'] = 'offscreen'\n"
        "from PySide6.QtWidgets import QApplication; app = QApplication([])\n"
        "from resnet_studio.ui.setup.panel import SetupPanel\n"
        "from resnet_studio.ui.predict.tab import PredictTab\n"
        "SetupPanel(); PredictTab()\n"
        "assert 'torch' not in sys.modules, 'torch was imported'\n"
    )
    env = dict(os.environ, PYTHONPATH=str(REPO))
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr


def _png() -> bytes:
    import io

    from PIL import Image

    buf = io.BytesIO()
    Image.new("RGB", (8, 8), (200, 10, 10)).save(buf, "PNG")
    return buf.getvalue()
