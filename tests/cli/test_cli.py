"""`resnet-studio` end to end: exit codes, one-line errors, output formats, run folders."""

from __future__ import annotations

import csv
import json
import shutil
import signal
import subprocess
import sys
import types

import pytest

from resnet_studio import __version__
from resnet_studio.cli import train as cli_train
from resnet_studio.engine import architecture, events, models, runs


def assert_usage_error(code, out, err, *needles):
    assert code == 2
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("resnet-studio: error: ")
    assert "Traceback" not in err
    for needle in needles:
        assert needle in lines[0]


# ---------------------------------------------------------------- usage


def test_version(run_cli):
    code, out, _ = run_cli(["--version"])
    assert code == 0 and out.strip() == f"resnet-studio {__version__}"


def test_help_lists_commands(run_cli):
    code, out, _ = run_cli(["--help"])
    assert code == 0
    for command in ("gui", "train", "predict", "info", "demo-data", "export"):
        assert command in out


def test_train_help_documents_every_option(run_cli):
    code, out, _ = run_cli(["train", "--help"])
    assert code == 0
    for option in ("--depth", "--weights", "--epochs", "--batch-size", "--image-size", "--lr", "--optimizer",
                   "--trainable", "--val-split", "--seed", "--device", "--workers", "--out", "--resume",
                   "--patience", "--no-augment", "--color-jitter", "--cache-mb", "--compile"):
        assert option in out


@pytest.mark.parametrize(
    "argv, needle",
    [
        (["train", "data", "--depth", "19"], "--depth"),
        (["train", "data", "--epochs", "0"], "--epochs"),
        (["train", "data", "--val-split", "1.5"], "--val-split"),
        (["train", "data", "--optimizer", "adam"], "--optimizer"),
        (["train", "data", "--trainable", "layer2"], "--trainable"),
        (["train", "data", "--batch-size", "many"], "--batch-size"),
        (["train", "data", "--cache-mb", "-1"], "--cache-mb"),
        (["train"], "DATA"),
        (["predict", "run"], "IMAGE_OR_DIR"),
        (["predict", "run", "x.png", "--topk", "0"], "--topk"),
        (["info", "--depth", "21"], "--depth"),
        (["frobnicate"], "frobnicate"),
        (["export", "run"], "--format"),
    ],
)
def test_bad_usage_is_one_line_exit_2(run_cli, argv, needle):
    assert_usage_error(*run_cli(argv), needle)


def test_export_of_a_folder_without_a_model(run_cli, tmp_path):
    code, out, err = run_cli(["export", tmp_path, "--format", "torchscript"])
    assert_usage_error(code, out, err, "no model.safetensors")
    assert out == ""


def test_no_command_and_gui_open_the_studio(run_cli, monkeypatch):
    calls = []
    fake = types.ModuleType("resnet_studio.ui.app")
    fake.run = lambda argv=None: calls.append("run") or 0
    monkeypatch.setitem(sys.modules, "resnet_studio.ui.app", fake)
    assert run_cli([])[0] == 0
    assert run_cli(["gui"])[0] == 0
    assert calls == ["run", "run"]


def test_help_does_not_import_torch(subprocess_env):
    code = "import sys; from resnet_studio import cli; cli.build_parser().format_help(); print('torch' in sys.modules)"
    result = subprocess.run([sys.executable, "-c", code], env=subprocess_env, capture_output=True, text=True, timeout=60)
    assert result.stdout.strip() == "False"


# ---------------------------------------------------------------- train: bad input


def test_train_missing_folder(run_cli, tmp_path, tiny_train):
    assert_usage_error(*run_cli(["train", tmp_path / "nope", *tiny_train, "--out", tmp_path / "runs"]), "not found")
    assert not (tmp_path / "runs").exists()


def test_train_empty_folder(run_cli, tmp_path, tiny_train):
    (tmp_path / "empty").mkdir()
    assert_usage_error(*run_cli(["train", tmp_path / "empty", *tiny_train, "--out", tmp_path / "runs"]))


