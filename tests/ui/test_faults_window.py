"""Faults met through the window: closing it mid-epoch, running out of GPU memory, a
full disk, a read-only runs folder, and a run whose process was killed, resumed from
the History tab."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import torch

from resnet_studio.engine import checkpoint, runs
from resnet_studio.engine import io as engine_io
from resnet_studio.engine.train import prepare as trainer_module

from .test_main_window import RUN_TIMEOUT_MS, _click, _tiny_window


def _steps(run_dir: Path) -> list[dict]:
    return [r for r in runs.read_metrics(run_dir) if r.get("event") == "step"]


def test_closing_the_window_mid_epoch_stops_at_the_next_step(qtbot, monkeypatch, demo_data, questions):
    win = _tiny_window(qtbot, monkeypatch, demo_data, epochs=50)
    in_epoch_2 = []
    win.controller.stepsReady.connect(lambda steps: in_epoch_2.extend(s for s in steps if s.epoch == 2))
    _click(qtbot, win.train_tab.start_button)
    qtbot.waitUntil(lambda: bool(in_epoch_2), timeout=RUN_TIMEOUT_MS)
    run_dir = Path(win.controller.run_dir)
    steps_before = len(_steps(run_dir))
    assert win.close()
    assert len(questions) == 1
    assert not win.controller.is_running() and not win.isVisible()
    summary = runs.read_json(run_dir / runs.SUMMARY)
    assert summary["status"] == "cancelled" and summary["epochs_completed"] == 1
    state = checkpoint.load_checkpoint(run_dir)
    assert state["epoch"] == 1  # epoch 2 is redone on resume
    steps_after = _steps(run_dir)
    assert len(steps_after) <= steps_before + 1  # the step under way finished, no other started
    assert all(r["epoch"] <= 2 for r in steps_after)
    assert not list(run_dir.glob(".*.tmp-*"))
    # no_thread_leaks (conftest) checks that the training thread was joined


def _fault_in_forward(monkeypatch, raise_when):
    build = trainer_module.build_model

    def build_with_fault(*args, **kwargs):
        model = build(*args, **kwargs)

        def hook(module, inputs):
            if module.training and raise_when(inputs[0]):
                raise torch.cuda.OutOfMemoryError("CUDA out of memory. Tried to allocate 2.00 GiB")

        model.register_forward_pre_hook(hook)
        return model

    monkeypatch.setattr(trainer_module, "build_model", build_with_fault)


def test_out_of_memory_is_shown_and_the_run_carries_on(qtbot, monkeypatch, demo_data):
    _fault_in_forward(monkeypatch, lambda x: x.shape[0] > 4)  # batch 8 "does not fit"; 4 does
    win = _tiny_window(qtbot, monkeypatch, demo_data, epochs=1)
    with qtbot.waitSignal(win.controller.finished, timeout=RUN_TIMEOUT_MS) as blocker:
        _click(qtbot, win.train_tab.start_button)
    assert blocker.args[0].status == "completed"
    tab = win.train_tab
    warning = tab.warning_message()
    assert warning.startswith("Out of memory with 8 images at once") and "2 pieces of up to 4" in warning
    log = tab.log_view.toPlainText()
    assert "warning: out of memory with 8 images at once" in log
    win.close()


def test_out_of_memory_even_with_a_tiny_batch_fails_with_a_clear_message(qtbot, monkeypatch, demo_data):
    _fault_in_forward(monkeypatch, lambda x: True)
    win = _tiny_window(qtbot, monkeypatch, demo_data, epochs=1)
    with qtbot.waitSignal(win.controller.failed, timeout=RUN_TIMEOUT_MS) as blocker:
        _click(qtbot, win.train_tab.start_button)
    assert "out of memory even with a batch of 1 image:" in blocker.args[0]
    assert win.train_tab.state() == "failed"
    assert "out of memory even with a batch of 1 image:" in win.train_tab.error_message()
    win.close()


def test_a_full_disk_mid_run_fails_the_run_and_keeps_the_checkpoint(qtbot, monkeypatch, demo_data):
    real_open = open
    full = {"on": False}

    def opening(path, mode="r", *args, **kwargs):
        if full["on"] and Path(path).name.startswith(f".{runs.CHECKPOINT}"):
            return real_open("/dev/full", mode, *args, **kwargs)  # a real ENOSPC from the kernel
        return real_open(path, mode, *args, **kwargs)

    monkeypatch.setattr(engine_io, "open", opening, raising=False)  # engine/io.py writes every file
    win = _tiny_window(qtbot, monkeypatch, demo_data, epochs=3)
    win.controller.epochEnded.connect(lambda e: full.update(on=True))
    with qtbot.waitSignal(win.controller.failed, timeout=RUN_TIMEOUT_MS) as blocker:
        _click(qtbot, win.train_tab.start_button)
    assert "No space left on device" in blocker.args[0]
    assert "No space left on device" in win.train_tab.error_message()
    (run,) = win.runs_panel.runs()
    assert run.status == "failed" and run.has_checkpoint
    assert checkpoint.load_checkpoint(run.path)["epoch"] >= 1
    win.close()


def test_a_runs_folder_that_cannot_be_written_is_reported_before_training(qtbot, monkeypatch, demo_data, tmp_path):
    blocked = tmp_path / "not-a-folder"
    blocked.write_text("a file where the runs folder should be")
    from dataclasses import replace

    win = _tiny_window(qtbot, monkeypatch, demo_data, epochs=1)
    original = win.setup_panel.train_config
    monkeypatch.setattr(win.setup_panel, "train_config", lambda: replace(original(), out_dir=str(blocked / "runs")))
    with qtbot.waitSignal(win.controller.failed, timeout=RUN_TIMEOUT_MS) as blocker:
        _click(qtbot, win.train_tab.start_button)
    assert blocker.args[0].startswith("cannot write to the runs folder")
    assert "cannot write to the runs folder" in win.train_tab.error_message()
    assert blocked.read_text().startswith("a file")
    win.close()


def test_a_killed_run_shows_as_interrupted_and_resumes_from_history(qtbot, monkeypatch, demo_data, studio_home):
    """A run whose process died (its summary still says running) resumes from History."""
    win = _tiny_window(qtbot, monkeypatch, demo_data, epochs=1)
    with qtbot.waitSignal(win.controller.finished, timeout=RUN_TIMEOUT_MS) as blocker:
        _click(qtbot, win.train_tab.start_button)
    run_dir = Path(blocker.args[0].run_dir)
    # make it look killed in epoch 2: a dead process's summary, a torn line, a half-written temp file
    dead = subprocess.Popen([sys.executable, "-c", "pass"])
    dead.wait()
    config = runs.read_json(run_dir / runs.CONFIG)
    (run_dir / runs.CONFIG).write_text(json.dumps({**config, "epochs": 2}))  # a 2-epoch run
    summary = runs.read_json(run_dir / runs.SUMMARY)
    summary.update(status="running", pid=dead.pid, epochs=2)
    (run_dir / runs.SUMMARY).write_text(json.dumps(summary))
    with open(run_dir / runs.METRICS, "a") as f:
        f.write('{"event":"step","epoch":2,"step":')
    stale = run_dir / f".{runs.CHECKPOINT}.tmp-{dead.pid}"
    stale.write_bytes(b"half")

    win.runs_panel.refresh()
    (info,) = win.runs_panel.runs()
    assert info.status == "interrupted"
    assert not stale.exists()
    assert win.runs_panel.select_run(str(run_dir))
    assert win.runs_panel.resume_button.isEnabled()
    with qtbot.waitSignal(win.controller.finished, timeout=RUN_TIMEOUT_MS) as blocker:
        _click(qtbot, win.runs_panel.resume_button)
    resumed = blocker.args[0]
    assert resumed.status == "completed" and resumed.run_dir == str(run_dir) and resumed.epochs_completed == 2
    epochs = [r["epoch"] for r in runs.read_metrics(run_dir) if r.get("event") == "epoch"]
    assert epochs == [1, 2]
    win.close()


def test_sigterm_to_the_studio_stops_the_run_with_its_checkpoint_and_quits(qtbot, monkeypatch, demo_data, questions):
    """A logout or `kill` sends SIGTERM: no question, the run stops at its next step,
    keeps its checkpoint and is cancelled; the window closes."""
    import signal

    from PySide6.QtWidgets import QApplication

    from resnet_studio.ui.app import install_signal_handlers

    win = _tiny_window(qtbot, monkeypatch, demo_data, epochs=50)
    saved = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    monkeypatch.setattr(QApplication, "quit", lambda *a: None)  # the test's application goes on
    try:
        install_signal_handlers(QApplication.instance(), win)
        with qtbot.waitSignal(win.controller.epochEnded, timeout=RUN_TIMEOUT_MS):
            _click(qtbot, win.train_tab.start_button)
        run_dir = Path(win.controller.run_dir)
        signal.raise_signal(signal.SIGTERM)
        qtbot.waitUntil(lambda: not win.isVisible(), timeout=30_000)
    finally:
        for sig, handler in saved.items():
            signal.signal(sig, handler)
    assert questions == []  # nobody is there to answer
    assert not win.controller.is_running()
    summary = runs.read_json(run_dir / runs.SUMMARY)
    assert summary["status"] == "cancelled" and summary["epochs_completed"] >= 1
    assert checkpoint.load_checkpoint(run_dir)["epoch"] == summary["epochs_completed"]
