"""ui.architecture_view: the block diagram builds, collapses, selects, tints and exports."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import xml.etree.ElementTree as ET

import pytest
from PySide6.QtCore import Qt
from PySide6.QtGui import QImage

from resnet_studio.engine.architecture import describe_depth
from resnet_studio.ui.architecture.view import COLLAPSE_ABOVE, ArchitectureView

BLOCKS_PER_STAGE = {18: [2, 2, 2, 2], 34: [3, 4, 6, 3], 50: [3, 4, 6, 3], 101: [3, 4, 23, 3], 152: [3, 8, 36, 3]}


@pytest.fixture
def view(qtbot):
    w = ArchitectureView()
    qtbot.addWidget(w)
    w.resize(1200, 800)
    w.show()
    qtbot.waitExposed(w)
    return w


def drawn_in(view: ArchitectureView, stage: str) -> list[str]:
    return [k for k in view.drawn_blocks() if k.startswith(stage + ".")]


@pytest.mark.parametrize("depth", sorted(BLOCKS_PER_STAGE))
def test_builds_for_every_depth(view, depth):
    view.show_depth(depth, 224, 10, "all")
    assert view.description()["depth"] == depth
    for i, n in enumerate(BLOCKS_PER_STAGE[depth]):
        stage = f"layer{i + 1}"
        expected = 2 if n > COLLAPSE_ABOVE else n  # long stages start as first block + stack
        assert len(drawn_in(view, stage)) == expected
        assert view.is_collapsed(stage) == (n > COLLAPSE_ABOVE)
    assert {"stem", "head"} <= set(view.drawn_blocks())


def test_collapse_and_expand_change_what_is_drawn(view):
    view.show_depth(152, 224, 1000, "all")
    assert drawn_in(view, "layer3") == ["layer3.0", "layer3.1-35"]
    view.collapse_stage("layer3", False)
    assert drawn_in(view, "layer3") == [f"layer3.{i}" for i in range(36)]
    view.collapse_stage("layer3", True)
    assert len(drawn_in(view, "layer3")) == 2
    view.collapse_stage("layer1", True)
    assert drawn_in(view, "layer1") == ["layer1.0", "layer1.1-2"]
    view._expand_button.click()
    assert len(view.drawn_blocks()) == 50 + 2
    view._collapse_button.click()
    assert len(drawn_in(view, "layer2")) == 2 and len(drawn_in(view, "layer1")) == 3
    with pytest.raises(KeyError):
        view.collapse_stage("layer9", True)


def test_collapsed_state_survives_a_policy_change_but_not_a_depth_change(view):
    view.show_depth(101, 224, 10, "all")
    view.collapse_stage("layer3", False)
    view.show_depth(101, 224, 10, "layer4")
    assert not view.is_collapsed("layer3")
    view.show_depth(152, 224, 10, "layer4")
    assert view.is_collapsed("layer3")


def test_click_selects_a_block_and_fills_the_details(view, qtbot):
    view.show_depth(50, 224, 10, "layer4")
    gv = view._view
    rect = view.block_rect("layer2.0")
    with qtbot.waitSignal(view.blockSelected, timeout=2000) as signal:
        qtbot.mouseClick(gv.viewport(), Qt.MouseButton.LeftButton, pos=gv.mapFromScene(rect.center()))
    assert signal.args == ["layer2.0"]
    assert view.selected_block() == "layer2.0"
    assert "layer2.0" in view._details.title.text() and "projection" in view._details.title.text()
    rows = [view._details.tree.topLevelItem(i).text(0) for i in range(view._details.tree.topLevelItemCount())]
    assert rows[0] == "conv1" and "shortcut (projection)" in rows
    conv2 = view._details.tree.topLevelItem(rows.index("conv2"))
    assert (conv2.text(1), conv2.text(3), conv2.text(4)) == ("3×3 /2", "128×28×28", f"{3 * 3 * 128 * 128:,}")


def test_clicking_a_stack_selects_its_first_block(view, qtbot):
    view.show_depth(152, 224, 10, "all")
    gv = view._view
    rect = view.block_rect("layer3.20")
    assert rect == view.block_rect("layer3.1")
    qtbot.mouseClick(gv.viewport(), Qt.MouseButton.LeftButton, pos=gv.mapFromScene(rect.center()))
    assert view.selected_block() == "layer3.1"
    assert "35 blocks like this one" in view._details.title.text()


def test_tooltips_and_frozen_shading_follow_the_policy(view):
    view.show_depth(34, 224, 10, "layer4")
    boxes = view._view.boxes
    assert not boxes["stem"].trainable and not boxes["layer3.0"].trainable
    assert boxes["layer4.0"].trainable and boxes["head"].trainable
    assert "layer3.0" in boxes["layer3.0"].toolTip() and "frozen" in boxes["layer3.0"].toolTip()
    view.show_depth(34, 224, 10, "all")
    assert view._view.boxes["layer3.0"].trainable


def test_block_stats_tint_and_legend(view):
    view.show_depth(18, 224, 10, "layer3")
    assert not view._tint_button.isEnabled()
    stats = {"layer3.0": 0.01, "layer3.1": 0.1, "layer4.0": 1.0, "layer4.1": 0.5}
    view.set_block_stats(stats)
    assert view._tint_button.isEnabled() and view._view.stats.range() == (0.01, 1.0)
    low, high = view._view.stats.color(0.01), view._view.stats.color(1.0)
    assert low != high and view._view.stats.color(0.1) not in (low, high)  # log scale: 0.1 sits in between
    assert view._view.boxes["layer3.0"].stat() == pytest.approx(0.01)
    assert view._view.boxes["layer1.0"].stat() is None  # frozen: no number, keeps its shading
    assert "gradient norm" in view._view.boxes["layer4.0"].toolTip()
    view._tint_button.setChecked(False)
    assert view._view.boxes["layer3.0"].stat() is None
    view._tint_button.setChecked(True)
    view.clear_block_stats()
    assert view._view.boxes["layer3.0"].stat() is None and not view._tint_button.isEnabled()


def test_stack_shows_the_geometric_mean_of_its_blocks(view):
    view.show_depth(152, 224, 10, "all")
    view.set_block_stats({"layer3.1": 0.01, "layer3.2": 1.0})
    assert view._view.boxes["layer3.1-35"].stat() == pytest.approx(0.1)


def test_png_and_svg_exports_are_valid(view, tmp_path):
    view.show_depth(50, 224, 10, "layer4")
    view.set_block_stats({"layer4.0": 0.2, "layer4.1": 0.3})
    png, svg = tmp_path / "arch.png", tmp_path / "arch.svg"
    assert view.export_png(str(png)) and png.stat().st_size > 1000
    image = QImage(str(png))
    assert not image.isNull() and image.width() > 500 and image.height() > 500
    assert view.export_svg(str(svg)) and svg.stat().st_size > 1000
    root = ET.parse(svg).getroot()
    assert root.tag.endswith("svg")
    assert "layer4.0" in svg.read_text()


def test_selection_survives_a_redraw_of_the_same_network(view):
    view.show_depth(50, 224, 10, "all")
    view.select_block("layer3.2")
    view.show_depth(50, 192, 10, "head")
    assert view.selected_block() == "layer3.2"
    assert "1024×12×12" in view._details.title.text()  # the details follow the new image size
    view.set_description(describe_depth(18))
    assert view.selected_block() is None  # layer3.2 does not exist in ResNet-18


def test_an_impossible_choice_is_shown_not_raised(view):
    view.show_depth(18, 8, 10, "all")  # too small for five halvings
    assert view.description() is None and view.drawn_blocks() == []
    view.show_depth(18, 224, 10, "all")
    assert len(view.drawn_blocks()) == 8 + 2


# ---------------------------------------------------------------- issue 13: splitter, columns, fit, wheel, wording


def _wheel(widget, dy: int, modifiers=Qt.KeyboardModifier.NoModifier) -> None:
    from PySide6.QtCore import QPoint, QPointF
    from PySide6.QtGui import QWheelEvent
    from PySide6.QtWidgets import QApplication

    pos = QPointF(widget.width() / 2, widget.height() / 2)
    event = QWheelEvent(pos, widget.mapToGlobal(pos), QPoint(0, 0), QPoint(0, dy), Qt.MouseButton.NoButton, modifiers,
                        Qt.ScrollPhase.NoScrollPhase, False)
    QApplication.sendEvent(widget, event)


def _cut_columns(view: ArchitectureView) -> list[str]:
    """Cells of the details table whose text is wider than their column (the layer names may elide)."""
    tree = view._details.tree
    fm = tree.fontMetrics()
    header = tree.header()
    cut = []
    rows = [tree.topLevelItem(i) for i in range(tree.topLevelItemCount())]
    rows += [r.child(j) for r in list(rows) for j in range(r.childCount())]
    for row in rows:
        for col in range(1, header.count()):
            if fm.horizontalAdvance(row.text(col)) + 4 > header.sectionSize(col):
                cut.append(row.text(col))
    if header.length() > tree.viewport().width() + 1:
        cut.append(f"table {header.length()} px wide in {tree.viewport().width()} px")
    return cut


def test_clicking_blocks_leaves_the_splitter_where_the_user_put_it(view, qtbot):
    view.show_depth(152, 448, 10, "all")
    qtbot.wait(50)
    before = view._splitter.sizes()
    assert before[1] >= view._details.minimumWidth()
    gv = view._view
    for name in ("layer2.0", "layer3.0", "head", "stem"):
        gv.centerOn(view.block_rect(name).center())
        qtbot.mouseClick(gv.viewport(), Qt.MouseButton.LeftButton, pos=gv.mapFromScene(view.block_rect(name).center()))
        assert view.selected_block() == name
        assert view._splitter.sizes() == before, name
        assert _cut_columns(view) == [], name
    view._splitter.setSizes([sum(before) - 700, 700])  # the user drags it
    moved = view._splitter.sizes()
    view.select_block("layer4.0")
    view.select_block(None)
    assert view._splitter.sizes() == moved


def test_the_details_numbers_are_never_cut_off_even_at_the_narrowest(view):
    view.show_depth(152, 448, 1000, "all")
    view._splitter.setSizes([10_000, 1])  # as narrow as the splitter lets it be
    assert view._splitter.sizes()[1] == view._details.minimumWidth()
    for name in (None, "stem", "layer1.0", "layer3.7", "layer4.0", "head"):
        view.select_block(name)
        assert _cut_columns(view) == [], name
    widths = view._details.column_widths()
    view.select_block("layer2.0")
    assert view._details.column_widths() == widths  # a selection changes no width


def test_fit_to_window_keeps_text_readable_and_scrolls_a_long_network(view, qtbot):
    from PySide6.QtGui import QFontInfo

    from resnet_studio.ui.architecture.diagram import MAX_FIT_SCALE, READABLE_TEXT_PX

    gv = view._view
    text_px = QFontInfo(gv.fonts.normal).pixelSize()
    view.show_depth(152, 224, 10, "all")
    view._expand_button.click()  # 50 blocks: far taller than the view
    assert gv.auto_fit and gv.transform().m11() * text_px >= READABLE_TEXT_PX - 0.01
    assert gv.verticalScrollBar().maximum() > 0 and gv.verticalScrollBar().value() == gv.verticalScrollBar().minimum()
    assert gv.mapToScene(gv.viewport().rect()).boundingRect().contains(view.block_rect("stem"))  # it starts at the top
    gv.verticalScrollBar().setValue(gv.verticalScrollBar().maximum() // 2)
    view.resize(view.width() - 40, view.height())  # a resize refits, and keeps the place
    qtbot.wait(20)
    assert gv.verticalScrollBar().value() > 0
    view.resize(1400, 1100)
    view.show_depth(18, 224, 10, "all")  # a short network: whole, not blown up
    qtbot.wait(20)
    assert gv.readable_scale() <= gv.transform().m11() <= MAX_FIT_SCALE
    assert gv.mapToScene(gv.viewport().rect()).boundingRect().contains(gv.scene().itemsBoundingRect())


def test_the_wheel_scrolls_and_ctrl_wheel_zooms(view):
    gv = view._view
    view.show_depth(152, 224, 10, "all")
    view._expand_button.click()
    scale, bar = gv.transform().m11(), gv.verticalScrollBar()
    _wheel(gv.viewport(), -120)  # one notch down
    assert gv.transform().m11() == scale and bar.value() > bar.minimum() and gv.auto_fit
    scrolled = bar.value()
    _wheel(gv.viewport(), 120, Qt.KeyboardModifier.ControlModifier)
    assert gv.transform().m11() > scale and not gv.auto_fit
    zoomed = gv.transform().m11()
    _wheel(gv.viewport(), -120, Qt.KeyboardModifier.ControlModifier)
    assert gv.transform().m11() < zoomed
    assert scrolled > 0


def test_compute_is_named_multiply_adds_in_gmacs(view):
    view.show_depth(50, 224, 10, "all")
    assert "4.09 GMACs" in view._details.title.text() and "multiply-adds" not in view._details.title.text()
    title = next(i for i in view._view.scene().items() if type(i).__name__ == "TitleItem")
    assert "GMACs" in title.subtitle
    view.select_block("layer2.0")
    assert "MMACs" in view._details.title.text()


def test_a_bigger_window_widens_the_diagram_not_the_details(view, qtbot):
    view.show_depth(50, 224, 10, "all")
    qtbot.wait(20)
    details = view._splitter.sizes()[1]
    view.resize(1800, 900)
    qtbot.wait(20)
    assert view._splitter.sizes()[1] == details