def test_train_one_class_only(run_cli, tmp_path, demo_dir, tiny_train):
    shutil.copytree(demo_dir / "rings", tmp_path / "one" / "rings")
    assert_usage_error(*run_cli(["train", tmp_path / "one", *tiny_train, "--out", tmp_path / "runs"]), "one class")


def test_train_bad_weights_path(run_cli, tmp_path, demo_dir, tiny_train):
    args = ["train", demo_dir, *tiny_train, "--out", tmp_path / "runs", "--weights", tmp_path / "missing.pth"]
    assert_usage_error(*run_cli(args), "missing.pth")


def test_train_offline_names_the_options_for_the_other_ways(run_cli, tmp_path, demo_dir, tiny_train, monkeypatch):
    """The engine's words fit every front; the command line adds its options."""
    from resnet_studio.engine import models
    from resnet_studio.engine.errors import WeightsUnavailableError

    def offline(depth, progress=True):
        raise WeightsUnavailableError(f"ImageNet weights for ResNet-{depth} could not be downloaded (no network)")

    monkeypatch.setattr(models, "imagenet_state_dict", offline)
    assert tiny_train[:2] == ["--weights", "none"]
    args = ["train", demo_dir, *tiny_train[2:], "--out", tmp_path / "runs", "--weights", "imagenet"]
    code, out, err = run_cli(args)
    assert code == 2 and "could not be downloaded (no network) (--weights PATH, or --weights none)" in err
    assert not (tmp_path / "runs").exists() or not any((tmp_path / "runs").iterdir())


def test_train_refuses_booby_trapped_weights(run_cli, tmp_path, demo_dir, tiny_train, booby_trap):
    evil, marker = booby_trap
    args = ["train", demo_dir, *tiny_train, "--out", tmp_path / "runs", "--weights", evil]
    assert_usage_error(*run_cli(args), "refused")
    assert not marker.exists()
    assert not list((tmp_path / "runs").glob("*/model.safetensors"))


def test_train_bad_input_in_a_real_process(python_cmd, subprocess_env, tmp_path, tiny_train):
    result = subprocess.run(
        python_cmd("train", tmp_path / "nope", *tiny_train, "--out", tmp_path / "runs"),
        env=subprocess_env, capture_output=True, text=True, timeout=120,
    )
    assert_usage_error(result.returncode, result.stdout, result.stderr, "not found")
    assert result.stdout == ""


# ---------------------------------------------------------------- train: a run


def test_train_completes_and_prints_the_run_folder_last(trained_run, demo_dir):
    run_dir, code, out, err = trained_run
    assert code == 0
    lines = out.strip().splitlines()
    assert lines[-1] == str(run_dir)
    assert run_dir.is_dir() and run_dir.name.endswith("-shapes-resnet18")
    epoch_lines = [line for line in lines if line.startswith("epoch ")]
    assert len(epoch_lines) == 1
    for part in ("epoch 1/1", "train loss", "val loss", "acc", "lr", "img/s"):
        assert part in epoch_lines[0]
    for name in ("config.json", "metrics.jsonl", "summary.json", "model.safetensors", "model.json", "checkpoint.pt"):
        assert (run_dir / name).is_file(), name
    summary = runs.read_json(run_dir / "summary.json")
    assert summary["status"] == "completed" and summary["epochs_completed"] == 1
    # the broken file is listed with its reason before training starts
    assert "broken.png" in err and "not an image" in err
    assert err.index("broken.png") < err.index("completed")
    assert [s["path"] for s in summary["skipped_files"]] == [str(demo_dir / "dots" / "broken.png")]
    assert "Traceback" not in err


