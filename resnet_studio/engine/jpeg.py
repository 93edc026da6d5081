"""JPEGs decoded a batch at a time on a device (nvJPEG on CUDA), for the image cache.

    read_jpeg             a file's bytes and header, when the device decoder can take it;
                          None for anything Pillow must decode (another format, CMYK or
                          RGB-coded, no end marker, over the pixel limits, unreadable)
    decode_resized_batch  files -> what fastdata.decode_resized gives for each (uint8
                          (H, W, 3) pixels on the host, or its ImageError): the JPEGs in one
                          decode_jpeg call per batch, oriented, resized and cut on the
                          device, copied back; Pillow (decode_resized) for everything else
    decodes_jpegs         whether torchvision can decode JPEGs on a device at all

Pixels: those of decode_resized within a step of rounding (on the CPU torchvision's
libjpeg-turbo decodes exactly Pillow's pixels; nvJPEG's IDCT and chroma upsampling may
differ a little more), except that a JPEG is always decoded at full size before the same
antialiased resize: nvJPEG has no reduced-scale decoding like Pillow's draft mode, which
decodes a photo at least twice the target size at 1/2..1/8 scale first. Those pixels are
then a full-size decode's (within 1), a few steps from Pillow's (tests/engine/test_jpeg_decode.py).

The EXIF orientation is read from the header here and applied on the device: decode_jpeg's
apply_exif_orientation only works on the CPU (it is ignored for CUDA). On CUDA the work
runs on a stream of its own (training on the default stream is not held up), the decoder
releases the GIL, and device memory stays bounded: at most MAX_CALL_PIXELS decoded pixels
per call, each image resized and cut before the next, one copy back per call.
"""

from __future__ import annotations

import contextlib
import functools
import io
import os
import warnings
from collections.abc import Sequence
from dataclasses import dataclass

import torch
from PIL import Image

from .data import _refuse_bombs
from .errors import ImageError
from .fastdata import aspect_cut, decode_resized

__all__ = ["MAX_CALL_PIXELS", "JpegFile", "decode_resized_batch", "decodes_jpegs", "read_jpeg"]

#: decoded pixels per decode_jpeg call (~100 MB on the device); a bigger JPEG goes to Pillow
MAX_CALL_PIXELS = 2**25
_ORIENTATION = 0x0112  # the EXIF tag
_JPEG_START = b"\xff\xd8\xff"
_JPEG_END = b"\xff\xd9"

# torchvision 0.29 warns on every call that its image decoding moves to TorchCodec
warnings.filterwarnings(
    "ignore", message="The image decoding and encoding capabilities of TorchVision", category=DeprecationWarning
)


@dataclass(frozen=True)
class JpegFile:
    """A JPEG read by read_jpeg, ready for the device decoder."""

    path: str
    data: torch.Tensor  # uint8 (N,): the file's bytes
    width: int  # as stored, before the EXIF orientation
    height: int
    orientation: int  # EXIF orientation, 1 (as stored) to 8


def read_jpeg(path: str) -> JpegFile | None:
    """The file's bytes, size and orientation when it is a JPEG the device decoder can take:
    grey or colour (not CMYK), complete (ends with its end marker), within Pillow's pixel
    limits and MAX_CALL_PIXELS. None for anything else: Pillow decodes it (or says why not)."""
    try:
        with open(path, "rb") as f:
            head = f.read(len(_JPEG_START))
            if head != _JPEG_START:
                return None
            f.seek(0)
            size = os.fstat(f.fileno()).st_size
            with Image.open(f) as im:  # the header only; pixels are not decoded
                if im.format not in ("JPEG", "MPO") or im.mode not in ("L", "RGB") or _stored_as_rgb(im):
                    return None
                _refuse_bombs(im, size)
                width, height = im.size
                orientation = _orientation(im)
            f.seek(0)
            data = bytearray(size)
            if f.readinto(data) != size or _JPEG_END not in data[-4096:]:
                return None
    except Exception:  # unreadable, damaged, a bomb...: Pillow gives the reason
        return None
    if width * height > MAX_CALL_PIXELS:
        return None
    return JpegFile(str(path), torch.frombuffer(data, dtype=torch.uint8), width, height, orientation)


