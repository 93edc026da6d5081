"""Before Qt starts: a machine without the X11 libraries Qt's xcb plugin needs gets one line
naming the packages and exit status 2, from every way of opening the window, instead of
Qt's abort (exit 134 and a core dump). Wayland and offscreen sessions are not checked."""

from __future__ import annotations

import os
import re
import runpy
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

from resnet_studio import cli
from resnet_studio.ui import app, platform_check

REPO = Path(__file__).resolve().parents[1]
X11 = {"DISPLAY": ":0"}


def _missing(*sonames):
    return lambda soname: soname not in sonames


@pytest.fixture
def x11_without_cursor_library(monkeypatch):
    """An X11 session (xcb is Qt's choice) on a machine where libxcb-cursor.so.0 is missing;
    creating the QApplication would be Qt's abort, so it fails the test instead."""
    for name in ("QT_QPA_PLATFORM", "WAYLAND_DISPLAY", "XDG_SESSION_TYPE"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("DISPLAY", ":0")
    monkeypatch.setattr(sys, "platform", "linux")
    monkeypatch.setattr(platform_check, "_loadable", _missing("libxcb-cursor.so.0"))

    def qt_would_abort(*args, **kwargs):
        raise AssertionError("the QApplication was created")

    monkeypatch.setattr(app, "create_application", qt_would_abort)


def _one_line(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("resnet-studio: error: the window cannot open") and "Traceback" not in err
    return lines[0]


def _assert_names_the_packages(line: str, only: bool = True) -> None:
    """The line names libxcb-cursor.so.0 and the packages that bring it; with only=False
    (a real process on this machine) other libraries this machine lacks may be named too."""
    assert "libxcb-cursor.so.0" in line
    apt = re.search(r"sudo apt-get install ([^()]+) \(Debian, Ubuntu\)", line)
    dnf = re.search(r"sudo dnf install ([^()]+) \(Fedora\)", line)
    assert apt and dnf, line
    if only:
        assert apt.group(1) == "libxcb-cursor0" and dnf.group(1) == "xcb-util-cursor", line
    else:
        assert "libxcb-cursor0" in apt.group(1).split() and "xcb-util-cursor" in dnf.group(1).split(), line


# ---------------------------------------------------------------- every way of opening the window


@pytest.mark.parametrize("argv", [[], ["gui"]], ids=["resnet-studio", "resnet-studio gui"])
def test_the_command_line_says_what_to_install_and_exits_2(x11_without_cursor_library, capsys, argv):
    assert cli.main(argv) == 2
    captured = capsys.readouterr()
    _assert_names_the_packages(_one_line(captured.err))
    assert captured.out == ""


def test_the_gui_script_says_what_to_install_and_exits_2(x11_without_cursor_library, capsys, monkeypatch):
    monkeypatch.setattr(sys, "argv", ["resnet-studio-gui", "photo.jpg"])
    assert app.run() == 2  # the resnet-studio-gui script: sys.exit(run())
    _assert_names_the_packages(_one_line(capsys.readouterr().err))


def test_main_py_says_what_to_install_and_exits_2(x11_without_cursor_library, capsys, monkeypatch):
    monkeypatch.setattr(sys, "argv", [str(REPO / "main.py")])
    with pytest.raises(SystemExit) as exited:
        runpy.run_path(str(REPO / "main.py"), run_name="__main__")
    assert exited.value.code == 2
    _assert_names_the_packages(_one_line(capsys.readouterr().err))


@pytest.mark.parametrize("how", [["main.py"], ["-m", "resnet_studio"]], ids=["python main.py", "resnet-studio"])
def test_a_real_process_with_a_broken_library_exits_2_not_134(tmp_path, how):
    """No monkeypatching: a libxcb-cursor.so.0 that cannot load comes first on the library path,
    as for Qt, which would abort on it."""
    libs = tmp_path / "lib"
    libs.mkdir()
    (libs / "libxcb-cursor.so.0").write_bytes(b"not a library")
    env = {k: v for k, v in os.environ.items() if k not in ("QT_QPA_PLATFORM", "WAYLAND_DISPLAY", "XDG_SESSION_TYPE")}
    env.update(DISPLAY=":0", LD_LIBRARY_PATH=str(libs), PYTHONPATH=str(REPO))
    result = subprocess.run([sys.executable, *how], cwd=REPO, env=env, capture_output=True, text=True, timeout=120)
    assert result.returncode == 2, result.stderr
    _assert_names_the_packages(_one_line(result.stderr), only=False)


# ---------------------------------------------------------------- when it checks, and what


def test_several_missing_libraries_are_named_in_one_line_without_repeats():
    line = platform_check.problem(
        environ=X11, argv=["x"], system="linux",
        loadable=_missing("libxcb-cursor.so.0", "libxcb-icccm.so.4", "libxcb-keysyms.so.1",
                          "libxcb-shape.so.0", "libxcb-xfixes.so.0"),
    )
    assert "\n" not in line
    assert "apt-get install libxcb-cursor0 libxcb-icccm4 libxcb-keysyms1 libxcb-shape0 libxcb-xfixes0 (Debian, Ubuntu)" in line
    assert "dnf install xcb-util-cursor xcb-util-wm xcb-util-keysyms libxcb (Fedora)" in line


@pytest.mark.parametrize(
    "environ, argv, checked",
    [
        ({"DISPLAY": ":0"}, [], True),
        ({"DISPLAY": ":0", "QT_QPA_PLATFORM": "xcb"}, [], True),
        ({"DISPLAY": ":0", "QT_QPA_PLATFORM": "offscreen"}, [], False),
        ({"DISPLAY": ":0", "QT_QPA_PLATFORM": "wayland"}, [], False),
        ({"DISPLAY": ":0", "QT_QPA_PLATFORM": "wayland;xcb"}, [], False),
        ({"DISPLAY": ":0", "QT_QPA_PLATFORM": "xcb:nograb"}, [], True),
        ({"DISPLAY": ":0", "WAYLAND_DISPLAY": "wayland-0"}, [], False),  # Qt 6 picks wayland
        ({"DISPLAY": ":0", "XDG_SESSION_TYPE": "wayland"}, [], False),
        ({"DISPLAY": ":0", "WAYLAND_DISPLAY": "wayland-0", "QT_QPA_PLATFORM": "xcb"}, [], True),
        ({"DISPLAY": ":0", "WAYLAND_DISPLAY": "wayland-0", "XDG_SESSION_TYPE": "x11"}, [], True),
        ({"DISPLAY": ":0"}, ["-platform", "offscreen"], False),
    ],
)
def test_only_the_xcb_platform_is_checked(environ, argv, checked):
    line = platform_check.problem(environ=environ, argv=["resnet-studio-gui", *argv], system="linux",
                                  loadable=_missing("libxcb-cursor.so.0"))
    assert (line is not None) == checked


def test_other_systems_are_not_checked():
    nothing = _missing(*platform_check.XCB_LIBRARIES)
    for system in ("darwin", "win32"):
        assert platform_check.problem(environ={}, argv=["x"], system=system, loadable=nothing) is None


def test_no_display_is_one_line_too():
    line = platform_check.problem(environ={}, argv=["x"], system="linux", loadable=lambda soname: True)
    assert line.startswith("the window cannot open: there is no display") and "\n" not in line
    assert platform_check.problem(environ=X11, argv=["x"], system="linux", loadable=lambda soname: True) is None


def test_the_real_probe_agrees_with_the_dynamic_linker():
    """The real probe (ctypes) on this machine finds what the dynamic linker's cache lists and
    nothing else: the C library is there, a made-up library is not, and of Qt's xcb libraries
    exactly those missing from `ldconfig -p` are reported."""
    ldconfig = shutil.which("ldconfig") or ("/sbin/ldconfig" if Path("/sbin/ldconfig").exists() else None)
    if not sys.platform.startswith("linux") or ldconfig is None:
        pytest.skip("needs Linux and ldconfig")
    cache = subprocess.run([ldconfig, "-p"], capture_output=True, text=True, check=True).stdout
    listed = {entry.split()[0] for entry in cache.splitlines()[1:] if entry.strip()}
    assert platform_check._loadable("libc.so.6")
    assert not platform_check._loadable("libresnet-studio-no-such-library.so.7")
    assert platform_check.missing_libraries() == [soname for soname in platform_check.XCB_LIBRARIES if soname not in listed]


def test_every_library_the_xcb_plugin_links_is_checked():
    """What PySide6's xcb plugin and QtGui link (their ELF NEEDED entries), besides Qt's own,
    the C/C++ runtime and what every Linux has, is in XCB_LIBRARIES: a new Qt that links
    another library fails this test."""
    readelf = shutil.which("readelf")
    if not sys.platform.startswith("linux") or readelf is None:
        pytest.skip("needs Linux and readelf")
    import PySide6

    qt = Path(PySide6.__file__).parent / "Qt"
    files = [qt / "plugins" / "platforms" / "libqxcb.so", qt / "lib" / "libQt6XcbQpa.so.6", qt / "lib" / "libQt6Gui.so.6"]
    always_there = {"libc.so.6", "libm.so.6", "libstdc++.so.6", "libgcc_s.so.1", "libz.so.1", "libgthread-2.0.so.0",
                    "libfreetype.so.6", "libpthread.so.0", "libdl.so.2", "ld-linux-x86-64.so.2", "ld-linux-aarch64.so.1"}
    needed = set()
    for path in files:
        if not path.is_file():
            pytest.skip(f"no {path.name} in this PySide6")
        out = subprocess.run([readelf, "-d", str(path)], capture_output=True, text=True, check=True).stdout
        needed |= {line.split("[", 1)[1].split("]", 1)[0] for line in out.splitlines() if "(NEEDED)" in line}
    outside = {n for n in needed if not n.startswith(("libQt6", "libicu")) and n not in always_there}
    assert outside <= set(platform_check.XCB_LIBRARIES), outside - set(platform_check.XCB_LIBRARIES)


def test_the_readme_set_up_lines_install_every_package_the_check_can_name():
    """README's one apt-get line (and the dnf line) install what the check would ask for, so the
    window opens on a fresh Debian/Ubuntu machine after it; glib is everywhere a desktop is (and
    is named libglib2.0-0t64 on Ubuntu 24.04), so the line leaves it out."""
    text = (REPO / "README.md").read_text(encoding="utf-8")
    (apt,) = [line for line in text.splitlines() if line.startswith("sudo apt-get update && sudo apt-get install")]
    (dnf,) = [line for line in text.splitlines() if line.startswith("sudo dnf install")]
    wanted = {soname: packages for soname, packages in platform_check.XCB_LIBRARIES.items() if "glib" not in soname}
    assert {debian for debian, _ in wanted.values()} | {"python3-venv"} == set(apt.split("-y", 1)[1].split())
    assert {fedora for _, fedora in wanted.values()} <= set(dnf.split())
    assert "cp resnet_studio/resources/resnet-studio.desktop" not in text  # the entry is written by install-desktop
    assert "resnet-studio install-desktop" in text