def test_sigint_stops_cleanly_with_checkpoint(run_cli, demo_dir, tmp_path, tiny_train, monkeypatch, ctrl_c_reaches_the_process):
    """Ctrl+C during training ends the run as cancelled, keeps the checkpoint, exits 130,
    and gives SIGINT back the handler it had before."""
    report = cli_train.ConsoleReport.__call__
    before = signal.getsignal(signal.SIGINT)

    def press_ctrl_c_after_epoch_1(self, event):
        report(self, event)
        if isinstance(event, events.EpochEnd) and event.epoch == 1:
            signal.raise_signal(signal.SIGINT)

    monkeypatch.setattr(cli_train.ConsoleReport, "__call__", press_ctrl_c_after_epoch_1)
    args = ["train", demo_dir, *tiny_train, "--epochs", "5", "--out", tmp_path / "runs"]
    code, out, err = run_cli(args)
    assert code == 130, err
    run_dir = tmp_path / "runs" / out.strip().splitlines()[-1].rsplit("/", 1)[-1]
    summary = runs.read_json(run_dir / "summary.json")
    assert summary["status"] == "cancelled"
    assert summary["epochs_completed"] in (1, 2)
    assert (run_dir / "checkpoint.pt").is_file() and (run_dir / "model.safetensors").is_file()
    assert "--resume" in err
    assert signal.getsignal(signal.SIGINT) is before  # the handler that was there before

    # and the run continues from its checkpoint
    monkeypatch.setattr(cli_train.ConsoleReport, "__call__", report)
    code, out, err = run_cli(["train", "--resume", run_dir, "--epochs", "3"])
    assert code == 0, err
    assert out.strip().splitlines()[-1] == str(run_dir)
    assert out.splitlines()[0].startswith(f"epoch {summary['epochs_completed'] + 1}/3")
    summary = runs.read_json(run_dir / "summary.json")
    assert summary["status"] == "completed" and summary["epochs_completed"] == 3


def test_signals_ignored_at_the_start_stay_ignored_and_the_others_get_their_handlers_back():
    """`nohup resnet-studio train ...` must survive the terminal closing, and a background job
    started with SIGINT ignored must not stop on the foreground's Ctrl+C."""
    saved = {sig: signal.getsignal(sig) for sig in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP)}
    try:
        signal.signal(signal.SIGHUP, signal.SIG_IGN)
        signal.signal(signal.SIGINT, signal.SIG_IGN)
        signal.signal(signal.SIGTERM, signal.SIG_DFL)
        stopper = cli_train.StopOnSignal(types.SimpleNamespace(stop=lambda: None))
        with stopper:
            assert signal.getsignal(signal.SIGHUP) is signal.SIG_IGN
            assert signal.getsignal(signal.SIGINT) is signal.SIG_IGN
            assert signal.getsignal(signal.SIGTERM) == stopper._handle
        assert signal.getsignal(signal.SIGTERM) is signal.SIG_DFL
        assert signal.getsignal(signal.SIGHUP) is signal.SIG_IGN and signal.getsignal(signal.SIGINT) is signal.SIG_IGN
    finally:
        for sig, handler in saved.items():
            signal.signal(sig, handler)


def test_resume_with_no_more_epochs_to_train_says_so(run_cli, trained_run, tmp_path):
    """A finished 10-epoch run resumed with --epochs 3 (or without --epochs) has nothing to do: one
    line saying so, exit 2, the run folder untouched (the engine's resume decision)."""
    run_dir = tmp_path / trained_run[0].name
    shutil.copytree(trained_run[0], run_dir)
    for name, key in ((runs.SUMMARY, "epochs_completed"), (runs.CONFIG, "epochs")):
        values = runs.read_json(run_dir / name)
        values[key] = 10
        (run_dir / name).write_text(json.dumps(values))
    before = {p.name: p.read_bytes() for p in run_dir.iterdir()}
    assert_usage_error(*run_cli(["train", "--resume", run_dir, "--epochs", "3"]),
                       f"{run_dir.name} already trained 10 epochs; 3 epochs is fewer: nothing to do",
                       "give more than 10 epochs to train more")
    assert_usage_error(*run_cli(["train", "--resume", run_dir]), "already trained its 10 epochs: nothing to do")
    assert_usage_error(*run_cli(["train", "--resume", run_dir, "--epochs", "10"]), "already trained its 10 epochs")
    assert {p.name: p.read_bytes() for p in run_dir.iterdir()} == before


