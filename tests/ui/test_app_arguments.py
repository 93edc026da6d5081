"""Files and folders on the command line (the desktop file's %F) open as if dropped."""

from PySide6.QtCore import QTimer
from PySide6.QtWidgets import QApplication

from resnet_studio.ui import app as studio_app

from ..conftest import make_class_folder


def test_a_folder_argument_becomes_the_dataset(qapp, tmp_path):
    data = make_class_folder(tmp_path / "photos", {"a": 3, "b": 3})
    seen = {}

    def check_and_close():
        window = next(w for w in QApplication.topLevelWidgets() if type(w).__name__ == "MainWindow")
        seen["data_dir"] = window.scanner.folder
        window.close()

    QTimer.singleShot(1500, check_and_close)
    assert studio_app.run(["resnet-studio-gui", str(data), str(tmp_path / "missing")]) == 0
    assert seen["data_dir"] == str(data)
