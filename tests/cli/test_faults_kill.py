"""Fault injection with real signals: `resnet-studio train` SIGKILLed at several points
(mid-step, mid-checkpoint-write, between epochs, in the first epoch) and resumed each
time; SIGTERM and Ctrl+C (SIGINT) to a real process.

After every kill: the checkpoint on disk loads (weights only) and is a completed
epoch's, metrics.jsonl reads (a torn last line is skipped) and nothing in it is past
what the resume keeps. After the last resume: the run has exactly the epochs asked
for, each epoch's line once and the steps numbered without gap or repeat, and no
temporary file is left. Closing the terminal mid-run (a real pty, hung up) cancels the run.
"""

from __future__ import annotations

import fcntl
import json
import os
import pty
import random
import signal
import subprocess
import termios
import time
from pathlib import Path

import pytest

from resnet_studio.engine import checkpoint, runs

EPOCHS = 4
TRAIN = ["--weights", "none", "--image-size", "32", "--epochs", str(EPOCHS), "--batch-size", "8",
         "--device", "cpu", "--workers", "0", "--seed", "0", "--stem", "imagenet"]
DEADLINE_S = 120


@pytest.fixture(scope="module")
def kill_data(tmp_path_factory):
    from resnet_studio.engine import demo

    # 4 classes x 12 images: 40 for training, 5 steps of 8 per epoch
    return demo.make_demo_dataset(tmp_path_factory.mktemp("kill") / "data", per_class=12, image_size=32)


def _lines(run_dir: Path) -> list[dict]:
    return runs.read_metrics(run_dir)


def _wait_for(proc: subprocess.Popen, condition, what: str, poll_s: float = 0.002) -> None:
    deadline = time.monotonic() + DEADLINE_S
    while not condition():
        if proc.poll() is not None:
            out, err = proc.communicate()
            raise AssertionError(f"the run ended (exit {proc.returncode}) before {what}:\n{err[-2000:]}")
        if time.monotonic() > deadline:
            proc.kill()
            raise AssertionError(f"timed out waiting for {what}")
        time.sleep(poll_s)


def _run_folder(runs_dir: Path) -> Path | None:
    found = [p for p in runs_dir.glob("*") if (p / runs.CONFIG).is_file()]
    return found[0] if found else None


def _steps(run_dir: Path) -> int:
    return sum(1 for r in _lines(run_dir) if r.get("event") == "step")


def _epochs(run_dir: Path) -> int:
    return sum(1 for r in _lines(run_dir) if r.get("event") == "epoch")


def _resumes(run_dir: Path) -> int:
    return sum(1 for r in _lines(run_dir) if r.get("event") == "resume")


def _temp_files(run_dir: Path, name: str = "") -> list[Path]:
    return list(run_dir.glob(f".{name}*.tmp-*"))


def _check_after_kill(run_dir: Path) -> int:
    """What must hold whenever the process is gone: returns the checkpoint's epoch."""
    metrics = run_dir / runs.METRICS
    raw = metrics.read_bytes().decode("utf-8", "replace").split("\n") if metrics.exists() else []
    complete = [line for line in raw[:-1]]  # everything before the last newline
    for line in complete:
        if line:
            json.loads(line)  # only the last line may be torn
    epoch_lines = [r["epoch"] for r in _lines(run_dir) if r.get("event") == "epoch"]
    assert epoch_lines == list(range(1, len(epoch_lines) + 1))
    # the history shows it as interrupted (its summary still says running); listing changes
    # nothing, and the clean-up (History's refresh, resume) clears temporary files whose writer is dead
    left = _temp_files(run_dir)
    (info,) = runs.list_runs(run_dir.parent)
    assert info.status == "interrupted"
    assert _temp_files(run_dir) == left
    runs.clean_orphaned_temp_files(run_dir.parent)
    assert not _temp_files(run_dir)
    ckpt_path = run_dir / runs.CHECKPOINT
    if not ckpt_path.exists():
        assert not epoch_lines or epoch_lines == [1]  # killed before the first checkpoint landed
        return 0
    state = checkpoint.load_checkpoint(run_dir)  # weights only; raises on a torn file
    epoch = int(state["epoch"])
    # the epoch's line is written just before its checkpoint
    assert epoch in (len(epoch_lines), len(epoch_lines) - 1)
    assert set(state["model"]) >= {"conv1.weight", "fc.weight"}
    return epoch


