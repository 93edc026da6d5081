"""The Train tab's log: the run's messages, time-stamped, warnings and errors in colour.

`RunLog` keeps its last MAX_LOG_LINES lines, and has the run's "Open run folder" button.
"""

from __future__ import annotations

import os
import time

from PySide6.QtCore import Qt
from PySide6.QtGui import QColor, QFontDatabase
from PySide6.QtWidgets import QHBoxLayout, QLabel, QPlainTextEdit, QStyle, QToolButton, QVBoxLayout, QWidget

from ..format import escape
from ..widgets import css, open_folder, palette_colors

__all__ = ["RunLog", "MAX_LOG_LINES"]

MAX_LOG_LINES = 5000
STAMP_ALPHA = 0.75  # of the muted colour, for the time stamps


class RunLog(QWidget):
    """A "Log" header (with Open run folder and Clear) over the read-only log `view`."""

    def __init__(self, parent: QWidget | None = None):
        super().__init__(parent)
        self._run_dir: str | None = None
        self.view = QPlainTextEdit()
        self.view.setObjectName("runLog")
        self.view.setReadOnly(True)
        self.view.setMaximumBlockCount(MAX_LOG_LINES)
        self.view.setPlaceholderText("Messages from the training run appear here: skipped files, checkpoints, warnings.")
        mono = QFontDatabase.systemFont(QFontDatabase.SystemFont.FixedFont)
        mono.setPointSizeF(max(8.0, self.font().pointSizeF() * 0.92))
        self.view.setFont(mono)
        title = QLabel("Log")
        font = title.font()
        font.setBold(True)
        title.setFont(font)
        self.open_folder_button = QToolButton()
        self.open_folder_button.setText("Open run folder")
        self.open_folder_button.setIcon(self.style().standardIcon(QStyle.StandardPixmap.SP_DirOpenIcon))
        self.open_folder_button.setToolButtonStyle(Qt.ToolButtonStyle.ToolButtonTextBesideIcon)
        self.open_folder_button.setAutoRaise(True)
        self.open_folder_button.setEnabled(False)
        self.open_folder_button.clicked.connect(self._open_run_folder)
        clear = QToolButton()
        clear.setText("Clear")
        clear.setAutoRaise(True)
        clear.clicked.connect(self.view.clear)
        header = QHBoxLayout()
        header.addWidget(title)
        header.addStretch(1)
        header.addWidget(self.open_folder_button)
        header.addWidget(clear)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 4, 0, 0)
        layout.setSpacing(2)
        layout.addLayout(header)
        layout.addWidget(self.view)

    def append(self, level: str, message: str, when: float | None = None) -> None:
        """One line: time stamp (`when`, seconds since the epoch; now if None), then the
        message as plain text; "warning" and "error" lines are coloured and labelled."""
        colors = palette_colors(self)
        stamp = time.strftime("%H:%M:%S", time.localtime(when if when else time.time()))
        text = escape(message)
        if level in ("warning", "error"):
            text = f'<span style="color:{colors[level].name()}"><b>{level}:</b> {text}</span>'
        muted = QColor(colors["muted"])
        muted.setAlphaF(STAMP_ALPHA)
        self.view.appendHtml(f'<span style="color:{css(muted)}">{stamp}</span>&nbsp; {text}')

    def clear(self) -> None:
        self.view.clear()

    def set_run_dir(self, run_dir: str | None) -> None:
        """The folder "Open run folder" opens (None: the button is disabled)."""
        self._run_dir = run_dir or None
        self.open_folder_button.setEnabled(bool(run_dir))

    def run_dir(self) -> str | None:
        return self._run_dir

    def _open_run_folder(self) -> None:
        if self._run_dir and os.path.isdir(self._run_dir):
            open_folder(self._run_dir, self)
