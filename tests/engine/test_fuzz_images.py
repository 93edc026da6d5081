"""Fuzzed image bytes (issue 7): whatever a damaged file holds, the image loader returns an
RGB picture or raises the project's own ImageError (check_image returns a reason or None),
never anything else, and never takes more than a second.

Small valid seed files of every supported format are made in memory and mutated: bit flips,
byte overwrites, truncation, chunk duplication/deletion, inserted bytes, width/height
fields set to huge or degenerate values (the loader must refuse a decompression bomb fast,
not allocate gigabytes), and splices of two formats. Seeded sweeps cover every seed with
every mutation kind and with every nasty width/height; Hypothesis (derandomized, so CI is
deterministic) stacks mutations.
Each input is read as bytes, as a file with the matching extension, in draft mode
(min_size) and through check_image; each call is timed.
"""

from __future__ import annotations

import io
import random
import struct
import sys
import time
import zlib
from functools import cache
from pathlib import Path

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from PIL import Image

from resnet_studio.engine import data
from resnet_studio.engine.errors import ImageError

TIME_LIMIT_S = 1.0  # the bound for one call
MIN_SIZE = 12  # with it, JPEGs of 24 px and more are decoded in draft mode
RSS_LIMIT_MB = 768  # one call on a file of a few KB must not raise the peak memory by this much
SWEEP_REPEATS = 6  # mutations of each kind per seed in the seeded sweep
HYPOTHESIS_EXAMPLES = 400

pytestmark = [
    pytest.mark.timeout(240),  # a hang fails the test instead of the whole run
    # damaged files make Pillow warn (corrupt EXIF, truncated tags, big images): expected here
    pytest.mark.filterwarnings("ignore::UserWarning"),
    pytest.mark.filterwarnings("ignore::RuntimeWarning"),
]


# ---------------------------------------------------------------- seed files