def test_sigkill_at_random_points_then_resume(kill_data, tmp_path, python_cmd, subprocess_env):
    rng = random.Random(20261122)
    runs_dir = tmp_path / "runs"
    base = python_cmd("train", kill_data, *TRAIN, "--out", runs_dir)
    hits = []

    def start(cmd):
        return subprocess.Popen(cmd, env=subprocess_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)

    def resumed(n):
        """Start a resume and wait until it has cut metrics.jsonl back to its checkpoint."""
        proc = start(resume)
        _wait_for(proc, lambda: _resumes(run_dir) >= n, f"resume {n}")
        return proc

    def kill(proc):
        proc.send_signal(signal.SIGKILL)
        proc.communicate(timeout=30)
        assert proc.returncode == -signal.SIGKILL

    # 1. in the first epoch, a random number of steps in: no checkpoint exists yet
    proc = start(base)
    _wait_for(proc, lambda: _run_folder(runs_dir) is not None, "the run folder")
    run_dir = _run_folder(runs_dir)
    first_kill = rng.randint(1, 3)
    _wait_for(proc, lambda: _steps(run_dir) >= first_kill, f"step {first_kill}")
    kill(proc)
    hits.append(("first epoch, step", first_kill, _check_after_kill(run_dir)))
    resume = python_cmd("train", "--resume", run_dir, "--epochs", EPOCHS)

    # 2. mid-step, a random number of steps into a later epoch
    proc = resumed(1)
    target = rng.randint(5 + 1, 2 * 5 + 3)  # in epoch 2 or 3
    _wait_for(proc, lambda: _steps(run_dir) >= target, f"step {target}")
    time.sleep(rng.uniform(0.0, 0.05))
    kill(proc)
    hits.append(("mid-epoch, after step", target, _check_after_kill(run_dir)))

    # 3. while the checkpoint is being written (its temporary file exists)
    proc = resumed(2)
    _wait_for(proc, lambda: _temp_files(run_dir, runs.CHECKPOINT), "a checkpoint write", poll_s=0.0005)
    kill(proc)
    assert _temp_files(run_dir, runs.CHECKPOINT), "killed mid-write: the half-written file is there"
    during_write = _check_after_kill(run_dir)
    hits.append(("checkpoint write", "temporary file present", during_write))

    # 4. just after an epoch's line, between epochs
    proc = resumed(3)
    _wait_for(proc, lambda: _epochs(run_dir) > during_write, "the next epoch's line", poll_s=0.0005)
    kill(proc)
    hits.append(("after an epoch line", None, _check_after_kill(run_dir)))

    # finally: resume to the end
    proc = start(resume)
    out, err = proc.communicate(timeout=DEADLINE_S)
    assert proc.returncode == 0, err
    assert "Traceback" not in err
    summary = runs.read_json(run_dir / runs.SUMMARY)
    assert summary["status"] == "completed" and summary["epochs_completed"] == EPOCHS
    rows = _lines(run_dir)
    assert [r["epoch"] for r in rows if r.get("event") == "epoch"] == list(range(1, EPOCHS + 1))
    steps = [r["step"] for r in rows if r.get("event") == "step"]
    per_epoch = sum(1 for r in rows if r.get("event") == "step" and r["epoch"] == 1)
    assert per_epoch >= 4
    assert steps == list(range(1, EPOCHS * per_epoch + 1))  # continuous: no gap, no repeat
    assert checkpoint.load_checkpoint(run_dir)["epoch"] == EPOCHS
    checkpoint.load_model(run_dir)
    assert not _temp_files(run_dir), "a temporary file was left behind"
    assert [r["event"] for r in rows if r.get("event") in ("start", "resume")] == ["start"] + ["resume"] * 4
    # every kill point was reached (the mid-write kill found a temporary file)
    assert len(hits) == 4


