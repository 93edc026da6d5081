"""Lays a ResNet description out as scene items, read left to right like a line of text.

One framed group per part: the stem (after the input image), layer1..layer4 (one row of
residual blocks each, wrapped when a stage is long or the view is narrow, or its first
block and a stack when collapsed), the head (before the class scores). A gutter on the left names each group;
edges join the boxes within a row, and a connector runs from the end of each row back
to the start of the next, labelled with the tensor shape between stages.
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from PySide6.QtCore import QPointF, QRectF
from PySide6.QtWidgets import QGraphicsItem

from .block import BoxItem
from .items import EdgeItem, FrameItem, ScaleItem, TerminalItem, TitleItem
from .labels import (
    block_tooltip,
    conv_line,
    group_lines,
    group_tooltip,
    shape_text,
    shortcut_label,
    stack_tooltip,
    subtitle_text,
    title_text,
)

if TYPE_CHECKING:
    from .diagram import DiagramView

__all__ = ["BLOCKS_PER_ROW", "lay_out"]

BLOCKS_PER_ROW = 9  # a longer stage wraps onto further rows (fewer when the view is narrower: max_width)
MIN_BLOCKS_PER_ROW = 3

_MARGIN = 12.0
_GUTTER_PAD = 12.0
_EDGE_GAP = 28.0
_ROW_GAP = 22.0  # inside a stage, between wrapped rows
_GROUP_GAP = 40.0  # between stages: room for the shape label
_ROW_END = 26.0 + 14.0 + 2 * _MARGIN  # after a row's last block: the connector's turn, the frame, the margins


@dataclass
class _Group:
    """A framed part of the diagram: its gutter lines, its rows of items, the shape it puts out."""

    name: str
    lines: list[tuple[str, str]]  # (text, "bold"|"normal"|"small")
    rows: list[list[QGraphicsItem]]
    out: str | None
    toggle: str | None = None  # "expand 36" or "collapse"; None when the stage cannot collapse
    collapsed: bool = False
    wrap: bool = False  # its one row of blocks is to be wrapped (build does, once it knows where rows start)


@dataclass
class _Placed:
    """A group once placed: where its rows run (main-path y and items) and its frame's top and bottom."""

    group: _Group
    rows: list[tuple[float, list[QGraphicsItem]]] = field(default_factory=list)
    top: float = 0.0
    bottom: float = 0.0


def lay_out(host: DiagramView, desc: dict, is_collapsed: Callable[[dict], bool],
            max_width: float | None = None) -> tuple[dict[str, BoxItem], ScaleItem]:
    """Fill `host`'s (empty) scene with the diagram of `desc`; `is_collapsed(stage)` says how to
    draw each stage; a stage's rows hold at most BLOCKS_PER_ROW blocks, and fewer (down to
    MIN_BLOCKS_PER_ROW) where they would be wider than `max_width` (scene units). Returns the
    boxes by key (block name, or 'layer3.1-35' for a stack) and the colour scale item."""
    return _Layout(host, desc, is_collapsed, max_width).build()


