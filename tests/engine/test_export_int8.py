"""int8 export: a quantized ONNX file with its measurements, and the refusals that write nothing."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

from resnet_studio.engine import checkpoint, demo, export, models, quantize, runs
from resnet_studio.engine.errors import StudioError

pytest.importorskip("onnxruntime.quantization")

CLASSES = list(demo.DEMO_CLASSES)


def make_run(folder: Path, per_class: int = 6, image_size: int = 32) -> Path:
    """A run folder as the trainer leaves it, as far as export needs: an (untrained) ResNet-18 and a
    split.json over generated 24 px demo pictures, half of each class for training."""
    torch.manual_seed(0)
    data = demo.make_demo_dataset(folder / "data", per_class=per_class, image_size=24)
    run = folder / "run"
    run.mkdir()
    meta = {"depth": 18, "classes": CLASSES, "image_size": image_size, "resize_size": image_size,
            "mean": list(models.IMAGENET_MEAN), "std": list(models.IMAGENET_STD)}
    checkpoint.save_model(models.build_model(18, len(CLASSES), "none"), run / "model.safetensors", meta)
    pairs = [(str(p), label) for label, name in enumerate(CLASSES) for p in sorted((data / name).iterdir())]
    runs.write_split(run, runs.Split(CLASSES, pairs[0::2], pairs[1::2]))
    return run


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory) -> Path:
    return make_run(tmp_path_factory.mktemp("int8"))


def quick_quantize(monkeypatch):
    """The fp32 file stands in for the int8 one, timed in 3 runs: the steps around quantization, in a few seconds."""
    monkeypatch.setattr(quantize, "_quantize", lambda fp32, prepared, int8, calib, settings: shutil.copy(fp32, int8))
    monkeypatch.setattr(quantize, "LATENCY_RUNS", 3)
    return monkeypatch


def test_int8_export_writes_a_working_file_with_its_measurements(run_dir, tmp_path, monkeypatch):
    import onnx

    monkeypatch.setattr(quantize, "LATENCY_RUNS", 3)  # the numbers' meaning is the benchmark's business, not the time
    out = tmp_path / "q.onnx"
    messages = []
    result = quantize.export_int8(run_dir, out, max_drop=100.0, calibration_images=8, progress=messages.append)
    assert result.path == str(out) and out.is_file() and messages
    assert sorted(p.name for p in tmp_path.iterdir()) == ["q.onnx", "q.onnx.json"]  # no temporary file left
    assert result.calibration_images == 8 and result.validation_images == 12  # all the validation images
    assert 0 <= result.int8_acc <= 1 and 0 <= result.fp32_acc <= 1
    assert result.drop_points == pytest.approx(100 * (result.fp32_acc - result.int8_acc))
    assert result.int8_bytes < result.fp32_bytes / 3  # int8 weights: about a quarter
    assert result.fp32_ms > 0 and result.int8_ms > 0 and result.speedup == pytest.approx(result.fp32_ms / result.int8_ms)
    assert "int8 top-1" in result.summary() and "faster" in result.summary()

    ops = {node.op_type for node in onnx.load(str(out)).graph.node}
    assert "QLinearConv" in ops and "Conv" not in ops  # the chosen QOperator format: int8 convolutions
    run, inside = export.load_exported(out)
    side = json.loads((tmp_path / "q.onnx.json").read_text())
    for description in (inside, side):
        assert description["classes"] == CLASSES and description["image_size"] == 32 and description["file"] == "q.onnx"
        assert description["quantization"]["int8_acc"] == result.int8_acc
        assert description["quantization"]["settings"]["quant_format"] == "QOperator"
    logits = run(torch.zeros(2, 3, 32, 32).numpy())
    assert logits.shape == (2, len(CLASSES))


def test_a_drop_over_the_limit_is_refused_and_writes_nothing(run_dir, tmp_path, monkeypatch):
    quick_quantize(monkeypatch)
    accuracies = iter([0.75, 0.74, 0.75, 0.70])  # fp32, then int8: 1 point lost (the limit, allowed), then 5
    monkeypatch.setattr(quantize, "_accuracy", lambda run, images, labels: next(accuracies))
    at_limit = quantize.export_int8(run_dir, tmp_path / "ok" / "q.onnx", calibration_images=4)
    assert at_limit.drop_points == 1.0 and (tmp_path / "ok" / "q.onnx").is_file()
    with pytest.raises(quantize.AccuracyDropRefused, match=r"5\.00 points below fp32's 75\.0% .* more than the 1 allowed"):
        quantize.export_int8(run_dir, tmp_path / "out" / "q.onnx", calibration_images=4)
    assert not (tmp_path / "out").exists()  # the folder it made for the file went too


def test_int8_needs_the_runs_images(run_dir, tmp_path):
    lone = tmp_path / "lone"
    lone.mkdir()
    for name in ("model.safetensors", "model.json"):
        shutil.copy(run_dir / name, lone / name)
    with pytest.raises(StudioError, match="calibrates on the run's training images .* no split.json"):
        quantize.export_int8(lone / "model.safetensors")
    with pytest.raises(StudioError, match="0 points or more"):
        quantize.export_int8(run_dir, max_drop=-1)
    assert sorted(p.name for p in lone.iterdir()) == ["model.json", "model.safetensors"]


def test_default_int8_path(run_dir):
    assert quantize.default_int8_path(run_dir) == run_dir / "export" / "model.int8.onnx"
