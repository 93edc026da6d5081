"""The Predict tab agrees with the engine: the Grad-CAM pane with the card, the tab's CSV with `predict --csv`.

- The pane's probability is the card's, for photos of any shape (a pane that explained a
  shrunk copy of a 2000 x 20 photo showed 2.2 % against the card's 68.5 %).
- Export CSV writes, byte for byte, the file `resnet-studio predict --csv` writes for the
  same photos, an unreadable one included.
"""

from __future__ import annotations

import os
from pathlib import Path

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import numpy as np
import pytest
from PIL import Image

from resnet_studio.engine.predict import Predictor
from resnet_studio.ui.format import percent
from resnet_studio.ui.predict.tab import PredictTab
from resnet_studio.ui.tasks import running_background_tasks, wait_for_background_tasks

from ..bad_files import good_model_dir

WAIT_MS = 60_000


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory) -> Path:
    """A random ResNet-18 reading 32 px inputs, saved as a run folder holds it."""
    return good_model_dir(tmp_path_factory.mktemp("run"))


@pytest.fixture(scope="module")
def photos(tmp_path_factory) -> list[Path]:
    """A very wide, a very tall and an ordinary photo of noise (detail everywhere), and a broken JPEG."""
    folder = tmp_path_factory.mktemp("photos")
    rng = np.random.default_rng(7)
    paths = []
    for name, (width, height) in (("wide.png", (2000, 20)), ("tall.png", (20, 2000)), ("square.jpg", (300, 240))):
        pixels = rng.integers(0, 256, size=(height, width, 3), dtype=np.uint8)
        Image.fromarray(pixels, "RGB").save(folder / name)
        paths.append(folder / name)
    broken = folder / "broken.jpg"
    broken.write_bytes(b"\xff\xd8 not a whole jpeg")
    return [*paths, broken]


@pytest.fixture
def tab(qtbot):
    t = PredictTab()
    qtbot.addWidget(t)
    t.set_imagenet_fallback_enabled(False)
    t.resize(1100, 700)
    t.show()
    yield t
    assert t.shutdown()
    assert wait_for_background_tasks(10_000), "a background task is still running"
    assert not running_background_tasks()


def _predict(qtbot, tab, model_dir, paths) -> None:
    tab.set_predictor(Predictor.from_path(model_dir), "tiny")
    tab.add_paths([str(p) for p in paths])
    qtbot.waitUntil(lambda: not tab.is_busy() and all(e.done for e in tab.entries()), timeout=WAIT_MS)


def test_the_grad_cam_pane_shows_the_cards_probability_at_any_photo_size(qtbot, tab, model_dir, photos):
    readable = photos[:3]
    _predict(qtbot, tab, model_dir, readable)
    tab.set_cam_enabled(True)
    for entry in tab.entries():
        assert entry.error is None, entry.error
        row = tab.entries().index(entry)
        tab.view.setCurrentIndex(tab.results.index(row))
        qtbot.waitUntil(lambda: not tab.is_cam_busy() and tab.cam_view.cam is not None, timeout=WAIT_MS)
        label, prob = entry.predictions[0]
        cam = tab.cam_view.cam
        assert cam.label == label, entry.name
        assert cam.prob == pytest.approx(prob, abs=1e-5), f"{entry.name}: pane {cam.prob:.4f}, card {prob:.4f}"
        assert f"({percent(prob)})" in tab.cam_view.caption.text()  # the pane says the card's figure


def test_export_csv_is_the_command_lines_csv(qtbot, tab, model_dir, photos, tmp_path):
    from resnet_studio.cli import main

    paths = [str(p.resolve()) for p in photos]
    from_cli = tmp_path / "cli.csv"
    assert main(["predict", str(model_dir), *paths, "--csv", str(from_cli)]) == 0

    _predict(qtbot, tab, model_dir, paths)
    assert [e.error is not None for e in sorted(tab.entries(), key=lambda e: e.id)] == [False, False, False, True]
    from_tab = tmp_path / "tab.csv"
    tab.write_csv(str(from_tab))
    assert from_tab.read_bytes() == from_cli.read_bytes()
