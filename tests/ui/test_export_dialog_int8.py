"""The export dialog's int8 choice: ONNX only, with its largest drop; the measurements or the refusal shown."""

from __future__ import annotations

import os

os.environ.setdefault("QT_QPA_PLATFORM", "offscreen")

import pytest

from resnet_studio.engine import quantize
from resnet_studio.ui.history.export_dialog import ExportDialog
from tests.engine.test_export_int8 import make_run, quick_quantize

pytest.importorskip("onnxruntime.quantization")
WAIT_MS = 60_000


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    return make_run(tmp_path_factory.mktemp("int8-dialog"), per_class=2)


@pytest.fixture
def quick(monkeypatch):
    """Quantization replaced by a copy: the dialog's part, in a few seconds."""
    return quick_quantize(monkeypatch)


def export_and_wait(qtbot, dialog):
    dialog.start_export()
    assert dialog.is_busy() and not dialog.int8_check.isEnabled() and not dialog.max_drop_spin.isEnabled()
    qtbot.waitUntil(lambda: not dialog.is_busy(), timeout=WAIT_MS)


def test_int8_checkbox_is_for_onnx_only(qtbot, run_dir):
    dialog = ExportDialog(str(run_dir))
    qtbot.addWidget(dialog)
    assert dialog.int8_check.isEnabled() and not dialog.int8_check.isChecked() and not dialog.max_drop_spin.isEnabled()
    assert dialog.max_drop_spin.value() == quantize.DEFAULT_MAX_DROP
    dialog.set_int8(True)
    assert dialog.int8() and dialog.max_drop_spin.isEnabled()
    assert dialog.out_path() == str(quantize.default_int8_path(run_dir))
    dialog.set_format("torchscript")
    assert not dialog.int8_check.isEnabled() and not dialog.max_drop_spin.isEnabled() and not dialog.int8()
    assert dialog.out_path().endswith("model.torchscript.pt")
    dialog.set_format("onnx")
    assert dialog.int8() and dialog.out_path().endswith("model.int8.onnx")


def test_int8_export_shows_the_measurements(qtbot, run_dir, tmp_path, quick):
    dialog = ExportDialog(str(run_dir))
    qtbot.addWidget(dialog)
    dialog.set_int8(True, max_drop=100)
    dialog.set_out_path(str(tmp_path / "q.onnx"))
    export_and_wait(qtbot, dialog)
    assert dialog.error == "" and dialog.result is not None and dialog.result.max_drop == 100
    message = dialog.banner.message()
    assert "validation images" in message and "faster" in message and "MB" in message
    assert (tmp_path / "q.onnx").is_file() and dialog.folder_button.isVisibleTo(dialog)
    assert dialog.shutdown()


def test_int8_refusal_is_shown_and_writes_nothing(qtbot, run_dir, tmp_path, quick):
    accuracies = iter([1.0, 0.5])  # fp32, then int8
    quick.setattr(quantize, "_accuracy", lambda run, images, labels: next(accuracies))
    dialog = ExportDialog(str(run_dir))
    qtbot.addWidget(dialog)
    dialog.set_int8(True, max_drop=2.5)
    dialog.set_out_path(str(tmp_path / "q.onnx"))
    export_and_wait(qtbot, dialog)
    assert dialog.result is None and "more than the 2.5 allowed" in dialog.error
    assert dialog.banner.kind == "warning" and "nothing was written" in dialog.banner.message()
    assert list(tmp_path.iterdir()) == []
    assert dialog.shutdown()
