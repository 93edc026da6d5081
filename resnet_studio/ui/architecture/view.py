"""The Architecture tab: a ResNet drawn the way the paper draws it, and live while training.

The diagram reads left to right, one row per stage (wrapped when a stage is long), like
a line of text: the stem, the residual blocks of layer1..layer4, the head. Each block
is a box with its main-path convolutions ("3×3 conv, 128, /2", as in He et al.,
Fig. 3); its shortcut leaves the input before the box, arcs over it and joins the
main path again at the ⊕ node. Projection shortcuts are orange and labelled with their
1×1 convolution. Tensor shapes are written on the edges between stages.

Everything drawn comes from `engine.architecture.describe`'s dictionary. This module is
the widget: its toolbar, legend and details panel around the diagram, which stages are
collapsed, PNG and SVG export, and the public API the main window and the tests use.
The drawing itself is in diagram.py, layout.py, block.py and items.py.

The splitter between the diagram and the details is sized once, when the tab first has
a width; after that it stays where the user leaves it (the details panel's minimum width,
set once per network, keeps its numbers whole).
"""

from __future__ import annotations

import os
from collections.abc import Callable
from typing import Any

from PySide6.QtCore import QEvent, QRectF, Qt, Signal
from PySide6.QtGui import QImage, QPainter
from PySide6.QtWidgets import QFileDialog, QHBoxLayout, QMessageBox, QSplitter, QToolButton, QVBoxLayout, QWidget

from resnet_studio.engine.architecture import describe_depth
from resnet_studio.engine.errors import StudioError

from .details import DetailsPanel
from .diagram import DiagramView
from .labels import title_text
from .layout import BLOCKS_PER_ROW
from .legend import Legend
from .style import Colors, Fonts

__all__ = ["ArchitectureView", "COLLAPSE_ABOVE", "BLOCKS_PER_ROW"]

COLLAPSE_ABOVE = 6  # stages with more blocks start collapsed
_MAX_EXPORT_PIXELS = 12_000  # longest side of an exported PNG


