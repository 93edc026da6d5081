"""Batched JPEG decoding for the image cache (engine/jpeg.py, DecodedCache.fill): the same
pixels as Pillow's decode_resized within rounding, Pillow for whatever the device decoder
cannot take, the same errors, the cache's budget and error memory, the same batches.

Everything runs with device="cpu" (torchvision's libjpeg-turbo decoder, the same code
path as on CUDA after the decode call); the tests marked `cuda` run with nvJPEG where a
GPU is present.

Measured on these files (torchvision 0.29.1, Pillow 13): libjpeg-turbo in torchvision
decodes exactly the pixels Pillow decodes, so what remains is the resize's rounding
(Pillow's fixed-point filter against a float one): at most 1, mean 0.12-0.26. Where
Pillow's draft mode applies (the shorter side at least twice the target), Pillow decodes
at 1/2..1/8 scale first: mean 0.3-0.9, at most 5 from ours, while ours stays within 1 of a
full-size Pillow decode resized the same way.
"""

import threading

import numpy as np
import pytest
import torch
from PIL import Image, ImageOps
from torchvision.transforms.v2 import functional as tvf

from resnet_studio.engine import fastdata, jpeg
from resnet_studio.engine.config import TrainConfig
from resnet_studio.engine.data import resize_size_for, scan_dataset
from resnet_studio.engine.errors import ImageError
from resnet_studio.engine.train.prepare import TrainingInput

CUDA = pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
pytestmark = pytest.mark.filterwarnings("ignore:The image decoding and encoding capabilities of TorchVision:DeprecationWarning")

# tolerances, in 0..255 steps, against Pillow's decode_resized
ROUNDING = 1  # no draft mode: the same decoded pixels, the resize rounded apart
DRAFT_MEAN, DRAFT_MAX = 3.0, 16  # draft mode: Pillow decoded at reduced scale, we at full size


