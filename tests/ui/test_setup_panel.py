"""The setup panel and the Data tab: dataset scanning and summary, the engine's checks shown
under each field, the config and the remembered settings."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest
from PySide6.QtCore import QSettings, Qt

from resnet_studio.engine import demo as demo_module
from resnet_studio.engine import runs
from resnet_studio.engine.config import SETTINGS, TrainConfig
from resnet_studio.ui.data.tab import DataTab
from resnet_studio.ui.format import sentence
from resnet_studio.ui.scanner import DatasetScanner
from resnet_studio.ui.setup.fields import LrField
from resnet_studio.ui.setup.panel import SetupPanel
from resnet_studio.ui.state import StudioState
from resnet_studio.ui.tasks import running_background_tasks, wait_for_background_tasks

from ..settings_cases import BAD, engine_message

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


class Rooms:
    """The setup panel and the Data tab over one state and one scanner, as the window builds them."""

    def __init__(self, qtbot):
        self.state = StudioState()
        self.scanner = DatasetScanner(self.state)
        self.panel = SetupPanel(self.state, self.scanner)
        self.data = DataTab(self.state, self.scanner)
        qtbot.addWidget(self.panel)
        qtbot.addWidget(self.data)

    def shutdown(self):
        for part in (self.scanner, self.panel, self.data, self.state):
            part.shutdown()


@pytest.fixture
def rooms(qtbot):
    r = Rooms(qtbot)
    yield r
    r.shutdown()
    assert wait_for_background_tasks(10_000), "a background task is still running"
    assert not running_background_tasks()


@pytest.fixture
def panel(rooms):
    return rooms.panel


def spin(panel, name):
    return panel.field(name).editor


def combo(panel, name):
    return panel.field(name).combo


def choose(panel, name, key):
    c = combo(panel, name)
    c.setCurrentIndex(c.findData(key))


def _scan(qtbot, rooms, path) -> object:
    with qtbot.waitSignal(rooms.state.datasetChanged, timeout=20_000, check_params_cb=lambda scan: scan is not None):
        rooms.scanner.set_folder(str(path))
    return rooms.state.scan


def _settle(qtbot, rooms) -> None:
    qtbot.waitUntil(lambda: not rooms.scanner.busy, timeout=20_000)


def test_scanning_the_demo_dataset_fills_the_summary(qtbot, rooms, panel, demo_dir):
    spin(panel, "batch_size").setValue(8)
    with qtbot.waitSignal(rooms.state.blockerChanged, timeout=20_000, check_params_cb=lambda blocker: blocker == ""):
        scan = _scan(qtbot, rooms, demo_dir)
    assert scan.classes == ["checkers", "dots", "rings", "stripes"]
    assert panel.is_valid() and panel.validation_message() == ""

    summary = rooms.data
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


def test_missing_folder_is_invalid_with_the_reason_shown(qtbot, rooms, panel, tmp_path):
    missing = tmp_path / "no-such-folder"
    rooms.scanner.set_folder(str(missing))
    assert not panel.is_valid()
    assert "not found" in panel.validation_message().lower()
    assert panel.data_msg.isVisibleTo(panel) and panel.data_msg.kind == "error"
    assert str(missing) in panel.data_msg.text()
    assert rooms.state.scan is None


@pytest.mark.parametrize(
    "make, expected",
    [
        (lambda root: None, "no class subfolders"),
        (lambda root: (root / "cats").mkdir() or (root / "cats" / "a.png").write_bytes(_png()), "only one class"),
    ],
    ids=["empty", "one-class"],
)
def test_unusable_folders_show_the_data_error(qtbot, rooms, panel, tmp_path, make, expected):
    root = tmp_path / "photos"
    root.mkdir()
    make(root)
    rooms.scanner.set_folder(str(root))
    _settle(qtbot, rooms)
    assert not panel.is_valid()
    assert expected in panel.validation_message().lower()
    assert panel.data_msg.kind == "error" and expected in panel.data_msg.text().lower()
    assert expected in rooms.data.empty_error.text().lower()


def test_nothing_chosen_is_invalid_with_a_hint(panel):
    assert not panel.is_valid()
    assert "choose a folder" in panel.validation_message().lower()
    assert panel.data_msg.kind == "muted"  # a hint, not an alarm, before anything was chosen


def test_field_errors_are_explained_and_block_start(qtbot, rooms, panel, demo_dir, tmp_path):
    spin(panel, "batch_size").setValue(8)
    _scan(qtbot, rooms, demo_dir)
    assert panel.is_valid()

    spin(panel, "batch_size").setValue(64)  # the training set holds 20 photos
    assert not panel.is_valid()
    assert panel.message("batch_size").kind == "error" and "larger than the training set" in panel.message("batch_size").text()
    spin(panel, "batch_size").setValue(8)
    assert panel.is_valid() and not panel.message("batch_size").isVisibleTo(panel)

    # the image size takes exactly the engine's range: 16 px works in the window as on the command line
    size = spin(panel, "image_size")
    assert (size.minimum(), size.maximum()) == (SETTINGS["image_size"].minimum, SETTINGS["image_size"].maximum) == (16, 1024)
    size.setValue(16)
    assert panel.is_valid() and panel.train_config().image_size == 16
    size.setValue(64)

    choose(panel, "weights", "file")
    assert not panel.is_valid() and "choose a weights file" in panel.validation_message().lower()
    panel.weights.path.setText(str(tmp_path / "missing.safetensors"))
    assert not panel.is_valid() and "not found" in panel.message("weights").text()
    weights = tmp_path / "w.safetensors"
    weights.write_bytes(b"x")
    panel.weights.path.setText(str(weights))
    assert panel.is_valid()

    lr = panel.field("lr").edit
    lr.setText("fast")
    assert not panel.is_valid() and panel.message("lr").kind == "error"
    lr.setText("0")
    assert not panel.is_valid() and panel.message("lr").text().endswith("Learning rate must be more than 0")
    lr.setText("0.005")
    assert panel.is_valid()


def test_from_scratch_with_a_frozen_backbone_warns_but_allows(qtbot, rooms, panel, demo_dir):
    spin(panel, "batch_size").setValue(8)
    _scan(qtbot, rooms, demo_dir)
    choose(panel, "weights", "none")
    choose(panel, "trainable", "head")
    assert panel.message("trainable").kind == "warning"
    assert panel.is_valid()


def test_train_config_reflects_the_fields(qtbot, rooms, panel, demo_dir, studio_home):
    _scan(qtbot, rooms, demo_dir)
    panel.field("depth").table.set_depth(50)
    choose(panel, "weights", "none")
    choose(panel, "trainable", "layer4")
    spin(panel, "epochs").setValue(3)
    spin(panel, "batch_size").setValue(4)
    spin(panel, "image_size").setValue(96)
    panel.field("lr").edit.setText("0,02")  # a decimal comma is understood
    choose(panel, "optimizer", "adamw")
    spin(panel, "val_split").setValue(25)
    panel.field("augment").check.setChecked(True)
    panel.field("color_jitter").check.setChecked(True)
    spin(panel, "seed").setValue(7)
    spin(panel, "patience").setValue(2)
    choose(panel, "precision", "fp16")
    assert panel.message("augmentation").text() == "Automatic: standard (photos of ordinary size)."
    choose(panel, "augmentation", "strong")
    cfg = panel.train_config()
    assert cfg.data_dir == str(demo_dir) and cfg.precision == "fp16" and cfg.augmentation == "strong"
    assert (cfg.depth, cfg.weights, cfg.trainable) == (50, "none", "layer4")
    assert (cfg.epochs, cfg.batch_size, cfg.image_size) == (3, 4, 96)
    assert cfg.lr == pytest.approx(0.02) and cfg.optimizer == "adamw"
    assert cfg.val_split == pytest.approx(0.25) and cfg.seed == 7 and cfg.patience == 2
    assert cfg.augment and cfg.color_jitter and cfg.device == "auto"
    assert cfg.out_dir == str(runs.default_runs_dir()) == str(studio_home / "runs")
    assert rooms.state.config == cfg  # published for the other rooms

    panel.field("lr").edit.clear()
    spin(panel, "patience").setValue(0)
    panel.field("augment").check.setChecked(False)
    cfg = panel.train_config()
    assert cfg.lr is None and cfg.patience is None and not cfg.augment and not cfg.color_jitter
    assert not panel.field("augmentation").editor.isEnabled()  # no strength without augmentation
    panel.field("augment").check.setChecked(True)
    choose(panel, "augmentation", "auto")
    spin(panel, "image_size").setValue(32)
    assert panel.field("augmentation").editor.isEnabled()
    assert panel.message("augmentation").text() == "Automatic: light (images below 64 px)."


def test_every_setting_field_takes_the_engine_limits_and_default(panel):
    """One table: the spin boxes' ranges, the choices and the defaults are the engine's."""
    defaults = TrainConfig()
    for name, f in panel.fields.items():
        setting = SETTINGS[name]
        if setting.choices and hasattr(f, "combo"):
            assert [f.combo.itemData(i) for i in range(f.combo.count())] == list(setting.choices), name
        if hasattr(f, "spin") and not f.off:
            low, high = f.spin.minimum() / f.scale, f.spin.maximum() / f.scale
            assert setting.check(low) == "" and setting.check(high) == "", name
            assert setting.check(low - 1 / f.scale) != "", name  # one below is what the engine refuses
        if name not in ("weights", "depth", "device"):
            assert f.value() == getattr(defaults, name), name


WINDOW_BAD = [case for case in BAD if case[0] not in ("workers", "cache_budget_mb")]  # the studio sets those itself


@pytest.mark.parametrize("field, value, typed", WINDOW_BAD)
def test_the_window_refuses_what_the_engine_refuses(panel, field, value, typed):
    """Text is checked by the engine, with its words; a spin box or a list offers only what
    the engine allows, so the value cannot be given at all (tests/cli checks the same cases)."""
    f = panel.field(field)
    if isinstance(f, LrField):
        f.edit.setText(typed)
        assert panel.message(field).text().endswith(sentence(engine_message(field, value)))
        assert not panel.is_valid()
    elif hasattr(f, "spin"):
        shown = value * f.scale
        assert not f.spin.minimum() <= shown <= f.spin.maximum() or (f.off and shown == f.spin.minimum())
    elif field == "depth":
        table = f.table
        assert value not in [table.topLevelItem(i).data(0, Qt.ItemDataRole.UserRole) for i in range(table.topLevelItemCount())]
    else:
        assert value not in [f.combo.itemData(i) for i in range(f.combo.count())]


def test_the_window_shows_the_engine_words_for_a_missing_weights_file(panel, tmp_path):
    choose(panel, "weights", "file")
    panel.weights.path.setText(str(tmp_path / "w.pth"))
    config = TrainConfig(data_dir="x", weights=str(tmp_path / "w.pth"))
    assert panel.message("weights").text().endswith(sentence(config.errors()[0].message))


def test_the_architecture_follows_the_config(qtbot, rooms, panel):
    with qtbot.waitSignal(rooms.state.configChanged, check_params_cb=lambda c: c.depth == 34):
        panel.field("depth").table.set_depth(34)
    with qtbot.waitSignal(rooms.state.configChanged, check_params_cb=lambda c: (c.depth, c.image_size) == (34, 128)):
        spin(panel, "image_size").setValue(128)
    with qtbot.waitSignal(rooms.state.configChanged, check_params_cb=lambda c: c.trainable == "head"):
        choose(panel, "trainable", "head")


def test_settings_round_trip(qtbot, rooms, panel, demo_dir, tmp_path):
    _scan(qtbot, rooms, demo_dir)
    panel.field("depth").table.set_depth(101)
    choose(panel, "weights", "none")
    spin(panel, "epochs").setValue(4)
    spin(panel, "batch_size").setValue(16)
    spin(panel, "image_size").setValue(160)
    panel.field("lr").edit.setText("0.003")
    choose(panel, "optimizer", "adamw")
    spin(panel, "val_split").setValue(30)
    panel.field("color_jitter").check.setChecked(True)
    spin(panel, "seed").setValue(11)
    settings = QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat)
    panel.save_settings(settings)
    settings.sync()

    other = Rooms(qtbot)
    try:
        with qtbot.waitSignal(other.state.datasetChanged, timeout=20_000, check_params_cb=lambda s: s is not None):
            other.panel.restore_settings(QSettings(str(tmp_path / "settings.ini"), QSettings.Format.IniFormat))
        assert other.panel.train_config().to_dict() == panel.train_config().to_dict()
    finally:
        other.shutdown()


def test_restoring_empty_settings_keeps_the_defaults(qtbot, panel, tmp_path):
    before = panel.train_config().to_dict()
    panel.restore_settings(QSettings(str(tmp_path / "empty.ini"), QSettings.Format.IniFormat))
    assert panel.train_config().to_dict() == before


def test_use_demo_dataset_creates_and_selects_it(qtbot, rooms, panel, monkeypatch, studio_home):
    real = demo_module.make_demo_dataset
    monkeypatch.setattr(demo_module, "make_demo_dataset", lambda out, **kw: real(out, per_class=6, image_size=32, **kw))
    spin(panel, "batch_size").setValue(8)
    with qtbot.waitSignal(rooms.state.datasetChanged, timeout=30_000, check_params_cb=lambda s: s is not None):
        panel.demo_button.click()
    assert panel.train_config().data_dir == str(runs.default_demo_dir()) == str(studio_home / "demo-data")
    assert rooms.state.scan.num_train + rooms.state.scan.num_val == 24
    assert panel.is_valid()
    assert sorted(p.name for p in studio_home.iterdir() if p.name.startswith(".")) == []  # no partial folder left


def test_set_running_locks_the_fields(rooms, panel):
    rooms.state.set_running(True)
    panel.set_running(True)
    assert not spin(panel, "epochs").isEnabled() and not panel.choose_button.isEnabled()
    rooms.scanner.set_folder("/somewhere/else")  # ignored while a run goes
    assert panel.train_config().data_dir is None
    rooms.state.set_running(False)
    panel.set_running(False)
    assert spin(panel, "epochs").isEnabled()


def test_engine_numbers_fill_in_from_the_background(qtbot, panel):
    table = panel.field("depth").table
    assert table.row_text(50)[1] == "…"  # nothing computed on the UI thread at construction
    panel.load_engine_info()
    qtbot.waitUntil(lambda: table.row_text(50)[1] != "…", timeout=30_000)
    from resnet_studio.engine.config import default_lr
    from resnet_studio.engine.models import depth_summary

    summary = depth_summary(50, 224)
    assert table.row_text(50)[1] == f"{summary['params'] / 1e6:.1f} M"
    assert f"{summary['imagenet_top1']:.1f}" in table.row_text(50)[3]
    assert str(default_lr("sgd", True)) in panel.field("lr").edit.placeholderText()
    spin(panel, "batch_size").setValue(128)  # SGD's default rate follows the batch size
    assert str(default_lr("sgd", True, 128)) == "0.04" and "0.04" in panel.field("lr").edit.placeholderText()
    assert panel.field("device").combo.findData("cpu") >= 0
    spin(panel, "image_size").setValue(448)
    assert float(table.row_text(50)[2]) == pytest.approx(depth_summary(50, 448)["gflops"], rel=0.01)


def test_panels_import_and_build_without_torch():
    code = (
        "import os, sys; os.environ['QT_QPA_PLATFORM'] = 'offscreen'\n"
        "from PySide6.QtWidgets import QApplication; app = QApplication([])\n"
        "from resnet_studio.ui.state import StudioState\n"
        "from resnet_studio.ui.scanner import DatasetScanner\n"
        "from resnet_studio.ui.data.tab import DataTab\n"
        "from resnet_studio.ui.setup.panel import SetupPanel\n"
        "from resnet_studio.ui.predict.tab import PredictTab\n"
        "state = StudioState(); scanner = DatasetScanner(state)\n"
        "SetupPanel(state, scanner); DataTab(state, scanner); PredictTab()\n"
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


# ---------------------------------------------------------------- a first run that cannot fail (issue 13)


def test_one_photo_per_class_is_listed_and_blocks_start_with_the_reason(qtbot, rooms, panel, tmp_path):
    from ..conftest import make_class_folder

    root = make_class_folder(tmp_path / "tiny", {"dots": 1, "rings": 1}, size=16)
    spin(panel, "batch_size").setValue(1)
    scan = _scan(qtbot, rooms, root)
    assert scan.classes == ["dots", "rings"]  # listed, not "No dataset yet"
    assert rooms.data.stack.currentIndex() == 2 and [name for name, _, _ in rooms.data.bars.rows()] == ["dots", "rings"]
    words = "'dots' and 'rings' have only 1 photo each: every class needs at least 2 photos"
    assert rooms.data.problem.kind == "error" and words in rooms.data.problem.text()
    assert not panel.is_valid() and words in panel.validation_message()
    assert panel.data_msg.kind == "error" and words in panel.data_msg.text()


def test_an_empty_class_folder_shows_the_good_classes_and_a_warning(qtbot, rooms, panel, tmp_path):
    from ..conftest import make_class_folder

    root = make_class_folder(tmp_path / "pets", {"dogs": 12, "owls": 12}, size=16)
    (root / "cats").mkdir()
    spin(panel, "batch_size").setValue(8)
    scan = _scan(qtbot, rooms, root)
    assert scan.classes == ["dogs", "owls"]
    data = rooms.data
    assert data.stack.currentIndex() == 2 and [name for name, _, _ in data.bars.rows()] == ["dogs", "owls"]
    assert data.balance.kind == "warning" and "'cats' has no readable photos and is left out" in data.balance.text()
    assert not data.problem.isVisibleTo(data)
    assert panel.is_valid()  # left out, not blocking: the window and the command line agree
    assert panel.data_msg.kind == "warning" and "'cats' has no readable photos" in panel.data_msg.text()
    shown = [data.skipped_table.item(r, 0).text() for r in range(data.skipped_table.rowCount())]
    assert "cats" in shown


def test_few_photos_name_every_small_class(qtbot, rooms, panel, tmp_path):
    from ..conftest import make_class_folder

    root = make_class_folder(tmp_path / "few", {"dots": 2, "rings": 3, "stripes": 12}, size=16)
    spin(panel, "batch_size").setValue(2)
    _scan(qtbot, rooms, root)
    text = rooms.data.balance.text()
    assert "'dots' (2 photos), 'rings' (3 photos)" in text and "Aim for 30" in text
    assert panel.is_valid()


def _demo_without_weights(qtbot, rooms, panel, monkeypatch, cached: bool):
    from resnet_studio.engine import models

    real = demo_module.make_demo_dataset
    monkeypatch.setattr(demo_module, "make_demo_dataset", lambda out, **kw: real(out, per_class=6, image_size=32, **kw))
    monkeypatch.setattr(models, "imagenet_weights_cached", lambda depth: cached)
    spin(panel, "batch_size").setValue(8)
    with qtbot.waitSignal(rooms.state.datasetChanged, timeout=30_000, check_params_cb=lambda s: s is not None):
        panel.demo_button.click()


def test_the_demo_trains_from_scratch_at_a_small_size_when_the_weights_are_not_cached(qtbot, rooms, panel, monkeypatch):
    from resnet_studio.engine.config import DEMO_SCRATCH_IMAGE_SIZE

    assert panel.train_config().weights == "imagenet" and panel.train_config().image_size == 224
    _demo_without_weights(qtbot, rooms, panel, monkeypatch, cached=False)
    config = panel.train_config()
    assert (config.weights, config.image_size) == ("none", DEMO_SCRATCH_IMAGE_SIZE)
    message = panel.message("weights")
    assert message.kind == "muted" and "not on this computer" in message.text() and "from scratch" in message.text()
    assert panel.is_valid()
    choose(panel, "weights", "imagenet")  # the note is about the choice it made: gone once it changes
    assert not panel.message("weights").isVisibleTo(panel)


def test_the_demo_keeps_imagenet_when_the_weights_are_cached(qtbot, rooms, panel, monkeypatch):
    _demo_without_weights(qtbot, rooms, panel, monkeypatch, cached=True)
    config = panel.train_config()
    assert (config.weights, config.image_size) == ("imagenet", 224)
    assert not panel.message("weights").isVisibleTo(panel)


def test_train_from_scratch_and_choose_weights_file(qtbot, rooms, panel, monkeypatch, tmp_path):
    from resnet_studio.engine.config import DEMO_SCRATCH_IMAGE_SIZE

    panel.train_from_scratch()
    assert panel.train_config().weights == "none" and panel.train_config().image_size == 224  # not the demo: size kept
    weights = tmp_path / "w.safetensors"
    weights.write_bytes(b"x")
    monkeypatch.setattr(panel.weights, "browse_file", lambda: str(weights))
    assert panel.choose_weights_file()
    assert panel.train_config().weights == str(weights)
    monkeypatch.setattr(panel.weights, "browse_file", lambda: "")
    assert not panel.choose_weights_file() and panel.train_config().weights == str(weights)  # cancelled: kept

    _demo_without_weights(qtbot, rooms, panel, monkeypatch, cached=True)  # the demo folder is the data
    spin(panel, "image_size").setValue(224)
    panel.train_from_scratch()
    assert panel.train_config().image_size == DEMO_SCRATCH_IMAGE_SIZE
