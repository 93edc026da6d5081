"""The details panel beside the block diagram: what the selected block is, and its layers in a table.

With nothing selected it shows the whole network, one row per stage; with a block
selected, its channels, stride, shortcut, output, parameters and statistic, and one row
per layer (kernel, channels, output shape, parameters), the projection's layers grouped.

The number columns are as wide as the widest value anywhere in the network (set once per
network, `fit_columns`), and the panel is never narrower than they need: the layer names
give way (elided, whole in their tooltips), the numbers are never cut off, and selecting
another block changes no width.
"""

from __future__ import annotations

from PySide6.QtCore import Qt
from PySide6.QtWidgets import QHeaderView, QLabel, QStyle, QTreeWidget, QTreeWidgetItem, QVBoxLayout, QWidget

from .labels import (
    kernel_text,
    macs_text,
    shape_text,
    shortcut_label,
    state_word,
    stride_of,
    subtitle_text,
    title_text,
    value_text,
)
from .tint import BlockStats

__all__ = ["DetailsPanel"]

_NUMBER_COLUMNS = (1, 2, 4)  # kernel, channels, parameters: right-aligned
_RIGHT = Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter
_HEADERS = ("Layer", "Kernel", "Channels", "Output", "Params")
LAYER_COLUMN_MIN = 96  # the layer names' column, at least (its names are elided below their width)


