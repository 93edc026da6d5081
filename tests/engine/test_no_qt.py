"""The engine never imports Qt: every module of it loads in a process with no Qt module."""

import pkgutil
import subprocess
import sys

import resnet_studio.engine as engine


def test_engine_modules_load_no_qt():
    modules = [m.name for m in pkgutil.walk_packages(engine.__path__, "resnet_studio.engine.")]
    assert {"resnet_studio.engine.train.loop", "resnet_studio.engine.config", "resnet_studio.engine.predict"} <= set(modules)
    code = (
        "import importlib, sys\n"
        f"for m in {modules!r}: importlib.import_module(m)\n"
        "qt = sorted(m for m in sys.modules if m.split('.')[0] in ('PySide6', 'PyQt5', 'PyQt6', 'shiboken6', 'pyqtgraph'))\n"
        "print(qt)\n"
        "sys.exit(1 if qt else 0)\n"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stdout + proc.stderr
