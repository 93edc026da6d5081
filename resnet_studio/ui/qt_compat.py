"""A guard against a PySide6 defect that would abort the studio on Python 3.10/3.11.

PySide6 6.12's wheels (one abi3 build for every Python from 3.10) drop a reference to
None on every call of a void Qt method (setText, setValue, each QPainter draw...), and
to True or False in some calls, without having taken one. From Python 3.12 on these
objects are immortal and nothing happens. On 3.10 and 3.11 the count reaches zero
after some thousands of calls and the interpreter aborts ("Fatal Python error:
none_dealloc"): a training run in the window lost ~3,000 references a second.

pyproject.toml keeps PySide6 below 6.12 on those Pythons; this guard covers an
environment that has 6.12 anyway. It gives the three objects the effectively endless
reference count 3.12 gives them (CPython 3.10/3.11 keep it in the object's first word).
"""

from __future__ import annotations

import sys

__all__ = ["has_refcount_defect", "guard_pyside_refcount_defect"]

_GUARDED = False


def has_refcount_defect(python: tuple[int, int] | None = None, pyside: str | None = None) -> bool:
    """Whether this Python and PySide6 are the combination that loses references."""
    python = python or sys.version_info[:2]
    if python >= (3, 12):
        return False
    if pyside is None:
        import PySide6

        pyside = PySide6.__version__
    try:
        major, minor = (int(part) for part in pyside.split(".")[:2])
    except ValueError:
        return False
    return (major, minor) >= (6, 12)


def guard_pyside_refcount_defect() -> bool:
    """Make None, True and False immortal in practice where needed (once); True if applied."""
    global _GUARDED
    if _GUARDED or not has_refcount_defect():
        return _GUARDED
    import ctypes

    for obj in (None, True, False):
        ctypes.c_ssize_t.from_address(id(obj)).value += 1 << 40
    _GUARDED = True
    return True
