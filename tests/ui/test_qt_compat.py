"""The window survives PySide6's lost references to None (6.12 on Python < 3.12)."""

from __future__ import annotations

import sys

from PySide6.QtWidgets import QLabel

from resnet_studio.ui import qt_compat


def test_the_defect_is_recognised_by_version():
    assert qt_compat.has_refcount_defect((3, 11), "6.12.0")
    assert qt_compat.has_refcount_defect((3, 10), "6.13.1")
    assert not qt_compat.has_refcount_defect((3, 11), "6.11.3")
    assert not qt_compat.has_refcount_defect((3, 12), "6.12.0")
    assert not qt_compat.has_refcount_defect((3, 11), "unknown")


def test_many_void_qt_calls_cannot_use_up_nones_references(qtbot):
    """Tens of thousands of setText calls: on an affected install the guard (applied when
    resnet_studio.ui was imported) keeps None's count astronomically high; elsewhere
    nothing is lost. Either way the interpreter cannot reach none_dealloc."""
    label = QLabel()
    qtbot.addWidget(label)
    before = sys.getrefcount(None)
    for i in range(30_000):
        label.setText("x" if i % 2 else "y")
    after = sys.getrefcount(None)
    if qt_compat.has_refcount_defect():
        assert qt_compat._GUARDED and after > 2**39
    else:
        assert after >= before - 100  # nothing lost (a few references come and go)