class ArchitectureView(QWidget):
    """The ResNet block diagram with its toolbar, legend and a details panel.

    Feed it `set_description(describe(...))` or `show_depth(...)`; during training,
    `set_block_stats({"layer3.5": grad_norm, ...})` after each epoch.
    """

    blockSelected = Signal(str)

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._desc: dict[str, Any] | None = None
        self._collapsed: dict[str, bool] = {}
        self._view = DiagramView(Colors.from_palette(self.palette()), Fonts(self.font()), self)

        bar = QHBoxLayout()
        bar.setContentsMargins(0, 0, 0, 0)
        bar.setSpacing(4)

        def button(text: str, tip: str, slot, checkable: bool = False) -> QToolButton:
            b = QToolButton(self)
            b.setText(text)
            b.setToolTip(tip)
            b.setAutoRaise(True)
            b.setCheckable(checkable)
            if slot is not None:
                b.clicked.connect(slot)
            bar.addWidget(b)
            return b

        self._fit_button = button(
            "Fit", "Fit the diagram to the view, at a readable size: a long network scrolls (0). "
            "The wheel scrolls; Ctrl+wheel zooms", self.fit)
        self._expand_button = button("Expand all", "Show every block of every stage", lambda: self._set_all_collapsed(False))
        self._collapse_button = button(
            "Collapse all", f"Show long stages (more than {COLLAPSE_ABOVE} blocks) as their first block and a stack",
            lambda: self._set_all_collapsed(True))
        bar.addSpacing(10)
        self._png_button = button("Export PNG…", "Save the diagram as a PNG image", self._on_export_png)
        self._svg_button = button("Export SVG…", "Save the diagram as an SVG drawing", self._on_export_svg)
        bar.addSpacing(10)
        self._tint_button = button(
            "Gradient tint", "Colour each block by how strongly it learns (reported after each epoch)", None, True)
        self._tint_button.setChecked(True)
        self._tint_button.setEnabled(False)
        bar.addStretch(1)
        self._legend = Legend(self._view, self)
        self._details = DetailsPanel(self)

        split = QSplitter(Qt.Orientation.Horizontal, self)
        split.addWidget(self._view)
        split.addWidget(self._details)
        split.setStretchFactor(0, 1)  # a bigger window widens the diagram; the details keep their width
        split.setStretchFactor(1, 0)
        split.setChildrenCollapsible(False)
        self._splitter = split
        self._split_sized = False  # the splitter is sized once, then left where the user puts it

        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 6, 6, 6)
        layout.setSpacing(4)
        layout.addLayout(bar)
        layout.addWidget(self._legend)
        layout.addWidget(split, 1)
        self._tint_button.toggled.connect(self._on_tint_toggle)
        self._view.blockClicked.connect(self._select)
        self._view.collapseRequested.connect(self.collapse_stage)
        self._show_details()

    # -- public API
    def set_description(self, desc: dict[str, Any]) -> None:
        """Draw a description (engine.architecture.describe's dictionary)."""
        old = self._desc
        same_net = old is not None and old.get("depth") == desc.get("depth")
        if not same_net:
            self._collapsed = {}
            self._view.stats.clear()
        self._desc = desc
        if not same_net or old.get("image_size") != desc.get("image_size") or old.get("num_classes") != desc.get("num_classes"):
            self._details.fit_columns(desc)
        names = {b["name"] for b in self._all_blocks()} | {"stem", "head"}
        if self._view.selected not in names:
            self._view.selected = None
        self._update_tint_button()
        self._rebuild(refit=not same_net or self._view.auto_fit)
        self._show_details()

    def show_depth(
        self, depth: int, image_size: int = 224, num_classes: int = 1000, trainable: str = "all", stem: str = "imagenet"
    ) -> None:
        """Describe and draw a fresh ResNet-`depth` with its stem (what the setup panel has chosen).

        A choice that cannot be drawn (an image too small for five halvings) is said in
        the view instead of raised.
        """
        try:
            desc = describe_depth(depth, image_size=image_size, num_classes=num_classes, trainable=trainable, stem=stem)
        except StudioError as exc:
            self._show_message(str(exc))
            return
        self.set_description(desc)

    def _show_message(self, text: str) -> None:
        self._desc = None
        self._view.selected = None
        self._view.show_message(text)
        self._show_details()

    def description(self) -> dict[str, Any] | None:
        return self._desc

    def set_block_stats(self, stats: dict[str, float], label: str = "gradient norm") -> None:
        """Tint blocks by a per-block number (e.g. EpochEnd.block_grad_norms), log-scaled.

        `label` names the number in the legend ("gradient norm", "update/weight").
        """
        self._view.stats.set(stats, label)
        self._update_tint_button()
        self._refresh()

    def clear_block_stats(self) -> None:
        self._view.stats.clear()
        self._update_tint_button()
        self._refresh()

    def collapse_stage(self, name: str, collapsed: bool) -> None:
        """Show a stage as its first block and a stack of the rest (or every block)."""
        if self._stage(name) is None:
            raise KeyError(f"no stage {name!r}")
        self._collapsed[name] = bool(collapsed)
        self._rebuild(refit=self._view.auto_fit)

    def is_collapsed(self, name: str) -> bool:
        stage = self._stage(name)
        if stage is None:
            raise KeyError(f"no stage {name!r}")
        return self._is_collapsed(stage)

    def selected_block(self) -> str | None:
        return self._view.selected

    def select_block(self, name: str | None) -> None:
        self._select(name)

    def drawn_blocks(self) -> list[str]:
        """Keys of the boxes drawn: block names, plus 'layer3.1-35' for a stack."""
        return list(self._view.boxes)

    def block_rect(self, name: str) -> QRectF | None:
        """The scene rectangle of a block's box (or of the stack that holds it)."""
        return self._view.box_rect(name)

    def fit(self) -> None:
        self._view.fit()

    def export_png(self, path: str) -> bool:
        """Save the diagram as a PNG at twice the screen scale (smaller for huge diagrams)."""
        rect = self._view.export_rect()
        if rect.isEmpty():
            return False
        scale = min(2.0, _MAX_EXPORT_PIXELS / max(rect.width(), rect.height()))
        image = QImage(max(1, int(rect.width() * scale)), max(1, int(rect.height() * scale)), QImage.Format.Format_ARGB32)
        image.fill(self._view.colors.background)
        painter = QPainter(image)
        painter.setRenderHints(QPainter.RenderHint.Antialiasing | QPainter.RenderHint.TextAntialiasing)
        self._view.render_scene(painter, QRectF(image.rect()), rect)
        painter.end()
        return bool(image.save(str(path), "PNG"))

    def export_svg(self, path: str) -> bool:
        from PySide6.QtSvg import QSvgGenerator

        rect = self._view.export_rect()
        if rect.isEmpty():
            return False
        gen = QSvgGenerator()
        gen.setFileName(str(path))
        gen.setSize(rect.size().toSize())
        gen.setViewBox(QRectF(0, 0, rect.width(), rect.height()))
        gen.setResolution(96)
        gen.setTitle(title_text(self._desc))
        gen.setDescription("ResNet block diagram exported from ResNet Studio")
        painter = QPainter()
        if not painter.begin(gen):
            return False
        painter.fillRect(QRectF(0, 0, rect.width(), rect.height()), self._view.colors.background)
        self._view.render_scene(painter, QRectF(0, 0, rect.width(), rect.height()), rect)
        painter.end()
        try:
            return os.path.getsize(path) > 0
        except OSError:
            return False

    # -- selection and details
    def _select(self, name: str | None) -> None:
        if name == self._view.selected:
            return
        self._view.set_selected(name)
        self._show_details()
        if name is not None:
            self.blockSelected.emit(name)

    def _show_details(self) -> None:
        desc = self._desc
        if desc is None:
            self._details.show_nothing()
            return
        selected = self._view.selected
        item = self._find(selected) if selected else None
        if item is None:
            self._details.show_network(desc)
        else:
            stage = self._stage(item["name"].split(".")[0]) if "type" in item else None
            stacked = None
            if stage is not None and self._is_collapsed(stage) and item["name"] != stage["blocks"][0]["name"]:
                stacked = stage["blocks"][1:]
            self._details.show_part(item, self._view.stats, stacked)

    def _size_splitter_once(self) -> None:
        """Give the details panel its minimum width and a little more, once: from then on the
        splitter stays where the user leaves it."""
        total = sum(self._splitter.sizes())
        if self._split_sized or total <= 0:
            return
        self._split_sized = True
        details = max(self._details.minimumWidth(), min(self._details.minimumWidth() + 60, total // 3))
        self._splitter.setSizes([max(1, total - details), details])

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self._size_splitter_once()

    def showEvent(self, event) -> None:
        super().showEvent(event)
        self._size_splitter_once()

    # -- helpers over the description
    def _all_blocks(self) -> list[dict]:
        return [b for s in (self._desc or {}).get("stages", []) for b in s["blocks"]]

    def _stage(self, name: str) -> dict | None:
        return next((s for s in (self._desc or {}).get("stages", []) if s["name"] == name), None)

    def _find(self, name: str) -> dict | None:
        if self._desc is None:
            return None
        if name in ("stem", "head"):
            return self._desc[name]
        return next((b for b in self._all_blocks() if b["name"] == name), None)

    def _is_collapsed(self, stage: dict) -> bool:
        default = len(stage["blocks"]) > COLLAPSE_ABOVE
        return len(stage["blocks"]) > 2 and self._collapsed.get(stage["name"], default)

    # -- statistics
    def _update_tint_button(self) -> None:
        self._tint_button.setEnabled(bool(self._view.stats.values))

    def _on_tint_toggle(self, checked: bool) -> None:
        self._view.stats.shown = checked
        self._refresh()

    def _refresh(self) -> None:
        self._view.refresh()
        self._legend.update()
        self._show_details()

    # -- toolbar
    def _set_all_collapsed(self, collapsed: bool) -> None:
        for stage in (self._desc or {}).get("stages", []):
            self._collapsed[stage["name"]] = collapsed and len(stage["blocks"]) > COLLAPSE_ABOVE
        self._rebuild(refit=True)

    def _on_export_png(self) -> None:
        self._ask_and_export("PNG image", "png", self.export_png)

    def _on_export_svg(self) -> None:
        self._ask_and_export("SVG drawing", "svg", self.export_svg)

    def _ask_and_export(self, kind: str, suffix: str, export: Callable[[str], bool]) -> None:
        name = f"resnet{(self._desc or {}).get('depth', '')}.{suffix}"
        path, _ = QFileDialog.getSaveFileName(self, f"Export diagram as {suffix.upper()}", name, f"{kind} (*.{suffix})")
        if path and not export(path):
            QMessageBox.warning(self, "Export failed", f"Could not write {path}.")

    # -- palette
    def changeEvent(self, event) -> None:
        if event.type() in (QEvent.Type.PaletteChange, QEvent.Type.FontChange, QEvent.Type.StyleChange):
            self._view.set_look(Colors.from_palette(self.palette()), Fonts(self.font()))
            if self._desc is not None:
                self._rebuild(refit=self._view.auto_fit)
            self._legend.update()
        super().changeEvent(event)

    # -- layout
    def _rebuild(self, refit: bool) -> None:
        if self._desc is None:
            self._view.clear()  # only Expand/Collapse all get here without a network; this also wipes a shown message
            return
        self._view.draw(self._desc, self._is_collapsed)
        self._legend.update()
        if refit:
            self._view.fit()
