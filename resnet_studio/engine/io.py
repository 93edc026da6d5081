"""Writing files that survive a crash, and asking the machine for room.

Every file the studio writes goes to a temporary name in the same folder, is flushed,
fsynced and renamed over the old one, so a crash mid-write leaves the previous file
whole. Temporary files are named `.<name>.tmp-<pid>`: one left by a process that is gone
can be told apart from one still being written (`orphaned_temp_files`).
"""

from __future__ import annotations

import json
import os
import shutil
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

__all__ = [
    "TMP_MARK",
    "atomic_write",
    "atomic_write_text",
    "atomic_write_json",
    "overwrite_in_place",
    "probe_writable",
    "existing_ancestor",
    "free_bytes",
    "available_memory",
    "orphaned_temp_files",
    "process_alive",
    "megabytes",
]

TMP_MARK = ".tmp-"  # atomic writes go to ".<name>.tmp-<pid>" first


def temp_path(path: Path) -> Path:
    return path.with_name(f".{path.name}{TMP_MARK}{os.getpid()}")


def atomic_write(path: str | os.PathLike, write: Callable[[BinaryIO], None]) -> None:
    """Write `path` through `write(file)` so that it is either the old file or the new one."""
    path = Path(path)
    tmp = temp_path(path)
    try:
        with open(tmp, "wb") as f:
            write(f)
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
    _fsync_dir(path.parent)


def _fsync_dir(folder: Path) -> None:
    if os.name != "posix":
        return
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write_text(path: str | os.PathLike, text: str) -> None:
    atomic_write(path, lambda f: f.write(text.encode("utf-8")))


def atomic_write_json(path: str | os.PathLike, data) -> None:
    atomic_write_text(path, json.dumps(data, indent=2) + "\n")


def overwrite_in_place(path: str | os.PathLike, text: str) -> None:
    """Rewrite a file through its existing blocks (no temporary copy): the fallback for a
    small file when the disk is full. Not atomic; the caller has nothing better."""
    data = text.encode("utf-8")
    with open(path, "r+b") as f:
        f.write(data)
        f.truncate()
        f.flush()
        os.fsync(f.fileno())


def probe_writable(folder: str | os.PathLike) -> None:
    """Raise OSError when a file cannot be created, written and synced in `folder`."""
    probe = Path(folder) / f".write-test{TMP_MARK}{os.getpid()}"
    try:
        with open(probe, "wb") as f:
            f.write(b"resnet-studio")
            f.flush()
            os.fsync(f.fileno())
    finally:
        probe.unlink(missing_ok=True)


def existing_ancestor(path: str | os.PathLike) -> Path:
    """`path`, or the nearest folder above it that exists."""
    path = Path(path)
    while not path.exists() and path.parent != path:
        path = path.parent
    return path


def free_bytes(folder: str | os.PathLike) -> int | None:
    """Free space on the disk that holds `folder` (or the nearest existing folder above it)."""
    try:
        return shutil.disk_usage(existing_ancestor(folder)).free
    except OSError:
        return None


def available_memory() -> int | None:
    """Bytes of memory a new allocation can have now (psutil's "available"), or None."""
    try:
        import psutil

        return int(psutil.virtual_memory().available)
    except Exception:  # an exotic platform psutil cannot read: the caller picks a default
        return None


def process_alive(pid) -> bool:
    """Whether process `pid` still runs; True when it cannot be told (or is this process)."""
    if not isinstance(pid, int) or isinstance(pid, bool) or pid <= 0:
        return True  # no way to tell: trust the file
    if pid == os.getpid():
        return True
    try:
        import psutil

        return psutil.pid_exists(pid)
    except Exception:
        return True


def orphaned_temp_files(folder: str | os.PathLike) -> list[Path]:
    """Temporary files in `folder` whose writer process is gone (killed mid-write)."""
    found = []
    for p in Path(folder).glob(f".*{TMP_MARK}*"):
        pid = p.name.rsplit(TMP_MARK, 1)[-1]
        if pid.isdigit() and not process_alive(int(pid)):
            found.append(p)
    return found


def megabytes(n: int) -> str:
    return f"{n / 2**20:.1f} MB" if n < 10 * 2**20 else f"{n / 2**20:.0f} MB"