def test_resume_needs_a_run_folder(run_cli, tmp_path):
    assert_usage_error(*run_cli(["train", "--resume", tmp_path]), "not a run folder")


def test_keyboard_interrupt_that_escapes_still_exits_130(run_cli, demo_dir, tmp_path, tiny_train, monkeypatch):
    def interrupt(self, event):
        if isinstance(event, events.StepEnd):
            raise KeyboardInterrupt

    monkeypatch.setattr(cli_train.ConsoleReport, "__call__", interrupt)
    code, out, err = run_cli(["train", demo_dir, *tiny_train, "--out", tmp_path / "runs"])
    assert code == 130
    assert "Traceback" not in err


def test_sigterm_in_a_real_process(python_cmd, subprocess_env, demo_dir, tmp_path, tiny_train, as_from_a_terminal):
    """SIGTERM ends the run as cancelled with its checkpoint; exit status 130; no traceback."""
    proc = subprocess.Popen(
        python_cmd("train", demo_dir, *tiny_train, "--epochs", "200", "--out", tmp_path / "runs"),
        env=subprocess_env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, preexec_fn=as_from_a_terminal,
    )
    try:
        lines = []
        for line in proc.stdout:  # wait for the first epoch, so there is something to keep
            lines.append(line)
            if line.startswith("epoch 1/"):
                break
        proc.send_signal(signal.SIGTERM)
        rest, err = proc.communicate(timeout=120)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    assert proc.returncode == 130, err
    assert "Traceback" not in err
    run_dir = (lines + rest.splitlines(keepends=True))[-1].strip()
    summary = runs.read_json(f"{run_dir}/summary.json")
    assert summary["status"] == "cancelled"
    assert 1 <= summary["epochs_completed"] < 200
    assert (tmp_path / "runs" / run_dir.rsplit("/", 1)[-1] / "checkpoint.pt").is_file()


# ---------------------------------------------------------------- predict


def test_predict_json_structure_and_order(run_cli, trained_run, demo_dir):
    run_dir = trained_run[0]
    images = [demo_dir / "rings" / "rings_000.png", demo_dir / "dots" / "dots_001.png"]
    code, out, err = run_cli(["predict", run_dir, *images, "--json", "--topk", "3"])
    assert code == 0, err
    result = json.loads(out)
    assert [r["path"] for r in result] == [str(p) for p in images]
    classes = json.loads((run_dir / "model.json").read_text())["classes"]
    for r in result:
        assert set(r) == {"path", "predictions"}
        assert len(r["predictions"]) == 3
        assert all(set(p) == {"label", "prob"} and p["label"] in classes for p in r["predictions"])
        probs = [p["prob"] for p in r["predictions"]]
        assert probs == sorted(probs, reverse=True)
        assert 0 < sum(probs) <= 1 + 1e-6


def test_predict_topk_is_clipped_to_the_classes(run_cli, trained_run, demo_dir):
    code, out, _ = run_cli(["predict", trained_run[0] / "model.safetensors", demo_dir / "rings" / "rings_001.png",
                            "--json", "--topk", "50"])
    (result,) = json.loads(out)
    assert code == 0 and len(result["predictions"]) == 4
    assert sum(p["prob"] for p in result["predictions"]) == pytest.approx(1.0, abs=1e-5)


def test_predict_folder_with_a_broken_image(run_cli, trained_run, demo_dir, tmp_path):
    code, out, err = run_cli(["predict", trained_run[0] / "model.json", demo_dir / "dots", "--json", "--batch-size", "3"])
    assert code == 0, err
    result = json.loads(out)
    assert len(result) == 9  # 8 images and the broken file, sorted, in one list
    assert [r["path"] for r in result] == sorted(str(p) for p in (demo_dir / "dots").iterdir())
    errors = [r for r in result if "error" in r]
    assert len(errors) == 1 and errors[0]["path"].endswith("broken.png")
    assert set(errors[0]) == {"path", "error"} and "not an image" in errors[0]["error"]
    assert all(len(r["predictions"]) == 4 for r in result if "error" not in r)


