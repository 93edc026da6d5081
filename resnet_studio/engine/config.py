"""Every choice, default and limit of a training run, and the one check of them.

No torch here: the command line's --help, the setup panel and the trainer all read this
module, and the first two must stay quick to load.

    TrainConfig(data_dir="photos", depth=50).problems()   # [] or [Problem(field, message, level)]
    TrainConfig(...).validate()                           # StudioError with the first error
    TrainConfig.from_saved(json.load(f), "config.json")   # a saved run's settings, checked

Each field of `TrainConfig` carries its own description (`SETTINGS[name]`): the words a
person reads, its limits and choices, the command-line flag and its help. The window's
widgets, the command-line options and the checks are all built from it, so a limit or a
default is written once, here.
"""

from __future__ import annotations

import dataclasses
import functools
import json
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any, ClassVar

from .errors import StudioError

__all__ = [
    "DEPTHS",
    "CIFAR_DEPTHS",
    "ALL_DEPTHS",
    "STEM_CHOICES",
    "SMALL_STEM_BELOW",
    "is_cifar_depth",
    "TRAINABLE_CHOICES",
    "OPTIMIZERS",
    "DEVICE_CHOICES",
    "PRECISION_CHOICES",
    "AUGMENTATION_CHOICES",
    "augmentation_level",
    "WEIGHTS_CHOICES",
    "WEIGHTS_SUFFIXES",
    "DEMO_PER_CLASS",
    "DEMO_IMAGE_SIZE",
    "DEMO_SCRATCH_IMAGE_SIZE",
    "Setting",
    "SETTINGS",
    "Problem",
    "TrainConfig",
    "default_lr",
    "default_weight_decay",
    "weights_problem",
]

DEPTHS = (18, 34, 50, 101, 152)
#: the paper's CIFAR ResNets (He et al. 2016, section 4.2): 6n+2 layers, 16/32/64 channels, from scratch only
CIFAR_DEPTHS = (20, 32, 44, 56, 110)
ALL_DEPTHS = DEPTHS + CIFAR_DEPTHS
#: the first layers of ResNet-18..152: auto, torchvision's 7x7 stride-2 + max-pool, or 3x3 stride-1 without max-pool
STEM_CHOICES = ("auto", "imagenet", "small")
SMALL_STEM_BELOW = 96  # auto picks the small stem from scratch below this image size (pixels)
CIFAR_NO_IMAGENET = "the CIFAR ResNets have no ImageNet weights: train from scratch (or from a weights file of the same depth)"
SMALL_STEM_NO_IMAGENET = "the small stem has no ImageNet weights: use the ImageNet stem (or auto), or train from scratch"


def is_cifar_depth(depth) -> bool:
    """Whether `depth` is one of the paper's CIFAR ResNets (20, 32, 44, 56, 110)."""
    return depth in CIFAR_DEPTHS and not isinstance(depth, bool)
TRAINABLE_CHOICES = ("all", "layer3", "layer4", "head")  # from the most that trains to the least
OPTIMIZERS = ("sgd", "adamw")
DEVICE_CHOICES = ("auto", "cpu", "cuda", "mps")  # "cuda:N" picks one GPU
#: auto: bf16 on NVIDIA GPUs that compute in it (compute capability 8.0 on), fp16 with a
#: gradient scaler on older ones, fp32 on Apple GPUs and CPUs
PRECISION_CHOICES = ("auto", "fp32", "bf16", "fp16")
AUGMENTATION_CHOICES = ("auto", "light", "standard", "strong")
#: auto's rule (augmentation_level): light below this image size, strong for long runs from
#: scratch on small data sets
LIGHT_AUGMENTATION_BELOW = 64
STRONG_AUGMENTATION_EPOCHS, STRONG_AUGMENTATION_IMAGES = 30, 20_000
WEIGHTS_CHOICES = ("imagenet", "none")  # or the path of a state-dict file
WEIGHTS_SUFFIXES = (".safetensors", ".pt", ".pth")  # what the file choosers offer; the content decides
DEMO_PER_CLASS, DEMO_IMAGE_SIZE = 100, 80  # the generated demo dataset: images per class, pixels
DEMO_SCRATCH_IMAGE_SIZE = 64  # the crop the demo trains at from scratch (no ImageNet weights at hand)


