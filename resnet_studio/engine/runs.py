"""Run folders: where they live, how they are named, and the one reader of them.

    RUNS_DIR/<timestamp>-<dataset>-resnet<depth>/
        config.json  split.json  metrics.jsonl  summary.json  model.safetensors  model.json  checkpoint.pt

`RunRecord.load(path)` reads a run folder for everyone who shows or uses one: the
History list, Compare, Evaluate, the Train tab's replay and the command line. Reading
never changes a folder; `clean_orphaned_temp_files` is the separate call that removes
what a killed writer left behind.
"""

from __future__ import annotations

import json
import os
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

from . import io
from .config import TrainConfig
from .errors import StudioError

__all__ = [
    "CONFIG",
    "SPLIT",
    "METRICS",
    "SUMMARY",
    "MODEL",
    "MODEL_META",
    "CHECKPOINT",
    "Split",
    "RunRecord",
    "studio_home",
    "default_runs_dir",
    "default_demo_dir",
    "new_run_dir",
    "list_runs",
    "newest_completed_run",
    "read_metrics",
    "read_json",
    "write_split",
    "read_split",
    "resume_config",
    "MetricsWriter",
    "clean_orphaned_temp_files",
    "NAME",
    "MAX_NAME_LENGTH",
    "set_display_name",
    "check_removable",
    "delete_run",
]

CONFIG = "config.json"
SPLIT = "split.json"
METRICS = "metrics.jsonl"
SUMMARY = "summary.json"
MODEL = "model.safetensors"
MODEL_META = "model.json"
CHECKPOINT = "checkpoint.pt"
NAME = "name.json"  # the name the user gave the run (History > Rename); the folder keeps its own
MAX_NAME_LENGTH = 120
SPLIT_FORMAT = "resnet-studio-split"


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


def _read_json_or_empty(path: Path) -> dict:
    try:
        return read_json(path)
    except (OSError, ValueError):
        return {}


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
    except (FileNotFoundError, IsADirectoryError, NotADirectoryError):
        pass
    return rows


# ---------------------------------------------------------------- the split


@dataclass(frozen=True)
class Split:
    """The exact training and validation files of a run, labelled by index into `classes`."""

    classes: list[str]
    train: list[tuple[str, int]]
    val: list[tuple[str, int]]
    layout: str = "folders"

    def to_dict(self) -> dict:
        return {
            "format": SPLIT_FORMAT,
            "format_version": 1,
            "layout": self.layout,
            "classes": list(self.classes),
            "train": [[p, int(label)] for p, label in self.train],
            "val": [[p, int(label)] for p, label in self.val],
        }

    @classmethod
    def from_dict(cls, data) -> Split | None:
        """The split in `data`, or None when it is not one (a damaged or foreign file)."""
        try:
            classes = [str(c) for c in data["classes"]]
            lists = [[(str(p), int(label)) for p, label in data[key]] for key in ("train", "val")]
        except (TypeError, ValueError, KeyError):
            return None
        if any(not 0 <= label < len(classes) for part in lists for _, label in part):
            return None
        return cls(classes, lists[0], lists[1], str(data.get("layout", "folders")))


def write_split(run_dir: str | os.PathLike, split: Split) -> None:
    io.atomic_write_json(Path(run_dir) / SPLIT, split.to_dict())


def read_split(run_dir: str | os.PathLike) -> Split | None:
    """The run's split.json, or None (no file, or not readable as a split)."""
    path = Path(run_dir) / SPLIT
    data = _read_json_or_empty(path) if path.is_file() else {}
    return Split.from_dict(data) if data else None


# ---------------------------------------------------------------- one run


_STATUSES = ("running", "completed", "cancelled", "failed", "interrupted")


