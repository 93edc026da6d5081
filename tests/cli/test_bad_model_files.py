"""Every bad model, weights and checkpoint file through the command line (issue 7).

Each must end in exit status 2 with one line on stderr that names the file and says what
is wrong: no traceback, and no code from the file ever runs (the booby-trapped pickles
would create a marker file).
"""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from ..bad_files import (
    MODEL_CASES,
    RESUME_CASES,
    RUN_FOLDER_CASES,
    WEIGHTS_CASES,
    bad_model,
    bad_resume_run,
    bad_weights,
    resnet_state,
)
from ..conftest import write_image


def assert_bad_input(code, out, err, *needles) -> str:
    """Exit 2, nothing on stdout, one line on stderr naming each needle."""
    lines = err.strip().splitlines()
    assert code == 2, err
    assert len(lines) == 1, err
    assert "Traceback" not in err
    assert lines[0].startswith("resnet-studio: error: ")
    for needle in needles:
        assert needle in lines[0], f"{needle!r} not in {lines[0]!r}"
    assert out.strip() == ""
    return lines[0]


@pytest.fixture
def marker(tmp_path) -> Path:
    path = tmp_path / "PWNED"
    yield path
    assert not path.exists(), "code from a model file ran"


@pytest.fixture
def image(tmp_path) -> Path:
    return write_image(tmp_path / "photo.png")


# ---------------------------------------------------------------- predict, evaluate, export


@pytest.mark.parametrize("case", MODEL_CASES)
def test_predict_refuses_a_bad_model(run_cli, tmp_path, marker, image, case):
    path, needles = bad_model(tmp_path / "bad", case, marker)
    assert_bad_input(*run_cli(["predict", path, image, "--device", "cpu"]), *needles)
    meta_cases = ("folder", "json_garbage", "json_missing_keys", "json_bad_values")
    if path.is_dir() and (path / "model.json").is_file() and case not in meta_cases:
        # the same file named directly, and through its model.json
        assert_bad_input(*run_cli(["predict", path / "model.safetensors", image, "--device", "cpu"]), *needles)
        assert_bad_input(*run_cli(["predict", path / "model.json", image, "--device", "cpu", "--json"]), *needles)


@pytest.mark.parametrize("case", MODEL_CASES)
def test_evaluate_refuses_a_bad_model(run_cli, tmp_path, marker, case):
    path, needles = bad_model(tmp_path / "bad", case, marker)
    assert_bad_input(*run_cli(["evaluate", path, "--device", "cpu"]), *needles)


@pytest.mark.parametrize("case", RUN_FOLDER_CASES + ("code_pickle_pt",))
def test_export_refuses_a_bad_model_and_writes_nothing(run_cli, tmp_path, marker, case):
    path, needles = bad_model(tmp_path / "bad", case, marker)
    out = tmp_path / "exported" / "model.pt"
    assert_bad_input(*run_cli(["export", path, "--format", "torchscript", "--out", out]), *needles)
    assert not out.parent.exists() or not list(out.parent.iterdir())


def test_a_run_folder_without_a_model(run_cli, tmp_path, image):
    run = tmp_path / "run-empty"
    run.mkdir()
    (run / "config.json").write_text("{}")
    for argv in (["predict", run, image], ["evaluate", run], ["export", run, "--format", "torchscript"]):
        assert_bad_input(*run_cli(argv), "model.safetensors")


# ---------------------------------------------------------------- train --weights


@pytest.mark.parametrize("case", WEIGHTS_CASES)
def test_train_refuses_bad_weights(run_cli, tmp_path, marker, demo_dir, tiny_train, case):
    path, needles = bad_weights(tmp_path / "weights", case, marker)
    args = [a for a in tiny_train]
    args[args.index("--weights") + 1] = str(path)
    runs = tmp_path / "runs"
    assert_bad_input(*run_cli(["train", demo_dir, *args, "--depth", "18", "--out", runs]), *needles)
    assert not list(runs.glob("*/model.safetensors")) and not list(runs.glob("*/checkpoint.pt"))


def test_train_weights_with_another_head_keep_the_backbone_and_get_a_new_head(run_cli, tmp_path, demo_dir, tiny_train):
    """ImageNet-style weights (1000 classes) for a 4-class dataset: the backbone is used, the
    classifier is replaced (documented in --help's sense: a state-dict file is a starting point)."""
    from safetensors.torch import load_file, save_file

    state = resnet_state(18, 1000)
    save_file(state, str(tmp_path / "r18-1000.safetensors"))
    args = [a for a in tiny_train]
    args[args.index("--weights") + 1] = str(tmp_path / "r18-1000.safetensors")
    args[args.index("--epochs") + 1] = "1"
    code, out, err = run_cli(["train", demo_dir, *args, "--trainable", "head", "--no-augment", "--out", tmp_path / "runs"])
    assert code == 0, err
    run = Path(out.strip().splitlines()[-1])
    trained = load_file(str(run / "model.safetensors"))
    assert trained["fc.weight"].shape == (4, 512)
    # the frozen backbone is exactly the file's
    for key in ("conv1.weight", "layer1.0.conv1.weight", "layer4.1.conv2.weight"):
        assert (trained[key] == state[key]).all(), key


# ---------------------------------------------------------------- train --resume


@pytest.mark.parametrize("case", RESUME_CASES)
def test_resume_refuses_a_bad_checkpoint(run_cli, tmp_path, marker, demo_dir, case):
    run, needles = bad_resume_run(tmp_path, case, marker, demo_dir)
    before = sorted(p.name for p in run.iterdir())
    assert_bad_input(*run_cli(["train", "--resume", run, "--epochs", "2"]), *needles)
    assert sorted(p.name for p in run.iterdir()) == before  # nothing written into the run


# ---------------------------------------------------------------- a real process


def test_a_booby_trapped_weights_file_never_runs_code_in_a_real_process(
    python_cmd, subprocess_env, tmp_path, demo_dir, tiny_train
):
    """The in-process tests above check the marker for every entry point; this is the same in
    a real `python -m resnet_studio` (one process: importing torch takes seconds)."""
    marker = tmp_path / "PWNED"
    weights, needles = bad_weights(tmp_path / "weights", "code_pickle", marker)
    args = [a for a in tiny_train]
    args[args.index("--weights") + 1] = str(weights)
    result = subprocess.run(python_cmd("train", demo_dir, *args, "--out", tmp_path / "runs"),
                            env=subprocess_env, capture_output=True, text=True, timeout=120)
    assert_bad_input(result.returncode, result.stdout, result.stderr, *needles)
    assert not marker.exists()