def default_lr(optimizer: str, pretrained: bool, batch_size: int = 32) -> float:
    """The peak learning rate when none is given.

    SGD follows the batch size linearly (Goyal et al.): 0.1 per 256 images from scratch,
    and from ImageNet weights 0.01 per 32 (gentler on the pretrained layers; the rate
    that works for photo folders at the default batch). AdamW's rates hold across
    batch sizes: 3e-4 from ImageNet weights, 1e-3 from scratch.
    """
    if optimizer == "adamw":
        return 3e-4 if pretrained else 1e-3
    batch = batch_size if isinstance(batch_size, int) and batch_size > 0 else 32
    per_image = 0.01 / 32 if pretrained else 0.1 / 256
    return float(f"{per_image * batch:.3g}")


def augmentation_level(image_size: int, num_train: int | None, epochs: int, pretrained: bool) -> tuple[str, str]:
    """auto's augmentation strength and the reason, in a few words: (level, why).

    - light below LIGHT_AUGMENTATION_BELOW px: a small image holds little, and a crop of a
      third of it cuts away what tells the classes apart (the paper's CIFAR recipe shifts by
      4 px and flips, nothing more);
    - strong for long runs from scratch (STRONG_AUGMENTATION_EPOCHS epochs or more) on fewer
      than STRONG_AUGMENTATION_IMAGES training images: many passes over few photos
      memorise them unless each pass looks different;
    - standard otherwise.
    The levels themselves (crop area, rotation, lighting) are in fastdata.AUGMENTATIONS.
    """
    if _is_count(image_size) and image_size < LIGHT_AUGMENTATION_BELOW:
        return "light", f"images below {LIGHT_AUGMENTATION_BELOW} px"
    few = num_train is not None and num_train < STRONG_AUGMENTATION_IMAGES
    if not pretrained and few and _is_count(epochs) and epochs >= STRONG_AUGMENTATION_EPOCHS:
        return "strong", f"{epochs} epochs from scratch on {num_train} images"
    return "standard", "photos of ordinary size"


def default_weight_decay(optimizer: str) -> float:
    return 0.05 if optimizer == "adamw" else 1e-4


@dataclass(frozen=True)
class Setting:
    """What a person needs to know about one TrainConfig field."""

    name: str
    label: str  # "image size": starts the messages about it
    help: str  # one sentence: the command line's --help and the window's tooltip
    minimum: float | None = None
    maximum: float | None = None
    above_minimum: bool = False  # the minimum itself is not allowed (a learning rate of 0)
    below_maximum: bool = False
    unit: str = ""  # " pixels", " MB"
    choices: tuple = ()
    flag: str | None = None  # the command-line option; None: not an option of `train`
    auto: str = ""  # what None means ("chosen for the optimizer"), for an optional number
    default: Any = None
    kind: str = "str"  # the value's type: "int", "float", "str" or "bool" (from TrainConfig's annotation)

    def range_text(self) -> str:
        """The allowed values in words: "between 16 and 1024 pixels", "more than 0"."""
        lo, hi, unit = _number(self.minimum), _number(self.maximum), self.unit
        if self.minimum is not None and self.maximum is not None:
            if self.above_minimum or self.below_maximum:
                return f"more than {lo} and less than {hi}{unit}"
            return f"between {lo} and {hi}{unit}"
        if self.minimum is not None:
            return f"more than {lo}{unit}" if self.above_minimum else f"at least {lo}{unit}"
        return f"at most {hi}{unit}" if self.maximum is not None else ""

    def check(self, value) -> str:
        """Why `value` cannot be this setting, in one line ("" when it can)."""
        if value is None:
            return "" if self.auto or self.default is None else f"{self.label} must be set"
        if self.choices:
            return "" if value in self.choices else (
                f"unknown {self.label} {value!r}; choose one of {', '.join(map(str, self.choices))}"
            )
        if isinstance(value, bool) or not isinstance(value, (int, float)):
            return ""  # not a number setting; types are checked where a file is read (from_saved)
        low_bad = self.minimum is not None and (value <= self.minimum if self.above_minimum else value < self.minimum)
        high_bad = self.maximum is not None and (value >= self.maximum if self.below_maximum else value > self.maximum)
        return f"{self.label} must be {self.range_text()}" if low_bad or high_bad else ""


def _number(value) -> str:
    if value is None:
        return ""
    if not float(value).is_integer():
        return f"{value:g}"
    return f"{int(value):,}" if abs(value) >= 10_000 else str(int(value))


def _setting(default, label: str, help: str, **kw) -> Any:
    """A dataclass field with its Setting (filled in with its name below)."""
    factory = kw.pop("default_factory", None)
    meta = {"setting": dict(label=label, help=help, **kw)}
    if factory is not None:
        return field(default_factory=factory, metadata=meta)
    return field(default=default, metadata=meta)


@dataclass(frozen=True)
class Problem:
    field: str  # a TrainConfig field name
    message: str  # one line, lower-case start (a front capitalises it where it wants)
    level: str = "error"  # "error": the run cannot start; "warning": it can, but probably should not


