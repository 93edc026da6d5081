"""The window and the CIFAR ResNets (issue 14): the depth table's rows, the stem field and its
cost, the suggestion for small photos with Apply, the ImageNet-weights refusal, and the
diagram's three stages with option-A shortcuts."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest

from resnet_studio.engine import demo as demo_module
from resnet_studio.engine.config import CIFAR_DEPTHS, DEPTHS, TrainConfig
from resnet_studio.engine.models import depth_summary
from resnet_studio.ui import format as fmt
from resnet_studio.ui.architecture.view import ArchitectureView
from resnet_studio.ui.format import sentence
from resnet_studio.ui.setup.depth_table import SMALL_STEM_LINE

from .test_setup_panel import Rooms, choose, spin


@pytest.fixture(scope="module")
def small_photos(tmp_path_factory):
    return demo_module.make_demo_dataset(tmp_path_factory.mktemp("demo") / "tiny", per_class=4, image_size=24)


@pytest.fixture
def rooms(qtbot):
    r = Rooms(qtbot)
    yield r
    r.shutdown()


def numbers_shown(table, depth):
    return table.row_text(depth)[1] != "…"


def test_the_depth_table_lists_the_cifar_resnets_and_the_stem_cost(qtbot, rooms):
    panel = rooms.panel
    table = panel.field("depth").table
    panel.load_engine_info()
    qtbot.waitUntil(lambda: numbers_shown(table, 110), timeout=30_000)
    assert table.topLevelItemCount() == len(DEPTHS) + len(CIFAR_DEPTHS)
    name, params, _, top1 = table.row_text(56)
    assert name == "ResNet-56 (CIFAR)" and params == fmt.millions(depth_summary(56, 224)["params"]) == "0.92 M"
    assert top1 == "—"
    spin(panel, "image_size").setValue(32)  # from scratch below 96 px: auto picks the small stem
    panel.weights.set_value("none")
    qtbot.waitUntil(lambda: SMALL_STEM_LINE in panel.field("depth").hint.text(), timeout=5_000)
    small = float(table.row_text(18)[2])
    choose(panel, "stem", "imagenet")
    qtbot.waitUntil(lambda: SMALL_STEM_LINE not in panel.field("depth").hint.text(), timeout=5_000)
    assert 14 < small / float(table.row_text(18)[2]) < 17  # 16x, less the stem's own share (rounded figures)


def test_imagenet_weights_with_a_cifar_depth_is_refused_under_the_weights_field(rooms):
    panel = rooms.panel
    panel.weights.set_value("imagenet")
    panel.field("depth").table.set_depth(20)
    expected = TrainConfig(data_dir="x", depth=20, weights="imagenet").errors()[0].message
    assert panel.message("weights").text().endswith(sentence(expected))
    assert rooms.state.blocker


def test_small_photos_get_a_suggestion_that_applies(qtbot, rooms, small_photos):
    panel = rooms.panel
    with qtbot.waitSignal(rooms.state.datasetChanged, timeout=20_000, check_params_cb=lambda scan: scan is not None):
        rooms.scanner.set_folder(str(small_photos))
    qtbot.waitUntil(lambda: panel.suggestion is not None, timeout=5_000)
    assert rooms.state.scan.median_side == 24
    assert "about 24 px" in panel.suggest_banner.message() and "ResNet-20 at 24 px" in panel.suggest_banner.message()
    assert panel.suggest_banner.isVisibleTo(panel)
    panel.apply_suggestion()
    config = panel.train_config()
    assert (config.depth, config.image_size, config.weights) == (20, 24, "none")
    assert panel.suggestion is None and not panel.suggest_banner.isVisibleTo(panel)
    assert not [p for p in config.errors() if p.field != "data_dir"]


def test_the_diagram_draws_three_stages_with_option_a_shortcuts(qtbot):
    view = ArchitectureView()
    qtbot.addWidget(view)
    view.resize(1200, 800)
    view.show()
    qtbot.waitExposed(view)
    view.show_depth(20, 32, 10, "all")
    desc = view.description()
    assert desc["depth"] == 20 and [s["name"] for s in desc["stages"]] == ["layer1", "layer2", "layer3"]
    boxes = view._view.boxes
    assert {"layer1.0", "layer2.0", "layer3.0", "stem", "head"} <= set(boxes) and not any(k.startswith("layer4") for k in boxes)
    padded = [k for k, box in boxes.items() if box.shortcut == "zero-padded"]
    assert padded == ["layer2.0", "layer3.0"]
    assert boxes["layer2.0"].shortcut_label == "identity, zero-padded"
    assert view._view.has_padded_shortcuts()
    view.show_depth(18, 224, 10, "all")
    assert any(box.shortcut == "projection" for box in view._view.boxes.values()) and not view._view.has_padded_shortcuts()
    view.show_depth(18, 32, 10, "all", stem="small")
    assert view.description()["stem"]["layers"][0]["kernel"] == 3


def test_a_runs_settings_line_says_what_trains_and_the_stem():
    from resnet_studio.ui.train.tab import settings_text

    assert "last stage trains" in settings_text({"depth": 20, "weights": "none", "trainable": "layer3", "image_size": 32})
    assert "small-image stem" in settings_text({"depth": 18, "weights": "none", "stem": "small", "image_size": 32})
    assert "stem" not in settings_text({"depth": 18, "weights": "imagenet", "stem": "imagenet"})
