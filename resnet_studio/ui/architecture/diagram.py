"""The block diagram's canvas: a QGraphicsView that zooms and pans, and what its items are drawn with.

`DiagramView` holds the scene, the colours and fonts, the block statistics, which block
is selected and whether an export is being rendered: everything the boxes, edges and
frames read when they paint. Clicks on them come back out as signals for the
Architecture tab to act on. The wheel scrolls and Ctrl+wheel zooms around the pointer (as
in every diagram tool); dragging pans. The diagram is fitted to the view until the user
zooms, never below a readable scale: a long stage wraps onto as many rows as the view's
width needs at that scale, and a network too long for the view is fitted to its width and
scrolls down (across too only in a very narrow view). While it is fitted, a resize wraps
the rows again.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QPointF, QRectF, Qt, Signal
from PySide6.QtGui import QFontInfo, QPainter, QTransform
from PySide6.QtWidgets import QFrame, QGraphicsScene, QGraphicsView, QStyle, QWidget

from .block import BoxItem
from .items import ScaleItem
from .labels import block_tooltip
from .layout import lay_out
from .style import Colors, Fonts
from .tint import BlockStats

__all__ = ["DiagramView", "READABLE_TEXT_PX", "MAX_FIT_SCALE"]

READABLE_TEXT_PX = 9.0  # fitting never shrinks the boxes' text below this many pixels
MAX_FIT_SCALE = 1.25  # nor blows a small network up past this
_FIT_MARGIN = 12.0


class DiagramView(QGraphicsView):
    """The wheel scrolls, Ctrl+wheel zooms around the pointer, dragging pans; fits the diagram
    (at a readable scale at least) until the user zooms."""

    blockClicked = Signal(str)  # a box was clicked: the block it selects
    collapseRequested = Signal(str, bool)  # a stage's toggle or a stack's double-click: stage, collapse

    def __init__(self, colors: Colors, fonts: Fonts, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setScene(QGraphicsScene(self))
        self.setRenderHints(QPainter.RenderHint.Antialiasing | QPainter.RenderHint.TextAntialiasing)
        self.setDragMode(QGraphicsView.DragMode.ScrollHandDrag)
        self.setTransformationAnchor(QGraphicsView.ViewportAnchor.AnchorUnderMouse)
        self.setViewportUpdateMode(QGraphicsView.ViewportUpdateMode.SmartViewportUpdate)
        self.setFrameShape(QFrame.Shape.NoFrame)
        self.auto_fit = True
        self.stats = BlockStats()
        self.selected: str | None = None
        self.exporting = False  # the scene is being rendered into a file: no controls
        self.boxes: dict[str, BoxItem] = {}
        self.scale_item: ScaleItem | None = None
        self._drawn: tuple[dict, Callable[[dict], bool]] | None = None  # what draw() drew last
        self._wrap_width: float | None = None  # the width its rows were wrapped to (scene units)
        self.set_look(colors, fonts)

    def set_look(self, colors: Colors, fonts: Fonts) -> None:
        """Paint with these from now on (the caller rebuilds the scene)."""
        self.colors = colors
        self.fonts = fonts
        self.setBackgroundBrush(colors.background)

    # -- what the scene shows
    def clear(self) -> None:
        self.scene().clear()
        self.boxes = {}
        self.scale_item = None
        self._drawn = None

    def draw(self, desc: dict, is_collapsed: Callable[[dict], bool]) -> None:
        """Draw `desc` afresh; `is_collapsed(stage)` says which stages show as a stack. Its rows are
        wrapped to the view's width while it is fitted (else as they were)."""
        self.clear()
        if self.auto_fit or self._wrap_width is None:
            self._wrap_width = self.wrap_width()
        self.boxes, self.scale_item = lay_out(self, desc, is_collapsed, self._wrap_width)
        self._drawn = (desc, is_collapsed)

    def has_padded_shortcuts(self) -> bool:
        """Whether the network drawn has the paper's option-A shortcuts (a CIFAR ResNet)."""
        desc = self._drawn[0] if self._drawn else {}
        return any(b.get("shortcut") == "zero-padded" for s in desc.get("stages", []) for b in s["blocks"])

    def wrap_width(self) -> float:
        """How wide (in scene units) a row may be to fit the view at the readable scale."""
        bar = self.style().pixelMetric(QStyle.PixelMetric.PM_ScrollBarExtent, None, self)
        return max(0.0, self.maximumViewportSize().width() - bar) / self.readable_scale()

    def show_message(self, text: str) -> None:
        """A line of text instead of a diagram."""
        self.clear()
        item = self.scene().addSimpleText(text, self.fonts.normal)
        item.setBrush(self.colors.muted)
        self.scene().setSceneRect(item.boundingRect().adjusted(-20, -20, 20, 20))
        self.resetTransform()

    def set_selected(self, name: str | None) -> None:
        self.selected = name
        for box in self.boxes.values():
            box.update()

    def refresh(self) -> None:
        """Repaint after the statistics or the tint switch changed; block tooltips carry the numbers."""
        for box in self.boxes.values():
            if box.block is not None:
                box.setToolTip(block_tooltip(box.block, self.stats))
            box.update()
        if self.scale_item is not None:
            self.scale_item.update()

    def box_rect(self, name: str) -> QRectF | None:
        """The scene rectangle of a block's box (or of the stack that holds it)."""
        for box in self.boxes.values():
            if box.key == name or name in box.repeat:
                return box.mapRectToScene(box.box)
        return None

    # -- export
    def export_rect(self) -> QRectF:
        return self.scene().itemsBoundingRect().adjusted(-16, -16, 16, 16)

    def render_scene(self, painter: QPainter, target: QRectF, source: QRectF) -> None:
        """The scene without its controls (the collapse toggles) and without hover."""
        self.exporting = True
        hovered = [b for b in self.boxes.values() if b.hover]
        for b in hovered:
            b.hover = False
        try:
            self.scene().render(painter, target, source)
        finally:
            self.exporting = False
            for b in hovered:
                b.hover = True

    # -- zoom
    def readable_scale(self) -> float:
        """The smallest scale a fit may use: the boxes' text stays READABLE_TEXT_PX pixels high."""
        pixels = QFontInfo(self.fonts.normal).pixelSize()
        return min(1.0, READABLE_TEXT_PX / pixels) if pixels > 0 else 0.75

    def fit_scale(self) -> float:
        """The scale a fit uses now: the whole diagram when that is readable (up to MAX_FIT_SCALE),
        else its width (scrolling down; up to the natural size), and never below readable_scale."""
        rect = self.scene().itemsBoundingRect().adjusted(-_FIT_MARGIN, -_FIT_MARGIN, _FIT_MARGIN, _FIT_MARGIN)
        if rect.isEmpty():
            return 1.0
        area = self.maximumViewportSize()  # without scroll bars
        whole = min(area.width() / rect.width(), area.height() / rect.height())
        floor = self.readable_scale()
        if whole >= floor:
            return min(whole, MAX_FIT_SCALE)
        bar = self.style().pixelMetric(QStyle.PixelMetric.PM_ScrollBarExtent, None, self)
        width = (area.width() - bar) / rect.width()  # a vertical scroll bar is coming
        return min(max(width, floor), 1.0)

    def fit(self, keep_place: bool = False) -> None:
        """Fit the diagram to the view (see fit_scale). When it scrolls, its top is shown, or
        with `keep_place` (a resize) the part at the top of the view stays there."""
        rect = self.scene().itemsBoundingRect().adjusted(-_FIT_MARGIN, -_FIT_MARGIN, _FIT_MARGIN, _FIT_MARGIN)
        if rect.isEmpty():
            return
        top = self.mapToScene(0, 0).y() if keep_place else rect.top()
        scale = self.fit_scale()
        self.setTransform(QTransform.fromScale(scale, scale))
        self.auto_fit = True
        seen = self.mapToScene(self.viewport().rect()).boundingRect()
        if seen.contains(rect):
            self.centerOn(rect.center())
            return
        x = rect.center().x() if seen.width() >= rect.width() else rect.left() + seen.width() / 2
        y = max(rect.top(), min(top, rect.bottom() - seen.height())) + seen.height() / 2
        self.centerOn(QPointF(x, y))

    def zoom(self, factor: float) -> None:
        scale = self.transform().m11()
        factor = min(max(factor, 0.04 / scale), 4.0 / scale)
        self.scale(factor, factor)
        self.auto_fit = False

    def wheelEvent(self, event) -> None:
        """The wheel scrolls; Ctrl+wheel zooms around the pointer."""
        if event.modifiers() & Qt.KeyboardModifier.ControlModifier:
            delta = event.angleDelta().y() or event.angleDelta().x()
            if delta:
                self.zoom(1.0015 ** delta)
            event.accept()
            return
        super().wheelEvent(event)

    def keyPressEvent(self, event) -> None:
        key = event.key()
        if key in (Qt.Key.Key_Plus, Qt.Key.Key_Equal):
            self.zoom(1.25)
        elif key == Qt.Key.Key_Minus:
            self.zoom(0.8)
        elif key == Qt.Key.Key_0:
            self.fit()
        else:
            super().keyPressEvent(event)

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        if not self.auto_fit:
            return
        if self._drawn is not None and abs(self.wrap_width() - (self._wrap_width or 0.0)) >= 1.0:
            self.draw(*self._drawn)  # rows wrapped again for the new width (a few milliseconds)
        self.fit(keep_place=True)
