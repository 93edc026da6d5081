"""A picture with its Grad-CAM heatmap: a toggle, an opacity slider and a class chooser.

Used by the Predict tab (the selected result) and the Evaluate tab (the selected
mistake). The image is read and the map computed off the UI thread (engine.explain);
the heat layer is drawn over the picture at the slider's opacity, and the part of the
picture the model never saw (outside its centre crop) is dimmed.
"""

from __future__ import annotations

import numpy as np
from PIL import Image
from PySide6.QtCore import QRectF, QSize, Qt, Signal
from PySide6.QtGui import QColor, QFont, QImage, QPainter, QPainterPath, QPixmap
from PySide6.QtWidgets import (
    QCheckBox,
    QComboBox,
    QHBoxLayout,
    QLabel,
    QSizePolicy,
    QSlider,
    QVBoxLayout,
    QWidget,
)

from . import format as fmt
from .images import heat_qimage, to_qimage
from .tasks import TaskGroup
from .widgets import css, palette_colors

__all__ = ["CamView", "compute_cam", "paint_heat"]

DISPLAY_MAX = 768  # pictures are read at most this wide or high for display


def compute_cam(task, predictor, source, class_index: int | None, max_side: int = DISPLAY_MAX):
    """Worker-thread function: (picture QImage, heat QImage, CamResult) for one image, the
    map computed by the engine on the pixels prediction reads (the same probability)."""
    from resnet_studio.engine.explain import explain

    shown = explain(predictor, source, class_index, display_side=max_side)
    task.check()
    return to_qimage(shown.image), heat_qimage(shown.cam, shown.image.size), shown.cam


def paint_heat(painter: QPainter, target: QRectF, heat: QPixmap, opacity: float, crop=None) -> None:
    """A Grad-CAM heat pixmap over `target`, and the part outside the model's centre crop
    (`crop`: left, top, right, bottom as fractions of the picture) dimmed."""
    painter.setOpacity(opacity)
    painter.drawPixmap(target, heat, QRectF(heat.rect()))
    painter.setOpacity(1.0)
    if crop is not None:
        left, top, right, bottom = crop
        seen = QRectF(target.left() + left * target.width(), target.top() + top * target.height(),
                      (right - left) * target.width(), (bottom - top) * target.height())
        outside = QPainterPath()
        outside.addRect(target)
        inner = QPainterPath()
        inner.addRect(seen)
        painter.fillPath(outside.subtracted(inner), QColor(0, 0, 0, 110))