@dataclass
class TrainConfig:
    """Everything a training run needs; `problems()` says what cannot work."""

    data_dir: str | None = _setting(
        None, "data folder", "the folder of photos: one subfolder per class, or train/ and val/ of them"
    )
    depth: int = _setting(
        18, "depth", "ResNet depth: 18 to 152 (ImageNet family), or 20, 32, 44, 56, 110 (the paper's CIFAR ResNets, "
        "for small images, from scratch)", choices=ALL_DEPTHS, flag="--depth",
    )
    weights: str = _setting(
        "imagenet", "weights",
        "start from torchvision's ImageNet weights, random weights, or a state-dict file (.safetensors, or .pt/.pth "
        "holding plain tensors)", flag="--weights",
    )
    epochs: int = _setting(10, "epochs", "epochs to train", minimum=1, maximum=10_000, flag="--epochs")
    batch_size: int = _setting(
        32, "batch size",
        "images per step; a step that does not fit in memory runs in smaller pieces with the same result",
        minimum=1, maximum=4096, flag="--batch-size",
    )
    image_size: int = _setting(
        224, "image size", "side of the square crop the photos are resized to, in pixels",
        minimum=16, maximum=1024, unit=" pixels", flag="--image-size",
    )
    lr: float | None = _setting(
        None, "learning rate", "peak learning rate", minimum=0, above_minimum=True, flag="--lr",
        auto="SGD: 0.1 per 256 images of a batch from scratch, 0.01 per 32 from ImageNet weights; AdamW: 1e-3 or 3e-4",
    )
    optimizer: str = _setting("sgd", "optimizer", "optimizer", choices=OPTIMIZERS, flag="--optimizer")
    weight_decay: float | None = _setting(
        None, "weight decay", "weight decay", minimum=0, auto="1e-4 for SGD, 0.05 for AdamW",
    )
    label_smoothing: float = _setting(
        0.1, "label smoothing", "label smoothing", minimum=0, maximum=1, below_maximum=True,
    )
    warmup_epochs: float = _setting(1.0, "warm-up", "epochs of linear learning-rate warm-up", minimum=0)
    trainable: str = _setting(
        "all", "trainable part",
        "what trains: everything, layer3 or layer4 onwards, or only the head", choices=TRAINABLE_CHOICES, flag="--trainable",
    )
    val_split: float = _setting(
        0.2, "validation split",
        "fraction of each class held out for validation when the data folder has no val/ folder",
        minimum=0, maximum=1, above_minimum=True, below_maximum=True, flag="--val-split",
    )
    seed: int = _setting(
        0, "seed", "seed for the split, the initialisation and the order", minimum=0, maximum=2**31 - 1, flag="--seed",
    )
    device: str = _setting("auto", "device", "where to train", flag="--device")
    workers: int | None = _setting(
        None, "workers", "image decoding threads", minimum=0, flag="--workers",
        auto="one per core, up to 8; 16 with CUDA",
    )
    out_dir: str | None = _setting(None, "runs folder", "where run folders go", flag="--out", auto="~/ResNetStudio/runs")
    patience: int | None = _setting(
        None, "patience", "stop early after this many epochs without a better validation accuracy",
        minimum=1, flag="--patience", auto="never",
    )
    augment: bool = _setting(
        True, "augmentation", "random crops, flips, small turns and lighting changes while training", flag="--no-augment",
    )
    augmentation: str = _setting(
        "auto", "augmentation strength",
        "how far the random crops, turns and lighting changes go: light (crops keep 75 to 100 percent of the image, "
        "turns up to 5 degrees), standard (35 to 100 percent, 10 degrees) or strong (8 to 100 percent, 15 degrees)",
        choices=AUGMENTATION_CHOICES, flag="--augmentation",
        auto=f"light below {LIGHT_AUGMENTATION_BELOW} px, strong for {STRONG_AUGMENTATION_EPOCHS}+ epochs from scratch on "
        f"fewer than {STRONG_AUGMENTATION_IMAGES:,} images, standard otherwise",
    )
    color_jitter: bool = _setting(
        False, "colour jitter", "also jitter saturation and hue (and lighting at least as strongly as the standard level)",
        flag="--color-jitter",
    )
    cache_budget_mb: float | None = _setting(
        None, "image cache", "memory for decoded images, in MB; beyond it images are read from disk every epoch, "
        "0 turns the cache off", minimum=0, unit=" MB", flag="--cache-mb", auto="a quarter of the free memory",
    )
    precision: str = _setting(
        "auto", "precision",
        "arithmetic of the forward and backward passes: mixed precision (bf16, or fp16 with a gradient scaler) or fp32",
        choices=PRECISION_CHOICES, flag="--precision",
        auto="bf16 on NVIDIA GPUs from compute capability 8.0 (A100, RTX 30xx), fp16 on older ones, fp32 elsewhere",
    )
    compile: bool = _setting(False, "compile", "compile the model with torch.compile (slow to start)", flag="--compile")
    stem: str = _setting(
        "auto", "stem",
        "the first layers of ResNet-18 to 152: imagenet (7x7 stride-2 convolution and max-pool), small (3x3 stride-1 "
        f"convolution, no max-pool: for small images, 16x the multiply-adds), or auto (small from scratch below "
        f"{SMALL_STEM_BELOW} px, imagenet with ImageNet weights)", choices=STEM_CHOICES, flag="--stem",
    )

    #: the fields a resumed run may change; the others are the run's own
    RESUMABLE: ClassVar[tuple[str, ...]] = ("epochs",)

    # ------------------------------------------------------------ derived values

    def resolved_stem(self, weights_stem: str | None = None) -> str:
        """"imagenet" or "small": the stem the network gets. auto: the weights' stem when
        starting from weights (ImageNet's is "imagenet"; `weights_stem` is a weights file's,
        which only the engine can read: None counts as "imagenet"), else "small" below
        SMALL_STEM_BELOW px. A CIFAR ResNet's own stem is small (3x3, no max-pool)."""
        if is_cifar_depth(self.depth):
            return "small"
        if self.stem in ("imagenet", "small"):
            return self.stem
        if str(self.weights) == "none":
            return "small" if _is_count(self.image_size) and self.image_size < SMALL_STEM_BELOW else "imagenet"
        if str(self.weights) == "imagenet":
            return "imagenet"
        return weights_stem or "imagenet"

    def resolved_augmentation(self, num_train: int | None) -> tuple[str, str]:
        """(level, why): the augmentation level a run gets; auto follows augmentation_level."""
        if self.augmentation != "auto":
            return self.augmentation, "chosen"
        return augmentation_level(self.image_size, num_train, self.epochs, self.pretrained)

    @property
    def pretrained(self) -> bool:
        return str(self.weights) != "none"

    def resolved_lr(self) -> float:
        return self.lr if self.lr is not None else default_lr(self.optimizer, self.pretrained, self.batch_size)

    def resolved_weight_decay(self) -> float:
        return self.weight_decay if self.weight_decay is not None else default_weight_decay(self.optimizer)

    def to_dict(self) -> dict:
        return dataclasses.asdict(self)

    @classmethod
    def from_dict(cls, data: dict) -> TrainConfig:
        """The known keys of `data` (a saved config.json holds more); no checks."""
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})

    # ------------------------------------------------------------ checks

    def problems(self, *, num_train: int | None = None, check_files: bool = True) -> list[Problem]:
        """Every reason this configuration cannot work (errors) or probably should not (warnings).

        `num_train`: the training images found, once the folder was scanned.
        `check_files`: whether a weights path must exist (a resumed run never reads it again).
        """
        found: list[Problem] = []
        for name, setting in SETTINGS.items():
            message = setting.check(getattr(self, name))
            if message:
                found.append(Problem(name, message))
        if not self.data_dir:
            found.append(Problem("data_dir", "choose a folder of photos (one subfolder per class)"))
        device = str(self.device)
        if not (device in DEVICE_CHOICES or (device.startswith("cuda:") and device[5:].isdigit())):
            found.append(Problem("device", f"unknown device {device!r}; use auto, cpu, cuda, cuda:N or mps"))
        if check_files:
            message = weights_problem(self.weights)
            if message:
                found.append(Problem("weights", message))
        if num_train is not None and _is_count(self.batch_size) and self.batch_size > num_train:
            found.append(Problem(
                "batch_size",
                f"batch size {self.batch_size} is larger than the training set ({num_train} images): "
                f"use {max(1, num_train)} or less",
            ))
        found.extend(self._architecture_problems())
        found.extend(self._warnings())
        return found

    def _architecture_problems(self) -> list[Problem]:
        """The CIFAR ResNets and the stem: what cannot be built or started."""
        found = []
        if is_cifar_depth(self.depth):
            if str(self.weights) == "imagenet":
                found.append(Problem("weights", CIFAR_NO_IMAGENET))
            if self.trainable == "layer4":
                found.append(Problem(
                    "trainable", "the CIFAR ResNets have three stages (no layer4): choose layer3 (the last stage) or head",
                ))
            if self.stem == "imagenet":
                found.append(Problem("stem", "the CIFAR ResNets have their own 3x3 stem: use auto or small"))
        elif self.stem == "small" and str(self.weights) == "imagenet":
            found.append(Problem("stem", SMALL_STEM_NO_IMAGENET))
        return found

    def _warnings(self) -> list[Problem]:
        found = []
        if str(self.weights) == "none" and self.trainable != "all":
            found.append(Problem(
                "trainable", "from scratch, the frozen layers stay random: train the whole network instead", "warning",
            ))
        if _is_count(self.image_size) and self.image_size > 512 and self.depth in (101, 152):
            found.append(Problem(
                "image_size",
                "large images with a deep ResNet need a lot of GPU memory; lower the batch size if it runs out",
                "warning",
            ))
        if isinstance(self.lr, (int, float)) and self.optimizer == "adamw" and self.lr > 0.01:
            found.append(Problem("lr", f"{self.lr:g} is very high for AdamW; 0.0001 to 0.001 is usual", "warning"))
        return found

    def errors(self, **kw) -> list[Problem]:
        return [p for p in self.problems(**kw) if p.level == "error"]

    def validate(self, **kw) -> None:
        """Raise StudioError with the first error, before anything is loaded."""
        errors = self.errors(**kw)
        if errors:
            raise StudioError(errors[0].message)

    @classmethod
    def from_saved(cls, data, source: str) -> TrainConfig:
        """The settings of a saved run (its config.json), checked: a missing data_dir, a value
        of the wrong type or one out of range is a StudioError naming `source`. The start
        weights are not checked: a resumed run does not read them again."""
        if not isinstance(data, dict):
            raise StudioError(f"{source} is not a run configuration")
        if not data.get("data_dir"):
            raise StudioError(f"{source} has no data_dir")
        known = {k: v for k, v in data.items() if k in {f.name for f in fields(cls)} and v is not None}
        bad = _type_error(known)
        if bad:
            name, wanted = bad
            raise StudioError(f"{source} has a bad {name}: {json.dumps(known[name])[:40]} (should be {wanted})")
        config = cls.from_dict(known)
        errors = config.errors(check_files=False)
        if errors:
            raise StudioError(f"{source} has a bad setting: {errors[0].message}")
        return config


