"""Small widgets every room uses: labels with a purpose, a banner, a figure tile, colours.

- `InlineMessage`, `SectionHeader`, `ElidedLabel`, `muted_label`: labels with a purpose.
- `Banner`: a coloured strip with a message and action buttons.
- `StatTile`: a small caption over a large value.
- `palette_colors`: semantic colours that read well on a light or dark palette.

Background work is tasks.py; numbers and words format.py; pictures images.py.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QSize, Qt
from PySide6.QtGui import QColor, QFontMetrics, QPalette
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QPushButton, QSizePolicy, QVBoxLayout, QWidget

__all__ = [
    "InlineMessage",
    "Banner",
    "SectionHeader",
    "ElidedLabel",
    "StatTile",
    "muted_label",
    "local_paths",
    "open_folder",
    "palette_colors",
    "css",
]


# ---------------------------------------------------------------- colours


def palette_colors(widget: QWidget | None = None) -> dict[str, QColor]:
    """Semantic colours that read well on the current (light or dark) palette."""
    pal = widget.palette() if widget is not None else QPalette()
    dark = pal.color(QPalette.ColorRole.Window).lightness() < 128
    accent = pal.color(QPalette.ColorRole.Highlight)
    text = pal.color(QPalette.ColorRole.WindowText)
    muted = QColor(text)
    muted.setAlphaF(0.62)
    track = QColor(text)
    track.setAlphaF(0.10)
    return {
        "accent": accent,
        "text": text,
        "muted": muted,
        "track": track,
        "error": QColor("#ff6b6b") if dark else QColor("#c62828"),
        "warning": QColor("#f0b429") if dark else QColor("#a15c00"),
        "info": QColor("#7fb2ff") if dark else QColor("#1a5fb4"),
        "error_bg": QColor(255, 107, 107, 40) if dark else QColor("#fdecea"),
        "warning_bg": QColor(240, 180, 41, 40) if dark else QColor("#fff4e0"),
        "info_bg": QColor(127, 178, 255, 36) if dark else QColor("#e8f0fc"),
        "bar_other": QColor(accent.red(), accent.green(), accent.blue(), 110),
    }


def css(color: QColor) -> str:
    """A colour as CSS rgba() for a style sheet."""
    return f"rgba({color.red()},{color.green()},{color.blue()},{color.alphaF():.3f})"


# ---------------------------------------------------------------- labels


class InlineMessage(QLabel):
    """A one-or-two line message under a field: error (red), warning (orange) or hint.

    Hidden while empty, so a valid form has no gaps.
    """

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setWordWrap(True)
        self.setTextFormat(Qt.TextFormat.PlainText)
        self.setSizePolicy(QSizePolicy.Policy.Preferred, QSizePolicy.Policy.Minimum)
        font = self.font()
        font.setPointSizeF(max(7.5, font.pointSizeF() * 0.92))
        self.setFont(font)
        self.kind = ""
        self.hide()

    def show_error(self, text: str) -> None:
        self._set("error", text)

    def show_warning(self, text: str) -> None:
        self._set("warning", text)

    def show_hint(self, text: str) -> None:
        self._set("muted", text)

    def clear_message(self) -> None:
        self.kind = ""
        self.setText("")
        self.hide()

    def _set(self, kind: str, text: str) -> None:
        if not text:
            self.clear_message()
            return
        self.kind = kind
        prefix = {"error": "\u26a0 ", "warning": "\u26a0 "}.get(kind, "")
        self.setText(prefix + text)
        color = palette_colors(self)[kind]
        self.setStyleSheet(f"color: {css(color)};")
        self.show()


class SectionHeader(QLabel):
    """A section title in the side panel ("Model", "Data", ...)."""

    def __init__(self, text: str, parent: QWidget | None = None) -> None:
        super().__init__(text, parent)
        font = self.font()
        font.setBold(True)
        font.setPointSizeF(font.pointSizeF() * 1.08)
        self.setFont(font)
        self.setContentsMargins(0, 8, 0, 2)


class ElidedLabel(QLabel):
    """A label that elides its (plain) text instead of growing; full text in the tooltip."""

    def __init__(self, text: str = "", parent: QWidget | None = None, mode=Qt.TextElideMode.ElideMiddle) -> None:
        super().__init__(parent)
        self._full = ""
        self._mode = mode
        self.setSizePolicy(QSizePolicy.Policy.Ignored, QSizePolicy.Policy.Preferred)
        self.setText(text)

    def setText(self, text: str) -> None:
        self._full = text or ""
        self.setToolTip(self._full)
        self._elide()

    def full_text(self) -> str:
        return self._full

    def resizeEvent(self, event) -> None:
        super().resizeEvent(event)
        self._elide()

    def minimumSizeHint(self) -> QSize:
        return QSize(40, super().minimumSizeHint().height())

    def _elide(self) -> None:
        width = max(10, self.contentsRect().width())
        super().setText(QFontMetrics(self.font()).elidedText(self._full, self._mode, width))


class Banner(QFrame):
    """A coloured strip with a message and optional action buttons (info/warning/error)."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.setObjectName("Banner")
        self._title = QLabel()
        font = self._title.font()
        font.setBold(True)
        self._title.setFont(font)
        self._title.setWordWrap(True)
        self._text = QLabel()
        self._text.setWordWrap(True)
        self._text.setTextFormat(Qt.TextFormat.RichText)
        self._text.setTextInteractionFlags(Qt.TextInteractionFlag.TextBrowserInteraction)
        self._text.setOpenExternalLinks(False)
        self._buttons = QHBoxLayout()
        self._buttons.setContentsMargins(0, 0, 0, 0)
        self._buttons.setSpacing(6)
        text_col = QVBoxLayout()
        text_col.setContentsMargins(0, 0, 0, 0)
        text_col.setSpacing(2)
        text_col.addWidget(self._title)
        text_col.addWidget(self._text)
        row = QHBoxLayout(self)
        row.setContentsMargins(12, 9, 12, 9)
        row.setSpacing(12)
        row.addLayout(text_col, 1)
        row.addLayout(self._buttons)
        self.kind = "info"
        self.hide()

    def show_message(self, kind: str, title: str, text: str = "", actions: list[tuple[str, Callable]] = ()) -> None:
        self.kind = kind
        colors = palette_colors(self)
        self.setStyleSheet(
            f"#Banner {{ background: {css(colors[kind + '_bg'])}; border: 1px solid {css(colors[kind])};"
            f" border-radius: 6px; }} #Banner QLabel {{ background: transparent; border: none; }}"
        )
        self._title.setText(title)
        self._title.setStyleSheet(f"color: {css(colors[kind])};")
        self._title.setVisible(bool(title))
        self._text.setText(text)
        self._text.setVisible(bool(text))
        while self._buttons.count():
            item = self._buttons.takeAt(0)
            if item.widget() is not None:
                item.widget().deleteLater()
        for label, callback in actions:
            button = QPushButton(label)
            button.clicked.connect(callback)
            self._buttons.addWidget(button, 0, Qt.AlignmentFlag.AlignVCenter)
        self.show()

    def title(self) -> str:
        return self._title.text()

    def message(self) -> str:
        return self._text.text()


