"""Fault injection on the disk: no space left (before and during a run), a read-only
runs folder, and photos deleted, truncated or replaced while a run reads them.

Where the machine allows it the fault is the kernel's own: a small tmpfs that really
fills up, a read-only bind mount, both inside a user+mount namespace (`unshare -rm`),
so no privileges are needed. `/dev/full` gives a real ENOSPC from the kernel anywhere.
"""

from __future__ import annotations

import functools
import os
import shutil
import subprocess
from pathlib import Path

import pytest

from resnet_studio.engine import checkpoint, runs
from resnet_studio.engine import io as trainer_module
from resnet_studio.engine.config import TrainConfig
from resnet_studio.engine.errors import StudioError
from resnet_studio.engine.events import LogMessage, StepEnd
from resnet_studio.engine.train import Trainer

from ..conftest import solid_image, write_image

TRAIN = ["--weights", "none", "--image-size", "32", "--batch-size", "8", "--device", "cpu", "--workers", "0", "--seed", "0",
         "--stem", "imagenet"]


@functools.cache
def can_unshare() -> bool:
    """Whether this machine lets an unprivileged process mount a tmpfs in its own namespace."""
    if not shutil.which("unshare"):
        return False
    try:
        probe = subprocess.run(["unshare", "-rm", "sh", "-c", "mount -t tmpfs -o size=1m tmpfs /tmp && echo ok"],
                               capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return False
    return probe.stdout.strip() == "ok"


needs_unshare = pytest.mark.skipif(not can_unshare(), reason="user namespaces (unshare -rm) are not available here")


def in_namespace(script: str, env: dict, timeout: int = 180) -> subprocess.CompletedProcess:
    return subprocess.run(["unshare", "-rm", "sh", "-ec", script], env=env, capture_output=True, text=True, timeout=timeout)


def config(data, out, **kw) -> TrainConfig:
    base = dict(data_dir=str(data), depth=18, weights="none", epochs=2, batch_size=8, image_size=32,
                device="cpu", workers=0, out_dir=str(out), seed=0, stem="imagenet")
    return TrainConfig(**{**base, **kw})


# ---------------------------------------------------------------- no space left


def test_a_disk_too_small_is_refused_before_training(tiny_demo, tmp_path, monkeypatch):
    class Usage:
        free = 50 * 2**20

    monkeypatch.setattr(trainer_module.shutil, "disk_usage", lambda path: Usage)
    words = r"not enough free disk space in .*: this run needs about \d+ MB for its checkpoints, 50 MB is free"
    with pytest.raises(StudioError, match=words):
        Trainer(config(tiny_demo, tmp_path / "runs")).run()
    assert not any((tmp_path / "runs").glob("*")), "no run folder is left behind"


def test_enospc_from_the_kernel_mid_run_keeps_the_previous_checkpoint(tiny_demo, tmp_path, monkeypatch):
    """From epoch 2 on, checkpoint writes go to /dev/full: a real ENOSPC on flush."""
    real_open = open
    full = {"on": False}

    def opening(path, mode="r", *args, **kwargs):
        if full["on"] and Path(path).name.startswith(f".{runs.CHECKPOINT}"):
            return real_open("/dev/full", mode, *args, **kwargs)
        return real_open(path, mode, *args, **kwargs)

    monkeypatch.setattr(trainer_module, "open", opening, raising=False)  # engine/io.py writes every file
    events = []

    def on_event(event):
        events.append(event)
        if isinstance(event, StepEnd) and event.epoch == 2:
            full["on"] = True

    result = Trainer(config(tiny_demo, tmp_path / "runs", epochs=3), [on_event]).run()
    assert result.status == "failed"
    assert result.message == "could not write to the run folder: No space left on device"
    run_dir = Path(result.run_dir)
    assert checkpoint.load_checkpoint(run_dir)["epoch"] == 1
    assert not list(run_dir.glob(".*.tmp-*"))
    summary = runs.read_json(run_dir / runs.SUMMARY)
    assert summary["status"] == "failed" and summary["epochs_completed"] == 1
    assert any(e.level == "error" and "No space left" in e.message for e in events if isinstance(e, LogMessage))
    # and the run resumes from there once there is space again
    monkeypatch.undo()
    resumed = Trainer(config(tiny_demo, tmp_path / "runs", epochs=3), resume_dir=run_dir).run()
    assert resumed.status == "completed" and resumed.epochs_completed == 3


@needs_unshare
def test_a_real_small_disk_is_refused_before_training(tiny_demo, tmp_path, python_cmd, subprocess_env):
    mount = tmp_path / "small"
    mount.mkdir()
    cmd = " ".join(f"'{a}'" for a in python_cmd("train", tiny_demo, *TRAIN, "--epochs", "1", "--out", mount / "runs"))
    done = in_namespace(f"mount -t tmpfs -o size=32m tmpfs '{mount}'\n{cmd}", subprocess_env)
    assert done.returncode == 2, done.stderr
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1 and "not enough free disk space" in lines[0] and "MB is free" in lines[0]


@needs_unshare
def test_a_disk_that_fills_up_mid_run(tiny_demo, tmp_path, python_cmd, subprocess_env):
    """A 400 MB tmpfs, filled to the last byte once epoch 1 is saved: the run fails with
    the reason, epoch 1's checkpoint is intact and the summary says failed."""
    mount, kept = tmp_path / "disk", tmp_path / "kept"
    mount.mkdir()
    cmd = " ".join(f"'{a}'" for a in python_cmd("train", tiny_demo, *TRAIN, "--epochs", "3", "--out", mount / "runs"))
    script = f"""
mount -t tmpfs -o size=400m tmpfs '{mount}'
(
  until grep -qs '"epochs_completed": 1' '{mount}'/runs/*/summary.json; do sleep 0.02; done
  dd if=/dev/zero of='{mount}/filler' bs=1M 2>/dev/null || true
) &
set +e
{cmd}
echo "exit=$?" >&2
set -e
wait
cp -a '{mount}/runs' '{kept}'
"""
    done = in_namespace(script, subprocess_env)
    assert "exit=1" in done.stderr, done.stderr
    assert "training failed: could not write to the run folder: No space left on device" in done.stderr
    assert "Traceback" not in done.stderr
    (run_dir,) = list(kept.iterdir())
    assert checkpoint.load_checkpoint(run_dir)["epoch"] == 1
    summary = runs.read_json(run_dir / runs.SUMMARY)
    assert summary["status"] == "failed" and summary["epochs_completed"] == 1
    assert summary["best_epoch"] == runs.read_json(run_dir / runs.MODEL_META)["epoch"] == 1  # the model on disk
    checkpoint.load_model(run_dir)
    assert not list(run_dir.glob(".*.tmp-*"))
    assert [r["epoch"] for r in runs.read_metrics(run_dir) if r.get("event") == "epoch"][:1] == [1]


# ---------------------------------------------------------------- read-only


def test_a_read_only_runs_folder_is_refused_before_training(tiny_demo, tmp_path, run_cli, python_cmd, subprocess_env):
    out = tmp_path / "runs"
    out.mkdir()
    if os.geteuid() != 0:  # permissions bind
        out.chmod(0o555)
        try:
            code, stdout, stderr = run_cli(["train", tiny_demo, *TRAIN, "--epochs", "1", "--out", out])
        finally:
            out.chmod(0o755)
        reason = "Permission denied"
    elif can_unshare():  # root ignores permissions: a read-only mount binds
        cmd = " ".join(f"'{a}'" for a in python_cmd("train", tiny_demo, *TRAIN, "--epochs", "1", "--out", out))
        done = in_namespace(f"mount --bind '{out}' '{out}'\nmount -o remount,bind,ro '{out}'\n{cmd}", subprocess_env)
        code, stderr = done.returncode, done.stderr
        reason = "Read-only file system"
    else:
        pytest.skip("running as root without user namespaces: no way to make a folder read-only")
    assert code == 2, stderr
    assert stderr.strip().splitlines() == [f"resnet-studio: error: cannot write to the runs folder {out}: {reason}"]
    assert list(out.iterdir()) == []


@needs_unshare
def test_resuming_a_run_on_a_read_only_disk(trained_run, tmp_path, python_cmd, subprocess_env):
    run_dir = Path(shutil.copytree(trained_run[0], tmp_path / "run"))
    before = sorted(p.name for p in run_dir.iterdir())
    cmd = " ".join(f"'{a}'" for a in python_cmd("train", "--resume", run_dir, "--epochs", "2"))
    done = in_namespace(f"mount --bind '{run_dir}' '{run_dir}'\nmount -o remount,bind,ro '{run_dir}'\n{cmd}", subprocess_env)
    assert done.returncode == 2, done.stderr
    words = f"resnet-studio: error: cannot write to the run folder {run_dir}: Read-only file system"
    assert done.stderr.strip().splitlines()[-1] == words
    assert sorted(p.name for p in run_dir.iterdir()) == before


# ---------------------------------------------------------------- photos changing under the run


def test_photos_deleted_truncated_or_replaced_mid_epoch_are_skipped_and_logged(tiny_demo, tmp_path):
    data = Path(shutil.copytree(tiny_demo, tmp_path / "data"))
    files = sorted((data / "stripes").iterdir())
    deleted, truncated, garbage, replaced = files[:4]

    def change_files(event):
        if isinstance(event, StepEnd) and event.epoch == 1 and event.step == 1:
            deleted.unlink()
            truncated.write_bytes(truncated.read_bytes()[:40])
            garbage.write_bytes(b"this is no longer a photo")
            write_image(replaced, solid_image((0, 200, 0), size=48), fmt="PNG")  # still a photo, another size

    events = []
    # no image cache: every epoch reads every file again, so epoch 2 meets all the changes
    result = Trainer(config(data, tmp_path / "runs", epochs=2, cache_budget_mb=0), [events.append, change_files]).run()
    assert result.status == "completed", result.message
    summary = runs.read_json(Path(result.run_dir) / runs.SUMMARY)
    reasons = {Path(s["path"]).name: s["reason"] for s in summary["skipped_files"]}
    split = runs.read_split(result.run_dir)
    used = {Path(p).name for p, _ in split.train + split.val}
    for victim, why in ((deleted, "file not found"), (truncated, ""), (garbage, "not an image")):
        if victim.name in used:
            assert victim.name in reasons, f"{victim.name} was not skipped"
            assert why in reasons[victim.name]
    assert replaced.name not in reasons
    logged = [e.message for e in events if isinstance(e, LogMessage) and e.level == "warning"]
    assert sum("during training" in m for m in logged) == len({deleted.name, truncated.name, garbage.name} & used)
    assert {deleted.name, truncated.name, garbage.name} & used, "none of the changed files was in use"