def _is_count(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _type_error(values: dict) -> tuple[str, str] | None:
    """(field, expected type in words) of the first value of the wrong type, or None.

    pydantic checks the values against TrainConfig's annotations, strictly (a bool is not
    a number, "5" is not an int); it is loaded only here, when a saved file is read."""
    from pydantic import ValidationError

    try:
        _saved_config_adapter().validate_python(values)
    except ValidationError as exc:
        name = str(exc.errors()[0]["loc"][0])
        hint = next(str(f.type) for f in fields(TrainConfig) if f.name == name)
        return name, _TYPE_WORDS.get(hint.replace("None", "").strip(" |"), "another type")
    return None


_TYPE_WORDS = {"int": "int", "float": "float or int", "str": "str", "bool": "bool"}


@functools.lru_cache(maxsize=1)
def _saved_config_adapter():
    """A strict pydantic validator of TrainConfig's fields, every one optional."""
    import typing

    from pydantic import ConfigDict, TypeAdapter, with_config
    from typing_extensions import TypedDict

    hints = {f.name: typing.get_type_hints(TrainConfig)[f.name] for f in fields(TrainConfig)}
    return TypeAdapter(with_config(ConfigDict(strict=True))(TypedDict("SavedTrainConfig", hints, total=False)))


def weights_problem(weights) -> str:
    """Why `weights` cannot start a run without opening the file ("" when it can)."""
    weights = str(weights or "")
    if weights in WEIGHTS_CHOICES:
        return ""
    if not weights:
        return "choose a weights file (.safetensors, .pt or .pth)"
    path = Path(weights).expanduser()
    if path.is_dir():
        return f"{weights} is a folder, not a weights file (use imagenet, none or a .safetensors/.pt/.pth file)"
    if not path.is_file():
        return f"weights file not found: {weights} (use imagenet, none or a .safetensors/.pt/.pth file)"
    return ""


def _settings() -> dict[str, Setting]:
    out = {}
    for f in fields(TrainConfig):
        spec = dict(f.metadata["setting"])
        default = f.default if f.default is not dataclasses.MISSING else None
        kind = str(f.type).replace("None", "").strip(" |")  # "int | None" -> "int"
        out[f.name] = Setting(name=f.name, default=default, kind=kind, **spec)
    return out


#: field name -> its description, in TrainConfig's order
SETTINGS: dict[str, Setting] = _settings()