def _picture(width: int, height: int, seed: int = 0) -> Image.Image:
    """Gradients with some noise: real work for every compressor, still small."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    arr = np.stack([x * 255 // (width - 1), y * 255 // (height - 1), (x + y) * 127 // (width + height)], -1)
    return Image.fromarray((arr ^ rng.integers(0, 24, arr.shape)).astype(np.uint8))


def _encode(image: Image.Image, fmt: str, **options) -> bytes:
    buf = io.BytesIO()
    image.save(buf, fmt, **options)
    return buf.getvalue()


@cache
def seeds() -> dict[str, tuple[bytes, str, tuple[int, int]]]:
    """name -> (file bytes, extension, size load_image must give)."""
    rgb = _picture(48, 32)
    rgba = rgb.copy()
    rgba.putalpha(Image.linear_gradient("L").resize(rgb.size))
    palette = rgb.convert("P", palette=Image.Palette.ADAPTIVE, colors=16)
    gray16 = Image.fromarray(np.arange(32 * 48, dtype=np.uint16).reshape(32, 48) * 41)
    frames = [_picture(32, 32, i).convert("P", palette=Image.Palette.ADAPTIVE, colors=8) for i in range(3)]
    exif = Image.Exif()
    exif[0x0112] = 6  # shown rotated 90 degrees: 40x24 stored, 24x40 loaded
    made = {
        "jpeg": (_encode(rgb, "JPEG", quality=90), ".jpg", (48, 32)),
        "jpeg-progressive": (_encode(_picture(64, 40, 1), "JPEG", quality=85, progressive=True), ".jpg", (64, 40)),
        "jpeg-exif-rotated": (_encode(_picture(40, 24, 2), "JPEG", exif=exif.tobytes()), ".jpg", (24, 40)),
        "jpeg-cmyk": (_encode(rgb.convert("CMYK"), "JPEG"), ".jpg", (48, 32)),
        "png-rgb": (_encode(rgb, "PNG"), ".png", (48, 32)),
        "png-rgba": (_encode(rgba, "PNG"), ".png", (48, 32)),
        "png-palette-transparency": (_encode(palette, "PNG", transparency=0), ".png", (48, 32)),
        "png-gray16": (_encode(gray16, "PNG"), ".png", (48, 32)),
        "gif-animated": (
            _encode(frames[0], "GIF", save_all=True, append_images=frames[1:], duration=40, loop=0, transparency=0),
            ".gif",
            (32, 32),
        ),
        "webp-lossy": (_encode(rgb, "WEBP", quality=80), ".webp", (48, 32)),
        "webp-lossless": (_encode(rgba, "WEBP", lossless=True), ".webp", (48, 32)),
        "webp-animated": (
            _encode(rgb, "WEBP", save_all=True, append_images=[_picture(48, 32, 3)], duration=50),
            ".webp",
            (48, 32),
        ),
        "tiff": (_encode(rgb, "TIFF"), ".tif", (48, 32)),
        "tiff-lzw": (_encode(rgb, "TIFF", compression="tiff_lzw"), ".tif", (48, 32)),
        "tiff-jpeg": (_encode(rgb, "TIFF", compression="jpeg"), ".tif", (48, 32)),
        "tiff-deflate-multipage": (
            _encode(rgb, "TIFF", compression="tiff_adobe_deflate", save_all=True, append_images=[_picture(16, 16, 4)]),
            ".tif",
            (48, 32),
        ),
        "bmp": (_encode(_picture(20, 16, 5), "BMP"), ".bmp", (20, 16)),
        "bmp-palette": (_encode(palette, "BMP"), ".bmp", (48, 32)),
    }
    return made


SEED_NAMES = sorted(seeds())


# ---------------------------------------------------------------- where the width and height are


def _u(blob: bytes, fmt: str, at: int) -> int:
    return struct.unpack_from(fmt, blob, at)[0]


def _png_dims(b: bytearray, w: int, h: int, rng: random.Random) -> bool:
    if b[:8] != b"\x89PNG\r\n\x1a\n" or b[12:16] != b"IHDR":
        return False
    struct.pack_into(">II", b, 16, w & 0xFFFFFFFF, h & 0xFFFFFFFF)
    if rng.random() < 0.85:  # a valid CRC gets past the chunk check to the decoder
        struct.pack_into(">I", b, 29, zlib.crc32(bytes(b[12:29])))
    return True


def _jpeg_dims(b: bytearray, w: int, h: int, rng: random.Random) -> bool:
    i, done = 2, False
    while b[:2] == b"\xff\xd8" and i + 9 <= len(b) and b[i] == 0xFF:
        marker, length = b[i + 1], _u(b, ">H", i + 2)
        if 0xC0 <= marker <= 0xCF and marker not in (0xC4, 0xC8, 0xCC):
            struct.pack_into(">HH", b, i + 5, h & 0xFFFF, w & 0xFFFF)
            done = True
        if marker == 0xDA:
            break
        i += 2 + length
    return done


def _gif_dims(b: bytearray, w: int, h: int, rng: random.Random) -> bool:
    if b[:4] != b"GIF8" or len(b) < 13:
        return False
    where = rng.choice(("screen", "frame", "both"))
    if where in ("screen", "both"):
        struct.pack_into("<HH", b, 6, w & 0xFFFF, h & 0xFFFF)
    i = 13 + (3 * 2 ** ((b[10] & 7) + 1) if b[10] & 0x80 else 0)
    while i < len(b) and where != "screen":
        if b[i] == 0x2C and i + 9 <= len(b):  # image descriptor: x, y, width, height
            struct.pack_into("<HH", b, i + 5, w & 0xFFFF, h & 0xFFFF)
            break
        if b[i] != 0x21:
            break
        i += 2  # extension: introducer, label, then sub-blocks up to a zero length
        while i < len(b) and b[i]:
            i += b[i] + 1
        i += 1
    return True


def _tiff_dims(b: bytearray, w: int, h: int, rng: random.Random) -> bool:
    if b[:4] not in (b"II*\x00", b"MM\x00*"):
        return False
    e = "<" if b[:2] == b"II" else ">"
    ifd, done = _u(b, e + "I", 4), False
    for _ in range(2):  # the first page and, in a multi-page file, the second
        if not 8 <= ifd <= len(b) - 2:
            break
        count = _u(b, e + "H", ifd)
        for k in range(count):
            at = ifd + 2 + 12 * k
            if at + 12 > len(b):
                break
            tag = _u(b, e + "H", at)
            if tag in (256, 257):  # ImageWidth, ImageLength: made LONG to hold any value
                struct.pack_into(e + "HHII", b, at, tag, 4, 1, (w if tag == 256 else h) & 0xFFFFFFFF)
                done = True
        nxt = ifd + 2 + 12 * count
        if nxt + 4 > len(b) or rng.random() < 0.5:
            break
        ifd = _u(b, e + "I", nxt)
    return done


def _webp_dims(b: bytearray, w: int, h: int, rng: random.Random) -> bool:
    if b[:4] != b"RIFF" or b[8:12] != b"WEBP":
        return False
    i, done = 12, False
    while i + 8 <= len(b):
        fourcc, size = bytes(b[i : i + 4]), _u(b, "<I", i + 4)
        d = i + 8
        if fourcc == b"VP8X" and d + 10 <= len(b):  # canvas: 24-bit width-1, height-1
            b[d + 4 : d + 7] = ((w - 1) & 0xFFFFFF).to_bytes(3, "little")
            b[d + 7 : d + 10] = ((h - 1) & 0xFFFFFF).to_bytes(3, "little")
            done = True
        elif fourcc == b"VP8 " and d + 10 <= len(b):  # key frame: 14-bit width, height
            struct.pack_into("<HH", b, d + 6, w & 0x3FFF, h & 0x3FFF)
            done = True
        elif fourcc == b"VP8L" and d + 5 <= len(b):  # 14-bit width-1, height-1 after 0x2f
            bits = _u(b, "<I", d + 1) & ~0x0FFFFFFF | ((w - 1) & 0x3FFF) | (((h - 1) & 0x3FFF) << 14)
            struct.pack_into("<I", b, d + 1, bits)
            done = True
        elif fourcc == b"ANMF" and d + 16 <= len(b):  # a frame: 24-bit width-1, height-1
            b[d + 6 : d + 9] = ((w - 1) & 0xFFFFFF).to_bytes(3, "little")
            b[d + 9 : d + 12] = ((h - 1) & 0xFFFFFF).to_bytes(3, "little")
            done = True
            i = d + 16  # ANMF holds the frame's own chunks: walk into them
            continue
        i = d + size + (size & 1)
    return done


def _bmp_dims(b: bytearray, w: int, h: int, rng: random.Random) -> bool:
    if b[:2] != b"BM" or len(b) < 26:
        return False
    h = -h if rng.random() < 0.2 else h  # top-down
    struct.pack_into("<ii", b, 18, max(-(2**31), min(2**31 - 1, w)), max(-(2**31), min(2**31 - 1, h)))
    return True


_DIMS_SETTERS = (_png_dims, _jpeg_dims, _gif_dims, _tiff_dims, _webp_dims, _bmp_dims)
# Huge (just under and far over Pillow's pixel limit of ~89.5 M), degenerate and long shapes.
NASTY_DIMS = (
    (0, 0), (0, 32), (32, 0), (1, 1), (1, 65535), (65535, 1), (65535, 65535), (9000, 9000), (9400, 9400),
    (16383, 5400), (30000, 2900), (2900, 30000), (65500, 1360), (16384, 16384), (70000, 1200),
    (2**31 - 1, 2), (2**32 - 1, 2**32 - 1), (4096, 4096),
)  # fmt: skip


# ---------------------------------------------------------------- mutations


_IN_SCAN = (0x00, *range(0xD0, 0xD8))  # 0xFF followed by these is scan data, not a marker


def _chunks(blob: bytes, rng: random.Random) -> list[tuple[int, int]]:
    """Spans of the file's own structure (PNG chunks, JPEG segments, RIFF chunks), else random spans."""
    spans = []
    try:
        if blob[:8] == b"\x89PNG\r\n\x1a\n":
            i = 8
            while i + 12 <= len(blob):
                end = i + 12 + _u(blob, ">I", i)
                spans.append((i, min(end, len(blob))))
                i = end
        elif blob[:2] == b"\xff\xd8":
            i = 2
            while i + 4 <= len(blob) and blob[i] == 0xFF:
                marker, end = blob[i + 1], i + 2 + _u(blob, ">H", i + 2)
                if marker == 0xDA:  # a scan runs on to the next marker that is not a stuffed byte or a restart
                    while end + 1 < len(blob) and not (blob[end] == 0xFF and blob[end + 1] not in _IN_SCAN):
                        end += 1
                spans.append((i, min(end, len(blob))))
                i = end
        elif blob[:4] == b"RIFF":
            i = 12
            while i + 8 <= len(blob):
                end = i + 8 + _u(blob, "<I", i + 4)
                end += end & 1
                spans.append((i, min(end, len(blob))))
                i = end
    except struct.error:
        pass
    spans = [(a, b) for a, b in spans if b > a]
    if len(spans) < 2:
        spans = []
        for _ in range(4):
            a = rng.randrange(len(blob))
            spans.append((a, min(len(blob), a + rng.randint(1, max(1, len(blob) // 4)))))
    return spans


def m_bitflip(b: bytes, rng: random.Random) -> tuple[bytes, str]:
    out, where = bytearray(b), []
    for _ in range(rng.choice((1, 1, 2, 4, 8))):
        # half the flips in the first 128 bytes, where the headers are
        at = rng.randrange(min(len(out), 128)) if rng.random() < 0.5 else rng.randrange(len(out))
        out[at] ^= 1 << rng.randrange(8)
        where.append(at)
    return bytes(out), f"bitflip@{where}"


def m_overwrite(b: bytes, rng: random.Random) -> tuple[bytes, str]:
    out, done = bytearray(b), []
    for _ in range(rng.choice((1, 2, 3, 6))):
        at = rng.randrange(min(len(out), 128)) if rng.random() < 0.5 else rng.randrange(len(out))
        value = rng.choice((0x00, 0xFF, 0x7F, 0x80, rng.randrange(256)))
        run = rng.choice((1, 1, 2, 4))
        out[at : at + run] = bytes([value]) * len(out[at : at + run])
        done.append((at, run, value))
    return bytes(out), f"overwrite(at,run,value)={done}"


def m_truncate(b: bytes, rng: random.Random) -> tuple[bytes, str]:
    cut = rng.randrange(1, 64) if rng.random() < 0.3 else rng.randrange(1, len(b))
    return b[:cut], f"truncate@{cut}/{len(b)}"


def m_chunk(b: bytes, rng: random.Random) -> tuple[bytes, str]:
    a, e = rng.choice(_chunks(b, rng))
    piece = b[a:e]
    action = rng.choice(("duplicate", "delete", "move", "repeat"))
    if action == "duplicate":
        return b[:e] + piece + b[e:], f"duplicate[{a}:{e}]"
    if action == "delete":
        return b[:a] + b[e:], f"delete[{a}:{e}]"
    if action == "repeat":
        return b[:e] + piece * rng.randint(2, 20) + b[e:], f"repeat[{a}:{e}]"
    rest = b[:a] + b[e:]
    to = rng.randrange(len(rest) + 1)
    return rest[:to] + piece + rest[to:], f"move[{a}:{e}]->{to}"


def m_insert(b: bytes, rng: random.Random) -> tuple[bytes, str]:
    at = rng.randrange(len(b) + 1)
    noise = bytes(rng.randrange(256) for _ in range(rng.randint(1, 64)))
    junk = rng.choice((noise, b"\xff" * rng.randint(1, 16), b"\x00" * 512))
    return b[:at] + junk + b[at:], f"insert {len(junk)} bytes@{at}"


def set_dims(b: bytes, w: int, h: int, rng: random.Random) -> bytes | None:
    """The file with its width and height fields set, or None when it has none to set."""
    for setter in _DIMS_SETTERS:
        out = bytearray(b)
        try:
            if setter(out, w, h, rng):
                return bytes(out)
        except (struct.error, IndexError, ValueError, OverflowError):  # a header cut short by an earlier mutation
            pass
    return None


def m_dims(b: bytes, rng: random.Random) -> tuple[bytes, str]:
    w, h = rng.choice(NASTY_DIMS)
    out = set_dims(b, w, h, rng)
    if out is None:
        return m_overwrite(b, rng)  # no width/height field found (an earlier mutation broke the header)
    return out, f"dims={w}x{h}"


def m_splice(b: bytes, rng: random.Random) -> tuple[bytes, str]:
    other_name = rng.choice(SEED_NAMES)
    other = seeds()[other_name][0]
    how = rng.choice(("head+tail", "append", "prepend-header"))
    if how == "append":
        return b + other, f"splice: + whole {other_name}"
    if how == "prepend-header":
        cut = rng.randint(2, 40)
        return other[:cut] + b, f"splice: {other_name}[:{cut}] + this"
    cut, cut2 = rng.randrange(1, len(b)), rng.randrange(len(other))
    return b[:cut] + other[cut2:], f"splice: this[:{cut}] + {other_name}[{cut2}:]"


MUTATIONS = {
    "bitflip": m_bitflip,
    "overwrite": m_overwrite,
    "truncate": m_truncate,
    "chunk": m_chunk,
    "insert": m_insert,
    "dims": m_dims,
    "splice": m_splice,
}


def mutate(seed_name: str, recipe: list[tuple[str, int]]) -> tuple[bytes, str]:
    """Apply mutations in turn; each (kind, n) is driven by random.Random(n): reproducible."""
    blob, steps = seeds()[seed_name][0], []
    for kind, n in recipe:
        if len(blob) < 2:  # nothing left to mutate
            break
        blob, what = MUTATIONS[kind](blob, random.Random(n))
        steps.append(what)
    return blob, f"{seed_name}: " + " | ".join(steps)


# ---------------------------------------------------------------- the property


def _peak_rss_mb() -> float:
    """This process's peak resident memory (0 where unknown: Windows)."""
    try:
        import resource
    except ImportError:
        return 0.0
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return peak / 2**20 if sys.platform == "darwin" else peak / 1024


def _timed(call):
    """(result or exception, seconds, MB the peak memory grew). Only ImageError is an answer."""
    before = _peak_rss_mb()
    start = time.perf_counter()
    try:
        result = call()
    except KeyboardInterrupt:
        raise
    except BaseException as exc:  # everything else is looked at: wrong types are findings
        result = exc
    return result, time.perf_counter() - start, _peak_rss_mb() - before


def probe(call, what: str, returns_reason: bool = False) -> str | None:
    """Why one call broke the contract, or None. A call over the time limit is timed once
    more (a busy machine can stall any call once; a slow decoder is slow both times)."""
    result, seconds, grown = _timed(call)
    if seconds > TIME_LIMIT_S:
        result, again, grown2 = _timed(call)
        seconds, grown = min(seconds, again), max(grown, grown2)
    if seconds > TIME_LIMIT_S:
        return f"{what}: took {seconds:.2f} s (limit {TIME_LIMIT_S} s)"
    if grown > RSS_LIMIT_MB:
        return f"{what}: peak memory grew by {grown:.0f} MB"
    if isinstance(result, BaseException) and not isinstance(result, ImageError):
        return f"{what}: raised {type(result).__module__}.{type(result).__qualname__}: {str(result)[:200]!r}"
    if isinstance(result, ImageError):
        message = str(result)
        if not message.strip() or "\n" in message:
            return f"{what}: ImageError message is not one line: {message!r}"
        return None
    if returns_reason:
        if result is not None and (not isinstance(result, str) or not result.strip() or "\n" in result):
            return f"{what}: returned {result!r} (wanted None or a one-line reason)"
        return None
    if not isinstance(result, Image.Image):
        return f"{what}: returned {type(result).__name__}, not a PIL image"
    if result.mode != "RGB" or min(result.size) <= 0:
        return f"{what}: returned mode {result.mode} size {result.size}"
    return None


def check_all_ways(blob: bytes, ext: str, what: str, folder: Path) -> list[str]:
    """The contract for one input: bytes, a file with its extension, draft mode, check_image."""
    path = folder / f"fuzzed{ext}"
    path.write_bytes(blob)
    calls = [
        ("load_image(bytes)", lambda: data.load_image(blob)),
        ("load_image(path)", lambda: data.load_image(path)),
        (f"load_image(bytes, min_size={MIN_SIZE})", lambda: data.load_image(blob, min_size=MIN_SIZE)),
        (f"load_image(path, min_size={MIN_SIZE})", lambda: data.load_image(path, min_size=MIN_SIZE)),
    ]
    findings = [probe(call, f"{label} on {what}") for label, call in calls]
    findings.append(probe(lambda: data.check_image(path), f"check_image on {what}", returns_reason=True))
    return [f for f in findings if f]


# ---------------------------------------------------------------- the tests


@pytest.mark.parametrize("name", SEED_NAMES)
def test_the_seed_files_load_whole(name, tmp_path):
    blob, ext, size = seeds()[name]
    (tmp_path / f"seed{ext}").write_bytes(blob)
    image = data.load_image(blob)
    assert image.mode == "RGB" and image.size == size
    assert data.load_image(tmp_path / f"seed{ext}", min_size=MIN_SIZE).mode == "RGB"
    assert data.check_image(tmp_path / f"seed{ext}") is None


def test_the_probe_catches_every_kind_of_breach(monkeypatch):
    """The harness itself: a wrong exception type, a bad message or result, a slow call."""

    class Surprise(Exception):
        pass

    def raising(exc):
        def call():
            raise exc

        return call

    assert probe(raising(ImageError("x.png: damaged")), "ok") is None
    assert "Surprise" in probe(raising(Surprise("boom")), "s")
    assert "MemoryError" in probe(raising(MemoryError()), "m")
    assert "SystemExit" in probe(raising(SystemExit(3)), "x")
    assert "DecompressionBombWarning" in probe(raising(Image.DecompressionBombWarning("w")), "w")
    assert "one line" in probe(raising(ImageError("two\nlines")), "l")
    assert "mode L" in probe(lambda: Image.new("L", (4, 4)), "mode")
    assert "not a PIL image" in probe(lambda: None, "none")
    assert probe(lambda: None, "reason", returns_reason=True) is None
    assert "wanted None" in probe(lambda: "", "reason", returns_reason=True)
    with pytest.raises(KeyboardInterrupt):
        probe(raising(KeyboardInterrupt()), "k")
    ticks = iter([0.0, 1.5, 10.0, 11.5])  # slow both times
    monkeypatch.setattr(time, "perf_counter", lambda: next(ticks))
    assert "took 1.50 s" in probe(lambda: Image.new("RGB", (4, 4)), "slow")
    ticks = iter([0.0, 1.5, 10.0, 10.1])  # stalled once, quick the second time
    monkeypatch.setattr(time, "perf_counter", lambda: next(ticks))
    assert probe(lambda: Image.new("RGB", (4, 4)), "stall") is None


def _png_claiming(width: int, height: int) -> bytes:
    blob = bytearray(seeds()["png-rgb"][0])
    assert _png_dims(blob, width, height, random.Random(1))  # 0.85 chance: this seed fixes the CRC
    assert zlib.crc32(bytes(blob[12:29])) == struct.unpack_from(">I", blob, 29)[0]
    return bytes(blob)


def test_bombs_are_refused_even_when_warnings_are_errors(tmp_path):
    """Between Pillow's pixel limit and twice it, Image.open only warns: under -W error that
    warning is an exception, and it must come out as ImageError like the refusal itself."""
    import warnings

    path = tmp_path / "bomb.png"
    path.write_bytes(_png_claiming(10_000, 10_000))  # 100 Mpx: over the limit, under twice it
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        with pytest.raises(ImageError, match="decompression bomb"):
            data.load_image(path)
        assert "decompression bomb" in data.check_image(path)


def test_a_small_file_claiming_a_huge_picture_is_refused_fast(tmp_path):
    """Under Pillow's limit but far more pixels than a few KB can hold: refused, not decoded."""
    path = tmp_path / "claims.png"
    path.write_bytes(_png_claiming(9000, 9000))
    start = time.perf_counter()
    with pytest.raises(ImageError, match="9000x9000 pixels in a file of"):
        data.load_image(path)
    assert "far more than it can hold" in data.check_image(path)
    assert time.perf_counter() - start < TIME_LIMIT_S


def test_only_the_first_frame_of_a_long_animation_is_decoded(tmp_path):
    """Hundreds of frames or pages cost nothing: the first one is the picture."""
    frames = [_picture(64, 48, i % 7) for i in range(300)]
    files = {
        "long.gif": dict(format="GIF", duration=20),
        "long.tif": dict(format="TIFF", compression="tiff_lzw"),
        "long.webp": dict(format="WEBP", duration=20, quality=50),
        "long.png": dict(format="PNG", duration=20),  # APNG
    }
    for filename, options in files.items():
        frames[0].save(tmp_path / filename, save_all=True, append_images=frames[1:], **options)
        cut = tmp_path / f"cut-{filename}"
        whole = (tmp_path / filename).read_bytes()
        cut.write_bytes(whole[: len(whole) * 2 // 3])  # later frames missing: the first is still whole
        for path in (tmp_path / filename, cut):
            start = time.perf_counter()
            try:
                image = data.load_image(path)
            except ImageError:  # libwebp reads an animation only whole: a cut one is refused
                assert path == cut and filename.endswith(".webp"), path.name
                image = None
            assert time.perf_counter() - start < TIME_LIMIT_S, path.name
            if image is not None:
                assert image.mode == "RGB" and image.size == (64, 48), path.name
                assert data.check_image(path) is None, path.name


def test_every_mutation_kind_changes_every_seed():
    for name in SEED_NAMES:
        for kind in MUTATIONS:
            changed = [mutate(name, [(kind, n)])[0] != seeds()[name][0] for n in range(SWEEP_REPEATS)]
            assert any(changed), (name, kind)
        dims = [mutate(name, [("dims", n)])[1] for n in range(SWEEP_REPEATS)]
        assert all("dims=" in d for d in dims), dims


@pytest.mark.parametrize("name", SEED_NAMES)
def test_seeded_sweep_of_every_mutation_kind(name, tmp_path):
    """Every mutation kind, SWEEP_REPEATS times, on one seed; all findings are listed."""
    _, ext, _ = seeds()[name]
    findings = []
    for kind in MUTATIONS:
        for n in range(SWEEP_REPEATS):
            recipe = [(kind, n)]
            blob, what = mutate(name, recipe)
            findings += [f"{f}  [recipe {name!r} {recipe}]" for f in check_all_ways(blob, ext, what, tmp_path)]
    assert not findings, f"{len(findings)} contract breaches:\n" + "\n".join(findings[:25])


@pytest.mark.parametrize("name", SEED_NAMES)
def test_every_seed_with_every_nasty_width_and_height(name, tmp_path):
    """Decompression bombs and degenerate sizes in each format's own header fields."""
    blob, ext, _ = seeds()[name]
    findings = []
    for n, (w, h) in enumerate(NASTY_DIMS):
        rng = random.Random(n)
        for variant in range(2):  # GIF: screen/frame/both, PNG: CRC fixed or not, BMP: top-down...
            fuzzed = set_dims(blob, w, h, rng)
            assert fuzzed is not None, name
            what = f"{name}: dims={w}x{h} (variant {variant}, Random({n}))"
            findings += check_all_ways(fuzzed, ext, what, tmp_path)
    assert not findings, f"{len(findings)} contract breaches:\n" + "\n".join(findings[:25])


@settings(
    max_examples=HYPOTHESIS_EXAMPLES,
    deadline=None,
    derandomize=True,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(
    name=st.sampled_from(SEED_NAMES),
    recipe=st.lists(st.tuples(st.sampled_from(sorted(MUTATIONS)), st.integers(0, 2**16)), min_size=1, max_size=4),
)
def test_stacked_mutations(name, recipe, tmp_path_factory):
    blob, what = mutate(name, recipe)
    folder = tmp_path_factory.getbasetemp() / "fuzz-stacked"
    folder.mkdir(exist_ok=True)
    findings = check_all_ways(blob, seeds()[name][1], what, folder)
    assert not findings, "\n".join(findings) + f"\n[recipe {name!r} {recipe}]"
