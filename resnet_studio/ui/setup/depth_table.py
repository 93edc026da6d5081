"""The depth choice as a table: ResNet-18 to 152, then the paper's CIFAR ResNets (20 to 110, for
small images, from scratch), with parameters, compute at the image size in GMACs (billions of
multiply-adds, as the diagram and `resnet-studio info` say; they follow the stem) and ImageNet
top-1 (torchvision's numbers, filled in once torch has loaded; none for the CIFAR ResNets)."""

from __future__ import annotations

from PySide6.QtCore import QSize, Qt, Signal
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QSizePolicy, QTreeWidget, QTreeWidgetItem

from resnet_studio.engine.config import ALL_DEPTHS, SETTINGS, is_cifar_depth

from .. import format as fmt
from ..widgets import muted_label
from .fields import Field

__all__ = ["DepthTable", "DepthField", "COMPUTE_HEADER"]

COMPUTE_HEADER = "GMACs"  # billions of multiply-adds: the name the diagram and `info` use too


class DepthTable(QTreeWidget):
    """ResNet depths as rows: name, parameters, GMACs at the image size, ImageNet top-1."""

    depthChanged = Signal(int)

    def __init__(self) -> None:
        super().__init__()
        self.setColumnCount(4)
        self.setHeaderLabels(["Model", "Params", COMPUTE_HEADER, "Top-1"])
        header = self.headerItem()
        header.setToolTip(1, "Number of weights in the network (with the 1,000-class ImageNet head)")
        header.setToolTip(2, "Compute per image at the chosen image size, in GMACs: billions of multiply-adds "
                             "(multiply-accumulates)")
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
        for depth in ALL_DEPTHS:
            item = QTreeWidgetItem([f"ResNet-{depth}" + (" (CIFAR)" if is_cifar_depth(depth) else ""), "…", "…", "…"])
            item.setData(0, Qt.ItemDataRole.UserRole, depth)
            for col in (1, 2, 3):
                item.setTextAlignment(col, Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter)
            self.addTopLevelItem(item)
            self._items[depth] = item
        self.currentItemChanged.connect(self._on_current_change)
        self.setCurrentItem(self._items[SETTINGS["depth"].default])
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)

    def sizeHint(self) -> QSize:
        rows = self.sizeHintForRow(0) * len(ALL_DEPTHS) if self.topLevelItemCount() else 100
        return QSize(300, rows + self.header().sizeHint().height() + 2 * self.frameWidth() + 2)

    def minimumSizeHint(self) -> QSize:
        return QSize(240, self.sizeHint().height())

    def depth(self) -> int:
        item = self.currentItem()
        return int(item.data(0, Qt.ItemDataRole.UserRole)) if item else SETTINGS["depth"].default

    def set_depth(self, depth: int) -> None:
        if depth in self._items:
            self.setCurrentItem(self._items[depth])

    def set_summary(self, depth: int, summary: dict) -> None:
        item = self._items[depth]
        item.setText(1, fmt.millions(summary["params"]))
        macs = summary["gflops"]  # torchvision's "GFLOPS" are multiply-adds: GMACs
        item.setText(2, f"{macs:.2f}" if macs < 10 else f"{macs:.1f}")
        top1 = summary["imagenet_top1"]
        item.setText(3, f"{top1:.1f} %" if top1 is not None else "—")
        tip = (
            f"ResNet-{depth}: {summary['params']:,} parameters, {macs:.2f} GMACs (billions of multiply-adds) per image, "
            + (f"{top1:.1f} % ImageNet top-1 ({summary.get('weights_name', '')})" if top1 is not None else
               "the paper's CIFAR ResNet for small images: no ImageNet weights, trained from scratch")
        )
        for col in range(4):
            item.setToolTip(col, tip)

    def row_text(self, depth: int) -> list[str]:
        item = self._items[depth]
        return [item.text(c) for c in range(4)]

    def _on_current_change(self, current, _previous) -> None:
        if current is not None:
            self.depthChanged.emit(int(current.data(0, Qt.ItemDataRole.UserRole)))


class DepthField(Field):
    """The depth: the table, and a line saying what its numbers are."""

    def __init__(self) -> None:
        table = DepthTable()
        self.hint = muted_label(_hint_text(224))
        super().__init__("depth", "", "The network's depth: deeper is more accurate and slower.", table, self.hint)
        self.table = table
        table.depthChanged.connect(self.changed)

    def value(self) -> int:
        return self.table.depth()

    def set_value(self, value) -> None:
        try:
            self.table.set_depth(int(value))
        except (TypeError, ValueError):
            pass

    def show_numbers(self, summaries: dict[int, dict], image_size: int, stem: str = "imagenet") -> None:
        for depth, summary in summaries.items():
            self.table.set_summary(depth, summary)
        self.hint.setText(_hint_text(image_size, stem))


SMALL_STEM_LINE = "Small-image stem for ResNet-18 to 152: 3×3 convolution without max-pool, 16× the multiply-adds."


def _hint_text(image_size: int, stem: str = "imagenet") -> str:
    text = f"GMACs: billions of multiply-adds per image at {image_size} px. Top-1: torchvision's ImageNet weights."
    return f"{text}\n{SMALL_STEM_LINE}" if stem == "small" else text
