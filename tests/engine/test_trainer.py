import json
import threading
import time

import pytest
import torch

from resnet_studio.engine import checkpoint, runs
from resnet_studio.engine.config import TrainConfig
from resnet_studio.engine.errors import DataError, StudioError
from resnet_studio.engine.events import EpochEnd, LogMessage, RunFinished, RunStarted, StepEnd
from resnet_studio.engine.train import RunControl, Trainer


def tiny_config(data_dir, out_dir, **kw) -> TrainConfig:
    base = dict(data_dir=str(data_dir), depth=18, weights="none", epochs=2, batch_size=8, image_size=32,
                device="cpu", workers=0, out_dir=str(out_dir), seed=0, stem="imagenet")
    return TrainConfig(**{**base, **kw})


class Recorder:
    def __init__(self, on_event=None):
        self.events = []
        self.on_event = on_event

    def __call__(self, event):
        self.events.append(event)
        if self.on_event:
            self.on_event(event)

    def of(self, kind):
        return [e for e in self.events if isinstance(e, kind)]


def test_a_run_learns_and_writes_the_run_folder_contract(tiny_demo, tmp_path):
    rec = Recorder()
    result = Trainer(tiny_config(tiny_demo, tmp_path, epochs=4, lr=0.02), [rec]).run()
    assert result.status == "completed" and result.epochs_completed == 4
    assert result.best_val_acc >= 0.75  # 4 classes: chance is 0.25

    started = rec.of(RunStarted)[0]
    assert started.classes == ["checkers", "dots", "rings", "stripes"] and started.num_train + started.num_val == 64
    steps = rec.of(StepEnd)
    assert len(steps) == 4 * started.steps_per_epoch
    assert [s.global_step for s in steps] == list(range(1, len(steps) + 1))
    assert all(s.loss > 0 and 0 <= s.accuracy <= 1 and s.eta_seconds >= 0 for s in steps)
    epochs = rec.of(EpochEnd)
    assert [e.epoch for e in epochs] == [1, 2, 3, 4]
    assert set(epochs[0].per_class_acc) == set(started.classes)
    assert {"layer1.0", "layer4.1"} <= set(epochs[0].block_grad_norms)
    assert rec.events[-1] == result and isinstance(result, RunFinished)

    run_dir = tmp_path / result.run_dir.rsplit("/", 1)[-1]
    assert run_dir.name.endswith("-demo-resnet18")
    config = json.loads((run_dir / "config.json").read_text())
    assert TrainConfig.from_dict(config).epochs == 4 and config["classes"] == started.classes
    epoch_lines = [r for r in runs.read_metrics(run_dir) if r["event"] == "epoch"]
    keys = {"epoch", "train_loss", "train_acc", "val_loss", "val_acc", "lr", "images_per_sec", "seconds"}
    assert [r["epoch"] for r in epoch_lines] == [1, 2, 3, 4] and keys <= set(epoch_lines[0])
    summary = json.loads((run_dir / "summary.json").read_text())
    assert summary["status"] == "completed" and summary["epochs_completed"] == 4
    assert summary["best_val_acc"] == result.best_val_acc and summary["skipped_files"] == []
    assert sum(map(sum, summary["confusion_matrix"])) == summary["num_val"] == 12
    model, meta = checkpoint.load_model(run_dir)
    assert meta["classes"] == started.classes and meta["epoch"] == summary["best_epoch"]
    assert checkpoint.load_checkpoint(run_dir)["epoch"] == 4
    assert [r.name for r in runs.list_runs(tmp_path)] == [run_dir.name]


def test_seeded_cpu_runs_repeat(tiny_demo, tmp_path):
    a = Trainer(tiny_config(tiny_demo, tmp_path / "a", epochs=1)).run()
    b = Trainer(tiny_config(tiny_demo, tmp_path / "b", epochs=1)).run()
    la = [r["loss"] for r in runs.read_metrics(a.run_dir) if r["event"] == "step"]
    lb = [r["loss"] for r in runs.read_metrics(b.run_dir) if r["event"] == "step"]
    assert la == lb


