"""The command line's arguments. No torch: `--help` must be quick.

`train`'s options are made from the engine's settings (engine/config.py): their names,
help, defaults and choices are written there once. Options are only parsed here
(a number is a number); whether a value can work is the engine's check, which the
window and the trainer make too, with the same words.
"""

from __future__ import annotations

import argparse

from .. import __version__
from ..engine.config import ALL_DEPTHS, DEMO_IMAGE_SIZE, DEMO_PER_CLASS, DEVICE_CHOICES, SETTINGS, TRAINABLE_CHOICES, Setting
from ..installation import install_command
from . import commands, doctor, train
from .console import EXIT_USAGE, PROG, one_line

__all__ = ["build_parser"]


class _Parser(argparse.ArgumentParser):
    """argparse, but a usage error is one line on stderr (no usage dump), exit 2."""

    def error(self, message: str):
        self.exit(EXIT_USAGE, f"{PROG}: error: {one_line(message)}\n")


def build_parser() -> argparse.ArgumentParser:
    parser = _Parser(prog=PROG, description="Fine-tune torchvision ResNets on folders of photos.")
    parser.add_argument("--version", action="version", version=f"{PROG} {__version__}")
    parser.set_defaults(func=commands.gui)
    sub = parser.add_subparsers(title="commands", metavar="COMMAND", parser_class=_Parser)

    p = sub.add_parser("gui", help="open the studio window (the default)", description="Open the studio window.")
    p.set_defaults(func=commands.gui)

    p = sub.add_parser(
        "train",
        help="train a ResNet on a folder of images",
        description="Train a ResNet on DATA (class subfolders, or train/ and val/ of class subfolders). "
        "Prints one line per epoch and the run folder as the last line of output. Ctrl+C stops the "
        "run cleanly, keeping its checkpoint (exit status 130).",
    )
    p.add_argument("data", metavar="DATA", nargs="?", help="data folder; may be left out with --resume")
    for setting in SETTINGS.values():
        if setting.flag:
            _add_setting(p, setting)
    p.add_argument("--resume", metavar="RUN_DIR", default=None, help="continue a stopped run from its checkpoint")
    p.set_defaults(func=train.run)

    p = sub.add_parser(
        "predict",
        help="predict the class of images",
        description="Top-k predictions of a trained model on images and folders of images.",
    )
    p.add_argument(
        "model",
        metavar="MODEL",
        help="a run folder, its model.safetensors or model.json, or 'imagenet' for torchvision's ResNet-50",
    )
    p.add_argument("images", metavar="IMAGE_OR_DIR", nargs="+", help="image files and folders (searched recursively)")
    p.add_argument("--topk", type=_positive_int, default=5, help="predictions per image (default: 5)")
    p.add_argument("--json", action="store_true", help="print a JSON list, one object per image")
    p.add_argument(
        "--csv", metavar="FILE", default=None,
        help="also write a CSV to FILE: path, label_1, prob_1, ... label_k, prob_k, error (the Predict tab's Export CSV)",
    )
    p.add_argument("--batch-size", type=_positive_int, default=16, help="images per forward pass (default: 16)")
    p.add_argument(
        "--cam",
        metavar="OUT_DIR",
        default=None,
        help="also write a Grad-CAM overlay of the top class for each image to OUT_DIR (PNG)",
    )
    _add_device(p, "where to run")
    p.set_defaults(func=commands.predict)

    p = sub.add_parser(
        "evaluate",
        help="measure a trained model on labelled images",
        description="Accuracy, top-k accuracy, per-class precision/recall/F1, the confusion matrix and the "
        "most confident mistakes of a trained model, on its run's validation split or on DATA "
        "(class subfolders; with train/ and val/, the val/ part).",
    )
    p.add_argument("model", metavar="MODEL", help="a run folder, or its model.safetensors or model.json")
    p.add_argument("data", metavar="DATA", nargs="?", help="labelled images (default: the run's validation split)")
    p.add_argument("--topk", type=_positive_int, default=None, help="k of the top-k accuracy (default: up to 5)")
    p.add_argument("--mistakes", type=_non_negative_int, default=10, help="mistakes to list (default: 10)")
    p.add_argument("--json", action="store_true", help="print everything as JSON")
    p.add_argument("--batch-size", type=_positive_int, default=32, help="images per forward pass (default: 32)")
    _add_device(p, "where to run")
    p.set_defaults(func=commands.evaluate)

    p = sub.add_parser(
        "info",
        help="describe ResNet depths",
        description="Without --depth, compare all depths; with it, describe that network stage by stage.",
    )
    p.add_argument("--depth", type=int, choices=ALL_DEPTHS, default=None, help="the depth to describe")
    p.add_argument(
        "--stem", choices=("imagenet", "small"), default="imagenet",
        help="the first layers of ResNet-18..152 (default: imagenet; the CIFAR ResNets have their own)",
    )
    size = SETTINGS["image_size"].default
    p.add_argument("--image-size", type=int, default=size, help=f"input size in pixels (default: {size})")
    p.add_argument("--classes", type=_positive_int, default=1000, help="classes in the head (default: 1000)")
    trainable = SETTINGS["trainable"].default
    p.add_argument("--trainable", choices=TRAINABLE_CHOICES, default=trainable, help=f"what trains (default: {trainable})")
    p.add_argument("--json", action="store_true", help="print JSON instead of a table")
    p.set_defaults(func=commands.info)

    p = sub.add_parser(
        "demo-data",
        help="write a small generated dataset",
        description="Write class folders of generated shapes and textures, ready for `train`, into a new "
        "(or empty) folder.",
    )
    p.add_argument("out_dir", metavar="OUT_DIR", help="folder to write the dataset into")
    p.add_argument("--per-class", type=_positive_int, default=DEMO_PER_CLASS,
                   help=f"images per class (default: {DEMO_PER_CLASS})")
    p.add_argument("--image-size", type=_positive_int, default=DEMO_IMAGE_SIZE,
                   help=f"image width and height in pixels (default: {DEMO_IMAGE_SIZE})")
    p.set_defaults(func=commands.demo_data)

    p = sub.add_parser(
        "export",
        help="export a trained model to ONNX or TorchScript",
        description="Export a run's model to ONNX or TorchScript, with its class names and preprocessing "
        "in FILE.json beside it and in the file's own metadata. The exported model is then run on sample "
        "images next to the PyTorch model: the largest probability difference is reported, and the export "
        "fails (exit 2, nothing written) if the top class ever differs. ONNX needs onnx and onnxruntime "
        f"({install_command('export', ['onnx', 'onnxruntime'])}).",
    )
    p.add_argument("run_dir", metavar="MODEL", help="a run folder, or its model.safetensors or model.json")
    p.add_argument("--format", choices=("onnx", "torchscript"), required=True, help="file format")
    p.add_argument(
        "--out",
        metavar="FILE",
        default=None,
        help="where to write (default: RUN_DIR/export/model.onnx or model.torchscript.pt)",
    )
    p.add_argument(
        "--int8",
        action="store_true",
        help="ONNX only: quantize to int8 (ONNX Runtime static quantization), calibrated on the run's training "
        "images; fp32 and int8 top-1 on its validation images, file sizes and CPU latency are reported "
        "(default file: RUN_DIR/export/model.int8.onnx)",
    )
    p.add_argument(
        "--max-drop",
        metavar="POINTS",
        type=_number(float),
        default=None,
        help="with --int8: refuse (exit 2, nothing written) when int8 loses more than this many accuracy "
        "points on the validation images (default: 1)",
    )
    p.add_argument("--json", action="store_true", help="print the result as JSON")
    p.set_defaults(func=commands.export)

    p = sub.add_parser(
        "doctor",
        help="check a data folder for duplicates, leaks across the split, tiny photos and imbalance",
        description=doctor.DESCRIPTION,
    )
    p.add_argument("data", metavar="DATA", help="data folder (class subfolders, or train/ and val/ of class subfolders)")
    p.add_argument("--json", action="store_true", help="print the report as JSON")
    p.add_argument("--image-size", type=_positive_int, default=size, metavar="S",
                   help=f"the training size photos are compared with, in pixels (default: {size})")
    for name in ("val_split", "seed"):  # the split the trainer would make
        setting = SETTINGS[name]
        p.add_argument(setting.flag, dest=name, type=_kind(setting), default=setting.default, metavar=name.upper(),
                       help=f"{setting.help} (default: {setting.default})")
    p.add_argument("--fix-split", action="store_true",
                   help="say which duplicate groups the split would keep on one side, and what would move (writes nothing)")
    p.set_defaults(func=doctor.run)

    p = sub.add_parser(
        "install-desktop",
        help="add the studio to the desktop's application menu (Linux)",
        description="Write a desktop entry and icon for the current user ($XDG_DATA_HOME, or ~/.local/share: "
        "applications/resnet-studio.desktop and icons/hicolor/scalable/apps/resnet-studio.svg) that start this "
        "installation's resnet-studio-gui by its full path, so the menu entry works without a virtual environment "
        "on PATH, and open the photos or folders given to it. Running it again brings the entry up to date.",
    )
    p.add_argument("--remove", action="store_true", help="remove the entry and icon it wrote")
    p.set_defaults(func=commands.install_desktop)
    return parser


