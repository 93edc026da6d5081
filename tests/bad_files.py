"""Bad model, weights and checkpoint files, built in a temporary folder (issue 7).

Shared by tests/cli/test_bad_model_files.py and tests/ui/test_bad_model_files.py, so the
command line and the window are tried on exactly the same files. Nothing is trained:
the files are made from state dicts of freshly built torchvision ResNets.

Each factory returns (path to open, words the one-line message must contain). The
pickles that would run code create `marker` when unpickled; a test checks it never
appears.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path

import torch
from torchvision import models as tvm

from .cli.conftest import BoobyTrap

CLASSES = ["checkers", "dots", "rings", "stripes"]  # the demo dataset's classes
IMAGE_SIZE = 32

# a run folder's model.safetensors / model.json, as opened by predict, evaluate, export
# and the Predict tab, History, Evaluate tab and export dialog
MODEL_CASES = (
    "random_bytes",
    "empty",
    "truncated",
    "whole_pickle",
    "code_pickle",
    "whole_pickle_pt",
    "code_pickle_pt",
    "random_pth",
    "other_depth",
    "other_classes",
    "json_garbage",
    "json_missing_keys",
    "json_bad_values",
    "no_json",
    "folder",
)
# the run folder itself as what is opened (History, Evaluate tab, export, `evaluate RUN`)
RUN_FOLDER_CASES = tuple(c for c in MODEL_CASES if not c.endswith(("_pt", "_pth")))

# --weights PATH / the setup panel's weights file, for a ResNet-18
WEIGHTS_CASES = (
    "random_pth",
    "random_safetensors",
    "empty",
    "truncated_safetensors",
    "truncated_pt",
    "whole_pickle",
    "code_pickle",
    "code_pickle_safetensors",
    "other_depth",
    "other_depth_same_block",
    "not_a_resnet",
    "folder",
)

# --resume RUN_DIR / History's Resume
RESUME_CASES = (
    "ckpt_random",
    "ckpt_empty",
    "ckpt_truncated",
    "ckpt_code_pickle",
    "ckpt_whole_pickle",
    "ckpt_folder",
    "ckpt_other_depth",
    "ckpt_missing_keys",
    "config_garbage",
    "config_missing_keys",
    "config_bad_values",
)


@functools.cache
def resnet_state(depth: int = 18, num_classes: int = len(CLASSES)) -> dict[str, torch.Tensor]:
    """A torchvision ResNet's state dict (random weights, seeded)."""
    torch.manual_seed(depth * 1000 + num_classes)
    builder = {18: tvm.resnet18, 34: tvm.resnet34, 50: tvm.resnet50}[depth]
    return {k: v.contiguous() for k, v in builder(num_classes=num_classes).state_dict().items()}


def model_meta(depth: int = 18, classes=CLASSES) -> dict:
    return {"format": "resnet-studio-model", "format_version": 1, "depth": depth, "classes": list(classes),
            "image_size": IMAGE_SIZE, "resize_size": 37, "mean": [0.485, 0.456, 0.406], "std": [0.229, 0.224, 0.225]}


def save_safetensors(state: dict, path: Path) -> Path:
    from safetensors.torch import save_file

    path.parent.mkdir(parents=True, exist_ok=True)
    save_file(state, str(path))
    return path


def good_model_dir(folder: Path, depth: int = 18, classes=CLASSES) -> Path:
    """A run folder holding a good (untrained) model.safetensors and model.json."""
    folder.mkdir(parents=True, exist_ok=True)
    save_safetensors(resnet_state(depth, len(classes)), folder / "model.safetensors")
    (folder / "model.json").write_text(json.dumps(model_meta(depth, classes)), encoding="utf-8")
    return folder


def random_bytes(n: int = 4096, seed: int = 7) -> bytes:
    import random

    return random.Random(seed).randbytes(n)