def test_stop_ends_the_run_within_a_second_and_keeps_a_checkpoint(tiny_demo, tmp_path):
    control = RunControl()
    stopped_at = []

    def on_event(event):
        if isinstance(event, StepEnd) and event.global_step == 3 and not stopped_at:
            threading.Timer(0.05, control.stop).start()
            stopped_at.append(time.perf_counter())

    rec = Recorder(on_event)
    result = Trainer(tiny_config(tiny_demo, tmp_path, epochs=50), [rec], control).run()
    elapsed = time.perf_counter() - stopped_at[0]
    assert result.status == "cancelled"
    assert elapsed < 1.0
    summary = runs.read_json(f"{result.run_dir}/summary.json")
    assert summary["status"] == "cancelled"
    assert checkpoint.load_checkpoint(result.run_dir)["epoch"] == 0


def test_pause_holds_the_loop_until_resumed(tiny_demo, tmp_path):
    control = RunControl()
    seen = []

    def on_event(event):
        if isinstance(event, StepEnd):
            seen.append(event.global_step)
            if event.global_step == 2:
                control.pause()
                threading.Timer(0.3, control.resume).start()

    result = Trainer(tiny_config(tiny_demo, tmp_path, epochs=1), [Recorder(on_event)], control).run()
    assert result.status == "completed" and seen == sorted(seen) and len(seen) == 6


class Crash(BaseException):
    """Stands for the process dying: nothing in the trainer catches it."""


def test_resume_after_a_crash_continues_with_continuous_metrics(tiny_demo, tmp_path):
    def crash(event):
        if isinstance(event, StepEnd) and event.epoch == 2 and event.step == 3:
            raise Crash()

    with pytest.raises(Crash):
        Trainer(tiny_config(tiny_demo, tmp_path, epochs=3), [crash]).run()
    (run_dir,) = [p for p in tmp_path.iterdir() if p.is_dir()]
    assert runs.read_json(run_dir / "summary.json")["status"] == "running"
    with open(run_dir / "metrics.jsonl", "a") as f:
        f.write('{"event": "step", "epo')  # a torn last line, as a kill mid-write leaves
    assert checkpoint.load_checkpoint(run_dir)["epoch"] == 1

    rec = Recorder()
    result = Trainer(tiny_config(tiny_demo, tmp_path, epochs=3), [rec], resume_dir=run_dir).run()
    assert result.status == "completed" and result.epochs_completed == 3
    assert rec.of(RunStarted)[0].start_epoch == 2
    rows = runs.read_metrics(run_dir)
    assert [r["epoch"] for r in rows if r["event"] == "epoch"] == [1, 2, 3]
    steps = [r["step"] for r in rows if r["event"] == "step"]
    assert steps == list(range(1, steps[-1] + 1))  # no gap, no repeat
    assert runs.read_json(run_dir / "summary.json")["epochs_completed"] == 3


def test_resume_can_extend_the_epochs(tiny_demo, tmp_path):
    first = Trainer(tiny_config(tiny_demo, tmp_path, epochs=1)).run()
    more = Trainer(tiny_config(tiny_demo, tmp_path, epochs=2, lr=5.0), resume_dir=first.run_dir).run()
    assert more.epochs_completed == 2
    assert runs.read_json(f"{first.run_dir}/config.json")["lr"] != 5.0  # the run keeps its settings


