"""Export: ONNX and TorchScript files that agree with PyTorch and carry classes and preprocessing."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from PIL import Image

from resnet_studio.engine import checkpoint, export, models
from resnet_studio.engine.errors import StudioError
from resnet_studio.engine.predict import Predictor

CLASSES = ["ant", "bee", "cat"]


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    torch.manual_seed(0)
    folder = tmp_path_factory.mktemp("run")
    model = models.build_model(18, len(CLASSES), "none")
    with torch.no_grad():  # spread the logits, so the probabilities are not all ~1/3
        model.fc.weight.mul_(40)
    meta = {"depth": 18, "classes": CLASSES, "image_size": 32, "resize_size": 37,
            "mean": list(models.IMAGENET_MEAN), "std": list(models.IMAGENET_STD)}
    checkpoint.save_model(model, folder / "model.safetensors", meta)
    return folder


def generated(n=6, seed=1):
    rng = np.random.default_rng(seed)
    return [Image.fromarray(rng.integers(0, 256, (int(rng.integers(30, 60)), 40, 3), dtype=np.uint8)) for _ in range(n)]


@pytest.mark.parametrize("fmt", ["onnx", "torchscript"])
def test_export_agrees_with_pytorch(model_dir, tmp_path, fmt):
    if fmt == "onnx":
        pytest.importorskip("onnxruntime")
    out = tmp_path / f"m.{fmt}"
    messages = []
    result = export.export_model(model_dir, fmt, out, samples=generated(), progress=messages.append)
    assert result.path == str(out) and out.is_file() and messages
    assert result.images_checked == 6 and result.top1_agree == 6
    assert 0 <= result.max_prob_diff < 1e-4
    assert "largest probability difference" in result.summary()

    side = json.loads((tmp_path / f"m.{fmt}.json").read_text())
    assert side["classes"] == CLASSES and side["image_size"] == 32 and side["resize_size"] == 37
    assert side["mean"] == pytest.approx(models.IMAGENET_MEAN) and side["check"]["top1_agree"] == 6

    # the file alone is enough: its own metadata, and the same answers as the Predictor
    run, inside = export.load_exported(out)
    assert inside["classes"] == CLASSES and inside["model_format"] == fmt
    predictor = Predictor.from_path(model_dir)
    images = generated(4, seed=7)
    batch = torch.stack([predictor.transform(im) for im in images]).numpy()
    probs = torch.from_numpy(run(batch)).double().softmax(1)
    expected = predictor.predict(images, topk=3)
    for row, pred in zip(probs, expected):
        label, prob = pred.predictions[0]
        assert CLASSES[int(row.argmax())] == label
        assert float(row.max()) == pytest.approx(prob, abs=1e-4)


def test_default_path_is_in_the_run_folder(model_dir):
    assert export.default_export_path(model_dir, "onnx") == model_dir / "export" / "model.onnx"
    assert export.default_export_path(model_dir / "model.json", "torchscript") == model_dir / "export" / "model.torchscript.pt"
    result = export.export_model(model_dir, "torchscript", samples=generated(2))
    assert result.path == str(model_dir / "export" / "model.torchscript.pt")
    assert json.loads((model_dir / "model.json").read_text())["format"] == "resnet-studio-model"


def test_a_disagreeing_export_fails_and_leaves_nothing(model_dir, tmp_path, monkeypatch):
    real = export._run_exported  # the real exported model, its classes shifted by one
    monkeypatch.setattr(export, "_run_exported", lambda path, fmt, batch: np.roll(real(path, fmt, batch), 1, axis=1))
    images = generated(3)
    with pytest.raises(StudioError, match="disagrees with PyTorch on the top class"):
        export.export_model(model_dir, "torchscript", tmp_path / "bad.pt", samples=images)
    assert list(tmp_path.iterdir()) == []


def test_missing_onnx_runtime_says_how_to_install(model_dir, tmp_path, monkeypatch):
    monkeypatch.setattr(export, "missing_packages", lambda fmt: ["onnxruntime"])
    hint = r"ONNX export needs onnxruntime: install with .+ -m pip install (-e .+\[export\]|onnxruntime)"
    with pytest.raises(StudioError, match=hint):
        export.export_model(model_dir, "onnx", tmp_path / "m.onnx")
    with pytest.raises(StudioError, match="unknown export format"):
        export.export_model(model_dir, "tflite")


def test_sample_images_are_generated_without_a_data_folder(model_dir):
    images = export.sample_images(model_dir, generated=3)
    assert len(images) == 3 and all(isinstance(im, Image.Image) for im in images)
