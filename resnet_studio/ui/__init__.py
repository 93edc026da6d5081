"""The studio window (PySide6). Importing it guards against a PySide6 defect first."""

from .qt_compat import guard_pyside_refcount_defect

guard_pyside_refcount_defect()