def test_predict_table_and_csv(run_cli, trained_run, demo_dir, tmp_path):
    out_csv = tmp_path / "out.csv"
    images = [demo_dir / "stripes" / "stripes_000.png", demo_dir / "dots" / "broken.png"]
    code, out, err = run_cli(["predict", trained_run[0], *images, "--topk", "2", "--csv", out_csv])
    assert code == 0, err
    assert "stripes_000.png" in out and "broken.png" in out and "error" in out
    with open(out_csv, newline="") as f:
        rows = list(csv.DictReader(f))
    assert list(rows[0]) == ["path", "label_1", "prob_1", "label_2", "prob_2", "error"]
    assert rows[0]["path"] == str(images[0]) and rows[0]["label_1"] and 0 < float(rows[0]["prob_1"]) <= 1
    assert float(rows[0]["prob_1"]) >= float(rows[0]["prob_2"]) and rows[0]["label_1"] != rows[0]["label_2"]
    assert rows[1]["label_1"] == "" and "not an image" in rows[1]["error"]


def test_predict_bad_inputs(run_cli, trained_run, demo_dir, tmp_path):
    image = demo_dir / "rings" / "rings_000.png"
    assert_usage_error(*run_cli(["predict", tmp_path / "nope", image]), "nope")
    assert_usage_error(*run_cli(["predict", trained_run[0], tmp_path / "missing.png"]), "missing.png")
    (tmp_path / "empty").mkdir()
    assert_usage_error(*run_cli(["predict", trained_run[0], tmp_path / "empty"]))
    not_a_run = tmp_path / "not-a-run"
    not_a_run.mkdir()
    assert_usage_error(*run_cli(["predict", not_a_run, image]))


def test_predict_with_no_image_among_the_paths_is_bad_input(run_cli, trained_run, tmp_path):
    """Only files that are not images: nothing was predicted, so not a success (exit 2, one line),
    and nothing is written."""
    notes = tmp_path / "notes.txt"
    notes.write_text("not a photo")
    fake = tmp_path / "fake.png"
    fake.write_bytes(b"not a png either")
    assert_usage_error(*run_cli(["predict", trained_run[0], notes]), "no image to predict", "notes.txt")
    code, out, err = run_cli(["predict", trained_run[0], notes, fake, "--json", "--csv", tmp_path / "out.csv"])
    assert_usage_error(code, out, err, "no image to predict", "other 1 file(s)")
    assert out == "" and not (tmp_path / "out.csv").exists()


def test_predict_refuses_a_booby_trapped_model(run_cli, booby_trap, demo_dir, tmp_path):
    evil, marker = booby_trap
    image = demo_dir / "rings" / "rings_000.png"
    assert_usage_error(*run_cli(["predict", evil, image, "--json"]), "refused")
    # the same pickle disguised as a run folder's model file
    run = tmp_path / "run"
    run.mkdir()
    (run / "model.safetensors").write_bytes(evil.read_bytes())
    (run / "model.json").write_text(json.dumps({"depth": 18, "classes": ["a", "b"], "image_size": 32}))
    assert_usage_error(*run_cli(["predict", run, image]), "model.safetensors")
    assert not marker.exists()


def test_predict_imagenet_offline(run_cli, demo_dir, tmp_path, monkeypatch):
    import urllib.error

    def offline(*args, **kwargs):
        raise urllib.error.URLError("no network")

    monkeypatch.setenv("TORCH_HOME", str(tmp_path))
    monkeypatch.setattr("torchvision.models._api.load_state_dict_from_url", offline)
    assert_usage_error(*run_cli(["predict", "imagenet", demo_dir / "rings"]), "ImageNet weights")


# ---------------------------------------------------------------- info, demo-data


def test_info_all_depths_json(run_cli):
    code, out, _ = run_cli(["info", "--json"])
    rows = json.loads(out)
    assert code == 0 and [r["depth"] for r in rows] == [18, 34, 50, 101, 152, 20, 32, 44, 56, 110]
    for row in rows:
        assert {"depth", "params", "gflops", "imagenet_top1", "block", "layers"} <= set(row)
    assert rows[0]["params"] == models.depth_summary(18)["params"]