def test_a_checkpoint_write_that_dies_halfway_leaves_the_previous_one(tiny_demo, tmp_path, monkeypatch):
    result = Trainer(tiny_config(tiny_demo, tmp_path, epochs=1)).run()
    before = (checkpoint.Path(result.run_dir) / "checkpoint.pt").read_bytes()
    real_save = torch.save

    def dying_save(obj, f, *a, **kw):
        import io

        buf = io.BytesIO()
        real_save(obj, buf)
        f.write(buf.getvalue()[: len(buf.getvalue()) // 2])
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(torch, "save", dying_save)
    with pytest.raises(OSError):
        checkpoint.save_checkpoint(result.run_dir, {"epoch": 9, "model": {}})
    monkeypatch.undo()
    run_dir = checkpoint.Path(result.run_dir)
    assert (run_dir / "checkpoint.pt").read_bytes() == before
    assert checkpoint.load_checkpoint(run_dir)["epoch"] == 1
    assert [p.name for p in run_dir.iterdir() if p.name.startswith(".")] == []


def test_a_failing_write_mid_run_fails_the_run_with_the_reason(tiny_demo, tmp_path, monkeypatch):
    def no_space(*a, **kw):
        raise OSError(28, "No space left on device")

    monkeypatch.setattr(checkpoint, "save_checkpoint", no_space)
    result = Trainer(tiny_config(tiny_demo, tmp_path, epochs=1)).run()
    assert result.status == "failed" and "No space left on device" in result.message


def test_a_disk_that_fills_up_at_the_end_still_ends_the_run(tiny_demo, tmp_path, monkeypatch):
    """Neither the summary nor the last metrics line can be written: the run still ends with
    its RunFinished, and the listeners hear why the end was not recorded."""
    from resnet_studio.engine import io
    from resnet_studio.engine.train import callbacks

    rec = Recorder()
    real_write = callbacks.write_summary

    def full_at_the_end(trainer, status):
        if status != "running":
            raise OSError(28, "No space left on device")
        real_write(trainer, status)

    monkeypatch.setattr(callbacks, "write_summary", full_at_the_end)
    result = Trainer(tiny_config(tiny_demo, tmp_path, epochs=1), [rec]).run()
    assert result.status == "completed" and rec.of(RunFinished) == [result]
    assert any("could not record the end of the run" in e.message for e in rec.of(LogMessage) if e.level == "error")
    assert io.orphaned_temp_files(result.run_dir) == []


def test_a_stop_on_a_full_disk_keeps_the_previous_checkpoint_and_ends(tiny_demo, tmp_path, monkeypatch):
    first = Trainer(tiny_config(tiny_demo, tmp_path, epochs=1)).run()
    before = (checkpoint.Path(first.run_dir) / "checkpoint.pt").read_bytes()

    def no_space(*a, **kw):
        raise OSError(28, "No space left on device")

    real_write = runs.MetricsWriter.write
    full = {"on": False}

    def write(self, row):
        if full["on"]:
            no_space()
        real_write(self, row)

    def fill_the_disk_once_training_starts(event):
        if isinstance(event, LogMessage) and event.message.startswith("ResNet-"):
            full["on"] = True  # the next writes fail: the stop's checkpoint, even its log line

    monkeypatch.setattr(checkpoint, "save_checkpoint", no_space)
    monkeypatch.setattr(runs.MetricsWriter, "write", write)
    control = RunControl()
    control.stop()
    rec = Recorder(fill_the_disk_once_training_starts)
    again = Trainer(tiny_config(tiny_demo, tmp_path, epochs=3), [rec], control, resume_dir=first.run_dir).run()
    assert again.status == "cancelled" and rec.of(RunFinished) == [again]
    assert any("checkpoint could not be updated" in e.message for e in rec.of(LogMessage))
    assert (checkpoint.Path(first.run_dir) / "checkpoint.pt").read_bytes() == before


def test_images_that_break_during_training_are_skipped_and_logged(tiny_demo, tmp_path):
    import shutil

    data = shutil.copytree(tiny_demo, tmp_path / "data")
    victims = sorted((data / "dots").iterdir())[:2]

    def break_files(event):
        if isinstance(event, RunStarted):
            for v in victims:
                v.write_bytes(b"")  # emptied after the check, before training reads it

    rec = Recorder(break_files)
    result = Trainer(tiny_config(data, tmp_path / "runs", epochs=1), [rec]).run()
    assert result.status == "completed"
    summary = runs.read_json(f"{result.run_dir}/summary.json")
    skipped = {s["path"] for s in summary["skipped_files"]}
    assert {str(v) for v in victims} <= skipped
    assert any("during training" in e.message for e in rec.of(LogMessage))


def test_patience_stops_early(tiny_demo, tmp_path):
    result = Trainer(tiny_config(tiny_demo, tmp_path, epochs=6, lr=1e-9, patience=1)).run()
    assert result.status == "completed" and result.epochs_completed < 6


def test_bad_input_is_reported_before_a_run_folder_exists(tmp_path):
    with pytest.raises(DataError, match="not found"):
        Trainer(tiny_config(tmp_path / "nope", tmp_path / "runs")).run()
    with pytest.raises(StudioError, match="batch size"):
        Trainer(tiny_config(tmp_path, tmp_path / "runs", batch_size=0)).run()
    with pytest.raises(StudioError, match="weights file not found"):
        Trainer(tiny_config(tmp_path, tmp_path / "runs", weights=str(tmp_path / "w.pt"))).run()
    assert not (tmp_path / "runs").exists()


def test_frozen_backbone_stays_frozen(tiny_demo, tmp_path):
    result = Trainer(tiny_config(tiny_demo, tmp_path, epochs=1, trainable="head", lr=0.1)).run()
    state = checkpoint.load_checkpoint(result.run_dir)["model"]
    fresh = Trainer(tiny_config(tiny_demo, tmp_path / "x", epochs=1, trainable="head"))
    torch.manual_seed(0)
    from resnet_studio.engine.models import build_model

    initial = build_model(18, 4, "none", "head")
    assert torch.equal(state["layer3.0.conv1.weight"], initial.state_dict()["layer3.0.conv1.weight"])
    assert torch.equal(state["bn1.running_mean"], initial.state_dict()["bn1.running_mean"])
    assert not torch.equal(state["fc.weight"], initial.state_dict()["fc.weight"])
    del fresh


def test_a_resumed_run_stopped_at_once_still_counts_its_epochs(tiny_demo, tmp_path):
    first = Trainer(tiny_config(tiny_demo, tmp_path, epochs=1)).run()
    control = RunControl()
    control.stop()
    again = Trainer(tiny_config(tiny_demo, tmp_path, epochs=3), control=control, resume_dir=first.run_dir).run()
    assert again.status == "cancelled" and again.epochs_completed == 1
    assert runs.read_json(f"{first.run_dir}/summary.json")["epochs_completed"] == 1
    assert checkpoint.load_checkpoint(first.run_dir)["epoch"] == 1


# ---------------------------------------------------------------- the log's lines about a run


def _log_lines(run_dir) -> list[str]:
    return [r["message"] for r in runs.read_metrics(run_dir) if r["event"] == "log"]


def test_the_log_says_when_a_model_is_saved_when_a_run_resumed_and_when_it_completed(tiny_demo, tmp_path, capsys):
    """The best model saved, "resumed from epoch N" and "run completed: ...": once each, in
    metrics.jsonl, to the listeners (the window) and in what the command line prints."""
    from resnet_studio.cli.train import ConsoleReport, _report_ending
    from resnet_studio.engine.train.callbacks import duration_words

    rec = Recorder()
    first = Trainer(tiny_config(tiny_demo, tmp_path, epochs=2, lr=0.02), [rec]).run()
    assert first.status == "completed"
    best = [e for e in rec.of(EpochEnd) if e.is_best]
    saved = [f"epoch {e.epoch}: best so far (val {e.val_acc:.1%}), model saved" for e in best]
    logged = _log_lines(first.run_dir)
    assert [line for line in logged if "best so far" in line] == saved
    assert [m.message for m in rec.of(LogMessage) if "best so far" in m.message] == saved
    assert not any(line.startswith("resumed") for line in logged)
    assert logged[-1] == (f"run completed: 2 epochs in {duration_words(runs.RunRecord(first.run_dir).seconds())}, "
                          f"best val {first.best_val_acc:.1%} at epoch {first.best_epoch}")

    # the time before the resume counts: each of the two epochs took 100 s, say
    metrics = runs.read_metrics(first.run_dir)
    for row in metrics:
        if row["event"] == "epoch":
            row["seconds"] = 100.0
    (tmp_path / first.run_dir.rsplit("/", 1)[-1] / "metrics.jsonl").write_text("".join(json.dumps(r) + "\n" for r in metrics))
    capsys.readouterr()
    report = ConsoleReport()
    again = Trainer(tiny_config(tiny_demo, tmp_path, epochs=3), [report], resume_dir=first.run_dir).run()
    code = _report_ending(again, report, again.run_dir)
    assert again.status == "completed" and code == 0
    logged = _log_lines(again.run_dir)
    assert logged.count("resumed from epoch 2: continuing with epoch 3 of 3") == 1
    complete = [line for line in logged if line.startswith("run completed")]
    assert len(complete) == 2 and complete[-1] == logged[-1]  # the first run's, then this one's
    assert complete[-1].startswith("run completed: 3 epochs in 3 min 2") and complete[-1].endswith(
        f"best val {again.best_val_acc:.1%} at epoch {again.best_epoch}")

    printed = capsys.readouterr()
    lines = (printed.out + printed.err).splitlines()
    for line in ("resumed from epoch 2: continuing with epoch 3 of 3", complete[-1]):
        assert lines.count(line) == 1, (line, lines)
    assert not any("resuming at epoch" in line or "completed after" in line or "*best" in line for line in lines)
    after_resume = logged[logged.index("resumed from epoch 2: continuing with epoch 3 of 3"):]
    for line in [line for line in after_resume if "best so far" in line]:
        assert lines.count(line) == 1


def test_duration_words():
    from resnet_studio.engine.train.callbacks import duration_words

    words = [duration_words(s) for s in (0.4, 12.3, 60, 192, 3600, 3725)]
    assert words == ["0 s", "12 s", "1 min", "3 min 12 s", "1 h", "1 h 2 min"]
