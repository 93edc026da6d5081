"""Small widgets and helpers shared by the setup panel and the predict tab.

- `BackgroundTask`: run one function on its own QThread, results back as signals.
- `InlineMessage`, `Banner`, `SectionHeader`, `ElidedLabel`: labels with a purpose.
- `ProbabilityBars`: top-k classes as horizontal bars (a widget, and the painter
  function the predict list's delegate reuses).
- `load_thumbnail`, `pil_to_qimage`: Pillow -> QImage, safe off the UI thread.
"""

from __future__ import annotations

import threading
from typing import Any, Callable

from PySide6.QtCore import QCoreApplication, QRectF, QSize, Qt, QThread, Signal
from PySide6.QtGui import QColor, QFont, QFontMetrics, QImage, QPainter, QPalette
from PySide6.QtWidgets import QFrame, QHBoxLayout, QLabel, QPushButton, QSizePolicy, QVBoxLayout, QWidget

__all__ = [
    "TaskCancelled",
    "BackgroundTask",
    "TaskGroup",
    "run_in_background",
    "wait_for_background_tasks",
    "running_background_tasks",
    "InlineMessage",
    "Banner",
    "SectionHeader",
    "ElidedLabel",
    "ProbabilityBars",
    "paint_probability_bars",
    "palette_colors",
    "pil_to_qimage",
    "load_thumbnail",
    "format_count",
]


# ---------------------------------------------------------------- background work


class TaskCancelled(Exception):
    """Raised inside a task (by `report` or `check`) once the task was cancelled."""


class BackgroundTask(QThread):
    """Runs `fn(task, *args)` on its own thread.

    `fn` receives the task so it can call `task.report(value)` (-> `progress`) and
    `task.check()` (raises TaskCancelled after `cancel()`). Exactly one of
    `succeeded(result)`, `failed(message)` or `cancelled()` is emitted. Tasks keep
    themselves alive until their thread ends, so dropping the Python reference
    never destroys a running QThread.
    """

    progress = Signal(object)
    succeeded = Signal(object)
    failed = Signal(str)
    cancelled = Signal()
    ended = Signal()  # after any of the three: the last signal run() emits

    _live: set["BackgroundTask"] = set()
    _live_lock = threading.Lock()

    def __init__(self, fn: Callable[..., Any], *args: Any, name: str = "task") -> None:
        super().__init__()
        self._fn = fn
        self._args = args
        self._cancel = threading.Event()
        self.setObjectName(f"resnet-studio-{name}")
        self.finished.connect(self._forget)

    # -- from any thread
    def cancel(self) -> None:
        self._cancel.set()

    @property
    def is_cancelled(self) -> bool:
        return self._cancel.is_set()

    def check(self) -> None:
        if self._cancel.is_set():
            raise TaskCancelled()

    def report(self, value: Any) -> None:
        self.check()
        self.progress.emit(value)

    def start(self, *args, **kwargs) -> None:  # noqa: D401 - QThread.start
        with BackgroundTask._live_lock:
            BackgroundTask._live.add(self)
        super().start(*args, **kwargs)

    # -- worker thread
    def run(self) -> None:
        try:
            result = self._fn(self, *self._args)
        except TaskCancelled:
            self.cancelled.emit()
        except Exception as exc:  # every ending maps to one signal; never a silent death
            self.failed.emit(_message(exc))
        else:
            if self._cancel.is_set():
                self.cancelled.emit()
            else:
                self.succeeded.emit(result)
        finally:
            self.ended.emit()

    def _forget(self) -> None:
        with BackgroundTask._live_lock:
            BackgroundTask._live.discard(self)
        self.deleteLater()


def _message(exc: BaseException) -> str:
    try:
        from resnet_studio.engine.errors import StudioError
    except Exception:  # pragma: no cover - the engine always imports
        StudioError = ()  # type: ignore[assignment]
    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    if StudioError and isinstance(exc, StudioError):
        return text or type(exc).__name__
    return f"{type(exc).__name__}: {text}" if text else type(exc).__name__


