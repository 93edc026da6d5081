"""Grad-CAM: a map of the image's size, whose peak follows the object; overlays; colours."""

from __future__ import annotations

import numpy as np
import pytest
import torch
from PIL import Image, ImageDraw

from resnet_studio.engine import explain, models
from resnet_studio.engine.errors import StudioError
from resnet_studio.engine.predict import Predictor

MEAN_GREY = (124, 116, 104)  # ImageNet's mean: about 0 after normalization, like the padding


@pytest.fixture(scope="module")
def predictor():
    """A random ResNet-18 whose head only adds evidence (positive weights): in eval mode a
    mean-grey background gives ~0 activations, so only the object can light up the map."""
    torch.manual_seed(0)
    model = models.build_model(18, 3, "none")
    with torch.no_grad():
        model.fc.weight.copy_(torch.rand_like(model.fc.weight) + 0.1)
        model.fc.bias.zero_()
    for p in model.parameters():
        p.requires_grad_(False)  # Grad-CAM must work on a frozen model too
    return Predictor(model, ["a", "b", "c"], 128, resize_size=128)


def scene(x: int, size=(192, 128)) -> Image.Image:
    image = Image.new("RGB", size, MEAN_GREY)
    draw = ImageDraw.Draw(image)
    draw.ellipse((x - 18, 46, x + 18, 82), fill=(250, 250, 250))
    draw.rectangle((x - 6, 58, x + 6, 70), fill=(20, 20, 200))
    return image


def test_map_has_the_image_size_and_peak_follows_the_object(predictor):
    left, right = explain.grad_cam(predictor, [scene(60), scene(132)])
    for cam in (left, right):
        heat = cam.heatmap((192, 128))
        assert heat.shape == (128, 192) and heat.dtype == np.float32
        assert 0.0 <= heat.min() and heat.max() <= 1.0 and heat.max() > 0.5
    assert left.peak[0] < 0.5 < right.peak[0]
    left_col = np.unravel_index(left.heatmap((192, 128)).argmax(), (128, 192))[1]
    right_col = np.unravel_index(right.heatmap((192, 128)).argmax(), (128, 192))[1]
    assert left_col < 96 < right_col


def test_top_class_or_a_chosen_class(predictor):
    top = explain.grad_cam(predictor, [scene(60)])[0]
    assert top.label == predictor.predict([scene(60)], topk=1)[0].predictions[0][0]
    other = (top.class_index + 1) % 3
    chosen = explain.grad_cam(predictor, [scene(60)], [other])[0]
    assert chosen.class_index == other and chosen.label == predictor.classes[other]
    assert chosen.prob < top.prob
    with pytest.raises(StudioError, match="out of range"):
        explain.grad_cam(predictor, [scene(60)], [7])
    assert not predictor.model._forward_hooks and not predictor.model.layer4._forward_hooks


def test_crop_box_matches_the_centre_crop():
    assert explain.crop_box(64, 64, 64, 64) == (0.0, 0.0, 1.0, 1.0)
    left, top, right, bottom = explain.crop_box(400, 300, 64, 73)  # resize to 97x73, crop 64
    assert (top, bottom) == pytest.approx((4 / 73, 68 / 73))
    assert right - left == pytest.approx(64 / 97)
    portrait = explain.crop_box(300, 400, 64, 73)
    assert portrait[0] == pytest.approx(top) and portrait[1] == pytest.approx(left)


def test_outside_the_crop_is_zero_and_shaded(predictor):
    wide = Predictor(predictor.model, predictor.classes, 64, resize_size=64)
    image = scene(96, size=(192, 64))
    cam = explain.grad_cam(wide, [image])[0]
    heat = cam.heatmap(image.size)
    assert heat[:, :60].max() == 0 and heat[:, 132:].max() == 0  # the model saw the middle 64x64 only
    out = explain.overlay(image, cam, opacity=0.0, shade_outside=0.5)
    assert out.size == image.size and out.mode == "RGB"
    assert out.getpixel((100, 5)) == image.getpixel((100, 5))  # inside, opacity 0: untouched
    assert out.getpixel((5, 5)) == tuple(round(c * 0.5) for c in MEAN_GREY)  # outside: darkened
    coloured = explain.overlay(image, cam, opacity=0.8)
    assert coloured.getpixel((96, 32)) != image.getpixel((96, 32))
    rgba = explain.heat_rgba(cam, (96, 32), opacity=1.0)
    assert rgba.shape == (32, 96, 4) and rgba[:, :10, 3].max() == 0


def test_colour_map_runs_from_blue_to_red():
    zero, low, mid, high = (tuple(int(v) for v in c) for c in explain.colorize(np.array([0.0, 0.15, 0.5, 1.0])))
    assert sum(zero) < 120  # dark
    assert low[2] == max(low) and mid[1] == max(mid) and high[0] == max(high)  # blue, green, red
    assert explain.colorize(np.zeros((3, 4))).shape == (3, 4, 3)


@pytest.mark.parametrize("size", [(2000, 20), (20, 2000), (640, 480)])
def test_the_map_is_computed_on_the_pixels_prediction_reads(predictor, tmp_path, size):
    """One entry point for every front: the probability Grad-CAM reports is the prediction's,
    at any photo size (the window once redid it on a copy shrunk to 768 px: 2.2 % against 68.5 %)."""
    rng = np.random.default_rng(1)
    path = tmp_path / "photo.png"
    Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)).save(path)
    (prediction,) = predictor.predict([path], topk=3)
    label, prob = prediction.predictions[0]
    shown = explain.explain(predictor, str(path), display_side=768)
    assert shown.cam.label == label and shown.cam.prob == pytest.approx(prob, abs=1e-5)
    expected = Image.new("RGB", size)
    expected.thumbnail((768, 768))
    assert shown.image.size == expected.size  # the whole picture, at most 768 px, for display
    second = prediction.predictions[1][0]
    other = explain.explain(predictor, str(path), predictor.classes.index(second))
    assert other.cam.prob == pytest.approx(prediction.predictions[1][1], abs=1e-5)
    assert explain.grad_cam(predictor, [str(path)])[0].prob == pytest.approx(prob, abs=1e-5)


def test_an_in_memory_picture_is_read_as_a_file_is(predictor, tmp_path):
    """Alpha over white for files and in-memory pictures alike (one conversion to RGB)."""
    rgba = Image.new("RGBA", (64, 48), (200, 10, 10, 0))
    rgba.paste((10, 10, 200, 255), (10, 10, 30, 30))
    rgba.save(tmp_path / "t.png")
    from_file = predictor.predict([tmp_path / "t.png"])[0].predictions
    in_memory = predictor.predict([rgba])[0].predictions
    assert [label for label, _ in from_file] == [label for label, _ in in_memory]
    assert [p for _, p in from_file] == pytest.approx([p for _, p in in_memory], abs=1e-6)
    assert explain.explain(predictor, rgba).cam.prob == pytest.approx(in_memory[0][1], abs=1e-5)