def test_info_table(run_cli):
    code, out, _ = run_cli(["info", "--image-size", "112"])
    assert code == 0
    assert all(str(d) in out for d in (18, 34, 50, 101, 152)) and "GMACs" in out


def test_info_one_depth(run_cli):
    code, out, _ = run_cli(["info", "--depth", "18", "--image-size", "64", "--classes", "3", "--trainable", "head", "--json"])
    desc = json.loads(out)
    assert code == 0 and desc["depth"] == 18
    assert {"stem", "stages", "head", "total_params", "trainable_params"} <= set(desc)
    assert desc["num_classes"] == 3 and desc["trainable_part"] == "head"
    code, out, _ = run_cli(["info", "--depth", "18", "--image-size", "64"])
    assert code == 0 and "18" in out


@pytest.mark.parametrize("depth", [18, 152])
@pytest.mark.parametrize("trainable", ["all", "head"])
def test_info_fits_an_80_column_terminal(run_cli, monkeypatch, depth, trainable):
    monkeypatch.setenv("COLUMNS", "80")
    code, out, _ = run_cli(["info", "--depth", depth, "--trainable", trainable])
    lines = out.rstrip("\n").splitlines()
    assert code == 0 and max(map(len, lines)) <= 80, max(lines, key=len)
    desc = architecture.describe_depth(depth, trainable=trainable)
    for stage in desc["stages"]:
        assert all(any(line.startswith(f"  {b['name']} ") for line in lines) for b in stage["blocks"])
    assert f"{desc['total_params']:,}" in out and "Multiply-adds" in out
    assert ("frozen" in out) == (trainable != "all")
    # wide enough, or not a terminal: the engine's whole table, as it is
    monkeypatch.setenv("COLUMNS", "200")
    assert run_cli(["info", "--depth", depth, "--trainable", trainable])[1].rstrip("\n") == architecture.format_table(desc)
    monkeypatch.delenv("COLUMNS")
    monkeypatch.setattr(sys.stdout, "isatty", lambda: False, raising=False)
    assert run_cli(["info", "--depth", depth, "--trainable", trainable])[1].rstrip("\n") == architecture.format_table(desc)


def test_demo_data(run_cli, tmp_path):
    code, out, err = run_cli(["demo-data", tmp_path / "demo", "--per-class", "2", "--image-size", "16"])
    assert code == 0, err
    folders = sorted(p.name for p in (tmp_path / "demo").iterdir())
    assert len(folders) >= 2
    assert all(len(list((tmp_path / "demo" / f).glob("*.png"))) == 2 for f in folders)
    assert f"wrote {2 * len(folders)} images" in out and str(tmp_path / "demo") in out
    # a folder that holds files is never written into
    assert_usage_error(*run_cli(["demo-data", tmp_path / "demo", "--per-class", "2"]), "is not empty")


def test_demo_data_then_train_then_predict(run_cli, tmp_path, tiny_train):
    """The headless path a new user takes, with the same run folder contract."""
    assert run_cli(["demo-data", tmp_path / "d", "--per-class", "6", "--image-size", "32"])[0] == 0
    code, out, err = run_cli(["train", tmp_path / "d", *tiny_train, "--out", tmp_path / "runs",
                              "--trainable", "layer4", "--optimizer", "adamw", "--no-augment", "--cache-mb", "0"])
    assert code == 0, err
    run_dir = out.strip().splitlines()[-1]
    config = runs.read_json(f"{run_dir}/config.json")
    assert config["trainable"] == "layer4" and config["optimizer"] == "adamw" and config["augment"] is False
    assert config["cache_budget_mb"] == 0 and config["compile"] is False and "image cache off" in err
    code, out, _ = run_cli(["predict", run_dir, tmp_path / "d", "--json", "--topk", "1"])
    assert code == 0 and len(json.loads(out)) == 24