def run_in_background(
    fn: Callable[..., Any],
    *args: Any,
    on_result: Callable[[Any], None] | None = None,
    on_error: Callable[[str], None] | None = None,
    on_progress: Callable[[Any], None] | None = None,
    on_cancelled: Callable[[], None] | None = None,
    on_finished: Callable[[], None] | None = None,
    receiver: Any = None,
    name: str = "task",
) -> BackgroundTask:
    """Start `fn(task, *args)` on a new thread; callbacks run on the UI thread.

    With `receiver` (a QObject), each callback is queued to it and dropped once it is
    deleted, so a closed widget never gets a late result.
    """
    task = BackgroundTask(fn, *args, name=name)
    for signal, slot in (
        (task.succeeded, on_result),
        (task.failed, on_error),
        (task.progress, on_progress),
        (task.cancelled, on_cancelled),
        (task.ended, on_finished),  # after the other three, whichever ending it was
    ):
        if slot is not None:
            signal.connect(_guarded(receiver, slot) if receiver is not None else slot, Qt.ConnectionType.QueuedConnection)
    task.start()
    return task


def _guarded(receiver: Any, slot: Callable) -> Callable:
    from shiboken6 import isValid

    def call(*args):
        if isValid(receiver):
            slot(*args)

    return call


class TaskGroup:
    """The background tasks one widget started, so it can cancel and join all of them.

    A task abandoned earlier (cancelled, its result no longer wanted) still counts
    until its thread ends: shutdown() waits for it too.
    """

    def __init__(self) -> None:
        self._tasks: list[BackgroundTask] = []
        self.closed = False

    def start(self, fn: Callable[..., Any], *args: Any, **kwargs: Any) -> BackgroundTask | None:
        """run_in_background(...), remembered; None once the group was shut down."""
        if self.closed:
            return None
        self._tasks = [t for t in self._tasks if _is_running(t)]
        task = run_in_background(fn, *args, **kwargs)
        self._tasks.append(task)
        return task

    def running(self) -> list[BackgroundTask]:
        return [t for t in self._tasks if _is_running(t)]

    def shutdown(self, timeout_ms: int = 10_000) -> bool:
        """Refuse new tasks, cancel the running ones and wait for them; True if all ended."""
        import time

        self.closed = True
        tasks = self.running()
        for t in tasks:
            t.cancel()
        deadline = time.monotonic() + timeout_ms / 1000
        for t in tasks:
            try:
                t.wait(max(1, int((deadline - time.monotonic()) * 1000)))
            except RuntimeError:
                pass
        self._tasks = self.running()
        return not self._tasks


def running_background_tasks() -> list[BackgroundTask]:
    with BackgroundTask._live_lock:
        return [t for t in BackgroundTask._live if _is_running(t)]


def wait_for_background_tasks(timeout_ms: int = 10_000, cancel: bool = False) -> bool:
    """Wait for every BackgroundTask's thread to end and deliver its last signals.

    Returns True when none is running any more. With `cancel`, ask each to stop first.
    """
    import time

    deadline = time.monotonic() + timeout_ms / 1000
    app = QCoreApplication.instance()
    while True:
        with BackgroundTask._live_lock:
            tasks = list(BackgroundTask._live)
        running = [t for t in tasks if _is_running(t)]
        if cancel:
            for t in running:
                t.cancel()
        for t in running:
            left = max(1, int((deadline - time.monotonic()) * 1000))
            t.wait(left)
        if app is not None:  # deliver queued results, then the finished -> _forget slots
            for _ in range(3):
                app.processEvents()
        with BackgroundTask._live_lock:
            still = [t for t in BackgroundTask._live if _is_running(t)]
        if not still or time.monotonic() > deadline:
            return not still


def _is_running(task: BackgroundTask) -> bool:
    try:
        return task.isRunning()
    except RuntimeError:  # the C++ object is gone: it had finished
        return False


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


def _css(color: QColor) -> str:
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
        self.setStyleSheet(f"color: {_css(color)};")
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

    def setText(self, text: str) -> None:  # noqa: N802 - Qt naming
        self._full = text or ""
        self.setToolTip(self._full)
        self._elide()

    def full_text(self) -> str:
        return self._full

    def resizeEvent(self, event) -> None:  # noqa: N802
        super().resizeEvent(event)
        self._elide()

    def minimumSizeHint(self) -> QSize:  # noqa: N802
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

    @property
    def text_label(self) -> QLabel:
        return self._text

    def show_message(self, kind: str, title: str, text: str = "", actions: list[tuple[str, Callable]] = ()) -> None:
        self.kind = kind
        colors = palette_colors(self)
        self.setStyleSheet(
            f"#Banner {{ background: {_css(colors[kind + '_bg'])}; border: 1px solid {_css(colors[kind])};"
            f" border-radius: 6px; }} #Banner QLabel {{ background: transparent; border: none; }}"
        )
        self._title.setText(title)
        self._title.setStyleSheet(f"color: {_css(colors[kind])};")
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


# ---------------------------------------------------------------- probability bars