def muted_label(text: str = "", wrap: bool = True) -> QLabel:
    """A smaller, quieter label for explanations under a field or a title."""
    label = QLabel(text)
    label.setWordWrap(wrap)
    label.setStyleSheet(f"color: {css(palette_colors(label)['muted'])};")
    font = label.font()
    font.setPointSizeF(max(7.5, font.pointSizeF() * 0.92))
    label.setFont(font)
    return label


class StatTile(QWidget):
    """A small caption over a large value: one figure at a glance ("VAL ACC  91.2%")."""

    def __init__(self, caption: str, scale: float = 1.35, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._caption = QLabel(caption.upper())
        self._value = QLabel("—")
        font = self._caption.font()
        font.setPointSizeF(font.pointSizeF() * 0.78)
        font.setBold(True)
        self._caption.setFont(font)
        self._caption.setForegroundRole(QPalette.ColorRole.PlaceholderText)
        font = self._value.font()
        font.setPointSizeF(font.pointSizeF() * scale)
        self._value.setFont(font)
        self._value.setTextInteractionFlags(Qt.TextInteractionFlag.TextSelectableByMouse)
        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(0)
        layout.addWidget(self._caption)
        layout.addWidget(self._value)

    def set_value(self, text: str, tooltip: str = "") -> None:
        self._value.setText(text)
        self.setToolTip(tooltip)

    def value(self) -> str:
        return self._value.text()


def local_paths(mime) -> list[str]:
    """The local files and folders that dropped or pasted data (a QMimeData) names."""
    if mime is None or not mime.hasUrls():
        return []
    return [url.toLocalFile() for url in mime.urls() if url.isLocalFile() and url.toLocalFile()]


def open_folder(path, parent: QWidget | None = None) -> bool:
    """Show a folder in the desktop's file manager ("Open run folder", "Show in folder").

    Where nothing can open it (no file manager or xdg-open: QDesktopServices.openUrl says False),
    one line says so with the path, which goes to the clipboard: in the status bar of a main
    window (for 15 s, as the window reports errors), else in a message box over the dialog.
    Returns whether it opened."""
    from PySide6.QtCore import QUrl
    from PySide6.QtGui import QDesktopServices, QGuiApplication
    from PySide6.QtWidgets import QMainWindow, QMessageBox

    folder = str(path)
    if QDesktopServices.openUrl(QUrl.fromLocalFile(folder)):
        return True
    QGuiApplication.clipboard().setText(folder)
    message = f"Nothing on this system can open folders (no file manager); the path is on the clipboard: {folder}"
    window = parent.window() if parent is not None else None
    if isinstance(window, QMainWindow):
        window.statusBar().showMessage(message, 15000)
    else:
        QMessageBox.information(window, "Show folder", message)
    return False