def _stored_as_rgb(im: Image.Image) -> bool:
    """Colour stored as RGB rather than YCbCr, as libjpeg tells it (an Adobe marker saying
    so, or components named R, G, B): left to Pillow, nvJPEG may not read these markers."""
    return im.mode == "RGB" and (im.info.get("adobe_transform") == 0 or [c[0] for c in im.layer] == [82, 71, 66])


def _orientation(im: Image.Image) -> int:
    """The EXIF orientation as ImageOps.exif_transpose reads it (1 when damaged or absent)."""
    try:
        value = im.getexif().get(_ORIENTATION, 1)
        return value if value in range(2, 9) else 1
    except Exception:  # to_rgb keeps a picture with a damaged EXIF block as stored
        return 1


@functools.lru_cache(maxsize=8)
def decodes_jpegs(device: torch.device | str) -> bool:
    """Whether torchvision decodes JPEGs on `device` (built with nvJPEG, the library found,
    the device usable). Tried once per device on a tiny JPEG."""
    from torchvision.io import ImageReadMode, decode_jpeg

    buffer = io.BytesIO()
    Image.new("RGB", (16, 8), (200, 100, 50)).save(buffer, "JPEG")
    data = torch.frombuffer(bytearray(buffer.getvalue()), dtype=torch.uint8)
    try:
        device = _device(device)
        with _stream(device):
            (image,) = decode_jpeg([data], mode=ImageReadMode.RGB, device=device)
            return tuple(image.shape) == (3, 8, 16)
    except Exception:
        return False


def decode_resized_batch(
    paths: Sequence[str], short_side: int, device: torch.device | str, files: Sequence[JpegFile | None] | None = None
) -> list[torch.Tensor | ImageError]:
    """For each path what fastdata.decode_resized gives: uint8 (H, W, 3) pixels on the host,
    shorter side `short_side`, a panorama cut to its centre; or the ImageError it raises
    (returned, not raised). The JPEGs are decoded on `device` in as few calls as
    MAX_CALL_PIXELS allows; any other file, and any JPEG the device fails on, with Pillow.
    `files`: the paths already read with read_jpeg (None where it gave None).
    """
    device = _device(device)
    files = [read_jpeg(p) for p in paths] if files is None else list(files)
    results: list[torch.Tensor | ImageError | None] = [None] * len(paths)
    jpegs = [k for k, f in enumerate(files) if f is not None]
    if jpegs and decodes_jpegs(device):
        for call in _calls(jpegs, files):
            for k, pixels in zip(call, _decode_call([files[k] for k in call], short_side, device)):
                results[k] = pixels
    for k, path in enumerate(paths):
        if results[k] is None:
            try:
                results[k] = decode_resized(path, short_side)
            except ImageError as exc:
                results[k] = exc
    return results


def _calls(positions: list[int], files: Sequence[JpegFile | None]) -> list[list[int]]:
    """`positions` in runs of at most MAX_CALL_PIXELS decoded pixels, in order."""
    calls: list[list[int]] = []
    pixels = MAX_CALL_PIXELS + 1
    for k in positions:
        n = files[k].width * files[k].height
        if pixels + n > MAX_CALL_PIXELS:
            calls.append([])
            pixels = 0
        calls[-1].append(k)
        pixels += n
    return calls


def _decode_call(files: list[JpegFile], short_side: int, device: torch.device) -> list[torch.Tensor | None]:
    """Host pixels for each file, None where the device could not decode it."""
    try:
        with _stream(device):
            decoded = _decode(files, device)
            finished = []
            for k, file in enumerate(files):
                image, decoded[k] = decoded[k], None  # each full-size image freed once resized
                finished.append(_finish(image, file, short_side))
                del image
            return _to_host(finished)
    except Exception:  # out of device memory for the copy back, ...: Pillow decodes them
        return [None] * len(files)


