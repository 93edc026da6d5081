"""The fast input path: the decoded-image cache, the batch loader, device-side augmentation,
and what they must not change about training (repeatable, same metrics with or without)."""

import dataclasses

import numpy as np
import pytest
import torch
from PIL import Image, ImageOps

from resnet_studio.engine import data, fastdata, runs
from resnet_studio.engine.errors import ImageError
from resnet_studio.engine.events import LogMessage
from resnet_studio.engine.models import IMAGENET_MEAN, IMAGENET_STD
from resnet_studio.engine.train import Trainer

from .test_trainer import Recorder, tiny_config


def photo(width, height, seed=0) -> Image.Image:
    """Smooth gradients with a little noise: JPEG-friendly, like a photo."""
    rng = np.random.default_rng(seed)
    y, x = np.mgrid[0:height, 0:width]
    arr = np.stack([x * 255 // max(1, width - 1), y * 255 // max(1, height - 1), (x + y) * 127 // max(1, width + height)], -1)
    arr = arr + rng.integers(-6, 7, arr.shape)
    return Image.fromarray(np.clip(arr, 0, 255).astype(np.uint8))


@pytest.fixture
def photos(tmp_path):
    """Files of several shapes: landscape, portrait, square, a panorama, an EXIF-rotated JPEG, a PNG."""
    paths = []
    for i, (w, h) in enumerate([(400, 300), (300, 400), (50, 50), (600, 90), (41, 29)]):
        path = tmp_path / f"p{i}.jpg"
        photo(w, h, seed=i).save(path, quality=92)
        paths.append(str(path))
    rotated = photo(200, 120, seed=9)
    exif = rotated.getexif()
    exif[0x0112] = 6
    rotated.save(tmp_path / "rot.jpg", quality=92, exif=exif.tobytes())
    photo(64, 48, seed=7).convert("RGBA").save(tmp_path / "alpha.png")
    return paths + [str(tmp_path / "rot.jpg"), str(tmp_path / "alpha.png")]


def full_decode_resized(path, short_side) -> np.ndarray:
    """The slow reference: decode at full size, orient, then resize the shorter side."""
    with Image.open(path) as im:
        im = ImageOps.exif_transpose(im).convert("RGB")
    w, h = im.size
    scale = short_side / min(w, h)
    size = (max(short_side, int(w * scale)), max(short_side, int(h * scale)))
    return np.asarray(im.resize(size, Image.BILINEAR, reducing_gap=None))


# ---------------------------------------------------------------- the cache


def test_cached_pixels_match_a_full_decode_within_draft_tolerance(photos):
    cache = fastdata.DecodedCache(short_side=64, budget_bytes=10**8)
    for path in photos:
        pixels = cache.get(path)
        assert pixels.dtype == torch.uint8 and pixels.shape[2] == 3 and min(pixels.shape[:2]) == 64
        assert cache.get(path) is pixels  # the second read comes from memory
        if path == photos[3]:
            continue  # the panorama is cut to its centre: below
        reference = full_decode_resized(path, 64)
        h, w = pixels.shape[:2]
        assert reference.shape[:2] == (h, w)
        diff = np.abs(pixels.numpy().astype(int) - reference.astype(int))
        assert diff.mean() < 3 and np.percentile(diff, 99) < 16, path  # reduced-scale JPEG decoding
    assert tuple(cache.get(photos[3]).shape) == (64, 192, 3)  # 600 x 90: at most 3:1, centre kept
    assert tuple(cache.get(photos[5]).shape[:2]) == (106, 64)  # EXIF orientation applied: portrait


@pytest.mark.parametrize("image_size", [32, 33])
def test_validation_crops_are_exactly_the_prediction_preprocessing(photos, image_size):
    resize = data.resize_size_for(image_size)
    loader = fastdata.BatchLoader([(p, 0) for p in photos], fastdata.DecodedCache(resize, 10**8), len(photos))
    (batch,) = list(loader)
    ours = fastdata.eval_batch(batch.pixels, batch.sizes, image_size)
    reference = torch.stack([data.eval_transform(image_size)(data.load_image(p, min_size=resize)) for p in photos])
    assert ours.shape == reference.shape == (len(photos), 3, image_size, image_size)
    assert torch.allclose(ours, reference, atol=1e-5)


def test_the_cache_keeps_to_its_budget_and_falls_back_to_disk(photos):
    one = fastdata.DecodedCache(64, 10**8).get(photos[0]).numel()  # 64 x 85 x 3 bytes
    cache = fastdata.DecodedCache(64, budget_bytes=2 * one + 10)
    first = [cache.get(p) for p in photos[:4]]
    assert len(cache) == 2 and cache.nbytes <= cache.budget_bytes and cache.full
    again = [cache.get(p) for p in photos[:4]]
    assert again[0] is first[0] and again[2] is not first[2]  # beyond the budget: decoded again
    assert all(torch.equal(a, b) for a, b in zip(first, again))
    off = fastdata.DecodedCache(64, budget_bytes=0)
    assert torch.equal(off.get(photos[0]), first[0]) and len(off) == 0 and off.nbytes == 0


def test_the_automatic_budget_is_a_share_of_free_memory():
    from resnet_studio.engine import io

    free = io.available_memory()
    assert free is None or free > 0
    assert 0 < fastdata.default_cache_budget() <= (free or 2**32)


def test_unreadable_files_raise_and_are_remembered(tmp_path):
    bad = tmp_path / "bad.jpg"
    bad.write_bytes(b"\xff\xd8\xff not really")
    cache = fastdata.DecodedCache(32, 10**6)
    for _ in range(2):
        with pytest.raises(ImageError, match="bad.jpg"):
            cache.get(str(bad))


# ---------------------------------------------------------------- batches


def test_batches_carry_labels_and_leave_out_broken_images(photos, tmp_path):
    (tmp_path / "empty.jpg").write_bytes(b"")
    samples = [(p, i) for i, p in enumerate(photos[:3])] + [(str(tmp_path / "empty.jpg"), 9), (photos[4], 4)]
    loader = fastdata.BatchLoader(samples, fastdata.DecodedCache(37, 10**8), batch_size=4)
    first, second = list(loader)
    assert first.labels.tolist() == [0, 1, 2] and first.indices == [0, 1, 2]
    assert len(first.errors) == 1 and first.errors[0].startswith(str(tmp_path / "empty.jpg") + ": empty file")
    assert second.labels.tolist() == [4] and second.indices == [4] and second.errors == []
    assert first.pixels.dtype == torch.uint8 and first.pixels.shape[0] == 3
    for k in range(3):
        h, w = first.sizes[k].tolist()
        assert torch.equal(first.pixels[k, :h, :w], loader.cache.get(photos[k]))


def test_threads_and_shuffling_give_the_same_batches_as_the_plain_loop(photos):
    samples = [(p, i) for i, p in enumerate(photos)]

    def batches(threads):
        gen = torch.Generator().manual_seed(5)
        cache = fastdata.DecodedCache(37, 10**8)
        loader = fastdata.BatchLoader(samples, cache, 3, shuffle=True, drop_last=True, threads=threads, generator=gen)
        assert len(loader) == len(samples) // 3
        return [(b.labels.tolist(), b.pixels.clone()) for b in loader]

    plain, threaded = batches(0), batches(3)
    assert [labels for labels, _ in plain] == [labels for labels, _ in threaded]
    assert sum((labels for labels, _ in plain), []) != list(range(len(plain) * 3))  # shuffled
    for (_, a), (_, b) in zip(plain, threaded):
        assert a.shape == b.shape


def test_a_loop_that_stops_early_leaves_no_work_behind(photos):
    loader = fastdata.BatchLoader([(p, 0) for p in photos * 4], fastdata.DecodedCache(37, 0), 2, threads=2)
    for _ in loader:
        break  # the generator closes: queued decodes are cancelled, nothing hangs


# ---------------------------------------------------------------- on the device


def _uniform_batch(sizes, colour=(200, 100, 50)):
    h = max(s[0] for s in sizes) + 1
    w = max(s[1] for s in sizes) + 1
    pixels = torch.zeros((len(sizes), h, w, 3), dtype=torch.uint8)
    for k, (sh, sw) in enumerate(sizes):
        pixels[k, : sh + 1, : sw + 1] = torch.tensor(colour, dtype=torch.uint8)
        pixels[k, sh + 1 :, :] = 0
        pixels[k, :, sw + 1 :] = 0
    return pixels, torch.tensor(sizes)


def test_random_crops_follow_torchvisions_rules():
    sizes = torch.tensor([[36, 48]] * 4000 + [[20, 200]] * 10)  # the last ones fit no allowed ratio
    boxes = fastdata.random_resized_crop_boxes(sizes, torch.Generator().manual_seed(1))
    w, h = boxes[:, 2] - boxes[:, 0], boxes[:, 3] - boxes[:, 1]
    assert (boxes[:, :2] >= 0).all() and (boxes[:, 2] <= sizes[:, 1]).all() and (boxes[:, 3] <= sizes[:, 0]).all()
    area = (w * h / (sizes[:, 0] * sizes[:, 1]))[:4000]
    assert area.min() > 0.22 and area.max() <= 1.0 and area.std() > 0.1
    ratio = (w / h)[:4000]
    assert ratio.min() > 0.7 and ratio.max() < 1.4
    assert torch.equal(boxes[-1], torch.tensor([86.0, 0.0, 113.0, 20.0]))  # centre, at the widest allowed ratio


def test_device_augmentation_gives_crops_of_the_size_and_range_and_is_seeded():
    pixels = torch.randint(0, 256, (6, 60, 80, 3), dtype=torch.uint8)
    sizes = torch.tensor([[59, 79], [40, 79], [59, 30], [20, 20], [59, 79], [33, 50]])
    lo = torch.tensor([(0 - m) / s for m, s in zip(IMAGENET_MEAN, IMAGENET_STD)]).view(1, 3, 1, 1)
    hi = torch.tensor([(1 - m) / s for m, s in zip(IMAGENET_MEAN, IMAGENET_STD)]).view(1, 3, 1, 1)
    for level in (*fastdata.AUGMENTATIONS.values(), fastdata.augmentation_for("light", color_jitter=True)):
        a = fastdata.train_batch(pixels, sizes, 24, torch.Generator().manual_seed(3), level)
        b = fastdata.train_batch(pixels, sizes, 24, torch.Generator().manual_seed(3), level)
        c = fastdata.train_batch(pixels, sizes, 24, torch.Generator().manual_seed(4), level)
        assert a.shape == (6, 3, 24, 24) and a.dtype == torch.float32
        assert torch.equal(a, b) and not torch.equal(a, c)
        assert (a >= lo - 1e-4).all() and (a <= hi + 1e-4).all()


def test_each_level_keeps_its_crops_and_turns_within_its_limits():
    sizes = torch.tensor([[60, 80]] * 2000)
    for name, level in fastdata.AUGMENTATIONS.items():
        drawn = fastdata.draw_augmentation(sizes, torch.Generator().manual_seed(0), name)
        boxes = drawn.boxes
        area = (boxes[:, 2] - boxes[:, 0]) * (boxes[:, 3] - boxes[:, 1]) / (60 * 80)
        assert area.min() >= level.scale[0] - 0.02 and area.max() <= 1.0, name
        degrees = drawn.angle.abs().max().item() * 180 / np.pi
        assert level.rotate * 0.95 < degrees <= level.rotate + 1e-4, name
        assert 0.3 < drawn.flip.float().mean() < 0.7
    assert fastdata.AUGMENTATIONS["light"].scale[0] > fastdata.AUGMENTATIONS["standard"].scale[0] > 0.2
    jittered = fastdata.augmentation_for("light", color_jitter=True)
    assert jittered.colour == fastdata.COLOUR_JITTER and jittered.lighting == fastdata.COLOUR_JITTER
    assert fastdata.augmentation_for("strong") is fastdata.AUGMENTATIONS["strong"]


def test_a_turned_crop_is_the_image_turned():
    """A quarter turn of a whole square image, without lighting changes: the pixels of
    torch.rot90 (bilinear sampling at the same points); a flip on top mirrors it."""
    image = torch.randint(0, 256, (1, 20, 20, 3), dtype=torch.uint8)
    canvas = torch.cat([image, image[:, -1:]], 1)
    canvas = torch.cat([canvas, canvas[:, :, -1:]], 2)
    sizes = torch.tensor([[20, 20]])
    level = fastdata.AugmentationLevel(scale=(1.0, 1.0), ratio=(1.0, 1.0), rotate=0, lighting=0)
    turn = fastdata.Augmentation(torch.tensor([[0.0, 0.0, 20.0, 20.0]]), torch.tensor([False]), torch.tensor([np.pi / 2]),
                                 torch.zeros(1, 4, 1, 1, 1), level)
    out = fastdata._crop_resize(canvas, turn, sizes, 20)
    expected = torch.rot90(image.permute(0, 3, 1, 2).float(), 1, (2, 3))  # out[r][c] = in[c][W-1-r]
    assert torch.allclose(out, expected, atol=1e-3)
    flipped = fastdata.Augmentation(turn.boxes, torch.tensor([True]), torch.tensor([0.0]), turn.jitter, level)
    assert torch.allclose(fastdata._crop_resize(canvas, flipped, sizes, 20), image.permute(0, 3, 1, 2).float().flip(3),
                          atol=1e-3)


def test_crops_never_read_past_an_image_and_flips_happen():
    sizes = [(37, 50), (50, 37), (37, 37), (20, 70)]
    pixels, sizes_t = _uniform_batch(sizes)
    seen_flips = set()
    for seed in range(12):
        level = dataclasses.replace(fastdata.AUGMENTATIONS["strong"], lighting=0, colour=0)  # the widest crops and turns
        out = fastdata.train_batch(pixels, sizes_t, 32, torch.Generator().manual_seed(seed), level)
        assert (out.amax((2, 3)) - out.amin((2, 3))).abs().max() < 1e-4  # uniform in, uniform out: no padding leaks in
    ramp = torch.arange(64, dtype=torch.uint8).view(1, 1, 64, 1).expand(1, 64, 64, 3).repeat(8, 1, 1, 1)
    ramp = torch.cat([ramp, ramp[:, :1]], 1)
    ramp = torch.cat([ramp, ramp[:, :, -1:]], 2)
    still = dataclasses.replace(fastdata.AUGMENTATIONS["light"], rotate=0, lighting=0)
    out = fastdata.train_batch(ramp, torch.tensor([[64, 64]] * 8), 16, torch.Generator().manual_seed(0), still)
    for k in range(8):
        seen_flips.add(bool(out[k, 0, 0, 0] > out[k, 0, 0, -1]))
    assert seen_flips == {True, False}


def test_gpu_paths_run_on_cpu_tensors():
    """What CUDA uses, exercised where there is no GPU: pinned batches are plain ones,
    constants are copied once per device, no step reads a value back."""
    pixels, sizes = _uniform_batch([(37, 50), (50, 37)])
    gen = torch.Generator(device="cpu").manual_seed(0)
    x = fastdata.train_batch(pixels, sizes, 32, gen).contiguous(memory_format=torch.channels_last)
    assert x.is_contiguous(memory_format=torch.channels_last)
    loader = fastdata.BatchLoader([], fastdata.DecodedCache(37, 0), 4, pin_memory=True)
    assert len(loader) == 0 and list(loader) == []


# ---------------------------------------------------------------- training with it


def _step_losses(run_dir):
    return [r["loss"] for r in runs.read_metrics(run_dir) if r["event"] == "step"]


def _epochs(run_dir):
    return [(r["train_loss"], r["val_loss"], r["val_acc"]) for r in runs.read_metrics(run_dir) if r["event"] == "epoch"]


def test_training_with_the_cache_and_without_gives_the_same_metrics(tiny_demo, tmp_path):
    rec = Recorder()
    cached = Trainer(tiny_config(tiny_demo, tmp_path / "a", epochs=2), [rec]).run()
    uncached = Trainer(tiny_config(tiny_demo, tmp_path / "b", epochs=2, cache_budget_mb=0, workers=2)).run()
    assert cached.status == uncached.status == "completed"
    assert _step_losses(cached.run_dir) == _step_losses(uncached.run_dir)
    assert _epochs(cached.run_dir) == _epochs(uncached.run_dir)
    (note,) = [e.message for e in rec.of(LogMessage) if e.message.startswith("image cache")]
    assert "decoded images" in note and "full" not in note


def test_a_folder_larger_than_the_cache_still_trains(tiny_demo, tmp_path):
    rec = Recorder()
    result = Trainer(tiny_config(tiny_demo, tmp_path, epochs=2, cache_budget_mb=0.05), [rec]).run()  # ~12 of 64 images
    assert result.status == "completed" and result.epochs_completed == 2
    (note,) = [e.message for e in rec.of(LogMessage) if e.message.startswith("image cache")]
    assert "full" in note and "--cache-mb" in note


def test_head_only_features_train_like_the_plain_head_only_path(tiny_demo, tmp_path, monkeypatch):
    config = dict(epochs=3, trainable="head", augment=False, lr=0.05)
    rec = Recorder()
    fast = Trainer(tiny_config(tiny_demo, tmp_path / "fast", **config), [rec]).run()
    assert any("features" in e.message and "took" in e.message for e in rec.of(LogMessage))
    monkeypatch.setattr(Trainer, "feature_shortcut", False)
    plain = Trainer(tiny_config(tiny_demo, tmp_path / "plain", **config)).run()
    assert fast.status == plain.status == "completed"
    assert fast.best_val_acc == plain.best_val_acc
    assert np.allclose(_step_losses(fast.run_dir), _step_losses(plain.run_dir), atol=1e-4)
    for a, b in zip(_epochs(fast.run_dir), _epochs(plain.run_dir)):
        assert np.allclose(a, b, atol=1e-4)


def test_head_only_with_augmentation_says_why_features_are_not_cached(tiny_demo, tmp_path):
    rec = Recorder()
    Trainer(tiny_config(tiny_demo, tmp_path, epochs=1, trainable="head"), [rec]).run()
    assert any("head-only training with augmentation" in e.message for e in rec.of(LogMessage))