def _half(path: Path) -> bytes:
    data = path.read_bytes()
    return data[: len(data) // 2]


def code_pickle(path: Path, marker: Path) -> Path:
    """A torch.save file whose unpickling would create `marker`."""
    torch.save({"model": BoobyTrap(marker)}, path)
    return path


def whole_pickle(path: Path) -> Path:
    """torch.save of a whole nn.Module (a pickle of classes, not a state dict)."""
    torch.manual_seed(0)
    torch.save(tvm.resnet18(num_classes=len(CLASSES)), path)
    return path


def bad_model(root: Path, case: str, marker: Path) -> tuple[Path, list[str]]:
    """A bad model to open: (path, words the message names). `root` is an empty folder."""
    run = root / "run-bad"
    run.mkdir(parents=True, exist_ok=True)
    weights, meta = run / "model.safetensors", run / "model.json"
    meta.write_text(json.dumps(model_meta()), encoding="utf-8")
    if case == "random_bytes":
        weights.write_bytes(random_bytes())
        return run, ["model.safetensors", "not a readable safetensors file"]
    if case == "empty":
        weights.write_bytes(b"")
        return run, ["model.safetensors", "empty"]
    if case == "truncated":
        save_safetensors(resnet_state(), root / "whole.safetensors")
        weights.write_bytes(_half(root / "whole.safetensors"))
        return run, ["model.safetensors", "not a readable safetensors file"]
    if case == "whole_pickle":  # a pickle disguised as the run's model file
        whole_pickle(weights)
        return run, ["model.safetensors", "pickle", "not opened"]
    if case == "code_pickle":
        code_pickle(weights, marker)
        return run, ["model.safetensors", "pickle", "not opened"]
    if case == "whole_pickle_pt":
        return whole_pickle(run / "model.pt"), ["model.pt", "refused"]
    if case == "code_pickle_pt":
        return code_pickle(run / "evil.pt", marker), ["evil.pt", "refused"]
    if case == "random_pth":
        (run / "weights.pth").write_bytes(random_bytes())
        return run / "weights.pth", ["weights.pth", "refused"]
    if case == "other_depth":  # ResNet-34 weights, model.json says 18
        save_safetensors(resnet_state(34), weights)
        return run, ["model.safetensors", "model.json", "ResNet-18", "ResNet-34"]
    if case == "other_classes":  # a 3-class head, model.json lists 4 classes
        save_safetensors(resnet_state(18, 3), weights)
        return run, ["model.safetensors", "model.json", "4 classes", "3 classes"]
    save_safetensors(resnet_state(), weights)
    if case == "json_garbage":
        meta.write_bytes(b"{\"depth\": 18, \"classes\": [\x00\xff garbage")
        return run, ["model.json", "not valid JSON"]
    if case == "json_missing_keys":
        meta.write_text(json.dumps({"format": "resnet-studio-model", "image_size": IMAGE_SIZE}), encoding="utf-8")
        return run, ["model.json", "depth"]
    if case == "json_bad_values":
        meta.write_text(json.dumps({**model_meta(), "mean": "bright", "image_size": -5}), encoding="utf-8")
        return run, ["model.json", "image_size"]
    if case == "no_json":
        meta.unlink()
        return run, ["model.json"]
    if case == "folder":  # model.safetensors is a folder
        weights.unlink()
        weights.mkdir()
        return run, ["model.safetensors", "folder"]
    raise ValueError(case)


def bad_weights(root: Path, case: str, marker: Path) -> tuple[Path, list[str]]:
    """A bad --weights file for ResNet-18: (path, words the message names)."""
    root.mkdir(parents=True, exist_ok=True)
    if case == "random_pth":
        (root / "weights.pth").write_bytes(random_bytes())
        return root / "weights.pth", ["weights.pth", "not a readable PyTorch weights file"]
    if case == "random_safetensors":
        (root / "weights.safetensors").write_bytes(random_bytes())
        return root / "weights.safetensors", ["weights.safetensors", "not a readable"]
    if case == "empty":
        (root / "empty.pth").write_bytes(b"")
        return root / "empty.pth", ["empty.pth", "empty"]
    if case == "truncated_safetensors":
        save_safetensors(resnet_state(), root / "whole.safetensors")
        (root / "cut.safetensors").write_bytes(_half(root / "whole.safetensors"))
        return root / "cut.safetensors", ["cut.safetensors", "not a readable"]
    if case == "truncated_pt":
        torch.save(resnet_state(), root / "whole.pth")
        (root / "cut.pth").write_bytes(_half(root / "whole.pth"))
        return root / "cut.pth", ["cut.pth", "not a readable PyTorch weights file"]
    if case == "whole_pickle":
        return whole_pickle(root / "whole.pt"), ["whole.pt", "refused"]
    if case == "code_pickle":
        return code_pickle(root / "evil.pt", marker), ["evil.pt", "refused"]
    if case == "code_pickle_safetensors":
        return code_pickle(root / "evil.safetensors", marker), ["evil.safetensors", "refused"]
    if case == "other_depth":
        torch.save(resnet_state(50, 1000), root / "r50.pth")
        return root / "r50.pth", ["r50.pth", "ResNet-18", "ResNet-50"]
    if case == "other_depth_same_block":  # ResNet-34 holds every tensor ResNet-18 has, and more
        save_safetensors(resnet_state(34), root / "r34.safetensors")
        return root / "r34.safetensors", ["r34.safetensors", "ResNet-18", "ResNet-34"]
    if case == "not_a_resnet":
        save_safetensors({"encoder.weight": torch.zeros(8, 8)}, root / "other.safetensors")
        return root / "other.safetensors", ["other.safetensors", "ResNet"]
    if case == "folder":
        (root / "w.pth").mkdir()
        return root / "w.pth", ["w.pth", "folder"]
    raise ValueError(case)


def resume_config(data_dir: Path, out_dir: Path) -> dict:
    return {"data_dir": str(data_dir), "depth": 18, "weights": "none", "epochs": 2, "batch_size": 8,
            "image_size": IMAGE_SIZE, "workers": 0, "device": "cpu", "out_dir": str(out_dir),
            "seed": 0, "val_split": 0.2, "classes": CLASSES}


def bad_resume_run(root: Path, case: str, marker: Path, data_dir: Path) -> tuple[Path, list[str]]:
    """A run folder that cannot be resumed: (run folder, words the message names)."""
    run = root / "runs" / "run-bad"
    run.mkdir(parents=True, exist_ok=True)
    config, ckpt = run / "config.json", run / "checkpoint.pt"
    config.write_text(json.dumps(resume_config(data_dir, root / "runs")), encoding="utf-8")
    state = {"epoch": 1, "model": resnet_state(), "optimizer": {"state": {}, "param_groups": []},
             "scheduler": {}, "classes": CLASSES, "train": [], "val": []}
    if case == "ckpt_random":
        ckpt.write_bytes(random_bytes())
        return run, ["checkpoint.pt", "not a readable"]
    if case == "ckpt_empty":
        ckpt.write_bytes(b"")
        return run, ["checkpoint.pt", "empty"]
    if case == "ckpt_truncated":
        torch.save(state, root / "whole.pt")
        ckpt.write_bytes(_half(root / "whole.pt"))
        return run, ["checkpoint.pt", "not a readable"]
    if case == "ckpt_code_pickle":
        code_pickle(ckpt, marker)
        return run, ["checkpoint.pt", "refused"]
    if case == "ckpt_whole_pickle":
        whole_pickle(ckpt)
        return run, ["checkpoint.pt", "refused"]
    if case == "ckpt_folder":
        ckpt.mkdir()
        return run, ["checkpoint.pt", "folder"]
    if case == "ckpt_other_depth":  # the run is a ResNet-18; the checkpoint holds a ResNet-34
        torch.save({**state, "model": resnet_state(34)}, ckpt)
        return run, ["checkpoint.pt", "ResNet-18"]
    if case == "ckpt_missing_keys":
        torch.save({"epoch": 1, "model": resnet_state()}, ckpt)
        return run, ["checkpoint.pt", "optimizer"]
    torch.save(state, ckpt)
    if case == "config_garbage":
        config.write_bytes(b"{\"depth\": 18,\x00 oops")
        return run, ["config.json"]
    if case == "config_missing_keys":
        config.write_text(json.dumps({"depth": 18, "epochs": 2}), encoding="utf-8")
        return run, ["config.json", "data_dir"]
    if case == "config_bad_values":
        config.write_text(json.dumps({**resume_config(data_dir, root / "runs"), "depth": "deep", "batch_size": "many"}),
                          encoding="utf-8")
        return run, ["config.json", "depth"]
    raise ValueError(case)