def paint_probability_bars(
    painter: QPainter,
    rect: QRectF,
    predictions: list[tuple[str, float]],
    colors: dict[str, QColor],
    font: QFont,
    row_height: float = 20.0,
    label_fraction: float = 0.42,
) -> None:
    """Draw `label  [bar]  12.3 %` rows, the first one in the accent colour."""
    painter.save()
    painter.setRenderHint(QPainter.RenderHint.Antialiasing, True)
    fm = QFontMetrics(font)
    pct_width = fm.horizontalAdvance("100.0 %") + 6
    widest = max((fm.horizontalAdvance(str(label)) for label, _ in predictions), default=0) * 1.08 + 12
    label_width = max(60.0, min(widest, rect.width() * label_fraction))
    bar_left = rect.left() + label_width + 8
    bar_width = max(20.0, rect.right() - pct_width - bar_left - 6)
    bar_height = min(10.0, row_height * 0.5)
    for i, (label, prob) in enumerate(predictions):
        top = rect.top() + i * row_height
        if top + row_height > rect.bottom() + 1:
            break
        prob = max(0.0, min(1.0, float(prob)))
        row_font = QFont(font)
        row_font.setBold(i == 0)
        painter.setFont(row_font)
        painter.setPen(colors["text"] if i == 0 else colors["muted"])
        label_rect = QRectF(rect.left(), top, label_width, row_height)
        painter.drawText(
            label_rect,
            Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft,
            QFontMetrics(row_font).elidedText(str(label), Qt.TextElideMode.ElideRight, int(label_width)),
        )
        bar_top = top + (row_height - bar_height) / 2
        painter.setPen(Qt.PenStyle.NoPen)
        painter.setBrush(colors["track"])
        painter.drawRoundedRect(QRectF(bar_left, bar_top, bar_width, bar_height), bar_height / 2, bar_height / 2)
        if prob > 0:
            painter.setBrush(colors["accent"] if i == 0 else colors["bar_other"])
            filled = max(bar_height, bar_width * prob)
            painter.drawRoundedRect(QRectF(bar_left, bar_top, filled, bar_height), bar_height / 2, bar_height / 2)
        painter.setPen(colors["text"] if i == 0 else colors["muted"])
        painter.drawText(
            QRectF(rect.right() - pct_width, top, pct_width, row_height),
            Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignRight,
            format_percent(prob),
        )
    painter.restore()


def format_percent(prob: float) -> str:
    pct = prob * 100
    if pct >= 99.95:
        return "100 %"
    if 0 < pct < 0.1:
        return "<0.1 %"
    return f"{pct:.1f} %"


class ProbabilityBars(QWidget):
    """Top-k predictions as readable horizontal bars."""

    ROW_HEIGHT = 20

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._predictions: list[tuple[str, float]] = []
        self.setSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Fixed)

    def set_predictions(self, predictions: list[tuple[str, float]]) -> None:
        self._predictions = list(predictions)
        self.updateGeometry()
        self.update()

    def sizeHint(self) -> QSize:  # noqa: N802
        return QSize(320, max(1, len(self._predictions)) * self.ROW_HEIGHT)

    def paintEvent(self, event) -> None:  # noqa: N802
        painter = QPainter(self)
        paint_probability_bars(painter, QRectF(self.rect()), self._predictions, palette_colors(self), self.font(), self.ROW_HEIGHT)


# ---------------------------------------------------------------- images


def pil_to_qimage(image) -> QImage:
    """A deep-copied QImage from a PIL image (any mode); safe to make off the UI thread."""
    if image.mode != "RGBA":
        image = image.convert("RGBA")
    data = image.tobytes("raw", "RGBA")
    qimage = QImage(data, image.width, image.height, image.width * 4, QImage.Format.Format_RGBA8888)
    return qimage.copy()  # own the pixels: `data` goes away with this frame


def load_thumbnail(source, size: int = 96, image=None) -> QImage:
    """A thumbnail fitting `size`x`size` of a path/file object (or of an already loaded PIL image).

    Raises the engine's ImageError for a file that is not a readable picture.
    """
    if image is None:
        from resnet_studio.engine.data import load_image

        image = load_image(source)
    thumb = image.copy()
    thumb.thumbnail((size * 2, size * 2))  # 2x for high-DPI screens
    return pil_to_qimage(thumb)


def format_count(n: float) -> str:
    """11689512 -> '11.7 M', 1234 -> '1,234'."""
    if n >= 1e6:
        return f"{n / 1e6:.1f} M"
    return f"{int(n):,}"