class _CamCanvas(QWidget):
    """Paints the picture, fitted and centred, and the heat layer over it."""

    def __init__(self, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self.picture: QPixmap | None = None
        self.heat: QPixmap | None = None
        self.crop: tuple[float, float, float, float] | None = None
        self.show_heat = True
        self.opacity = 0.5
        self.message = ""
        self.setMinimumSize(160, 120)
        policy = QSizePolicy(QSizePolicy.Policy.Expanding, QSizePolicy.Policy.Preferred)
        policy.setHeightForWidth(True)
        self.setSizePolicy(policy)

    def sizeHint(self) -> QSize:
        return QSize(360, self.heightForWidth(360))

    def hasHeightForWidth(self) -> bool:
        return True

    def heightForWidth(self, width: int) -> int:
        """As tall as the picture needs at this width (the legend and caption sit right under it)."""
        if self.picture is None or self.picture.isNull():
            return 220
        return int(min(width * 1.5, width * self.picture.height() / max(1, self.picture.width()))) + 4

    def image_rect(self) -> QRectF:
        if self.picture is None or self.picture.isNull():
            return QRectF()
        area = QRectF(self.rect()).adjusted(2, 2, -2, -2)
        ratio = min(area.width() / self.picture.width(), area.height() / self.picture.height())
        w, h = self.picture.width() * ratio, self.picture.height() * ratio
        return QRectF(area.center().x() - w / 2, area.top(), w, h)  # under the controls, not floating

    def paintEvent(self, event) -> None:
        painter = QPainter(self)
        painter.setRenderHint(QPainter.RenderHint.Antialiasing)
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        colors = palette_colors(self)
        target = self.image_rect()
        if target.isNull():
            painter.setPen(colors["muted"])
            painter.drawText(QRectF(self.rect()), Qt.AlignmentFlag.AlignCenter | Qt.TextFlag.TextWordWrap, self.message)
            return
        clip = QPainterPath()
        clip.addRoundedRect(target, 6, 6)
        painter.setClipPath(clip)
        painter.drawPixmap(target, self.picture, QRectF(self.picture.rect()))
        if self.show_heat and self.heat is not None:
            paint_heat(painter, target, self.heat, self.opacity, self.crop)
        if self.message:
            painter.setClipping(False)
            painter.setPen(QColor(255, 255, 255))
            band = QRectF(target.left(), target.bottom() - 26, target.width(), 26)
            painter.fillRect(band, QColor(0, 0, 0, 140))
            painter.drawText(band, Qt.AlignmentFlag.AlignCenter, self.message)


class CamView(QWidget):
    """Show one image with a Grad-CAM overlay for its top class or a chosen class.

    `show_image(predictor, source, ...)` loads it; the toggle, opacity slider and class
    chooser act at once. `classChanged(class_index)` says which class the user chose;
    `opacityChanged(float)` lets a list of thumbnails follow.
    """

    classChanged = Signal(int)
    opacityChanged = Signal(float)

    def __init__(self, parent: QWidget | None = None, title: str = "") -> None:
        super().__init__(parent)
        self._tasks = TaskGroup()
        self._job = self._tasks.slot("grad-cam")  # the newest request wins
        self._predictor = None
        self._source = None
        self.cam = None  # the CamResult shown
        self.last_error = ""

        self.title_label = QLabel(title)
        font = self.title_label.font()
        font.setBold(True)
        self.title_label.setFont(font)
        self.title_label.setWordWrap(True)
        self.title_label.setVisible(bool(title))

        self.toggle = QCheckBox("Grad-CAM")
        self.toggle.setChecked(True)
        self.toggle.setToolTip("Show where in the picture the evidence for the chosen class comes from")
        self.toggle.toggled.connect(self._on_toggle_change)
        self.toggle.setMinimumWidth(self.toggle.sizeHint().width())  # the class chooser gives way first
        self.class_combo = QComboBox()
        self.class_combo.setToolTip("The class whose evidence is shown")
        self.class_combo.setSizeAdjustPolicy(QComboBox.SizeAdjustPolicy.AdjustToMinimumContentsLengthWithIcon)
        self.class_combo.setMinimumContentsLength(8)
        self.class_combo.activated.connect(self._on_class_change)
        self.opacity_slider = QSlider(Qt.Orientation.Horizontal)
        self.opacity_slider.setRange(0, 100)
        self.opacity_slider.setValue(55)
        self.opacity_slider.setMinimumWidth(60)
        self.opacity_slider.setMaximumWidth(110)
        self.opacity_slider.setToolTip("Opacity of the heatmap")
        self.opacity_slider.valueChanged.connect(self._on_opacity_change)
        opacity_label = QLabel("Opacity")
        self._opacity_label = opacity_label

        controls = QHBoxLayout()
        controls.setContentsMargins(0, 0, 0, 0)
        controls.setSpacing(8)
        controls.addWidget(self.toggle)
        controls.addWidget(self.class_combo, 1)
        controls.addWidget(opacity_label)
        controls.addWidget(self.opacity_slider)

        self.canvas = _CamCanvas()
        self.canvas.opacity = self.opacity()
        self.caption = QLabel()
        self.caption.setWordWrap(True)
        self.caption.setTextFormat(Qt.TextFormat.RichText)
        small = QFont(self.caption.font())
        small.setPointSizeF(small.pointSizeF() * 0.92)
        self.caption.setFont(small)
        self.legend = _Legend()

        layout = QVBoxLayout(self)
        layout.setContentsMargins(0, 0, 0, 0)
        layout.setSpacing(6)
        layout.addWidget(self.title_label)
        layout.addLayout(controls)
        layout.addWidget(self.canvas)
        layout.addWidget(self.legend)
        layout.addWidget(self.caption)
        layout.addStretch(1)
        self.clear("Select an image to see where the model looked.")

    # ------------------------------------------------------------ public

    def opacity(self) -> float:
        return self.opacity_slider.value() / 100.0

    def is_enabled(self) -> bool:
        return self.toggle.isChecked()

    def set_title(self, text: str) -> None:
        self.title_label.setText(text)
        self.title_label.setVisible(bool(text))

    def is_busy(self) -> bool:
        """True while a heatmap is being computed."""
        return self._job.busy

    def chosen_class(self) -> int | None:
        data = self.class_combo.currentData()
        return int(data) if data is not None else None

    def clear(self, message: str = "") -> None:
        """No picture (a heatmap still being computed is dropped), `message` in its place."""
        self._job.cancel()
        self._source = None
        self.cam = None
        self.canvas.picture = None
        self.canvas.heat = None
        self.canvas.crop = None
        self.canvas.message = message
        self.class_combo.clear()
        self.class_combo.setEnabled(False)
        self.caption.setText("")
        self.legend.setVisible(False)
        self.canvas.update()

    def show_image(
        self,
        predictor,
        source,
        predictions: list[tuple[str, float]] = (),
        class_index: int | None = None,
        true_label: str | None = None,
    ) -> None:
        """Show `source` (a path or encoded bytes) with the map for `class_index` (None: top class)."""
        self._predictor = predictor
        self._source = source
        self._fill_classes(predictor, predictions, class_index, true_label)
        self.canvas.picture = None
        self.canvas.heat = None
        self._compute()

    def shutdown(self, timeout_ms: int = 10_000) -> bool:
        """Cancel and join the heatmap being computed; nothing new starts afterwards."""
        self._job.cancel()
        return self._tasks.shutdown(timeout_ms)

    # ------------------------------------------------------------ internals

    def _fill_classes(self, predictor, predictions, class_index, true_label) -> None:
        classes = list(getattr(predictor, "classes", []) or [])
        index = {c: i for i, c in enumerate(classes)}
        self.class_combo.blockSignals(True)
        self.class_combo.clear()
        shown = set()
        for label, prob in predictions:
            if label in index and label not in shown:
                mark = "  (true class)" if label == true_label else ""
                self.class_combo.addItem(f"{label} · {fmt.percent(prob)}{mark}", index[label])
                shown.add(label)
        if true_label in index and true_label not in shown:
            self.class_combo.addItem(f"{true_label}  (true class)", index[true_label])
            shown.add(true_label)
        rest = [c for c in classes if c not in shown]
        if rest and self.class_combo.count():
            self.class_combo.insertSeparator(self.class_combo.count())
        for c in rest:
            self.class_combo.addItem(c, index[c])
        wanted = class_index if class_index is not None else (index.get(predictions[0][0]) if predictions else None)
        if wanted is not None:
            found = self.class_combo.findData(int(wanted))
            self.class_combo.setCurrentIndex(max(0, found))
        self.class_combo.setEnabled(self.class_combo.count() > 0)
        self.class_combo.blockSignals(False)

    def _compute(self) -> None:
        if self._predictor is None or self._source is None:
            return
        self.canvas.message = "Computing the heatmap…"
        self.canvas.update()
        self._job.start(
            compute_cam,
            self._predictor,
            self._source,
            self.chosen_class(),
            receiver=self,
            on_result=self._on_result,
            on_error=self._on_error,
        )

    def _on_result(self, result) -> None:
        picture, heat, cam = result
        self.cam = cam
        self.canvas.picture = QPixmap.fromImage(picture)
        self.canvas.heat = QPixmap.fromImage(heat)
        self.canvas.crop = cam.crop
        self.canvas.message = ""
        self.canvas.updateGeometry()
        self.canvas.show_heat = self.toggle.isChecked()
        self.legend.setVisible(self.toggle.isChecked())
        full = cam.crop == (0.0, 0.0, 1.0, 1.0)
        muted = css(palette_colors(self)["muted"])
        self.caption.setText(
            f"Red: the regions that raise the score of <b>{fmt.escape(cam.label)}</b> "
            f"({fmt.percent(cam.prob)}) the most; blue: little or none."
            + ("" if full else " Dimmed: outside the centre crop the model sees.")
            + f" <span style='color:{muted}'>Grid: {cam.grid.shape[1]}×{cam.grid.shape[0]} (the last stage's resolution)</span>"
        )
        self.canvas.update()

    def _on_error(self, message: str) -> None:
        self.last_error = message
        self.canvas.picture = None
        self.canvas.heat = None
        self.canvas.message = f"No heatmap: {message}"
        self.caption.setText("")
        self.canvas.update()

    def _on_class_change(self, _index: int) -> None:
        chosen = self.chosen_class()
        if chosen is None:
            return
        self.classChanged.emit(chosen)
        self._compute()

    def _on_opacity_change(self, value: int) -> None:
        self.canvas.opacity = value / 100.0
        self.canvas.update()
        self.opacityChanged.emit(value / 100.0)

    def _on_toggle_change(self, checked: bool) -> None:
        self.canvas.show_heat = checked
        self.legend.setVisible(checked and self.cam is not None)
        for w in (self.class_combo, self.opacity_slider, self._opacity_label):
            w.setEnabled(checked and (w is not self.class_combo or self.class_combo.count() > 0))
        self.canvas.update()


class _Legend(QWidget):
    """The colour scale: low ... high evidence."""

    def __init__(self) -> None:
        super().__init__()
        self.setFixedHeight(18)
        self._bar: QImage | None = None

    def paintEvent(self, event) -> None:
        from resnet_studio.engine.explain import heat_colors

        if self._bar is None:
            self._bar = to_qimage(Image.fromarray(heat_colors(np.linspace(0, 1, 256))[None, :, :].repeat(2, axis=0)))
        painter = QPainter(self)
        colors = palette_colors(self)
        fm = painter.fontMetrics()
        low, high = "low", "high evidence"
        left_w, right_w = fm.horizontalAdvance(low) + 6, fm.horizontalAdvance(high) + 6
        bar = QRectF(left_w, 5, max(20, self.width() - left_w - right_w), 8)
        painter.setPen(colors["muted"])
        left = Qt.AlignmentFlag.AlignVCenter | Qt.AlignmentFlag.AlignLeft
        painter.drawText(QRectF(0, 0, left_w, 18), left, low)
        painter.drawText(QRectF(bar.right() + 6, 0, right_w, 18), left, high)
        painter.setRenderHint(QPainter.RenderHint.SmoothPixmapTransform)
        painter.drawImage(bar, self._bar)
