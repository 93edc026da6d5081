"""Pictures for the window: Pillow images to QImages, thumbnails, Grad-CAM heat layers.

Every function here is safe off the UI thread (QImage, unlike QPixmap, may be made in
any thread); the QImages returned own their pixels.
"""

from __future__ import annotations

from PIL import Image
from PIL.ImageQt import ImageQt
from PySide6.QtGui import QImage

__all__ = ["to_qimage", "load_thumbnail", "heat_qimage"]


def to_qimage(image: Image.Image) -> QImage:
    """A QImage of a Pillow image (any mode), owning its pixels."""
    return ImageQt(image).copy()  # the copy owns the pixels; ImageQt's own refers to Pillow's buffer


def load_thumbnail(source, size: int = 96, image: Image.Image | None = None) -> QImage:
    """A thumbnail fitting 2 x `size` (sharp on high-DPI screens) of a path, bytes or file
    object read as the engine reads pictures, or of an already loaded Pillow image.

    Raises the engine's ImageError for a file that is not a readable picture.
    """
    if image is None:
        from resnet_studio.engine.data import load_image

        image = load_image(source, min_size=size * 2)
    thumb = image.copy()
    thumb.thumbnail((size * 2, size * 2))
    return to_qimage(thumb)


def heat_qimage(cam, size: tuple[int, int]) -> QImage:
    """The coloured heat layer of an engine CamResult as an RGBA QImage of `size` (w, h)."""
    from resnet_studio.engine.explain import heat_rgba

    return to_qimage(Image.fromarray(heat_rgba(cam, size, opacity=1.0), "RGBA"))