@dataclass
class RunRecord:
    """What a run folder holds, read once: its settings, how it ended, its files.

    `config` and `summary` are the files' contents ({} when missing or damaged); the
    metrics lines are read on demand (`metrics()`, `epoch_rows()`), since they can be long.
    """

    path: str
    config: dict = field(default_factory=dict, repr=False)
    summary: dict = field(default_factory=dict, repr=False)
    created: str = ""  # ISO time the run started
    has_model: bool = False
    has_checkpoint: bool = False
    given_name: str = ""  # the name the user gave the run (name.json), "" when none

    @classmethod
    def load(cls, path: str | os.PathLike) -> RunRecord:
        """Read a run folder; missing or damaged files read as empty, never an error."""
        path = Path(path)
        config = _read_json_or_empty(path / CONFIG)
        try:
            started = time.localtime((path / CONFIG).stat().st_mtime)
        except OSError:
            started = time.localtime()
        return cls(
            path=str(path),
            config=config,
            summary=_read_json_or_empty(path / SUMMARY),
            created=str(config.get("created") or time.strftime("%Y-%m-%dT%H:%M:%S", started)),
            has_model=(path / MODEL).is_file(),
            has_checkpoint=(path / CHECKPOINT).is_file(),
            given_name=_read_given_name(path),
        )

    @staticmethod
    def is_run_folder(path: str | os.PathLike) -> bool:
        path = Path(path)
        return path.is_dir() and not path.name.startswith(".") and (path / CONFIG).is_file()

    # -- what it is
    @property
    def name(self) -> str:
        return Path(self.path).name

    @property
    def display_name(self) -> str:
        """What the run is called where it is shown: the name the user gave it, else its folder's name."""
        return self.given_name or self.name

    @property
    def depth(self) -> int | None:
        depth = self.config.get("depth")
        return depth if isinstance(depth, int) and not isinstance(depth, bool) else None

    @property
    def data_dir(self) -> str:
        return str(self.config.get("data_dir") or "")

    @property
    def dataset(self) -> str:
        return Path(self.data_dir).name

    @property
    def epochs(self) -> int | None:
        epochs = self.config.get("epochs")
        return epochs if isinstance(epochs, int) else None

    @property
    def classes(self) -> list[str]:
        return [str(c) for c in (self.summary.get("classes") or self.config.get("classes") or [])]

    # -- how it went
    @property
    def status(self) -> str:
        """completed, cancelled, failed, running, or interrupted: a "running" summary whose
        process is gone, or no summary at all (killed before the first one)."""
        status = str(self.summary.get("status", "interrupted"))
        if status not in _STATUSES:
            return "interrupted"
        if status == "running" and not io.process_alive(self.summary.get("pid")):
            return "interrupted"
        return status

    @property
    def epochs_completed(self) -> int:
        try:
            return int(self.summary.get("epochs_completed", 0) or 0)
        except (TypeError, ValueError):
            return 0

    def _fraction(self, key: str) -> float | None:
        value = self.summary.get(key)
        return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None

    @property
    def best_val_acc(self) -> float | None:
        return self._fraction("best_val_acc")

    @property
    def final_val_acc(self) -> float | None:
        return self._fraction("final_val_acc")

    @property
    def best_epoch(self) -> int | None:
        value = self.summary.get("best_epoch")
        return value if isinstance(value, int) else None

    @property
    def resumable(self) -> bool:
        """Whether the run stopped before its end: resume continues it from its checkpoint (one
        stopped in its first epoch, before any checkpoint, starts again at epoch 1)."""
        return self.status in ("cancelled", "interrupted", "failed")

    # -- what it logged
    def metrics(self) -> list[dict]:
        return read_metrics(self.path)

    def epoch_rows(self, rows: list[dict] | None = None) -> list[dict]:
        """One "epoch" line per epoch, in order; an epoch a resumed run redid counts once (the last)."""
        by_epoch: dict[int, dict] = {}
        for row in self.metrics() if rows is None else rows:
            if row.get("event") == "epoch":
                try:
                    by_epoch[int(row.get("epoch", 0))] = row
                except (TypeError, ValueError):
                    continue
        return [by_epoch[e] for e in sorted(by_epoch)]

    def seconds(self, rows: list[dict] | None = None) -> float:
        """Training time: the sum of the epochs' seconds."""
        return sum(float(r.get("seconds") or 0) for r in self.epoch_rows(rows))

    def describe(self) -> str:
        """One line: "ResNet-18 on photos: completed, 5 epoch(s), best validation accuracy 91.2%"."""
        acc = f", best validation accuracy {self.best_val_acc:.1%}" if self.best_val_acc is not None else ""
        model = f"ResNet-{self.depth}" if self.depth else "A model"
        return f"{model} on {self.dataset or '?'}: {self.status}, {self.epochs_completed} epoch(s){acc}"