def photo(width, height, seed=0) -> Image.Image:
    """Smooth gradients, a fine texture and a little noise: like a photo to a JPEG encoder."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    texture = 18 * np.sin(x / 2.3 + seed) * np.cos(y / 3.1)
    arr = np.stack([x * 255 / max(1, width - 1), y * 255 / max(1, height - 1), (x + y) * 127 / max(1, width + height)], -1)
    arr = arr + texture[..., None] + rng.integers(-6, 7, arr.shape)
    return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))


def save_jpeg(path, image, orientation=None, **kw):
    if orientation is not None:
        exif = image.getexif()
        exif[0x0112] = orientation
        kw["exif"] = exif.tobytes()
    image.save(path, "JPEG", quality=kw.pop("quality", 90), **kw)
    return str(path)


SHORT = 64  # the target shorter side of most tests


@pytest.fixture
def files(tmp_path):
    """name -> path: JPEGs the device decodes (none in Pillow's draft range at SHORT), and
    the ones it leaves to Pillow."""
    made = {}
    shapes = {"landscape": (120, 90), "square": (40, 40), "small": (41, 29), "tall": (70, 110), "wide": (127, 100)}
    for name, (w, h) in shapes.items():
        made[name] = save_jpeg(tmp_path / f"{name}.jpg", photo(w, h, seed=len(made)))
    made["portrait_exif"] = save_jpeg(tmp_path / "portrait.jpg", photo(120, 80, seed=11), orientation=6)
    made["grey"] = save_jpeg(tmp_path / "grey.jpg", photo(90, 70, seed=12).convert("L"))
    made["progressive"] = save_jpeg(tmp_path / "progressive.jpg", photo(100, 80, seed=13), progressive=True)
    made["panorama"] = save_jpeg(tmp_path / "panorama.jpg", photo(200, 40, seed=14))  # 5:1, cut to 3:1
    made["cmyk"] = save_jpeg(tmp_path / "cmyk.jpg", photo(90, 70, seed=15).convert("CMYK"))
    # an Adobe marker saying the colour is stored as RGB, not YCbCr: left to Pillow
    ycc = (tmp_path / "square.jpg").read_bytes()
    adobe = b"\xff\xee\x00\x0eAdobe\x00\x64\x00\x00\x00\x00\x00"
    (tmp_path / "adobe_rgb.jpg").write_bytes(ycc[:2] + adobe + ycc[2:])
    made["adobe_rgb"] = str(tmp_path / "adobe_rgb.jpg")
    photo(80, 60, seed=16).convert("RGBA").save(tmp_path / "alpha.png")
    made["png"] = str(tmp_path / "alpha.png")
    whole = (tmp_path / "landscape.jpg").read_bytes()
    (tmp_path / "truncated.jpg").write_bytes(whole[: len(whole) // 2])
    made["truncated"] = str(tmp_path / "truncated.jpg")
    # damaged inside, with its end marker: the decoders themselves have to notice (a Huffman
    # table with more codes than it can hold)
    corrupt = bytearray(whole)
    table = whole.index(b"\xff\xc4") + 5  # after the DHT marker, its length and its class/id byte
    corrupt[table : table + 16] = b"\xff" * 16
    (tmp_path / "corrupt.jpg").write_bytes(corrupt)
    made["corrupt"] = str(tmp_path / "corrupt.jpg")
    (tmp_path / "garbage.jpg").write_bytes(b"\xff\xd8\xff" + bytes(range(256)) * 8)
    made["garbage"] = str(tmp_path / "garbage.jpg")
    (tmp_path / "empty.jpg").write_bytes(b"")
    made["empty"] = str(tmp_path / "empty.jpg")
    made["missing"] = str(tmp_path / "missing.jpg")
    return made


DEVICE_DECODED = ("landscape", "square", "small", "tall", "wide", "portrait_exif", "grey", "progressive", "panorama")
PILLOW_DECODED = ("cmyk", "adobe_rgb", "png")
BROKEN = ("truncated", "corrupt", "garbage", "empty", "missing")


def pillow(path, short_side):
    """decode_resized's pixels, or its ImageError."""
    try:
        return fastdata.decode_resized(path, short_side)
    except ImageError as exc:
        return exc


def full_size_reference(path, short_side) -> np.ndarray:
    """Pillow without draft mode: decoded at full size, oriented, RGB, the same resize and cut."""
    with Image.open(path) as im:
        image = tvf.resize(ImageOps.exif_transpose(im).convert("RGB"), [short_side], antialias=True)
    box = fastdata.aspect_cut(*image.size, short_side)
    return np.asarray(image.crop(box) if box else image)


def difference(a, b) -> tuple[float, int]:
    diff = np.abs(np.asarray(a, dtype=np.int16) - np.asarray(b, dtype=np.int16))
    return float(diff.mean()), int(diff.max())


class Spy:
    """Wraps a function and records each call's arguments."""

    def __init__(self, function):
        self.function = function
        self.calls = []

    def __call__(self, *args, **kw):
        self.calls.append((args, kw))
        return self.function(*args, **kw)


# ---------------------------------------------------------------- reading


def test_read_jpeg_takes_only_what_the_device_decodes(files):
    for name in DEVICE_DECODED + ("corrupt",):  # a damaged inside looks whole from outside
        file = jpeg.read_jpeg(files[name])
        assert file is not None, name
        assert file.data.dtype == torch.uint8 and file.data.numel() > 0
    portrait = jpeg.read_jpeg(files["portrait_exif"])
    assert (portrait.width, portrait.height, portrait.orientation) == (120, 80, 6)
    assert jpeg.read_jpeg(files["landscape"]).orientation == 1
    for name in PILLOW_DECODED + ("truncated", "garbage", "empty", "missing"):
        assert jpeg.read_jpeg(files[name]) is None, name


def test_read_jpeg_leaves_files_over_the_pixel_limits_to_pillow(files, monkeypatch):
    monkeypatch.setattr(jpeg, "MAX_CALL_PIXELS", 100 * 100)
    assert jpeg.read_jpeg(files["landscape"]) is None  # 120 x 90
    assert jpeg.read_jpeg(files["square"]) is not None


# ---------------------------------------------------------------- pixels


@pytest.mark.parametrize("short_side", [SHORT, 90])
def test_the_pixels_are_pillows_within_rounding(files, short_side):
    paths = [files[n] for n in DEVICE_DECODED + PILLOW_DECODED]
    ours = jpeg.decode_resized_batch(paths, short_side, "cpu")
    for name, path, pixels in zip(DEVICE_DECODED + PILLOW_DECODED, paths, ours):
        reference = pillow(path, short_side)
        assert isinstance(pixels, torch.Tensor) and pixels.dtype == torch.uint8 and pixels.is_contiguous(), name
        assert pixels.device.type == "cpu" and pixels.shape == reference.shape, name
        assert min(pixels.shape[:2]) == short_side and pixels.shape[2] == 3
        mean, biggest = difference(pixels, reference)
        if name in PILLOW_DECODED:
            assert biggest == 0, name  # Pillow's own pixels
        else:
            assert biggest <= ROUNDING and mean < 0.35, (name, mean, biggest)
    assert tuple(ours[DEVICE_DECODED.index("panorama")].shape) == (short_side, 3 * short_side, 3)
    assert ours[DEVICE_DECODED.index("portrait_exif")].shape[0] > ours[DEVICE_DECODED.index("portrait_exif")].shape[1]


def test_draft_mode_sized_files_are_decoded_at_full_size(tmp_path):
    """Pillow decodes these at 1/2 to 1/8 scale (draft mode); the device has no such mode
    and decodes at full size: its pixels are those of a full-size Pillow decode."""
    cases = [(200, 150, 32), (400, 300, 32), (180, 120, 40), (300, 200, SHORT), (1000, 750, SHORT)]
    paths = [save_jpeg(tmp_path / f"d{i}.jpg", photo(w, h, seed=i)) for i, (w, h, _) in enumerate(cases)]
    for path, (_w, _h, short_side) in zip(paths, cases):
        (ours,) = jpeg.decode_resized_batch([path], short_side, "cpu")
        full, drafted = full_size_reference(path, short_side), pillow(path, short_side)
        assert difference(ours, full)[1] <= ROUNDING, path
        # apart from Pillow's by what its draft mode itself changes (measured: mean 0.4-1.7, at most 9)
        mean, biggest = difference(ours, drafted)
        draft_mean, draft_biggest = difference(full, drafted)
        assert mean <= draft_mean + 0.2 and biggest <= draft_biggest + ROUNDING, (path, mean, biggest)
        assert mean < DRAFT_MEAN and biggest <= DRAFT_MAX, (path, mean, biggest)


@pytest.mark.parametrize("orientation", range(1, 9))
def test_every_exif_orientation_is_applied_as_pillow_applies_it(tmp_path, orientation):
    path = save_jpeg(tmp_path / "o.jpg", photo(120, 80, seed=orientation), orientation=orientation)
    (ours,) = jpeg.decode_resized_batch([path], SHORT, "cpu")
    reference = pillow(path, SHORT)
    assert ours.shape == reference.shape
    assert difference(ours, reference)[1] <= ROUNDING


def test_orientation_turns_are_exactly_pillows_transposes():
    arr = np.random.default_rng(0).integers(0, 255, (5, 7, 3), dtype=np.uint8)
    methods = ["FLIP_LEFT_RIGHT", "ROTATE_180", "FLIP_TOP_BOTTOM", "TRANSPOSE", "ROTATE_270", "TRANSVERSE", "ROTATE_90"]
    for orientation, method in enumerate(methods, start=2):  # ImageOps.exif_transpose's table
        expected = np.asarray(Image.fromarray(arr).transpose(getattr(Image.Transpose, method)))
        turned = jpeg._oriented(torch.from_numpy(arr).permute(2, 0, 1), orientation).permute(1, 2, 0)
        assert np.array_equal(turned.numpy(), expected), method


def test_resized_sizes_are_torchvisions():
    for height, width in [(29, 41), (41, 29), (100, 100), (7, 1000), (1000, 7), (333, 500), (481, 640)]:
        image = Image.new("RGB", (width, height))
        for short_side in (32, 64, 73, 256):
            w, h = tvf.resize(image, [short_side], antialias=True).size
            assert jpeg.resized_size(height, width, short_side) == (h, w)


def test_broken_files_give_pillows_errors(files):
    paths = [files[n] for n in BROKEN]
    for name, path, result in zip(BROKEN, paths, jpeg.decode_resized_batch(paths, SHORT, "cpu")):
        with pytest.raises(ImageError) as raised:
            fastdata.decode_resized(path, SHORT)
        assert isinstance(result, ImageError) and str(result) == str(raised.value), name


def test_a_bad_file_costs_only_itself_a_device_decode(files, monkeypatch):
    """One decode call fails as a whole: its halves are tried apart, and only the file
    that fails alone goes to Pillow."""
    fallback = Spy(fastdata.decode_resized)
    monkeypatch.setattr(jpeg, "decode_resized", fallback)
    names = ("landscape", "square", "corrupt", "small", "grey")
    results = jpeg.decode_resized_batch([files[n] for n in names], SHORT, "cpu")
    assert [args[0] for args, _ in fallback.calls] == [files["corrupt"]]
    assert isinstance(results[2], ImageError)
    assert all(isinstance(r, torch.Tensor) for k, r in enumerate(results) if k != 2)


def test_calls_are_bounded_by_decoded_pixels(files, monkeypatch):
    import torchvision.io

    assert jpeg.decodes_jpegs(torch.device("cpu"))  # the decoder's own check, done before counting
    decode = Spy(torchvision.io.decode_jpeg)
    monkeypatch.setattr(torchvision.io, "decode_jpeg", decode)
    names = ("landscape", "square", "small", "tall", "wide", "grey")
    paths = [files[n] for n in names]
    read = [jpeg.read_jpeg(p) for p in paths]
    expected = jpeg.decode_resized_batch(paths, SHORT, "cpu", files=read)
    assert len(decode.calls) == 1  # all of them at once
    decode.calls.clear()
    monkeypatch.setattr(jpeg, "MAX_CALL_PIXELS", 120 * 110)
    again = jpeg.decode_resized_batch(paths, SHORT, "cpu", files=read)
    sizes = {f.data.data_ptr(): f.width * f.height for f in read}
    assert len(decode.calls) > 1
    for args, _ in decode.calls:
        assert sum(sizes[t.data_ptr()] for t in args[0]) <= 120 * 110
    assert all(torch.equal(a, b) for a, b in zip(expected, again))


def test_without_a_working_decoder_pillow_decodes_everything(files, monkeypatch):
    check = jpeg.decodes_jpegs.__wrapped__
    monkeypatch.setattr(jpeg, "decodes_jpegs", lambda device: False)
    paths = [files[n] for n in DEVICE_DECODED]
    for path, pixels in zip(paths, jpeg.decode_resized_batch(paths, SHORT, "cpu")):
        assert torch.equal(pixels, fastdata.decode_resized(path, SHORT))
    assert not fastdata.DecodedCache(SHORT, 10**8, decode_device="cpu").batch_decoding
    assert check("cpu")  # the real check, on the CPU


def test_host_copies_are_separate_tensors():
    images = [torch.arange(24, dtype=torch.uint8).view(2, 4, 3), None, torch.ones((3, 2, 3), dtype=torch.uint8).permute(1, 0, 2)]
    copies = jpeg._to_host(images)
    assert copies[1] is None
    for image, copy in zip(images[::2], copies[::2]):
        assert torch.equal(copy, image) and copy.is_contiguous()
        assert copy.untyped_storage().nbytes() == copy.numel()  # not a view of the whole call's buffer


# ---------------------------------------------------------------- the cache


def test_fill_decodes_a_batchs_missing_jpegs_in_one_call(files, monkeypatch):
    batch = Spy(jpeg.decode_resized_batch)
    monkeypatch.setattr(jpeg, "decode_resized_batch", batch)
    cache = fastdata.DecodedCache(SHORT, 10**8, decode_device="cpu")
    assert cache.batch_decoding
    first = cache.get(files["square"])
    names = ("landscape", "square", "tall", "png", "truncated")
    paths = [files[n] for n in names]
    results = cache.fill(paths)
    assert len(batch.calls) == 1
    assert batch.calls[0][0][0] == [p for p in paths if p != files["square"]]  # what was not in memory
    assert results[1] is first
    for path, pixels in zip(paths[:4], results):
        assert cache.cached(path) is pixels
        assert difference(pixels, fastdata.decode_resized(path, SHORT))[1] <= ROUNDING
    assert isinstance(results[4], ImageError)
    again = cache.fill(paths)
    assert len(batch.calls) == 1  # nothing decoded again: from memory, the error remembered
    assert all(a is b for a, b in zip(again[:4], results[:4]))
    assert str(again[4]) == str(results[4])
    with pytest.raises(ImageError, match="truncated"):
        cache.get(files["truncated"])


def test_fill_without_a_decode_device_is_get_for_each(files):
    names = ("landscape", "png", "missing")
    plain, filled = fastdata.DecodedCache(SHORT, 10**8), fastdata.DecodedCache(SHORT, 10**8)
    assert not filled.batch_decoding
    results = filled.fill([files[n] for n in names])
    assert torch.equal(results[0], plain.get(files["landscape"]))
    assert torch.equal(results[1], plain.get(files["png"]))
    with pytest.raises(ImageError) as raised:
        plain.get(files["missing"])
    assert str(results[2]) == str(raised.value)


def test_fill_keeps_to_the_budget_like_get(files):
    names = ("landscape", "square", "tall", "wide", "grey", "panorama")
    paths = [files[n] for n in names]
    sizes = [fastdata.decode_resized(p, SHORT).numel() for p in paths]
    budget = sizes[0] + sizes[1] + sizes[3]  # the first two fit, the third does not, the fourth again
    by_get = fastdata.DecodedCache(SHORT, budget)
    for path in paths:
        by_get.get(path)
    by_fill = fastdata.DecodedCache(SHORT, budget, decode_device="cpu")
    results = by_fill.fill(paths)
    assert all(isinstance(r, torch.Tensor) for r in results)  # served even when not kept
    assert by_fill.nbytes == by_get.nbytes <= budget and by_fill.full and by_get.full
    assert [by_fill.cached(p) is not None for p in paths] == [by_get.cached(p) is not None for p in paths]


def test_fill_and_get_from_many_threads_keep_one_copy_each(files):
    paths = [files[n] for n in DEVICE_DECODED + PILLOW_DECODED + ("truncated", "missing")]
    cache = fastdata.DecodedCache(SHORT, 10**8, decode_device="cpu")
    seen: list[tuple[str, object]] = []
    lock = threading.Lock()

    def work(k):
        order = paths[k:] + paths[:k]
        if k % 2:
            got = list(zip(order, cache.fill(order)))
        else:
            got = []
            for path in order:
                try:
                    got.append((path, cache.get(path)))
                except ImageError as exc:
                    got.append((path, exc))
        with lock:
            seen.extend(got)

    threads = [threading.Thread(target=work, args=(k,)) for k in range(6)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    kept = {p: cache.cached(p) for p in paths if cache.cached(p) is not None}
    assert len(kept) == len(DEVICE_DECODED + PILLOW_DECODED)
    assert cache.nbytes == sum(t.numel() for t in kept.values())
    for path, result in seen:
        if path in kept:  # whoever decoded it first, every later answer is the kept copy
            assert isinstance(result, torch.Tensor) and difference(result, kept[path])[1] <= ROUNDING
        else:
            assert isinstance(result, ImageError)


# ---------------------------------------------------------------- batches


@pytest.mark.parametrize("threads", [0, 2])
def test_batch_decoding_gives_the_batches_of_decoding_one_by_one(files, threads, monkeypatch):
    names = DEVICE_DECODED + PILLOW_DECODED + ("corrupt", "missing")
    samples = [(files[n], k % 3) for k, n in enumerate(names)]

    def batches(cache):
        shuffle = torch.Generator().manual_seed(3)
        loader = fastdata.BatchLoader(samples, cache, 4, shuffle=True, threads=threads, generator=shuffle)
        return list(loader) + list(loader)  # the second pass from memory

    spy = Spy(jpeg.decode_resized_batch)
    monkeypatch.setattr(jpeg, "decode_resized_batch", spy)
    plain = batches(fastdata.DecodedCache(SHORT, 10**8))
    assert not spy.calls
    batched = batches(fastdata.DecodedCache(SHORT, 10**8, decode_device="cpu"))
    assert 1 <= len(spy.calls) <= 4  # at most one call per batch of the first pass
    assert len(plain) == len(batched) == 8
    for a, b in zip(plain, batched):
        assert a.indices == b.indices and a.errors == b.errors
        assert torch.equal(a.labels, b.labels) and torch.equal(a.sizes, b.sizes)
        assert a.pixels.shape == b.pixels.shape
        for k, (h, w) in enumerate(a.sizes.tolist()):  # the images and their edge row and column
            assert difference(a.pixels[k, : h + 1, : w + 1], b.pixels[k, : h + 1, : w + 1])[1] <= ROUNDING
    assert sum(len(b.errors) for b in batched) == 4  # corrupt and missing, on each pass


def test_a_loop_that_stops_early_with_batch_decoding(files):
    samples = [(files[n], 0) for n in DEVICE_DECODED] * 3
    loader = fastdata.BatchLoader(samples, fastdata.DecodedCache(SHORT, 10**8, decode_device="cpu"), 2, threads=2)
    for k, batch in enumerate(loader):
        assert len(batch.indices) == 2
        if k == 1:
            break


def test_training_decodes_on_the_gpu_only_for_cuda(tiny_demo, tmp_path):
    scan = scan_dataset(tiny_demo)
    config = TrainConfig(data_dir=str(tiny_demo), weights="none", batch_size=8, image_size=32, workers=0, out_dir=str(tmp_path))
    on_cpu = TrainingInput(config, scan, torch.device("cpu"))
    assert on_cpu.cache.decode_device is None
    on_gpu = TrainingInput(config, scan, torch.device("cuda", 0))  # nothing runs on it here
    assert on_gpu.cache.decode_device == torch.device("cuda", 0)
    assert on_gpu.cache.short_side == resize_size_for(32)


# ---------------------------------------------------------------- on a GPU


@CUDA
def test_nvjpeg_pixels_are_close_to_pillows(files):
    """nvJPEG's IDCT and chroma upsampling differ a little from libjpeg-turbo's."""
    names = DEVICE_DECODED + PILLOW_DECODED + BROKEN
    paths = [files[n] for n in names]
    assert jpeg.decodes_jpegs("cuda")
    for name, path, result in zip(names, paths, jpeg.decode_resized_batch(paths, SHORT, "cuda")):
        reference = pillow(path, SHORT)
        if isinstance(reference, ImageError):
            if name != "corrupt":  # nvJPEG may decode a damaged inside that libjpeg refuses
                assert isinstance(result, ImageError) and str(result) == str(reference), name
            continue
        assert result.device.type == "cpu" and result.shape == reference.shape, name
        mean, biggest = difference(result, reference)
        assert mean < 2.0 and biggest <= 16, (name, mean, biggest)


@CUDA
def test_batch_loader_decodes_on_the_gpu(files):
    samples = [(files[n], 0) for n in DEVICE_DECODED + PILLOW_DECODED]
    plain = list(fastdata.BatchLoader(samples, fastdata.DecodedCache(SHORT, 10**8), 4, threads=2))
    gpu = list(fastdata.BatchLoader(samples, fastdata.DecodedCache(SHORT, 10**8, decode_device="cuda"), 4, threads=2))
    for a, b in zip(plain, gpu):
        assert torch.equal(a.sizes, b.sizes) and a.errors == b.errors
        assert difference(a.pixels, b.pixels)[0] < 2.0
