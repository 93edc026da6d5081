"""`resnet-studio export`, `evaluate`, `predict --cam` and `--csv` against `--json`."""

from __future__ import annotations

import csv
import json

import pytest
from PIL import Image


def test_export_torchscript_reports_the_difference(run_cli, trained_run, tmp_path):
    out_file = tmp_path / "exported" / "classifier.pt"
    code, out, err = run_cli(["export", trained_run[0], "--format", "torchscript", "--out", out_file])
    assert code == 0, err
    assert out.strip() == str(out_file) and out_file.is_file()
    assert "top-1 identical" in err and "largest probability difference" in err
    meta = json.loads((tmp_path / "exported" / "classifier.pt.json").read_text())
    assert meta["classes"] == ["checkers", "dots", "rings", "stripes"] and meta["check"]["images"] >= 4


def test_export_onnx_json(run_cli, trained_run, tmp_path):
    pytest.importorskip("onnxruntime")
    code, out, err = run_cli(["export", trained_run[0], "--format", "onnx", "--out", tmp_path / "m.onnx", "--json"])
    assert code == 0, err
    result = json.loads(out)
    assert result["path"] == str(tmp_path / "m.onnx") and result["format"] == "onnx"
    assert result["top1_agree"] == result["images_checked"] and result["max_prob_diff"] < 1e-4


def test_export_bad_input(run_cli, tmp_path):
    code, out, err = run_cli(["export", tmp_path / "nope", "--format", "onnx"])
    assert code == 2 and "no such model" in err and "Traceback" not in err
    code, _, err = run_cli(["export", tmp_path, "--format", "tflite"])
    assert code == 2 and err.count("\n") == 1


def test_csv_rows_match_json(run_cli, trained_run, demo_dir, tmp_path):
    out_csv = tmp_path / "all.csv"
    code, out, err = run_cli(["predict", trained_run[0], demo_dir, "--csv", out_csv, "--json", "--topk", "3"])
    assert code == 0, err
    objects = json.loads(out)
    with open(out_csv, newline="") as f:
        rows = list(csv.DictReader(f))
    assert len(rows) == len(objects) == 33  # 32 images and one broken file, in the same order
    for row, obj in zip(rows, objects):
        assert row["path"] == obj["path"]
        if "error" in obj:
            assert row["error"] == obj["error"] and row["label_1"] == ""
            continue
        top = obj["predictions"]
        assert [row[f"label_{i}"] for i in (1, 2, 3)] == [p["label"] for p in top]
        assert [float(row[f"prob_{i}"]) for i in (1, 2, 3)] == pytest.approx([p["prob"] for p in top], abs=1e-6)


def test_predict_cam_writes_overlays_of_the_image_size(run_cli, trained_run, demo_dir, tmp_path):
    cams = tmp_path / "cams"
    code, out, err = run_cli(["predict", trained_run[0], demo_dir / "dots", "--cam", cams])
    assert code == 0, err
    written = sorted(p.name for p in cams.iterdir())
    assert len(written) == 8 and written[0] == "dots_000.cam.png"  # not the broken file
    with Image.open(cams / written[0]) as im:
        assert im.size == Image.open(demo_dir / "dots" / "dots_000.png").size and im.mode == "RGB"
    assert "wrote 8 Grad-CAM overlay(s)" in err


def test_evaluate_validation_split_and_folder(run_cli, trained_run, demo_dir):
    code, out, err = run_cli(["evaluate", trained_run[0], "--json"])
    assert code == 0, err
    result = json.loads(out)
    summary = json.loads((trained_run[0] / "summary.json").read_text())
    assert result["num_images"] == summary["num_val"] and result["source"] == "validation split of shapes"
    assert sum(map(sum, result["confusion_matrix"])) == result["num_images"]
    assert [c["class"] for c in result["per_class"]] == summary["classes"]
    code, out, err = run_cli(["evaluate", trained_run[0], demo_dir])
    assert code == 0, err
    assert "accuracy" in out and "precision" in out and "confusion matrix" in out
    assert "broken.png" in err  # the skipped file is listed