class _Layout:
    def __init__(self, host: DiagramView, desc: dict, is_collapsed: Callable[[dict], bool], max_width: float | None) -> None:
        self.host = host
        self.scene = host.scene()
        self.fonts = host.fonts
        self.desc = desc
        self.is_collapsed = is_collapsed
        self.max_width = max_width
        self.boxes: dict[str, BoxItem] = {}

    def build(self) -> tuple[dict[str, BoxItem], ScaleItem]:
        groups = self._groups()
        x0 = _MARGIN + self._gutter_width(groups) + 26  # where each row starts
        for g in groups:
            if g.wrap:
                g.rows = self._wrap(g.rows[0], x0)
        title = TitleItem(self.host, title_text(self.desc), subtitle_text(self.desc))
        title.setPos(_MARGIN, 0)
        self.scene.addItem(title)
        scale = ScaleItem(self.host)
        scale.setPos(_MARGIN, title.h + 4)
        self.scene.addItem(scale)
        placed, max_right = self._place(groups, x0, title.h + 4 + scale.h + 12)
        self._frames_and_edges(placed, max_right + 26)
        self._connectors(placed, x0)
        self.scene.setSceneRect(self.scene.itemsBoundingRect().adjusted(-12, -12, 12, 12))
        return self.boxes, scale

    # 1. the items of each group, split into rows
    def _groups(self) -> list[_Group]:
        desc = self.desc
        groups: list[_Group] = []
        input_shape = shape_text(desc.get("input_shape") or [3, desc["image_size"], desc["image_size"]])
        input_item = TerminalItem(self.host, ["image", input_shape], "The input image")
        stem = desc["stem"]
        groups.append(_Group("stem", [("stem", "bold"), (stem.get("paper_name", "conv1"), "small")],
                             [[input_item, self._box_for_group(stem)]], shape_text(stem["out_shape"])))
        for stage in desc["stages"]:
            blocks = stage["blocks"]
            collapsed = self.is_collapsed(stage)
            if collapsed:
                rows = [[self._box_for_block(blocks[0]), self._box_for_stack(blocks[1:])]]
            else:
                rows = [[self._box_for_block(b) for b in blocks]]  # wrapped in build()
            toggle = None
            if len(blocks) > 2:
                toggle = f"expand {len(blocks)}" if collapsed else "collapse"
            btype = blocks[0]["type"] if blocks else ""
            lines = [(stage["name"], "bold"), (stage.get("paper_name", ""), "small"), (f"{len(blocks)} × {btype}", "normal")]
            groups.append(_Group(stage["name"], lines, rows, shape_text(stage["out_shape"]), toggle, collapsed,
                                 wrap=not collapsed))
        head = desc["head"]
        out_item = TerminalItem(self.host, ["scores", f"{desc['num_classes']} classes"], "One score per class")
        groups.append(_Group("head", [("head", "bold"), (head.get("paper_name", "fc"), "small")],
                             [[self._box_for_group(head), out_item]], None))
        return groups

    def _wrap(self, items: list[QGraphicsItem], x0: float) -> list[list[QGraphicsItem]]:
        """A stage's blocks in rows of about the same length, each at most BLOCKS_PER_ROW long and,
        with a max_width, no wider than that (but MIN_BLOCKS_PER_ROW at least)."""
        if not items:
            return [items]
        limit = BLOCKS_PER_ROW
        if self.max_width:
            right = x0
            fits = 0
            for it in items[:BLOCKS_PER_ROW]:
                right += it.exit_x
                if right + _ROW_END > self.max_width:
                    break
                fits += 1
                right += _EDGE_GAP
            limit = max(MIN_BLOCKS_PER_ROW, fits)
        n_rows = math.ceil(len(items) / limit)
        per_row = math.ceil(len(items) / n_rows)
        return [items[i:i + per_row] for i in range(0, len(items), per_row)]

    # 2. the gutter's width, from the widest text in it
    def _gutter_width(self, groups: list[_Group]) -> float:
        f = self.fonts
        gutter = 0.0
        for g in groups:
            for text, style in g.lines:
                gutter = max(gutter, f.metrics(style).horizontalAdvance(text))
            if g.toggle:
                gutter = max(gutter, f.fm_small.horizontalAdvance("expand 36") + 24)
        return math.ceil(gutter + 2 * _GUTTER_PAD)

    # 3. place rows top to bottom
    def _place(self, groups: list[_Group], x0: float, y: float) -> tuple[list[_Placed], float]:
        f = self.fonts
        placed: list[_Placed] = []
        max_right = 0.0
        for g in groups:
            p = _Placed(g, top=y)
            y += 10  # frame padding
            for row in g.rows:
                up = max(-it.boundingRect().top() for it in row)
                down = max(it.boundingRect().bottom() for it in row)
                main_y = y + up
                x = x0
                for it in row:
                    it.setPos(x, main_y)
                    self.scene.addItem(it)
                    x += it.exit_x + _EDGE_GAP
                max_right = max(max_right, x - _EDGE_GAP)
                p.rows.append((main_y, row))
                y = main_y + down + _ROW_GAP
            y -= _ROW_GAP
            y += 10
            min_h = sum(f.metrics(s).height() for _, s in g.lines) + 20 + (f.fm_small.height() + 12 if g.toggle else 0)
            y = max(y, p.top + min_h)
            p.bottom = y
            placed.append(p)
            y += _GROUP_GAP
        return placed, max_right

    # 4. frames (one width for all, a tidy column) and the straight edges within a row
    def _frames_and_edges(self, placed: list[_Placed], right: float) -> None:
        for p in placed:
            g = p.group
            on_toggle = None
            if g.toggle:
                on_toggle = lambda n=g.name, c=g.collapsed: self.host.collapseRequested.emit(n, not c)
            frame = FrameItem(self.host, QRectF(_MARGIN, p.top, right - _MARGIN, p.bottom - p.top), g.lines, g.toggle, on_toggle)
            self.scene.addItem(frame)
            for main_y, row in p.rows:
                for a, b in zip(row, row[1:]):
                    start = QPointF(a.pos().x() + a.exit_x, main_y)
                    end = QPointF(b.pos().x(), main_y)
                    self.scene.addItem(EdgeItem(self.host, [start, end], arrow=not _draws_own_entry(b)))

    # 5. row-to-row connectors: out to the right, back along the gap, in from the left
    def _connectors(self, placed: list[_Placed], x0: float) -> None:
        all_rows = [(gi, main_y, row) for gi, p in enumerate(placed) for main_y, row in p.rows]
        for (ga, ya, ra), (gb, yb, rb) in zip(all_rows, all_rows[1:]):
            last, first = ra[-1], rb[0]
            sx = last.pos().x() + last.exit_x
            turn_r = sx + 14
            if ga != gb:
                gap_y = (placed[ga].bottom + placed[gb].top) / 2
            else:
                gap_y = ya + last.boundingRect().bottom() + _ROW_GAP / 2
                gap_y = max(gap_y, max(it.pos().y() + it.boundingRect().bottom() for it in ra) + 4)
            turn_l = x0 - 14
            points = [QPointF(sx, ya), QPointF(turn_r, ya), QPointF(turn_r, gap_y), QPointF(turn_l, gap_y),
                      QPointF(turn_l, yb), QPointF(first.pos().x(), yb)]
            label = placed[ga].group.out if ga != gb else ""
            at = QPointF(x0 + 70, gap_y) if label else None
            self.scene.addItem(EdgeItem(self.host, points, label, at, arrow=not _draws_own_entry(first)))

    # -- the boxes
    def _box_for_group(self, group: dict) -> BoxItem:
        box = BoxItem(self.host, group["name"], group["name"], group_lines(group), trainable=bool(group.get("trainable")),
                      tooltip=group_tooltip(group))
        self.boxes[group["name"]] = box
        return box

    def _box_for_block(self, block: dict) -> BoxItem:
        lines = [conv_line(layer) for layer in block["layers"] if layer["kind"] == "conv"]
        label = shortcut_label(block) if block["shortcut"] in ("projection", "zero-padded") else ""
        box = BoxItem(self.host, block["name"], block["name"], lines, trainable=bool(block.get("trainable")),
                      shortcut=block["shortcut"], shortcut_label=label, tooltip=block_tooltip(block, self.host.stats),
                      block=block)
        self.boxes[block["name"]] = box
        return box

    def _box_for_stack(self, blocks: list[dict]) -> BoxItem:
        first, last = blocks[0], blocks[-1]
        last_index = last["name"].rsplit(".", 1)[-1]
        lines = [conv_line(layer) for layer in first["layers"] if layer["kind"] == "conv"]
        kinds = {b["shortcut"] for b in blocks}
        shortcut = next((k for k in ("projection", "zero-padded") if k in kinds), "identity")
        box = BoxItem(self.host, f"{first['name']}-{last_index}", f"{first['name']} … {last_index}", lines,
                      trainable=all(b.get("trainable") for b in blocks),
                      shortcut=shortcut, repeat=[b["name"] for b in blocks],
                      tooltip=stack_tooltip(blocks))
        self.boxes[box.key] = box
        return box


def _draws_own_entry(item: QGraphicsItem) -> bool:
    """A residual block draws its own arrow into the box, after the split dot."""
    return isinstance(item, BoxItem) and item.shortcut is not None