# ---------------------------------------------------------------- train's options, from the settings

_METAVARS = {
    "depth": "{" + ",".join(map(str, ALL_DEPTHS)) + "}",
    "weights": "{imagenet,none,PATH}",
    "device": "{" + ",".join(DEVICE_CHOICES) + "}",
    "out_dir": "RUNS_DIR",
    "cache_budget_mb": "MB",
}


def _add_setting(parser: argparse.ArgumentParser, setting: Setting) -> None:
    dest = setting.name
    if setting.kind == "bool":  # a switch: --no-augment turns a default-on setting off
        action = "store_false" if setting.default else "store_true"
        parser.add_argument(setting.flag, dest=dest, action=action, default=None, help=setting.help)
        return
    default = setting.auto or setting.default
    kind = _kind(setting)
    metavar = _METAVARS.get(dest) or ("{" + ",".join(map(str, setting.choices)) + "}" if setting.choices else None)
    parser.add_argument(
        setting.flag, dest=dest, type=kind, default=None, metavar=metavar, help=f"{setting.help} (default: {default})"
    )


def _kind(setting: Setting):
    """Parse the option as the field's type; the value's range is the engine's check."""
    return {"int": _number(int), "float": _number(float)}.get(setting.kind, str)


def _add_device(parser: argparse.ArgumentParser, what: str) -> None:
    parser.add_argument("--device", default="auto", metavar=_METAVARS["device"], help=f"{what} (default: auto)")


# ---------------------------------------------------------------- argument types


def _number(kind):
    def parse(text: str):
        try:
            return kind(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"not a{'n integer' if kind is int else ' number'}: {text!r}") from None

    parse.__name__ = kind.__name__
    return parse


def _positive_int(text: str) -> int:
    value = _number(int)(text)
    if value < 1:
        raise argparse.ArgumentTypeError(f"must be at least 1, not {text}")
    return value


def _non_negative_int(text: str) -> int:
    value = _number(int)(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"must be 0 or more, not {text}")
    return value
