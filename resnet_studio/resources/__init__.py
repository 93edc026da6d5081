"""Icons, the .desktop file and the style sheet, shipped as package data."""

from __future__ import annotations

from importlib import resources

__all__ = ["resource_path", "APP_ICON", "DESKTOP_FILE", "STYLE_SHEET"]

APP_ICON = "resnet-studio.svg"
DESKTOP_FILE = "resnet-studio.desktop"
STYLE_SHEET = "style.qss"


def resource_path(name: str) -> str:
    """The file system path of a bundled resource, e.g. resource_path("resnet-studio.svg").

    The package is installed as plain files (never zipped), so the path stays valid
    for the life of the process.
    """
    ref = resources.files(__package__).joinpath(name)
    if not ref.is_file():
        raise FileNotFoundError(f"no bundled resource named {name!r}")
    return str(ref)
