"""`resnet-studio export --int8`: the comparison it prints, the refusal (exit 2, nothing written), the bad usages."""

from __future__ import annotations

import json

import pytest

from resnet_studio.engine import quantize
from tests.engine.test_export_int8 import quick_quantize

pytest.importorskip("onnxruntime.quantization")


@pytest.fixture
def quick(monkeypatch):
    """Quantization replaced by a copy: the command's own work, in a few seconds."""
    return quick_quantize(monkeypatch)


def test_int8_prints_the_comparison_and_the_path(run_cli, trained_run, tmp_path, quick):
    out = tmp_path / "q.onnx"
    code, stdout, err = run_cli(["export", trained_run[0], "--format", "onnx", "--int8", "--out", out, "--max-drop", "100"])
    assert code == 0, err
    assert stdout.strip() == str(out) and out.is_file()
    for words in ("top-1 accuracy", "file size", "CPU latency, batch 1", "x faster", "fp32", "int8"):
        assert words in err
    code, stdout, err = run_cli(["export", trained_run[0], "--format", "onnx", "--int8", "--out", out, "--json"])
    assert code == 0, err
    result = json.loads(stdout)
    assert result["path"] == str(out) and result["max_drop"] == 1.0 and result["settings"]["quant_format"] == "QOperator"
    assert {"fp32_acc", "int8_acc", "drop_points", "fp32_bytes", "int8_bytes", "fp32_ms", "int8_ms", "speedup"} <= set(result)


def test_int8_refused_when_the_drop_is_over_the_limit(run_cli, trained_run, tmp_path, quick):
    accuracies = iter([0.9, 0.85])  # fp32, then int8: 5 points lost, 2 allowed
    quick.setattr(quantize, "_accuracy", lambda run, images, labels: next(accuracies))
    folder = tmp_path / "exported"
    code, stdout, err = run_cli(["export", trained_run[0], "--format", "onnx", "--int8", "--max-drop", "2",
                                 "--out", folder / "q.onnx"])
    assert code == 2 and stdout == ""
    assert "5.00 points below fp32's 90.0%" in err and "more than the 2 allowed" in err and "nothing was written" in err
    assert not folder.exists()


def test_int8_bad_usage(run_cli, trained_run, tmp_path):
    code, _, err = run_cli(["export", trained_run[0], "--format", "torchscript", "--int8", "--out", tmp_path / "m.pt"])
    assert code == 2 and "--int8: only with --format onnx" in err
    code, _, err = run_cli(["export", trained_run[0], "--format", "onnx", "--max-drop", "3", "--out", tmp_path / "m.onnx"])
    assert code == 2 and "--max-drop: only with --int8" in err
    code, _, err = run_cli(["export", trained_run[0], "--format", "onnx", "--int8", "--max-drop", "-1"])
    assert code == 2 and "0 points or more" in err
    assert list(tmp_path.iterdir()) == []
