"""Run folders: where they live, how they are named, and reading them back.

    RUNS_DIR/<timestamp>-<dataset>-resnet<depth>/
        config.json  metrics.jsonl  summary.json  model.safetensors  model.json  checkpoint.pt
"""

from __future__ import annotations

import json
import os
import re
import time
from dataclasses import dataclass
from pathlib import Path

__all__ = [
    "CONFIG",
    "METRICS",
    "SUMMARY",
    "MODEL",
    "MODEL_META",
    "CHECKPOINT",
    "RunInfo",
    "studio_home",
    "default_runs_dir",
    "default_demo_dir",
    "new_run_dir",
    "list_runs",
    "read_metrics",
    "read_json",
    "MetricsWriter",
    "remove_orphaned_temp_files",
]

CONFIG = "config.json"
METRICS = "metrics.jsonl"
SUMMARY = "summary.json"
MODEL = "model.safetensors"
MODEL_META = "model.json"
CHECKPOINT = "checkpoint.pt"
TMP_MARK = ".tmp-"  # atomic writes go to ".<name>.tmp-<pid>" first


def studio_home() -> Path:
    """Where the studio keeps runs and demo data: $RESNET_STUDIO_HOME or ~/ResNetStudio."""
    env = os.environ.get("RESNET_STUDIO_HOME")
    return Path(env).expanduser() if env else Path.home() / "ResNetStudio"


def default_runs_dir() -> Path:
    return studio_home() / "runs"


def default_demo_dir() -> Path:
    return studio_home() / "demo-data"


def _slug(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_.-]+", "-", text).strip("-.")[:40] or "data"


def new_run_dir(runs_dir: str | os.PathLike, dataset_name: str, depth: int) -> Path:
    """Create and return a fresh, uniquely named run folder."""
    runs_dir = Path(runs_dir)
    runs_dir.mkdir(parents=True, exist_ok=True)
    base = f"{time.strftime('%Y%m%d-%H%M%S')}-{_slug(dataset_name)}-resnet{depth}"
    for n in range(1, 1000):
        path = runs_dir / (base if n == 1 else f"{base}-{n}")
        try:
            path.mkdir()
            return path
        except FileExistsError:
            continue
    raise OSError(f"could not create a run folder in {runs_dir}")


def read_json(path: str | os.PathLike) -> dict:
    with open(path, encoding="utf-8") as f:
        data = json.load(f)
    if not isinstance(data, dict):
        raise ValueError(f"{path} does not hold a JSON object")
    return data


def read_metrics(run_dir: str | os.PathLike) -> list[dict]:
    """The metrics lines of a run; a torn or garbled line (a crash mid-write) is skipped."""
    path = Path(run_dir) / METRICS
    rows: list[dict] = []
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            for line in f:
                try:
                    row = json.loads(line)
                except ValueError:
                    continue
                if isinstance(row, dict):
                    rows.append(row)
    except FileNotFoundError:
        pass
    return rows


class MetricsWriter:
    """Appends one JSON object per line, each with a single unbuffered write, so a crash
    loses at most the line being written. A torn last line (killed mid-write, disk full)
    is skipped by read_metrics, and the next line written starts on a line of its own."""

    def __init__(self, run_dir: str | os.PathLike):
        self.path = Path(run_dir) / METRICS
        self._file = open(self.path, "ab", buffering=0)
        # a file that does not end with a newline ends with a torn line: close it off
        self._torn = self._file.tell() > 0 and not _ends_with_newline(self.path)

    def write(self, row: dict) -> None:
        data = (json.dumps(row, separators=(",", ":")) + "\n").encode("utf-8")
        if self._torn:
            data = b"\n" + data
        self._torn = True  # until the whole line is out
        view = memoryview(data)
        while view:
            written = self._file.write(view)
            view = view[written:]
        self._torn = False

    def close(self) -> None:
        self._file.close()

    @staticmethod
    def truncate_after_epoch(run_dir: str | os.PathLike, epoch: int) -> None:
        """Keep only what was logged up to `epoch` (and drop torn lines): used on resume."""
        from .checkpoint import atomic_write_text

        rows = [r for r in read_metrics(run_dir) if int(r.get("epoch", 0) or 0) <= epoch]
        atomic_write_text(Path(run_dir) / METRICS, "".join(json.dumps(r, separators=(",", ":")) + "\n" for r in rows))


def remove_orphaned_temp_files(run_dir: str | os.PathLike) -> list[Path]:
    """Delete temporary files whose writer process is gone (killed mid-write)."""
    removed = []
    for p in Path(run_dir).glob(f".*{TMP_MARK}*"):
        pid = p.name.rsplit(TMP_MARK, 1)[-1]
        if pid.isdigit() and not _process_alive(int(pid)):
            try:
                p.unlink()
                removed.append(p)
            except OSError:
                pass
    return removed


def _status(summary: dict) -> str:
    """A summary's status; "running" only while the process that writes it is alive."""
    status = str(summary.get("status", "interrupted"))
    if status == "running" and not _process_alive(summary.get("pid")):
        return "interrupted"
    return status


def _process_alive(pid) -> bool:
    if not isinstance(pid, int) or pid <= 0:
        return True  # no way to tell: trust the file
    if pid == os.getpid() or os.name != "posix":  # (on Windows os.kill would end the process)
        return True
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except (PermissionError, OSError):
        return True
    return True


def _ends_with_newline(path: Path) -> bool:
    with open(path, "rb") as f:
        f.seek(-1, os.SEEK_END)
        return f.read(1) == b"\n"


@dataclass(frozen=True)
class RunInfo:
    path: str
    name: str
    depth: int | None
    dataset: str
    status: str  # completed, cancelled, failed, running (or interrupted: no summary)
    best_val_acc: float | None
    epochs_completed: int
    epochs: int | None
    created: str  # ISO time
    has_model: bool
    has_checkpoint: bool


def list_runs(runs_dir: str | os.PathLike | None = None) -> list[RunInfo]:
    """The runs in a runs folder, newest first. Folders that are not runs are ignored."""
    runs_dir = Path(runs_dir) if runs_dir else default_runs_dir()
    if not runs_dir.is_dir():
        return []
    found = []
    for path in runs_dir.iterdir():
        if not path.is_dir() or path.name.startswith(".") or not (path / CONFIG).is_file():
            continue
        remove_orphaned_temp_files(path)
        try:
            config = read_json(path / CONFIG)
        except (OSError, ValueError):
            continue
        try:
            summary = read_json(path / SUMMARY)
        except (OSError, ValueError):
            summary = {}
        created = time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime((path / CONFIG).stat().st_mtime))
        found.append(
            RunInfo(
                path=str(path),
                name=path.name,
                depth=config.get("depth"),
                dataset=Path(str(config.get("data_dir", ""))).name,
                status=_status(summary),
                best_val_acc=summary.get("best_val_acc"),
                epochs_completed=int(summary.get("epochs_completed", 0) or 0),
                epochs=config.get("epochs"),
                created=config.get("created", created),
                has_model=(path / MODEL).is_file(),
                has_checkpoint=(path / CHECKPOINT).is_file(),
            )
        )
    found.sort(key=lambda r: (r.created, r.name), reverse=True)
    return found
