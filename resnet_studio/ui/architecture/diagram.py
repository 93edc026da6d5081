"""The block diagram's canvas: a QGraphicsView that zooms and pans, and what its items are drawn with.

`DiagramView` holds the scene, the colours and fonts, the block statistics, which block
is selected and whether an export is being rendered: everything the boxes, edges and
frames read when they paint. Clicks on them come back out as signals for the
Architecture tab to act on. The wheel zooms around the pointer, dragging pans, and the
diagram is fitted to the view until the user zooms.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QRectF, Qt, Signal
from PySide6.QtGui import QPainter
from PySide6.QtWidgets import QFrame, QGraphicsScene, QGraphicsView, QWidget

from .block import BoxItem
from .items import ScaleItem
from .labels import block_tooltip
from .layout import lay_out
from .style import Colors, Fonts
from .tint import BlockStats

__all__ = ["DiagramView"]


class DiagramView(QGraphicsView):
    """Wheel zooms around the pointer, dragging pans; fits the diagram until the user zooms."""

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

    def draw(self, desc: dict, is_collapsed: Callable[[dict], bool]) -> None:
        """Draw `desc` afresh; `is_collapsed(stage)` says which stages show as a stack."""
        self.clear()
        self.boxes, self.scale_item = lay_out(self, desc, is_collapsed)

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
    def fit(self) -> None:
        rect = self.scene().itemsBoundingRect().adjusted(-12, -12, 12, 12)
        if rect.isEmpty():
            return
        self.resetTransform()
        self.fitInView(rect, Qt.AspectRatioMode.KeepAspectRatio)
        if self.transform().m11() > 1.25:  # a small network is not blown up past readable
            self.resetTransform()
            self.scale(1.25, 1.25)
            self.centerOn(rect.center())
        self.auto_fit = True

    def zoom(self, factor: float) -> None:
        scale = self.transform().m11()
        factor = min(max(factor, 0.04 / scale), 4.0 / scale)
        self.scale(factor, factor)
        self.auto_fit = False

    def wheelEvent(self, event) -> None:
        delta = event.angleDelta().y()
        if delta:
            self.zoom(1.0015 ** delta)
            event.accept()

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
        if self.auto_fit:
            self.fit()
