"""Before Qt loads its platform plugin: can the window open at all?

On Linux, Qt's X11 plugin (xcb) needs system libraries that a fresh machine may lack
(libxcb-cursor0 above all). Without them Qt prints a warning and aborts (exit 134, a core
dump). `problem()` finds that first, without Qt: it loads each library the plugin links
(`readelf -d` on PySide6's Qt/plugins/platforms/libqxcb.so and libQt6XcbQpa.so.6, and
QtGui's own) with ctypes, and names the packages to install. The same for a session with
no display at all. Nothing is checked where another platform plugin will be used
(QT_QPA_PLATFORM=offscreen, wayland..., or a Wayland session with QT_QPA_PLATFORM unset),
nor on other systems.

No Qt here: this module must run before PySide6.QtGui is imported.
"""

from __future__ import annotations

import ctypes
import os
import sys
from collections.abc import Callable, Mapping, Sequence

__all__ = ["XCB_LIBRARIES", "problem", "platform_name", "missing_libraries", "install_command"]

# soname -> (Debian/Ubuntu package, Fedora package): what Qt 6's xcb plugin and QtGui link
XCB_LIBRARIES: dict[str, tuple[str, str]] = {
    "libxcb-cursor.so.0": ("libxcb-cursor0", "xcb-util-cursor"),
    "libxcb-icccm.so.4": ("libxcb-icccm4", "xcb-util-wm"),
    "libxcb-keysyms.so.1": ("libxcb-keysyms1", "xcb-util-keysyms"),
    "libxcb-image.so.0": ("libxcb-image0", "xcb-util-image"),
    "libxcb-render-util.so.0": ("libxcb-render-util0", "xcb-util-renderutil"),
    "libxcb-util.so.1": ("libxcb-util1", "xcb-util"),
    "libxkbcommon-x11.so.0": ("libxkbcommon-x11-0", "libxkbcommon-x11"),
    "libxkbcommon.so.0": ("libxkbcommon0", "libxkbcommon"),
    "libxcb-randr.so.0": ("libxcb-randr0", "libxcb"),
    "libxcb-render.so.0": ("libxcb-render0", "libxcb"),
    "libxcb-shape.so.0": ("libxcb-shape0", "libxcb"),
    "libxcb-shm.so.0": ("libxcb-shm0", "libxcb"),
    "libxcb-sync.so.1": ("libxcb-sync1", "libxcb"),
    "libxcb-xfixes.so.0": ("libxcb-xfixes0", "libxcb"),
    "libxcb-xkb.so.1": ("libxcb-xkb1", "libxcb"),
    "libxcb.so.1": ("libxcb1", "libxcb"),
    "libX11-xcb.so.1": ("libx11-xcb1", "libX11-xcb"),
    "libX11.so.6": ("libx11-6", "libX11"),
    "libGL.so.1": ("libgl1", "libglvnd-glx"),
    "libEGL.so.1": ("libegl1", "libglvnd-egl"),
    "libfontconfig.so.1": ("libfontconfig1", "fontconfig"),
    "libdbus-1.so.3": ("libdbus-1-3", "dbus-libs"),
    "libglib-2.0.so.0": ("libglib2.0-0", "glib2"),
}


def _loadable(soname: str) -> bool:
    """Whether the dynamic linker finds and loads this library, as it will for Qt."""
    try:
        ctypes.CDLL(soname)
    except OSError:
        return False
    return True


def platform_name(environ: Mapping[str, str], argv: Sequence[str] = ()) -> str:
    """The platform plugin Qt will try first: `-platform NAME`, QT_QPA_PLATFORM (its first
    choice, without options), else wayland in a Wayland session and xcb elsewhere."""
    chosen = ""
    args = list(argv)
    for i, arg in enumerate(args[1:], 1):
        if arg in ("-platform", "--platform") and i + 1 < len(args):
            chosen = args[i + 1]
        elif arg.startswith(("-platform=", "--platform=")):
            chosen = arg.split("=", 1)[1]
    chosen = chosen or environ.get("QT_QPA_PLATFORM", "")
    first = chosen.split(";")[0].split(":")[0].strip().lower()
    if first:
        return first
    session = environ.get("XDG_SESSION_TYPE", "").lower()
    if session == "x11":
        return "xcb"
    if session == "wayland" or environ.get("WAYLAND_DISPLAY"):
        return "wayland"
    return "xcb"


def missing_libraries(loadable: Callable[[str], bool] = _loadable) -> list[str]:
    """The sonames of XCB_LIBRARIES that cannot be loaded."""
    return [soname for soname in XCB_LIBRARIES if not loadable(soname)]


def install_command(sonames: Sequence[str]) -> str:
    """`sudo apt-get install ...` (Debian, Ubuntu) or `sudo dnf install ...` (Fedora) for these libraries."""
    debian = list(dict.fromkeys(XCB_LIBRARIES[s][0] for s in sonames))
    fedora = list(dict.fromkeys(XCB_LIBRARIES[s][1] for s in sonames))
    return f"sudo apt-get install {' '.join(debian)} (Debian, Ubuntu) or sudo dnf install {' '.join(fedora)} (Fedora)"


def problem(
    environ: Mapping[str, str] | None = None,
    argv: Sequence[str] | None = None,
    system: str | None = None,
    loadable: Callable[[str], bool] | None = None,
) -> str | None:
    """Why the window cannot open on this machine, in one line, or None when it can (as far
    as can be told before Qt starts)."""
    environ = os.environ if environ is None else environ
    argv = sys.argv if argv is None else argv
    system = sys.platform if system is None else system
    if not system.startswith("linux") or platform_name(environ, argv) != "xcb":
        return None
    missing = missing_libraries(loadable or _loadable)
    if missing:
        return (
            f"the window cannot open: Qt's X11 plugin needs {', '.join(missing)}, which "
            f"{'is' if len(missing) == 1 else 'are'} not installed; install with: {install_command(missing)}"
        )
    if not environ.get("DISPLAY"):
        return (
            "the window cannot open: there is no display (DISPLAY is not set); start it from a desktop "
            "session, or use the command line (resnet-studio --help)"
        )
    return None
