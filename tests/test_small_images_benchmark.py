"""benchmarks/small_images.py: the generated digits are deterministic, and a --quick run (a few images, one
epoch, no fastai) trains each studio configuration in a process of its own, scores it on the held-out
folder and reports it (JSON, and the Markdown table made from it)."""

from __future__ import annotations

import argparse
import importlib.util
import json
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

REPO = Path(__file__).resolve().parents[1]
SCRIPT = REPO / "benchmarks" / "small_images.py"


@pytest.fixture(scope="module")
def module():
    """The script as a module (benchmarks/ is not a package)."""
    spec = importlib.util.spec_from_file_location("small_images", SCRIPT)
    mod = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(mod)
    return mod


def test_the_digits_are_drawn_alike_from_a_seed_and_differ_between_seeds(module):
    fonts = module.glyph_fonts()[:3]

    def draw(seed):
        rng = np.random.default_rng(seed)
        return [np.asarray(module.draw_glyph(c, 28, fonts, rng)) for c in "0123"]

    first, again, other = draw(1), draw(1), draw(2)
    assert all(a.shape == (28, 28) and a.dtype == np.uint8 for a in first)
    assert all((a == b).all() for a, b in zip(first, again))
    assert not all((a == b).all() for a, b in zip(first, other))
    assert all(a.std() > 5 for a in first)  # a digit on a background, not a flat square


def test_a_quick_run_scores_each_configuration_on_the_held_out_images(module, tmp_path):
    output = tmp_path / "result.json"
    started = time.perf_counter()
    proc = subprocess.run([sys.executable, str(SCRIPT), "--quick", "--epochs", "1", "--batch-size", "8", "--only",
                           "glyphs", "--json", "--output", str(output)], capture_output=True, text=True, cwd=REPO,
                          timeout=120)
    seconds = time.perf_counter() - started
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "fastai peer: skipped (no --fastai-python" in proc.stderr
    result = json.loads(proc.stdout)
    assert json.loads(output.read_text()) == result
    assert result["epochs"] == 1 and result["batch_size"] == 8 and list(result["results"]) == ["glyphs"]
    rows = {row["name"]: row for row in result["results"]["glyphs"]["rows"]}
    assert list(rows) == ["choice", "r18-imagenet", "fastai"]
    choice, imagenet = rows["choice"], rows["r18-imagenet"]
    assert choice["depth"] == 20 and choice["image_size"] == 32 and choice["stem"] == "small"  # recommend.py's
    assert imagenet["depth"] == 18 and imagenet["stem"] == "imagenet"
    for row in (choice, imagenet):
        assert row["test_images"] == 40  # the test folder (4 a class), not the run's validation split (16)
        assert 0 <= row["test_acc"] <= 1 and row["wall"] > 0 and row["cpu"] > 0
    assert rows["fastai"]["skipped"] == "no --fastai-python given"
    args = argparse.Namespace(epochs=1, batch_size=8, seed=0)
    table = module.report(result["machine"], result["results"], args)
    assert "| studio's choice: ResNet-20 at 32 px (recommend.py) | " in table
    assert "| fastai's defaults: " in table and "| skipped | | | no --fastai-python given |" in table
    print(f"quick run: {seconds:.1f} s")