def list_runs(runs_dir: str | os.PathLike | None = None) -> list[RunRecord]:
    """The runs in a runs folder, newest first. Folders that are not runs are ignored.
    Reads only: nothing is created, changed or removed."""
    runs_dir = Path(runs_dir) if runs_dir else default_runs_dir()
    if not runs_dir.is_dir():
        return []
    found = [RunRecord.load(p) for p in runs_dir.iterdir() if RunRecord.is_run_folder(p)]
    found.sort(key=lambda r: (r.created, r.name), reverse=True)
    return found


def newest_completed_run(runs_dir: str | os.PathLike | None = None) -> RunRecord | None:
    """The newest run that completed and saved a model (what the window predicts with at
    start), or None. Reads only."""
    return next((r for r in list_runs(runs_dir) if r.status == "completed" and r.has_model), None)


def clean_orphaned_temp_files(folder: str | os.PathLike) -> list[Path]:
    """Delete the temporary files a killed writer left in a run folder (or in every run
    folder of a runs folder). Only the studio's own `.<name>.tmp-<pid>` files whose
    process is gone are touched. Returns what was removed."""
    folder = Path(folder)
    folders = [folder] if (folder / CONFIG).is_file() else [p for p in _subfolders(folder) if RunRecord.is_run_folder(p)]
    removed = []
    for run_dir in folders:
        for p in io.orphaned_temp_files(run_dir):
            try:
                p.unlink()
                removed.append(p)
            except OSError:
                pass
    return removed


def _subfolders(folder: Path) -> list[Path]:
    try:
        return [p for p in folder.iterdir() if p.is_dir()]
    except OSError:
        return []


# ---------------------------------------------------------------- resuming


def resume_config(run_dir: str | os.PathLike, *, epochs: int | None = None, data_dir: str | None = None) -> TrainConfig:
    """The settings to resume a run with: its own, from its config.json, checked.

    Only the number of epochs may change (`epochs`); `data_dir` fills in a config that
    has none. Raises StudioError naming the folder or file when the run cannot resume, and
    when it already trained the epochs asked for (summary.json's epochs_completed): nothing to do.
    """
    run_dir = Path(run_dir).expanduser()
    name = run_dir.name or str(run_dir)
    config_path = run_dir / CONFIG
    if not run_dir.is_dir():
        raise StudioError(f"not a run folder: {run_dir} does not exist" if not run_dir.exists() else f"not a folder: {run_dir}")
    if not config_path.is_file():
        raise StudioError(f"{name} is not a run folder (it has no {CONFIG})")
    if (run_dir / CHECKPOINT).is_dir():
        raise StudioError(f"{CHECKPOINT} of {name} is a folder, not a checkpoint file")
    try:
        saved = read_json(config_path)
    except (OSError, ValueError) as exc:
        text = (str(exc).strip().splitlines() or [type(exc).__name__])[0]
        raise StudioError(f"{CONFIG} of {name} is damaged or incomplete ({text})") from None
    if data_dir and not saved.get("data_dir"):
        saved["data_dir"] = data_dir
    if epochs is not None:
        saved["epochs"] = epochs
    if not saved.get("data_dir"):
        raise StudioError(f"{CONFIG} of {name} has no data_dir: give the data folder too")
    done, asked = _read_json_or_empty(run_dir / SUMMARY).get("epochs_completed"), saved.get("epochs")
    if type(done) is int and type(asked) is int and 0 < done and asked <= done:  # resuming would train nothing
        why = f"its {done} epochs" if asked == done else f"{done} epochs; {asked} epochs is fewer"
        raise StudioError(f"{name} already trained {why}: nothing to do (give more than {done} epochs to train more)")
    return TrainConfig.from_saved(saved, f"{CONFIG} of {name}")


