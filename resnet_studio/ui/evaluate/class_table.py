"""The Evaluate tab's per-class table: precision, recall, F1 and support of each class.

Sortable by any column, numbers by their value; a weak figure (under 50%) is red.
Clicking a row emits `classClicked(index)`, the class's index in the evaluation.
"""

from __future__ import annotations

from PySide6.QtCore import QSortFilterProxyModel, Qt, Signal
from PySide6.QtGui import QFontMetrics, QStandardItem, QStandardItemModel
from PySide6.QtWidgets import QAbstractItemView, QHeaderView, QTableView, QWidget

from ..widgets import palette_colors

__all__ = ["ClassTable", "COLUMNS"]

COLUMNS = ("Class", "Precision", "Recall", "F1", "Support")
_SORT_ROLE = Qt.ItemDataRole.UserRole
_INDEX_ROLE = Qt.ItemDataRole.UserRole + 1
_RIGHT = Qt.AlignmentFlag.AlignRight | Qt.AlignmentFlag.AlignVCenter


class _SortProxy(QSortFilterProxyModel):
    """Sorts by each cell's raw value (the number, the lower-case name), not by its text."""

    def lessThan(self, left, right) -> bool:
        a, b = left.data(_SORT_ROLE), right.data(_SORT_ROLE)
        if a is None or b is None:
            return super().lessThan(left, right)
        return a < b


class ClassTable(QTableView):
    """One row per class of an evaluation."""

    classClicked = Signal(int)  # the class's index in the evaluation

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.source = QStandardItemModel(0, len(COLUMNS))
        self.source.setHorizontalHeaderLabels(list(COLUMNS))
        self.proxy = _SortProxy()
        self.proxy.setSourceModel(self.source)
        self.setModel(self.proxy)
        self.setSortingEnabled(True)
        self.sortByColumn(0, Qt.SortOrder.AscendingOrder)
        self.setSelectionBehavior(QAbstractItemView.SelectionBehavior.SelectRows)
        self.setSelectionMode(QAbstractItemView.SelectionMode.SingleSelection)
        self.setEditTriggers(QAbstractItemView.EditTrigger.NoEditTriggers)
        self.setAlternatingRowColors(True)
        self.verticalHeader().setVisible(False)
        self.verticalHeader().setDefaultSectionSize(QFontMetrics(self.font()).height() + 8)
        header = self.horizontalHeader()
        header.setSectionResizeMode(0, QHeaderView.ResizeMode.Stretch)
        for column in range(1, len(COLUMNS)):
            header.setSectionResizeMode(column, QHeaderView.ResizeMode.ResizeToContents)
        self.clicked.connect(self._on_clicked)

    def set_metrics(self, per_class) -> None:
        """Fill from an Evaluation's per_class (ClassMetrics), keeping the sort the user chose."""
        self.source.removeRows(0, self.source.rowCount())
        error = palette_colors(self)["error"]
        for i, c in enumerate(per_class):
            name = QStandardItem(c.name)
            name.setData(c.name.lower(), _SORT_ROLE)
            name.setData(i, _INDEX_ROLE)
            row = [name]
            for value in (c.precision, c.recall, c.f1):
                item = _number(f"{value:.1%}" if value < 1 else "100%", float(value))
                if c.support and value < 0.5:
                    item.setForeground(error)
                row.append(item)
            row.append(_number(f"{c.support:,}", int(c.support)))
            self.source.appendRow(row)
        header = self.horizontalHeader()
        self.sortByColumn(header.sortIndicatorSection(), header.sortIndicatorOrder())

    def _on_clicked(self, index) -> None:
        item = self.source.item(self.proxy.mapToSource(index).row(), 0)
        if item is not None:
            self.classClicked.emit(int(item.data(_INDEX_ROLE)))


def _number(text: str, value) -> QStandardItem:
    item = QStandardItem(text)
    item.setData(value, _SORT_ROLE)
    item.setTextAlignment(_RIGHT)
    return item
