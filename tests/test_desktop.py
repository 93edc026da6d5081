"""`resnet-studio install-desktop`: the application menu entry and icon for the current user,
starting this installation's window by its absolute path; `--remove` takes exactly them away."""

from __future__ import annotations

import configparser
import contextlib
import io
import mimetypes
import os
import sys
from pathlib import Path

import pytest

from resnet_studio import cli, desktop
from resnet_studio.engine.data import IMAGE_EXTENSIONS
from resnet_studio.resources import APP_ICON, resource_path


@pytest.fixture
def data_home(tmp_path, monkeypatch):
    home = tmp_path / "data-home"
    monkeypatch.setenv("XDG_DATA_HOME", str(home))
    monkeypatch.setattr(sys, "platform", "linux")
    return home


def run_cli(argv):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli.main(argv)
    return code, out.getvalue(), err.getvalue()


def read_entry(path: Path) -> configparser.SectionProxy:
    parser = configparser.ConfigParser(interpolation=None)
    parser.optionxform = str
    parser.read(path, encoding="utf-8")
    return parser["Desktop Entry"]


def exec_args(value: str) -> list[str]:
    """An Exec= value split as the Desktop Entry Specification says: the string's escapes first
    (\\\\ is one backslash), then the arguments, where "..." quotes and a backslash in it escapes."""
    text, i = "", 0
    while i < len(value):
        if value[i] == "\\" and i + 1 < len(value):
            text += {"s": " ", "n": "\n", "t": "\t", "r": "\r"}.get(value[i + 1], value[i + 1])
            i += 2
        else:
            text += value[i]
            i += 1
    args, current, quoted, i = [], None, False, 0
    while i < len(text):
        c = text[i]
        if quoted and c == "\\":
            current += text[i + 1]
            i += 1
        elif c == '"':
            quoted, current = not quoted, current or ""
        elif c == " " and not quoted:
            if current is not None:
                args.append(current)
            current = None
        else:
            current = (current or "") + c
        i += 1
    return args + ([current] if current is not None else [])


def files_under(folder: Path) -> set[Path]:
    return {p for p in folder.rglob("*") if p.is_file()}


def test_install_writes_the_entry_and_the_icon(data_home):
    code, out, err = run_cli(["install-desktop"])
    assert code == 0, err
    entry_file = data_home / "applications" / "resnet-studio.desktop"
    icon_file = data_home / "icons" / "hicolor" / "scalable" / "apps" / "resnet-studio.svg"
    assert files_under(data_home) == {entry_file, icon_file}
    assert str(entry_file) in out and "added to the application menu" in out
    assert icon_file.read_bytes() == Path(resource_path(APP_ICON)).read_bytes()

    entry = read_entry(entry_file)
    assert entry["Name"] == "ResNet Studio" and entry["Type"] == "Application" and entry["Terminal"] == "false"
    args = exec_args(entry["Exec"])
    assert args[-1] == "%F"  # the files and folders it is given open as if dropped
    program = Path(args[0])
    assert program.is_absolute() and program.is_file() and os.access(program, os.X_OK)
    assert tuple(args[:-1]) == desktop.gui_command()
    if program.name == "resnet-studio-gui":  # installed (pip install . or -e .): this installation's script
        assert program.parent == Path(sys.executable).parent or program.parent.name in ("bin", "Scripts")
    else:  # a checkout that is not installed: this Python and the checkout's main.py
        assert args[1].endswith("main.py") and Path(args[1]).is_absolute()
    assert entry["TryExec"] == str(program)
    assert entry["Icon"] == str(icon_file)
    types = entry["MimeType"].rstrip(";").split(";")
    assert {"image/jpeg", "image/png", "image/tiff", "image/webp"} <= set(types)
    assert "inode/directory" not in types  # never the program that opens every folder