# ---------------------------------------------------------------- metrics.jsonl


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
        rows = [r for r in read_metrics(run_dir) if int(r.get("epoch", 0) or 0) <= epoch]
        io.atomic_write_text(Path(run_dir) / METRICS, "".join(json.dumps(r, separators=(",", ":")) + "\n" for r in rows))


def _ends_with_newline(path: Path) -> bool:
    with open(path, "rb") as f:
        f.seek(-1, os.SEEK_END)
        return f.read(1) == b"\n"


# ---------------------------------------------------------------- naming and removing a run


def _clean_name(name: str) -> str:
    """One line of at most MAX_NAME_LENGTH characters, without control characters."""
    text = " ".join("".join(ch if ch.isprintable() else " " for ch in str(name)).split())
    return text[:MAX_NAME_LENGTH].rstrip()


def _read_given_name(run_dir: Path) -> str:
    data = _read_json_or_empty(run_dir / NAME) if (run_dir / NAME).is_file() else {}
    name = data.get("name")
    return _clean_name(name) if isinstance(name, str) else ""


def set_display_name(run_dir: str | os.PathLike, name: str) -> str:
    """Give a run a name to be shown by (kept in its NAME file; the folder is not renamed, so
    every path to it stays valid). An empty name removes it: the folder's name shows again.
    Returns the name kept (tidied to one line). Raises StudioError for a folder that is not a run."""
    run_dir = Path(run_dir)
    if not RunRecord.is_run_folder(run_dir):
        raise StudioError(f"not a run folder: {run_dir}")
    text = _clean_name(name)
    if not text or text == run_dir.name:
        (run_dir / NAME).unlink(missing_ok=True)
        return ""
    io.atomic_write_json(run_dir / NAME, {"name": text})
    return text


def check_removable(run_dir: str | os.PathLike, runs_dir: str | os.PathLike, *,
                    training: str | os.PathLike | None = None) -> Path:
    """The run folder to remove, when it may be removed: a run folder (its own, not a link)
    directly inside `runs_dir`, not the run `training` now, and no run whose process is still
    writing it (status "running"). Raises StudioError saying why not otherwise."""
    path = Path(run_dir).expanduser()
    name = path.name or str(path)
    if path.is_symlink():
        raise StudioError(f"{name} is a link, not a run folder: remove it in the file manager")
    if not RunRecord.is_run_folder(path):
        raise StudioError(f"{name} is not a run folder (it has no {CONFIG}): nothing was removed")
    try:
        inside = path.resolve().parent == Path(runs_dir).expanduser().resolve()
    except OSError:
        inside = False
    if not inside:
        raise StudioError(f"{path} is not in the runs folder {runs_dir}: only runs there are removed")
    if training is not None and os.path.normpath(os.path.abspath(training)) == os.path.normpath(os.path.abspath(path)):
        raise StudioError(f"{name} is training now: stop it first")
    if RunRecord.load(path).status == "running":
        raise StudioError(f"{name} is still training (in another window or on the command line): stop it first")
    return path.resolve()


def delete_run(run_dir: str | os.PathLike, runs_dir: str | os.PathLike, *,
               training: str | os.PathLike | None = None) -> None:
    """Delete a run folder for good (where there is no trash to move it to), after
    `check_removable`. A folder that holds photos is refused: the studio never deletes a photo."""
    import shutil

    from .data import IMAGE_EXTENSIONS

    path = check_removable(run_dir, runs_dir, training=training)
    photos = [p for p in path.rglob("*") if p.suffix.lower() in IMAGE_EXTENSIONS and not p.is_dir()]
    if photos:
        raise StudioError(f"{path.name} holds photos ({photos[0].name}): move them out first; nothing was removed")
    shutil.rmtree(path)
