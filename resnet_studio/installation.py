"""How this copy of ResNet Studio is installed: from a source checkout or as a package, with
which Python, and where its scripts are. No torch, no Qt: the command line's --help, the
engine's install hints and the desktop entry (desktop.py) read it.
"""

from __future__ import annotations

import os
import re
import shlex
import shutil
import sys
import sysconfig
from collections.abc import Sequence
from pathlib import Path

__all__ = ["source_checkout", "python_command", "install_command", "script_path"]

_PROJECT_NAME = re.compile(r'^\s*name\s*=\s*["\']resnet-studio["\']', re.MULTILINE)


def source_checkout() -> Path | None:
    """The source checkout the package runs from (`python main.py`, `pip install -e .`): the
    folder above it whose pyproject.toml names resnet-studio; None for an installed package."""
    root = Path(__file__).resolve().parent.parent
    try:
        text = (root / "pyproject.toml").read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None
    return root if _PROJECT_NAME.search(text) else None


def python_command() -> str:
    """`python`, or this interpreter's own path when `python` on PATH is another one (a virtual
    environment that is not activated)."""
    on_path = shutil.which("python")
    if on_path and os.path.normcase(os.path.abspath(on_path)) == os.path.normcase(os.path.abspath(sys.executable)):
        return "python"
    return shlex.quote(sys.executable) if sys.executable else "python"


def install_command(extra: str, packages: Sequence[str]) -> str:
    """The command that installs an optional extra of the project (pyproject.toml's
    [project.optional-dependencies]) into this installation: the checkout's extra where it runs
    from one (`pip install -e '.[export]'`), else the packages themselves (the project is not
    on a package index, so `pip install 'resnet-studio[export]'` would find nothing)."""
    pip = f"{python_command()} -m pip install"
    checkout = source_checkout()
    if checkout is None:
        return f"{pip} {' '.join(packages)}"
    try:
        here = Path.cwd().resolve() == checkout
    except OSError:
        here = False
    return f"{pip} -e {shlex.quote(('.' if here else str(checkout)) + f'[{extra}]')}"


def script_path(name: str) -> Path | None:
    """The absolute path of one of this installation's scripts (`resnet-studio-gui`): beside
    this Python (a virtual environment's bin/) or in its scripts folders (system or user
    installs); None when it has none (run from a checkout that is not installed). Never
    another installation's, found on PATH."""
    suffix = ".exe" if sys.platform == "win32" else ""
    folders = [Path(sys.executable).parent] if sys.executable else []  # not resolved: a venv's python is a link
    for scheme in (None, f"{os.name}_user"):
        try:
            folder = sysconfig.get_path("scripts", scheme) if scheme else sysconfig.get_path("scripts")
        except KeyError:
            continue
        if folder:
            folders.append(Path(folder))
    for folder in folders:
        candidate = folder / f"{name}{suffix}"
        if candidate.is_file() and os.access(candidate, os.X_OK):
            return candidate.absolute()
    return None