class DetailsPanel(QWidget):
    """A rich-text summary over a layer table."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.title = QLabel(self)
        self.title.setWordWrap(True)
        self.title.setTextFormat(Qt.TextFormat.RichText)
        self.title.setAlignment(Qt.AlignmentFlag.AlignTop | Qt.AlignmentFlag.AlignLeft)
        self.title.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        self.tree = QTreeWidget(self)
        self.tree.setHeaderLabels(list(_HEADERS))
        self.tree.setRootIsDecorated(True)
        self.tree.setUniformRowHeights(True)
        self.tree.setAlternatingRowColors(True)
        self.tree.setTextElideMode(Qt.TextElideMode.ElideRight)
        self.tree.setHorizontalScrollBarPolicy(Qt.ScrollBarPolicy.ScrollBarAlwaysOff)
        header = self.tree.header()
        header.setStretchLastSection(False)
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        for col in range(1, len(_HEADERS)):
            header.setSectionResizeMode(col, QHeaderView.ResizeMode.Fixed)
        for col in _NUMBER_COLUMNS:
            self.tree.headerItem().setTextAlignment(col, _RIGHT)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(6, 0, 0, 0)
        layout.addWidget(self.title)
        layout.addWidget(self.tree, 1)
        self.fit_columns(None)

    def show_nothing(self) -> None:
        self.tree.clear()
        self.title.setText("<i>No network to show.</i>")

    def show_network(self, desc: dict) -> None:
        """The whole network: its title and one row per stem, stage and head."""
        self.tree.clear()
        self.title.setText(
            f"<b>{title_text(desc)}</b><br>{subtitle_text(desc)}<br><br>"
            "<span>Click a block to see its layers, shapes and parameters.</span>"
        )
        for group in [desc["stem"], *desc["stages"], desc["head"]]:
            self._add(QTreeWidgetItem(self._group_cells(group)))

    def show_part(self, item: dict, stats: BlockStats, stacked: list[dict] | None = None) -> None:
        """The stem, the head or a residual block; `stacked` are the blocks drawn as a stack with it
        when it is one of them (a collapsed stage)."""
        self.tree.clear()
        text = [f"<b>{item['name']}</b>"]
        if "type" in item:
            text[0] += f" &nbsp;·&nbsp; {item['type']}"
            text.append(f"{item['in_channels']} → {item['out_channels']} channels, stride {item['stride']}")
            sc = item["shortcut"]
            projection = f" ({shortcut_label(item)}, {item['out_channels']} channels)" if sc == "projection" else ""
            text.append(f"Shortcut: {sc}{projection}")
            if stacked:
                first, last = stacked[0]["name"], stacked[-1]["name"]
                text.append(f"<i>Stage collapsed: {len(stacked)} blocks like this one ({first} … {last}).</i>")
        else:
            text[0] += f" &nbsp;·&nbsp; {item.get('paper_name', '')}"
        text.append(f"Output {shape_text(item['out_shape'])} &nbsp;·&nbsp; {item['params']:,} parameters ({state_word(item)})")
        if item.get("mult_adds"):
            text.append(macs_text(item["mult_adds"]))
        if item["name"] in stats.values:
            text.append(f"{stats.label.capitalize()}: {value_text(stats.values[item['name']])}")
        self.title.setText("<br>".join(text))
        for layer in item["layers"]:
            self.tree.addTopLevelItem(self._layer_row(layer, item["name"]))
        if item.get("shortcut_layers"):
            params = sum(layer["params"] for layer in item["shortcut_layers"])
            group = QTreeWidgetItem(["shortcut (projection)", "", "", "", f"{params:,}"])
            self._align(group)
            group.setToolTip(0, group.text(0))
            for layer in item["shortcut_layers"]:
                group.addChild(self._layer_row(layer, item["name"]))
            self.tree.addTopLevelItem(group)
            group.setExpanded(True)
        elif item.get("shortcut") == "identity":
            self._add(QTreeWidgetItem(["shortcut (identity)", "", "", "", "–"]))

    def fit_columns(self, desc: dict | None) -> None:
        """Size the number columns for the widest value anywhere in `desc` (or the headers alone),
        and keep the panel at least as wide as they need."""
        rows = [self._group_cells(g) for g in [desc["stem"], *desc["stages"], desc["head"]]] if desc else []
        for part in ([desc["stem"], *[b for s in desc["stages"] for b in s["blocks"]], desc["head"]] if desc else []):
            rows += [self._layer_cells(layer, part["name"]) for layer in part["layers"] + part.get("shortcut_layers", [])]
            rows.append(["", "", "", "", f"{sum(x['params'] for x in part.get('shortcut_layers', [])):,}"])
        fm = self.tree.fontMetrics()
        style = self.tree.style()
        pad = 2 * (style.pixelMetric(QStyle.PixelMetric.PM_FocusFrameHMargin, None, self.tree) + 1) + 8
        header = self.tree.header()
        widths = []
        for col in range(1, len(_HEADERS)):
            text = max((fm.horizontalAdvance(r[col]) for r in rows), default=0) + pad
            widths.append(max(text, header.sectionSizeHint(col)))
            header.resizeSection(col, widths[-1])
        scroll = style.pixelMetric(QStyle.PixelMetric.PM_ScrollBarExtent, None, self.tree)
        margins = self.layout().contentsMargins()
        self.setMinimumWidth(LAYER_COLUMN_MIN + sum(widths) + 2 * self.tree.frameWidth() + scroll
                             + margins.left() + margins.right() + 2)

    def column_widths(self) -> list[int]:
        return [self.tree.header().sectionSize(col) for col in range(len(_HEADERS))]

    def _add(self, row: QTreeWidgetItem) -> None:
        self._align(row)
        row.setToolTip(0, row.text(0))
        self.tree.addTopLevelItem(row)

    @staticmethod
    def _group_cells(group: dict) -> list[str]:
        name = f"{group['name']} ({group.get('paper_name', '')})"
        return [name, "", "", shape_text(group["out_shape"]), f"{group['params']:,}"]

    @staticmethod
    def _layer_row(layer: dict, owner: str) -> QTreeWidgetItem:
        row = QTreeWidgetItem(DetailsPanel._layer_cells(layer, owner))
        row.setToolTip(0, row.text(0))
        DetailsPanel._align(row)
        return row

    @staticmethod
    def _layer_cells(layer: dict, owner: str) -> list[str]:
        name = layer["name"].removeprefix(owner + ".")
        kind = layer["kind"]
        label = {"add": "⊕ add shortcut", "batchnorm": f"{name} (batch norm)", "linear": f"{name} (linear)"}.get(
            kind, name if name.startswith(kind) else f"{name} ({kind})")
        kernel = kernel_text(layer.get("kernel"))
        stride = stride_of(layer.get("stride"))
        if kernel and stride > 1:
            kernel += f" /{stride}"
        ch = layer["in_channels"], layer["out_channels"]
        channels = f"{ch[0]} → {ch[1]}" if ch[0] != ch[1] else str(ch[1])
        params = f"{layer['params']:,}" if layer["params"] else "–"
        return [label, kernel, channels, shape_text(layer["out_shape"]), params]

    @staticmethod
    def _align(row: QTreeWidgetItem) -> None:
        for col in _NUMBER_COLUMNS:
            row.setTextAlignment(col, _RIGHT)
