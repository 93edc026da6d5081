"""Run folders: the one reader (RunRecord), listing without side effects, clean-up as its own
call, split.json, and the one decision on resuming."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

from resnet_studio.engine import runs
from resnet_studio.engine.errors import StudioError


def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def _run(folder, config=None, summary=None, lines=()):
    folder.mkdir(parents=True)
    (folder / runs.CONFIG).write_text(json.dumps(config if config is not None else {"data_dir": "/data/photos", "depth": 34}))
    if summary is not None:
        (folder / runs.SUMMARY).write_text(json.dumps(summary))
    if lines:
        (folder / runs.METRICS).write_text("".join(json.dumps(r) + "\n" for r in lines) + '{"event": "epo')
    return folder


def test_a_record_reads_config_summary_and_metrics(tmp_path):
    lines = [{"event": "epoch", "epoch": 1, "val_acc": 0.5, "seconds": 2.0},
             {"event": "epoch", "epoch": 2, "val_acc": 0.6, "seconds": 3.0},
             {"event": "epoch", "epoch": 2, "val_acc": 0.7, "seconds": 4.0}]  # epoch 2 redone after a resume
    summary = {"status": "completed", "epochs_completed": 2, "best_val_acc": 0.7, "best_epoch": 2, "classes": ["a", "b"]}
    run = runs.RunRecord.load(_run(tmp_path / "r1", summary=summary, lines=lines))
    assert (run.name, run.depth, run.dataset, run.status, run.epochs_completed) == ("r1", 34, "photos", "completed", 2)
    assert run.best_val_acc == 0.7 and run.classes == ["a", "b"] and not run.has_model
    assert [r["val_acc"] for r in run.epoch_rows()] == [0.5, 0.7]  # the torn last line is skipped, the redone epoch counts once
    assert run.seconds() == 6.0
    assert run.describe() == "ResNet-34 on photos: completed, 2 epoch(s), best validation accuracy 70.0%"


@pytest.mark.parametrize("summary, status", [
    (None, "interrupted"),  # killed before the first summary
    ({"status": "running", "pid": "dead"}, "interrupted"),
    ({"status": "weird"}, "interrupted"),
    ({"status": "cancelled"}, "cancelled"),
])
def test_status(tmp_path, summary, status):
    if summary and summary.get("pid") == "dead":
        summary["pid"] = _dead_pid()
    assert runs.RunRecord.load(_run(tmp_path / "r", summary=summary)).status == status


def test_a_running_run_of_this_process_is_running(tmp_path):
    run = _run(tmp_path / "r", summary={"status": "running", "pid": os.getpid()})
    assert runs.RunRecord.load(run).status == "running"


def test_damaged_files_read_as_empty(tmp_path):
    folder = _run(tmp_path / "r", config={"data_dir": "x"})
    (folder / runs.CONFIG).write_bytes(b"{not json")
    (folder / runs.SUMMARY).write_bytes(b"\xff\xfe")
    run = runs.RunRecord.load(folder)
    assert run.config == {} and run.summary == {} and run.status == "interrupted" and run.depth is None


def test_listing_changes_nothing_and_clean_up_is_its_own_call(tmp_path):
    keep = _run(tmp_path / "runs" / "20260101-000000-a-resnet18", summary={"status": "completed"})
    orphan = keep / f".checkpoint.pt{runs.io.TMP_MARK}{_dead_pid()}"
    live = keep / f".summary.json{runs.io.TMP_MARK}{os.getpid()}"  # being written by this process
    foreign = keep / ".notes.tmp-abc"
    for f in (orphan, live, foreign):
        f.write_bytes(b"partial")
    (tmp_path / "runs" / "not-a-run").mkdir()
    before = sorted(p.name for p in keep.iterdir())
    listed = runs.list_runs(tmp_path / "runs")
    assert [r.name for r in listed] == [keep.name]
    assert sorted(p.name for p in keep.iterdir()) == before
    assert runs.clean_orphaned_temp_files(tmp_path / "runs") == [orphan]
    assert not orphan.exists() and live.exists() and foreign.exists()


def test_the_split_round_trips_and_a_bad_one_reads_as_none(tmp_path):
    folder = _run(tmp_path / "r")
    split = runs.Split(["a", "b"], [("/p/a/1.png", 0)], [("/p/b/2.png", 1)], "folders")
    runs.write_split(folder, split)
    assert runs.read_split(folder) == split
    (folder / runs.SPLIT).write_text(json.dumps({"classes": ["a"], "train": [["x", 3]], "val": []}))
    assert runs.read_split(folder) is None


def test_resuming_is_decided_once(tmp_path):
    with pytest.raises(StudioError, match="is not a run folder"):
        runs.resume_config(tmp_path)
    folder = _run(tmp_path / "r", config={"data_dir": "/data", "depth": 18, "epochs": 2, "lr": 0.5})
    config = runs.resume_config(folder, epochs=5, data_dir="/elsewhere")
    assert (config.epochs, config.lr, config.data_dir) == (5, 0.5, "/data")  # only the epochs change
    (folder / runs.CHECKPOINT).mkdir()
    with pytest.raises(StudioError, match="is a folder, not a checkpoint"):
        runs.resume_config(folder)
    bare = _run(tmp_path / "bare", config={"depth": 18})
    with pytest.raises(StudioError, match="has no data_dir"):
        runs.resume_config(bare)
    assert runs.resume_config(bare, data_dir="/given").data_dir == "/given"


# ---------------------------------------------------------------- naming and removing


def test_a_display_name_round_trips_and_the_folder_keeps_its_own(tmp_path):
    folder = _run(tmp_path / "runs" / "20261122-101500-photos-resnet34")
    assert runs.RunRecord.load(folder).display_name == folder.name and runs.RunRecord.load(folder).given_name == ""
    assert runs.set_display_name(folder, "  baseline,\nlr 0.01  ") == "baseline, lr 0.01"
    record = runs.RunRecord.load(folder)
    assert (record.display_name, record.name, record.path) == ("baseline, lr 0.01", folder.name, str(folder))
    assert json.loads((folder / runs.NAME).read_text()) == {"name": "baseline, lr 0.01"}
    assert [r.display_name for r in runs.list_runs(folder.parent)] == ["baseline, lr 0.01"]
    assert len(runs.set_display_name(folder, "x" * 500)) == runs.MAX_NAME_LENGTH
    assert runs.set_display_name(folder, "   ") == "" and not (folder / runs.NAME).exists()  # back to the folder's name
    assert runs.RunRecord.load(folder).display_name == folder.name
    (folder / runs.NAME).write_text("[1, 2")  # damaged: reads as no name
    assert runs.RunRecord.load(folder).display_name == folder.name
    with pytest.raises(StudioError, match="not a run folder"):
        runs.set_display_name(tmp_path, "photos")


def test_only_a_run_folder_inside_the_runs_folder_may_be_removed(tmp_path):
    root = tmp_path / "runs"
    done = _run(root / "done", summary={"status": "completed"})
    assert runs.check_removable(done, root) == done.resolve()
    outside = _run(tmp_path / "elsewhere" / "run", summary={"status": "completed"})
    nested = _run(done / "inner", summary={"status": "completed"})
    photos = tmp_path / "photos"
    (photos / "cat").mkdir(parents=True)
    for folder, words in ((outside, "not in the runs folder"), (nested, "not in the runs folder"),
                          (photos, "not a run folder"), (root, "not a run folder")):
        with pytest.raises(StudioError, match=words):
            runs.check_removable(folder, root)
    link = root / "link"
    link.symlink_to(outside, target_is_directory=True)
    with pytest.raises(StudioError, match="is a link"):
        runs.check_removable(link, root)
    with pytest.raises(StudioError, match="training now"):
        runs.check_removable(done, root, training=str(root / "." / "done"))
    live = _run(root / "live", summary={"status": "running", "pid": os.getpid()})
    with pytest.raises(StudioError, match="still training"):
        runs.check_removable(live, root)


def test_delete_removes_the_run_folder_and_nothing_else(tmp_path):
    root = tmp_path / "runs"
    keep = _run(root / "keep", summary={"status": "completed"})
    gone = _run(root / "gone", summary={"status": "failed"})
    data = tmp_path / "photos" / "cat"
    data.mkdir(parents=True)
    (data / "1.jpg").write_bytes(b"jpeg")
    (gone / "data").symlink_to(data.parent, target_is_directory=True)  # a link inside: removed, not followed
    runs.delete_run(gone, root)
    assert not gone.exists() and keep.is_dir() and (data / "1.jpg").is_file()
    with pytest.raises(StudioError):
        runs.delete_run(data.parent, root)
    (keep / "photo.PNG").write_bytes(b"png")  # the studio never deletes a photo
    with pytest.raises(StudioError, match="holds photos"):
        runs.delete_run(keep, root)
    assert (keep / "photo.PNG").is_file()
