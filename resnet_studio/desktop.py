"""The studio in the desktop's application menu (Linux): a freedesktop.org desktop entry and
its icon, for the current user.

`install()` writes `$XDG_DATA_HOME/applications/resnet-studio.desktop` (~/.local/share when
XDG_DATA_HOME is not set) and the icon under `$XDG_DATA_HOME/icons/hicolor/scalable/apps/`.
The entry starts this installation's `resnet-studio-gui` by its absolute path, so it works
from the menu even when the virtual environment is not on PATH, and opens the files given to
it (%F: "Open with", a drop on the launcher). `remove()` deletes exactly those two files.
`resnet-studio install-desktop [--remove]` and the window's Help menu call these.

No Qt, no torch.
"""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass
from pathlib import Path

from .engine.errors import StudioError
from .installation import script_path, source_checkout
from .resources import APP_ICON, DESKTOP_FILE, resource_path

__all__ = ["MIME_TYPES", "DesktopEntry", "supported", "data_home", "entry_path", "icon_path", "gui_command",
           "entry_text", "install", "remove"]

APP_ID = "resnet-studio"  # the window's desktop file name (QGuiApplication.setDesktopFileName)
GUI_SCRIPT = "resnet-studio-gui"

# what the studio opens, as dropped on the window: the image types of engine/data.py IMAGE_EXTENSIONS
# (tests/test_desktop.py keeps the two in step). Not inode/directory: a desktop may then make the
# studio the program that opens every folder.
MIME_TYPES = ("image/jpeg", "image/png", "image/bmp", "image/gif", "image/webp", "image/tiff")


@dataclass(frozen=True)
class DesktopEntry:
    """What install() wrote, or remove() removed."""

    entry: Path
    icon: Path
    command: tuple[str, ...]  # what the entry runs (before %F)
    changed: bool  # False: it was already so (install) or not there (remove)


def supported() -> bool:
    return sys.platform.startswith("linux")


def _require_linux() -> None:
    if not supported():
        raise StudioError("the application menu entry is for Linux desktops (freedesktop.org); "
                          f"on this system ({sys.platform}) start the studio with resnet-studio")


def data_home(environ=None) -> Path:
    """$XDG_DATA_HOME, or ~/.local/share when it is unset or not an absolute path (the spec's rule)."""
    environ = os.environ if environ is None else environ
    value = environ.get("XDG_DATA_HOME", "")
    return Path(value) if value and os.path.isabs(value) else Path.home() / ".local" / "share"


def entry_path(environ=None) -> Path:
    return data_home(environ) / "applications" / f"{APP_ID}.desktop"


def icon_path(environ=None) -> Path:
    return data_home(environ) / "icons" / "hicolor" / "scalable" / "apps" / f"{APP_ID}.svg"


def gui_command() -> tuple[str, ...]:
    """What starts this installation's window: its resnet-studio-gui script, by absolute path;
    from a checkout that is not installed, this Python with the checkout's main.py."""
    script = script_path(GUI_SCRIPT)
    if script is not None:
        return (str(script),)
    checkout = source_checkout()
    if checkout is not None and (checkout / "main.py").is_file() and sys.executable:
        return (os.path.abspath(sys.executable), str(checkout / "main.py"))
    raise StudioError(f"cannot find this installation's {GUI_SCRIPT} script: install the studio with pip first")


def _exec_arg(arg: str) -> str:
    """One argument of Exec=, quoted as the Desktop Entry Specification says (and % doubled)."""
    arg = arg.replace("%", "%%")
    if arg and not any(c in arg for c in " \t\n\"'\\><~|&;$*?#()`"):
        return arg
    quoted = "".join("\\" + c if c in '"`$\\' else c for c in arg)
    return '"' + quoted.replace("\\", "\\\\") + '"'  # the string value's own escaping comes on top


def entry_text(command: tuple[str, ...], icon: Path) -> str:
    """The desktop entry: the packaged one (resources/resnet-studio.desktop: name, comment,
    categories), with this installation's command, the icon's path and the image types."""
    template = Path(resource_path(DESKTOP_FILE)).read_text(encoding="utf-8")
    values = {
        "Exec": " ".join(_exec_arg(a) for a in command) + " %F",
        "TryExec": command[0].replace("\\", "\\\\"),  # the menu hides the entry once this is gone
        "Icon": str(icon).replace("\\", "\\\\"),  # a path: no icon theme cache to refresh
        "MimeType": "".join(f"{m};" for m in MIME_TYPES),
    }
    lines, section = [], ""
    for line in template.splitlines():
        stripped = line.strip()
        if stripped.startswith("["):
            section = stripped
        key = stripped.split("=", 1)[0].strip() if "=" in stripped else ""
        if section == "[Desktop Entry]" and key in values:
            lines.append(f"{key}={values.pop(key)}")
            continue
        lines.append(line)
    at = lines.index("[Desktop Entry]") + 1
    lines[at:at] = [f"{key}={value}" for key, value in values.items()]  # any the packaged entry lacks
    return "\n".join(lines) + "\n"


def _write(path: Path, data: bytes) -> bool:
    """Write `data` to `path` (atomically) unless it already holds it; True if it changed."""
    try:
        if path.read_bytes() == data:
            return False
    except OSError:
        pass
    path.parent.mkdir(parents=True, exist_ok=True)
    temp = path.with_name(f".{path.name}.tmp-{os.getpid()}")
    try:
        temp.write_bytes(data)
        os.replace(temp, path)
    finally:
        temp.unlink(missing_ok=True)
    return True


def install(environ=None) -> DesktopEntry:
    """Write (or bring up to date) the desktop entry and the icon for the current user."""
    _require_linux()
    entry, icon = entry_path(environ), icon_path(environ)
    command = gui_command()
    try:
        changed = _write(icon, Path(resource_path(APP_ICON)).read_bytes())
        changed = _write(entry, entry_text(command, icon).encode("utf-8")) or changed
    except OSError as exc:
        raise StudioError(f"cannot write the application menu entry in {data_home(environ)}: {exc.strerror or exc}") from None
    return DesktopEntry(entry, icon, command, changed)


def remove(environ=None) -> DesktopEntry:
    """Remove the desktop entry and the icon that install() wrote (nothing else)."""
    _require_linux()
    entry, icon = entry_path(environ), icon_path(environ)
    changed = False
    for path in (entry, icon):
        try:
            path.unlink()
            changed = True
        except FileNotFoundError:
            continue
        except OSError as exc:
            raise StudioError(f"cannot remove {path}: {exc.strerror or exc}") from None
    return DesktopEntry(entry, icon, (), changed)