def test_install_is_idempotent(data_home):
    assert run_cli(["install-desktop"])[0] == 0
    entry_file = desktop.entry_path()
    before = {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in files_under(data_home)}
    code, out, _ = run_cli(["install-desktop"])
    assert code == 0 and "already in the application menu" in out
    assert {p: (p.read_bytes(), p.stat().st_mtime_ns) for p in files_under(data_home)} == before
    # an entry left by hand or by an older installation is brought up to date
    entry_file.write_text("[Desktop Entry]\nExec=resnet-studio-gui %F\n", encoding="utf-8")
    done = desktop.install()
    assert done.changed and read_entry(entry_file)["Exec"] != "resnet-studio-gui %F"


def test_remove_takes_away_exactly_what_install_wrote(data_home):
    others = [data_home / "applications" / "other.desktop", data_home / "icons" / "hicolor" / "scalable" / "apps" / "other.svg",
              data_home / "applications" / "mimeinfo.cache"]
    for path in others:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("someone else's", encoding="utf-8")
    assert run_cli(["install-desktop"])[0] == 0
    code, out, err = run_cli(["install-desktop", "--remove"])
    assert code == 0, err
    assert "removed" in out and str(desktop.entry_path()) in out
    assert files_under(data_home) == set(others)
    code, out, err = run_cli(["install-desktop", "--remove"])  # again: nothing to do, not an error
    assert code == 0 and "nothing to remove" in out and err == ""


def test_other_systems_are_told_in_one_line(data_home, monkeypatch):
    monkeypatch.setattr(sys, "platform", "darwin")
    for argv in (["install-desktop"], ["install-desktop", "--remove"]):
        code, out, err = run_cli(argv)
        assert code == 2 and out == ""
        (line,) = err.strip().splitlines()
        assert line.startswith("resnet-studio: error: ") and "for Linux desktops" in line
    assert not data_home.exists()


def test_a_data_home_that_cannot_be_written_is_one_line(tmp_path, monkeypatch):
    monkeypatch.setattr(sys, "platform", "linux")
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("x")
    monkeypatch.setenv("XDG_DATA_HOME", str(blocker))
    code, out, err = run_cli(["install-desktop"])
    assert code == 2 and "Traceback" not in err
    (line,) = err.strip().splitlines()
    assert "cannot write the application menu entry" in line and str(blocker) in line


def test_a_relative_xdg_data_home_is_ignored(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("XDG_DATA_HOME", "relative/share")
    assert desktop.entry_path() == tmp_path / ".local" / "share" / "applications" / "resnet-studio.desktop"
    monkeypatch.delenv("XDG_DATA_HOME")
    assert desktop.icon_path().is_relative_to(tmp_path / ".local" / "share" / "icons" / "hicolor")


def test_a_path_with_spaces_and_specials_is_quoted_as_the_spec_says(data_home, monkeypatch):
    program = "/opt/my apps/$HOME/100%/resnet-studio-gui"
    monkeypatch.setattr(desktop, "gui_command", lambda: (program,))
    desktop.install()
    entry = read_entry(desktop.entry_path())
    assert entry["Exec"] == '"/opt/my apps/\\\\$HOME/100%%/resnet-studio-gui" %F'
    assert exec_args(entry["Exec"].replace("%%", "%")) == [program, "%F"]


def test_the_entry_opens_the_image_types_the_studio_reads():
    guessed = {mimetypes.guess_type(f"photo{ext}", strict=False)[0] for ext in IMAGE_EXTENSIONS}
    assert guessed - {None} <= set(desktop.MIME_TYPES)
    if None not in guessed:
        assert set(desktop.MIME_TYPES) == guessed


def test_the_desktop_module_needs_neither_qt_nor_torch():
    import subprocess

    code = "import sys, resnet_studio.desktop; print(sorted(m for m in ('torch', 'PySide6') if m in sys.modules))"
    env = dict(os.environ, PYTHONPATH=str(Path(__file__).resolve().parents[1]))
    result = subprocess.run([sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60)
    assert result.stdout.strip() == "[]", result.stderr