def _decode(files: list[JpegFile], device: torch.device) -> list[torch.Tensor | None]:
    """uint8 (3, H, W) images on the device. A call fails as a whole on one bad file:
    then the two halves are tried apart, down to the file alone (None)."""
    from torchvision.io import ImageReadMode, decode_jpeg

    try:
        return list(decode_jpeg([f.data for f in files], mode=ImageReadMode.RGB, device=device))
    except Exception:  # RuntimeError from the decoder, torch.OutOfMemoryError
        if len(files) == 1:
            return [None]
        half = len(files) // 2
        return _decode(files[:half], device) + _decode(files[half:], device)


def _finish(image: torch.Tensor | None, file: JpegFile, short_side: int) -> torch.Tensor | None:
    """A decoded (3, H, W) image oriented, resized and cut: uint8 (H, W, 3) on its device."""
    if image is None or tuple(image.shape) != (3, file.height, file.width):
        return None
    try:
        image = _oriented(image, file.orientation)
        image = _resized(image, short_side)
        box = aspect_cut(image.shape[2], image.shape[1], short_side)
        if box is not None:
            left, top, right, bottom = box
            image = image[:, top:bottom, left:right]
        return image.permute(1, 2, 0)
    except Exception:  # out of device memory, ...: Pillow decodes it
        return None


def _oriented(image: torch.Tensor, orientation: int) -> torch.Tensor:
    """A (C, H, W) image turned as ImageOps.exif_transpose turns its EXIF orientation."""
    if orientation == 2:  # FLIP_LEFT_RIGHT
        return image.flip(2)
    if orientation == 3:  # ROTATE_180
        return image.flip((1, 2))
    if orientation == 4:  # FLIP_TOP_BOTTOM
        return image.flip(1)
    if orientation == 5:  # TRANSPOSE
        return image.transpose(1, 2)
    if orientation == 6:  # ROTATE_270: a quarter turn clockwise
        return image.rot90(-1, (1, 2))
    if orientation == 7:  # TRANSVERSE
        return image.transpose(1, 2).flip((1, 2))
    if orientation == 8:  # ROTATE_90: a quarter turn anticlockwise
        return image.rot90(1, (1, 2))
    return image


def resized_size(height: int, width: int, short_side: int) -> tuple[int, int]:
    """(height, width) with the shorter side at `short_side`: torchvision's resize([short_side])."""
    if width <= height:
        return int(short_side * height / width), short_side
    return short_side, int(short_side * width / height)


def _resized(image: torch.Tensor, short_side: int) -> torch.Tensor:
    """uint8 (3, H, W) with its shorter side at `short_side`, antialiased bilinear (in float
    on every device, as torchvision resizes uint8 images on CUDA)."""
    size = resized_size(image.shape[1], image.shape[2], short_side)
    if size == tuple(image.shape[1:]):
        return image
    resized = torch.nn.functional.interpolate(image[None].float(), size, mode="bilinear", antialias=True, align_corners=False)
    return resized[0].round_().clamp_(0, 255).to(torch.uint8)


def _to_host(images: list[torch.Tensor | None]) -> list[torch.Tensor | None]:
    """Contiguous host copies, in one copy (one sync on CUDA) for all of them."""
    kept = [img for img in images if img is not None]
    if not kept:
        return list(images)
    flat = torch.cat([img.reshape(-1) for img in kept]).cpu()
    out, offset = [], 0
    for img in images:
        if img is None:
            out.append(None)
            continue
        n = img.numel()
        # a copy of its own: a cached image must not keep the whole call's buffer alive
        out.append(flat[offset : offset + n].view(img.shape).clone())
        offset += n
    return out


def _device(device: torch.device | str) -> torch.device:
    device = torch.device(device)
    if device.type == "cuda" and device.index is None:
        device = torch.device("cuda", torch.cuda.current_device())
    return device


@functools.lru_cache(maxsize=8)
def _side_stream(device: torch.device) -> torch.cuda.Stream:
    # one per device, kept: the caching allocator reuses a stream's freed blocks on that stream only
    return torch.cuda.Stream(device)


def _stream(device: torch.device):
    """On CUDA, a stream of our own (made current in the calling thread only)."""
    return torch.cuda.stream(_side_stream(device)) if device.type == "cuda" else contextlib.nullcontext()