def test_a_temporary_file_from_a_killed_writer_is_cleaned_on_resume(trained_run, tmp_path, run_cli):
    import shutil

    run_dir = Path(shutil.copytree(trained_run[0], tmp_path / "run"))
    stale = run_dir / f".{runs.CHECKPOINT}.tmp-99999"
    stale.write_bytes(b"\x80half a checkpoint")
    (run_dir / runs.METRICS).open("a").write('{"event":"step","epoch":1,"st')  # torn last line
    code, out, err = run_cli(["train", "--resume", run_dir, "--epochs", "2"])
    assert code == 0, err
    assert not stale.exists()
    assert [r["epoch"] for r in runs.read_metrics(run_dir) if r.get("event") == "epoch"] == [1, 2]


@pytest.mark.parametrize("sig", [signal.SIGINT, signal.SIGTERM, signal.SIGHUP], ids=["ctrl-c", "sigterm", "sighup"])
def test_a_signal_stops_at_the_next_step_with_a_checkpoint(sig, kill_data, tmp_path, python_cmd, subprocess_env,
                                                           as_from_a_terminal):
    runs_dir = tmp_path / "runs"
    proc = subprocess.Popen(
        python_cmd("train", kill_data, *TRAIN, "--out", runs_dir),
        env=subprocess_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=as_from_a_terminal,
    )
    _wait_for(proc, lambda: _run_folder(runs_dir) is not None, "the run folder")
    run_dir = _run_folder(runs_dir)
    _wait_for(proc, lambda: _steps(run_dir) >= 6, "step 6")  # in the second epoch
    steps_at_signal = _steps(run_dir)
    proc.send_signal(sig)
    out, err = proc.communicate(timeout=DEADLINE_S)
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    assert out.strip().splitlines()[-1] == str(run_dir)
    summary = runs.read_json(run_dir / runs.SUMMARY)
    assert summary["status"] == "cancelled"
    assert summary["epochs_completed"] == 1
    # the step that was running finishes; no further step starts
    assert _steps(run_dir) <= steps_at_signal + 1
    state = checkpoint.load_checkpoint(run_dir)
    assert state["epoch"] == 1
    assert not _temp_files(run_dir)
    assert f"train --resume {run_dir}" in err


def test_closing_the_terminal_mid_run_ends_it_cancelled_with_its_checkpoint(kill_data, tmp_path, python_cmd, subprocess_env):
    """The terminal window is closed (or the ssh connection drops) while a run trains: the kernel
    hangs the terminal up, so every write to it fails (EIO), and sends SIGHUP. The run stops at
    the next step as cancelled with its checkpoint (exit 130), not as failed on the first write."""
    master, slave = pty.openpty()

    def own_terminal() -> None:  # a session of its own, with this pty as its controlling terminal
        for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
            signal.signal(sig, signal.SIG_DFL)
        os.setsid()
        fcntl.ioctl(0, termios.TIOCSCTTY, 0)

    runs_dir = tmp_path / "runs"
    proc = subprocess.Popen(
        python_cmd("train", kill_data, *TRAIN, "--epochs", "50", "--out", runs_dir),
        env=subprocess_env, stdin=slave, stdout=slave, stderr=slave, preexec_fn=own_terminal,
    )
    os.close(slave)
    try:
        seen = b""
        deadline = time.monotonic() + DEADLINE_S
        while b"epoch 1/50" not in seen and time.monotonic() < deadline:
            try:
                seen += os.read(master, 4096)
            except OSError:
                break
        assert b"epoch 1/50" in seen, seen.decode(errors="replace")[-2000:]
    finally:
        os.close(master)  # the terminal goes away
    try:
        code = proc.wait(timeout=DEADLINE_S)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    run_dir = _run_folder(runs_dir)
    summary = runs.read_json(run_dir / runs.SUMMARY)
    assert (code, summary["status"]) == (130, "cancelled"), [r.get("message") for r in _lines(run_dir) if r.get("event") == "log"]
    assert 1 <= summary["epochs_completed"] < 50
    assert checkpoint.load_checkpoint(run_dir)["epoch"] == summary["epochs_completed"]
    assert not (run_dir / "error.log").exists()
