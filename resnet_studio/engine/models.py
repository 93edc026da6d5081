"""ResNet depths, weights, the classifier head and what trains.

The depth table is the only place a depth is described; every builder, weight enum
and block layout comes from torchvision.
"""

from __future__ import annotations

import functools
import os
import urllib.error
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn
from torchvision import models as tvm

from . import config
from .config import TRAINABLE_CHOICES
from .errors import ModelFileError, StudioError, WeightsUnavailableError

__all__ = [
    "DEPTHS",
    "CIFAR_DEPTHS",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "DepthSpec",
    "CifarResNet",
    "ShortcutA",
    "spec",
    "stages",
    "is_cifar",
    "weights_stem",
    "state_stem",
    "model_stem",
    "build_model",
    "apply_trainable",
    "set_train_mode",
    "trainable_parameters",
    "frozen_prefixes",
    "load_state_dict_file",
    "safe_torch_load",
    "check_readable_file",
    "sniff_format",
    "load_safetensors_file",
    "state_dict_mismatch",
    "check_weights_file",
    "imagenet_state_dict",
    "imagenet_weights_path",
    "imagenet_weights_cached",
    "imagenet_categories",
    "depth_summary",
]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
STAGES = ("layer1", "layer2", "layer3", "layer4")


@dataclass(frozen=True)
class DepthSpec:
    depth: int
    builder: Callable[..., nn.Module]
    weights: type[tvm.WeightsEnum] | None  # torchvision's enum; .DEFAULT is the best ImageNet set (None: from scratch only)
    block: str  # "BasicBlock" or "Bottleneck"
    layers: tuple[int, ...]  # residual blocks per stage
    widths: tuple[int, ...] = (64, 128, 256, 512)  # output channels of a stage's first convolution

    @property
    def default_weights(self) -> tvm.WeightsEnum:
        if self.weights is None:
            raise StudioError(f"ResNet-{self.depth} (a CIFAR ResNet) has no ImageNet weights: train it from scratch")
        return self.weights.DEFAULT

    @property
    def stages(self) -> tuple[str, ...]:
        return STAGES[: len(self.layers)]


# ---------------------------------------------------------------- the CIFAR ResNets


class ShortcutA(nn.Module):
    """The paper's option A shortcut (He et al. 2016, section 3.3): the identity, subsampled
    by the stride and zero-padded to the new number of channels. No parameters."""

    def __init__(self, stride: int, extra_channels: int):
        super().__init__()
        self.stride, self.extra_channels = int(stride), int(extra_channels)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.stride > 1:
            x = x[:, :, :: self.stride, :: self.stride]
        return nn.functional.pad(x, (0, 0, 0, 0, 0, self.extra_channels)) if self.extra_channels else x


class CifarResNet(nn.Module):
    """The paper's ResNet for 32x32 images (He et al. 2016, section 4.2): a 3x3 stem of 16
    channels without max-pool, three stages of n BasicBlocks (16/32/64 channels, strides
    1/2/2) with option-A shortcuts, global average pool, fc; 6n+2 layers.

    Named like torchvision's ResNet (conv1, bn1, relu, maxpool (an identity), layer1..layer3,
    avgpool, fc), so the engine treats it as one with three stages (`stages(model)`).
    """

    def __init__(self, n: int, num_classes: int = 10, zero_init_residual: bool = False):
        super().__init__()
        self.conv1 = nn.Conv2d(3, 16, kernel_size=3, stride=1, padding=1, bias=False)
        self.bn1 = nn.BatchNorm2d(16)
        self.relu = nn.ReLU(inplace=True)
        self.maxpool = nn.Identity()
        inplanes = 16
        for i, (planes, stride) in enumerate(zip(CIFAR_WIDTHS, (1, 2, 2)), start=1):
            blocks = []
            for b in range(n):
                s = stride if b == 0 else 1
                shortcut = ShortcutA(s, planes - inplanes) if (s != 1 or planes != inplanes) else None
                blocks.append(tvm.resnet.BasicBlock(inplanes, planes, s, shortcut))
                inplanes = planes
            setattr(self, f"layer{i}", nn.Sequential(*blocks))
        self.avgpool = nn.AdaptiveAvgPool2d((1, 1))
        self.fc = nn.Linear(inplanes, num_classes)
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.constant_(m.weight, 1)
                nn.init.constant_(m.bias, 0)
        if zero_init_residual:
            for m in self.modules():
                if isinstance(m, tvm.resnet.BasicBlock):
                    nn.init.constant_(m.bn2.weight, 0)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.maxpool(self.relu(self.bn1(self.conv1(x))))
        x = self.layer3(self.layer2(self.layer1(x)))
        return self.fc(torch.flatten(self.avgpool(x), 1))


CIFAR_WIDTHS = (16, 32, 64)


def _cifar_builder(n: int) -> Callable[..., CifarResNet]:
    def build(weights=None, num_classes: int = 1000, zero_init_residual: bool = False) -> CifarResNet:
        return CifarResNet(n, num_classes, zero_init_residual)

    return build


DEPTHS: dict[int, DepthSpec] = {
    spec.depth: spec
    for spec in (
        DepthSpec(18, tvm.resnet18, tvm.ResNet18_Weights, "BasicBlock", (2, 2, 2, 2)),
        DepthSpec(34, tvm.resnet34, tvm.ResNet34_Weights, "BasicBlock", (3, 4, 6, 3)),
        DepthSpec(50, tvm.resnet50, tvm.ResNet50_Weights, "Bottleneck", (3, 4, 6, 3)),
        DepthSpec(101, tvm.resnet101, tvm.ResNet101_Weights, "Bottleneck", (3, 4, 23, 3)),
        DepthSpec(152, tvm.resnet152, tvm.ResNet152_Weights, "Bottleneck", (3, 8, 36, 3)),
    )
}
assert tuple(DEPTHS) == config.DEPTHS, "config.DEPTHS lists the depths this table builds"

#: the paper's CIFAR ResNets, 6n+2 layers, from scratch only
CIFAR_DEPTHS: dict[int, DepthSpec] = {
    depth: DepthSpec(depth, _cifar_builder((depth - 2) // 6), None, "BasicBlock", ((depth - 2) // 6,) * 3, CIFAR_WIDTHS)
    for depth in config.CIFAR_DEPTHS
}


def spec(depth: int) -> DepthSpec:
    """The DepthSpec of any depth the studio builds (ImageNet family or CIFAR); StudioError otherwise."""
    try:
        depth = int(depth)
        return DEPTHS[depth] if depth in DEPTHS else CIFAR_DEPTHS[depth]
    except (KeyError, ValueError, TypeError):
        raise StudioError(f"unsupported depth {depth!r}; choose one of {', '.join(map(str, config.ALL_DEPTHS))}") from None


_spec = spec


def is_cifar(depth) -> bool:
    return config.is_cifar_depth(depth)


def stages(model_or_depth) -> tuple[str, ...]:
    """The residual stages of a model or a depth: layer1..layer4, or layer1..layer3 for a CIFAR ResNet."""
    if isinstance(model_or_depth, nn.Module):
        return tuple(s for s in STAGES if isinstance(getattr(model_or_depth, s, None), nn.Sequential))
    return spec(model_or_depth).stages


@functools.cache
def _counted(depth: int, stem: str) -> tuple[int, int]:
    """(parameters, multiply-adds of one 32 px image) of a ResNet with a 1000-class head:
    convolutions and the classifier, counted with forward hooks on the meta device; cached."""
    from .architecture import _SkipInit  # architecture imports this module; the initialisers are no-ops on meta

    with torch.device("meta"), _SkipInit():
        model = _bare_model(depth, stem)
    total = 0

    def count(module, _inputs, output):
        nonlocal total
        if isinstance(module, nn.Conv2d):
            kh, kw = module.kernel_size
            total += output.numel() * (module.in_channels // module.groups) * kh * kw
        elif isinstance(module, nn.Linear):
            total += module.in_features * module.out_features

    handles = [m.register_forward_hook(count) for m in model.modules() if isinstance(m, (nn.Conv2d, nn.Linear))]
    with torch.no_grad():
        model(torch.zeros(1, 3, _COUNT_SIZE, _COUNT_SIZE, device="meta"))
    for h in handles:
        h.remove()
    return sum(p.numel() for p in model.parameters()), total


_COUNT_SIZE = 32


def depth_summary(depth: int, image_size: int = 224, stem: str = "imagenet") -> dict:
    """Parameter count, compute and ImageNet top-1 of a depth.

    "gflops" holds GMACs (billions of multiply-adds, as torchvision counts them); they
    scale with the image area. The ImageNet family with its ImageNet stem: torchvision's
    own 224 px figures scaled to `image_size`; with the small stem (16x the multiply-adds)
    and for the CIFAR ResNets (no ImageNet weights: "imagenet_top1" None): counted once
    on the meta device (1000 classes) and scaled.
    """
    s = spec(depth)
    if s.weights is None or stem == "small":
        params, macs = _counted(s.depth, stem)
        w = s.default_weights if s.weights is not None else None
        return {
            "depth": depth,
            "params": params,
            "gflops": macs / 1e9 * (image_size / _COUNT_SIZE) ** 2,
            "imagenet_top1": None,
            "weights_name": str(w) if w is not None else "",
        }
    w = s.default_weights
    meta = w.meta
    return {
        "depth": depth,
        "params": meta["num_params"],
        "gflops": meta["_ops"] * (image_size / 224) ** 2,
        "imagenet_top1": meta["_metrics"]["ImageNet-1K"]["acc@1"],
        "weights_name": str(w),
    }


def imagenet_categories() -> list[str]:
    return list(tvm.ResNet50_Weights.DEFAULT.meta["categories"])


# ---------------------------------------------------------------- weights


def _weights_file_name(weights: tvm.WeightsEnum) -> str:
    return os.path.basename(weights.url)


def _hub_checkpoint_dir() -> Path:
    return Path(torch.hub.get_dir()) / "checkpoints"


def imagenet_weights_path(depth: int) -> Path:
    """Where torch keeps (or would download) the ImageNet weights of a depth."""
    return _hub_checkpoint_dir() / _weights_file_name(_spec(depth).default_weights)


def imagenet_weights_cached(depth: int) -> bool:
    """Whether the ImageNet weights of a depth are in torch's cache: a run from them starts
    without a download. Looks at the file only (never downloads, never reads it)."""
    try:
        path = imagenet_weights_path(depth)
        return path.is_file() and path.stat().st_size > 0
    except OSError:
        return False


def imagenet_state_dict(depth: int, progress: bool = True) -> dict[str, torch.Tensor]:
    """torchvision's ImageNet weights, from torch's cache or downloaded into it.

    Offline, the error names the file to place in the cache, and the other ways on (in
    words for every front: the command line adds its options).
    """
    weights = _spec(depth).default_weights
    name = _weights_file_name(weights)
    try:
        return weights.get_state_dict(progress=progress, check_hash=True, weights_only=True)
    except (urllib.error.URLError, OSError, RuntimeError) as exc:
        if (_hub_checkpoint_dir() / name).exists() and not isinstance(exc, urllib.error.URLError):
            raise ModelFileError(
                f"the cached ImageNet weights {_hub_checkpoint_dir() / name} are damaged: delete the file and try again"
            ) from None
        raise WeightsUnavailableError(
            f"ImageNet weights for ResNet-{depth} could not be downloaded ({_reason(exc)}): "
            f"place {name} from {weights.url} in {_hub_checkpoint_dir()}/, start from a weights file, or train from scratch"
        ) from None


def _reason(exc: BaseException) -> str:
    reason = getattr(exc, "reason", None) or exc
    text = str(reason).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:120]


def load_state_dict_file(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """A state dict from .safetensors, or from .pt/.pth read with weights_only=True.

    The format is told from the file's first bytes (a .pth that is really safetensors, or
    the reverse, still loads). A file that would need to run code to load (a pickled
    model, a booby-trapped pickle) is refused. A training checkpoint's "model" entry is
    accepted too. Every failure is a one-line ModelFileError naming the file.
    """
    path = Path(path).expanduser()
    check_readable_file(path, "weights file")
    kind = sniff_format(path)
    if kind == "safetensors" or (kind == "unknown" and path.suffix.lower() == ".safetensors"):
        state = load_safetensors_file(path)
    else:
        state = safe_torch_load(path)
    if isinstance(state, dict):
        for key in ("model", "state_dict", "model_state_dict"):
            if isinstance(state.get(key), dict):
                state = state[key]
                break
    if not isinstance(state, dict) or not state:
        what = "an empty state dict" if isinstance(state, dict) else f"a {type(state).__name__}"
        raise ModelFileError(f"{path.name} does not hold a state dict of tensors (it holds {what})")
    if not all(isinstance(k, str) and isinstance(v, torch.Tensor) for k, v in state.items()):
        raise ModelFileError(f"{path.name} does not hold a state dict of tensors (not every entry is a named tensor)")
    return {k.removeprefix("module.").removeprefix("_orig_mod."): v for k, v in state.items()}


_ZIP_MAGIC = b"PK\x03\x04"


def check_readable_file(path: Path, what: str = "file") -> None:
    """ModelFileError unless `path` is a non-empty file that can be opened."""
    if path.is_dir():
        raise ModelFileError(f"{path.name} is a folder, not a {what}: {path}")
    if not path.is_file():
        raise ModelFileError(f"{what} not found: {path}")
    try:
        size = path.stat().st_size
        with open(path, "rb"):
            pass
    except OSError as exc:
        raise ModelFileError(f"{path.name} cannot be read: {exc.strerror or exc}") from None
    if size == 0:
        raise ModelFileError(f"{path.name} is empty (0 bytes): the file was not written completely")


def sniff_format(path: Path) -> str:
    """What a file holds by its first bytes: "safetensors", "pickle" (torch.save's zip or
    legacy pickle format, which may run code when loaded without weights_only), "empty"
    or "unknown". Reads 16 bytes; never loads anything."""
    try:
        with open(path, "rb") as f:
            head = f.read(16)
        size = path.stat().st_size
    except OSError:
        return "unknown"
    if not head:
        return "empty"
    if head.startswith(_ZIP_MAGIC) or head[:1] == b"\x80":  # a zip archive, or pickle protocol 2+
        return "pickle"
    if len(head) >= 9 and head[8:9] == b"{" and 2 <= int.from_bytes(head[:8], "little") <= size - 8:
        return "safetensors"
    return "unknown"


def load_safetensors_file(path: Path) -> dict[str, torch.Tensor]:
    """safetensors' load_file with its errors as one-line ModelFileErrors."""
    from safetensors import SafetensorError
    from safetensors.torch import load_file

    try:
        return load_file(str(path), device="cpu")
    except (SafetensorError, OSError, ValueError, RuntimeError, TypeError) as exc:
        raise ModelFileError(
            f"{path.name} is not a readable safetensors file: it is damaged or truncated ({_reason(exc)})"
        ) from None


def safe_torch_load(path: Path):
    """torch.load with weights_only=True; anything that fails is a one-line ModelFileError.

    A pickle that names Python classes or functions (a whole pickled model, a pickle that
    would run a command) is refused by torch before anything in it runs; the message
    names what it wanted to load.
    """
    import re
    import warnings

    path = Path(path)
    check_readable_file(path, "PyTorch file")
    try:
        # an open file, not the path: torch picks a loader by a path's suffix, not by what the file holds
        with warnings.catch_warnings(), open(path, "rb") as f:  # e.g. "Detected pickle protocol 4": the error says it all
            warnings.simplefilter("ignore")
            return torch.load(f, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for a bad file; all mean "unreadable"
        text = str(exc)
        wanted = re.search(r"GLOBAL\s+([\w.]+)", text)
        if wanted:
            raise ModelFileError(
                f"{path.name} was refused: it is a pickle of Python objects ({wanted.group(1)}), not plain "
                "tensors, and loading it could run code from the file"
            ) from None
        if "weights only load failed" in text.lower():
            raise ModelFileError(
                f"{path.name} is not a readable PyTorch weights file: it is damaged, or not a file torch.save "
                "wrote with plain tensors (nothing in it was run)"
            ) from None
        if "PytorchStreamReader" in text:  # torch.save's zip archive, cut short or damaged
            raise ModelFileError(
                f"{path.name} is not a readable PyTorch weights file: it is damaged or truncated (an incomplete zip archive)"
            ) from None
        raise ModelFileError(f"{path.name} is not a readable PyTorch weights file ({_reason(exc)})") from None


def _bare_model(depth: int, stem: str = "imagenet", **kw) -> nn.Module:
    """A ResNet-`depth` (1000 classes, random weights) with its stem: "small" replaces the
    ImageNet family's 7x7 stride-2 convolution and max-pool by a 3x3 stride-1 convolution
    of 64 channels and no max-pool. The CIFAR ResNets have their own 3x3 stem (any `stem`)."""
    s = spec(depth)
    model = s.builder(weights=None, **kw)
    if stem == "small" and s.weights is not None:
        model.conv1 = nn.Conv2d(3, 64, kernel_size=3, stride=1, padding=1, bias=False)
        nn.init.kaiming_normal_(model.conv1.weight, mode="fan_out", nonlinearity="relu")
        model.maxpool = nn.Identity()
    return model


def model_stem(model: nn.Module) -> str:
    """"small" when a model's first convolution is 3x3 (the small stem, or a CIFAR ResNet), else "imagenet"."""
    conv = getattr(model, "conv1", None)
    return "small" if isinstance(conv, nn.Conv2d) and tuple(conv.kernel_size) == (3, 3) else "imagenet"


def weights_stem(weights) -> str | None:
    """The stem of a weights file's network ("small" for a 3x3 first convolution, "imagenet"
    for 7x7), "imagenet" for ImageNet's weights, None from scratch or when the file cannot tell."""
    weights = str(weights or "none")
    if weights == "none":
        return None
    if weights == "imagenet":
        return "imagenet"
    try:
        state = load_state_dict_file(weights)
    except StudioError:
        return None
    conv = state.get("conv1.weight")
    return state_stem(state) if isinstance(conv, torch.Tensor) and conv.ndim == 4 else None


def state_stem(state: dict[str, torch.Tensor]) -> str:
    """The stem of a state dict's network: "small" for a 3x3 first convolution, else "imagenet"."""
    conv = state.get("conv1.weight")
    return "small" if isinstance(conv, torch.Tensor) and tuple(conv.shape[2:]) == (3, 3) else "imagenet"


@functools.cache
def _layout(depth: int, stem: str = "imagenet") -> dict[str, tuple[int, ...]]:
    """Names and shapes of a ResNet's tensors (1000-class head), built on the meta device:
    no memory used, no time spent initialising."""
    with torch.device("meta"):
        model = _bare_model(depth, stem)
    return {k: tuple(v.shape) for k, v in model.state_dict().items()}


def _optional(key: str) -> bool:
    return key.endswith("num_batches_tracked")  # absent from older files; batch norm fills it in


def _guess_depth(shapes: dict[str, tuple[int, ...]]) -> int | None:
    """The depth whose backbone has exactly these tensors, if any."""
    body = {k: s for k, s in shapes.items() if not k.startswith("fc.") and not _optional(k)}
    for depth in config.ALL_DEPTHS:
        for stem in ("imagenet", "small"):
            if body == {k: s for k, s in _layout(depth, stem).items() if not k.startswith("fc.") and not _optional(k)}:
                return depth
    return None


def state_dict_mismatch(
    state: dict[str, torch.Tensor], depth: int, num_classes: int | None = None, head: bool = True, stem: str | None = None
) -> str:
    """Why `state` cannot be a ResNet-`depth` with `num_classes` outputs, as a phrase ("" if it can).

    head=False: only the backbone is checked. num_classes None: any classifier that fits.
    stem: "imagenet" or "small" (None: the one the state's first convolution has).
    """
    if stem is None:
        stem = state_stem(state)
    layout = _layout(int(depth), stem)
    body = {k: s for k, s in layout.items() if not k.startswith("fc.")}
    have = {k: tuple(v.shape) for k, v in state.items() if isinstance(v, torch.Tensor)}
    if len(have) != len(state):
        return "not every entry is a tensor"
    missing = [k for k in body if k not in have and not _optional(k)]
    unexpected = [k for k in have if k not in body and not k.startswith("fc.")]
    misshaped = [k for k in body if k in have and have[k] != body[k]]
    if missing or unexpected or misshaped:
        guess = _guess_depth(have)
        if guess is not None and guess != depth:
            return f"found ResNet-{guess} weights"
        if guess == depth:
            return f"found ResNet-{depth} weights with the {'small' if stem == 'imagenet' else 'ImageNet'} stem"
        if not set(have) & set(body):
            return f"found no ResNet weights ({len(have)} tensor(s), such as {next(iter(have), '?')})"
        example = (misshaped or missing or unexpected)[0]
        return (
            f"{len(missing)} missing, {len(unexpected)} unexpected and {len(misshaped)} mis-shaped tensors "
            f"(e.g. {example})"
        )
    if not head:
        return ""
    weight, bias = have.get("fc.weight"), have.get("fc.bias")
    in_features = layout["fc.weight"][1]
    if weight is None or bias is None or len(weight) != 2 or weight[1] != in_features or bias != weight[:1]:
        return "the classifier (fc) is missing or does not fit"
    if num_classes is not None and weight[0] != num_classes:
        return f"the classifier has {weight[0]} classes"
    return ""


# ---------------------------------------------------------------- building


def build_model(
    depth: int,
    num_classes: int,
    weights: str | os.PathLike | None = "none",
    trainable: str = "all",
    progress: bool = False,
    *,
    class_names: Sequence[str] | None = None,
    stem: str = "imagenet",
) -> nn.Module:
    """A torchvision ResNet with a `num_classes` head (or one of the paper's CIFAR ResNets,
    `CifarResNet`, for depths 20, 32, 44, 56 and 110: from scratch or a file of the same depth).

    stem: "imagenet" (torchvision's 7x7 stride-2 convolution and max-pool) or "small" (a 3x3
    stride-1 convolution, no max-pool: for small images; 16x the multiply-adds); resolved
    already (`TrainConfig.resolved_stem`). A CIFAR ResNet has its own 3x3 stem whatever it is.
    `model.studio_stem` says which stem the model has.

    weights: "imagenet" (torchvision's pretrained set), "none" (random initialisation)
    or a path to a state-dict file. A file's backbone must be a ResNet-`depth` (another
    depth, or not a ResNet at all, is a ModelFileError naming the file).

    class_names: the data's classes, in the order of the model's outputs (None: not
    known). The classifier of the start weights is kept like this:

    - a studio model file (a .safetensors file with model.json beside it, which names
      its classes), with class_names given: the classifier's rows (weights and bias) are
      matched to class_names by name. Same names in the same order: kept as it is;
      otherwise the rows of the shared classes are kept, moved to this model's order,
      and every other class gets a new row (initialised as a new classifier would be);
      no names shared: a new classifier.
    - any other file, and ImageNet's weights: the classifier is kept when it has
      `num_classes` outputs (for a file, with class_names given, its classes are assumed
      to be those, in that order); one of another size (ImageNet's 1,000 classes), or
      none, gives a new classifier.

    `model.studio_weights_note` says in one line for the log what happened when the
    classifier was not kept as it is, or when a file's classes could not be checked
    against class_names ("" otherwise).
    """
    spec = _spec(depth)
    if stem not in ("imagenet", "small"):
        raise StudioError(f"unknown stem {stem!r}; choose imagenet or small (auto is resolved by TrainConfig.resolved_stem)")
    if num_classes < 1:
        raise StudioError("a model needs at least one class")
    if class_names is not None:
        class_names = [str(c) for c in class_names]
        if len(class_names) != num_classes:
            raise StudioError(f"{len(class_names)} class names were given for a model of {num_classes} classes")
    # zero_init_residual: start each block as the identity (Goyal et al.), which helps
    # from-scratch training; pretrained weights overwrite it.
    model = _bare_model(spec.depth, stem, zero_init_residual=True)
    model.studio_stem = model_stem(model)
    if str(weights) == "imagenet" and spec.weights is None:
        raise StudioError(config.CIFAR_NO_IMAGENET)
    if str(weights) == "imagenet" and stem == "small":
        raise StudioError(config.SMALL_STEM_NO_IMAGENET)
    if model.fc.out_features != num_classes:
        model.fc = nn.Linear(model.fc.in_features, num_classes)
    state, source, file_classes = None, "", None
    if weights is None or str(weights) == "none":
        pass
    elif str(weights) == "imagenet":
        state, source = imagenet_state_dict(depth, progress=progress), f"torchvision's ImageNet weights for ResNet-{depth}"
        class_names = None  # the rules for a file's classifier do not apply
    else:
        state, source = load_state_dict_file(weights), f"the weights in {Path(weights).name}"
        if class_names is not None:
            file_classes = _file_class_names(Path(weights).expanduser(), state)
    model.studio_weights_note = ""
    if state is not None:
        model.studio_weights_note = _load_backbone(
            model, state, depth, num_classes, source, class_names, file_classes, model.studio_stem
        )
    apply_trainable(model, trainable)
    return model


def check_weights_file(path: str | os.PathLike) -> dict[int, str]:
    """Whether a weights file can start each depth: {depth: "" or why not, one line}.

    Reads the file as build_model would (so an unreadable or unsafe file raises the same
    ModelFileError); the depths are compared without building any model.
    """
    state = load_state_dict_file(path)
    source = f"the weights in {Path(path).name}"
    verdicts = {}
    for depth in config.ALL_DEPTHS:
        problem = state_dict_mismatch(state, depth, head=False)
        verdicts[depth] = f"{source} do not fit ResNet-{depth}: {problem}" if problem else ""
    return verdicts


def _file_class_names(path: Path, state: dict[str, torch.Tensor]) -> list[str] | None:
    """The class names of a studio model file, in the order of its classifier's rows:
    the classes of the model.json beside a .safetensors file. None when the file has no
    such description, it cannot be read, or it does not fit the file's classifier."""
    from .checkpoint import read_model_meta  # checkpoint imports this module
    from .runs import MODEL_META

    if path.suffix.lower() != ".safetensors":
        return None
    meta_path = path.with_name(MODEL_META)
    if not meta_path.is_file():
        return None
    try:
        classes = [str(c) for c in read_model_meta(meta_path)["classes"]]
    except ModelFileError:
        return None
    weight = state.get("fc.weight")
    if weight is None or weight.ndim != 2 or weight.shape[0] != len(classes):
        return None  # the description is of another model
    return classes


def _some(names: Sequence[str], limit: int = 3) -> str:
    """A few names for a one-line note: "a, b, c and 4 more"."""
    names = list(names)
    if len(names) <= limit + 1:
        return ", ".join(names)
    return f"{', '.join(names[:limit])} and {len(names) - limit} more"


def _load_backbone(
    model: nn.Module,
    state: dict[str, torch.Tensor],
    depth: int,
    num_classes: int,
    source: str,
    class_names: list[str] | None = None,
    file_classes: list[str] | None = None,
    stem: str = "imagenet",
) -> str:
    """Load `state` into `model` (the classifier as build_model describes); returns a note
    when its classifier was not kept as it is, or its classes could not be checked."""
    problem = state_dict_mismatch(state, depth, head=False, stem=stem)
    if problem:
        raise ModelFileError(f"{source} do not fit ResNet-{depth}: {problem}")
    head_fits = not state_dict_mismatch(state, depth, stem=stem)  # a classifier of any size that fits the backbone
    if head_fits and class_names is not None and file_classes is not None:
        model.load_state_dict({k: v for k, v in state.items() if not k.startswith("fc.")}, strict=False)
        return _match_head(model, state, source, class_names, file_classes)
    keep_head = not state_dict_mismatch(state, depth, num_classes, stem=stem)
    model.load_state_dict({k: v for k, v in state.items() if keep_head or not k.startswith("fc.")}, strict=False)
    if keep_head:
        if class_names is None:
            return ""
        return (
            f"started from {source}; their classifier was kept, but its classes could not be checked: the file "
            f"has no class names, so it is assumed to list this folder's {num_classes} classes in the same order"
        )
    weight = state.get("fc.weight")
    if weight is not None and weight.ndim == 2:
        return (
            f"started from {source}; their {weight.shape[0]:,}-class classifier was replaced by a new one "
            f"for {num_classes} classes"
        )
    return f"started from {source}; they hold no classifier for {num_classes} classes, so a new one was made"


def _match_head(
    model: nn.Module, state: dict[str, torch.Tensor], source: str, class_names: list[str], file_classes: list[str]
) -> str:
    """Copy the file's classifier rows into `model.fc` by class name (model.fc holds a new
    classifier, whose rows stay for the classes the file lacks); returns the note."""
    if class_names == file_classes:
        with torch.no_grad():
            model.fc.weight.copy_(state["fc.weight"])
            model.fc.bias.copy_(state["fc.bias"])
        return ""
    row = {name: i for i, name in enumerate(file_classes)}
    shared = [name for name in class_names if name in row]
    if not shared:
        return (
            f"started from {source}; their classifier was replaced by a new one: none of its "
            f"{len(file_classes)} classes ({_some(file_classes)}) is among this folder's"
        )
    with torch.no_grad():
        for i, name in enumerate(class_names):
            if name in row:
                model.fc.weight[i].copy_(state["fc.weight"][row[name]])
                model.fc.bias[i].copy_(state["fc.bias"][row[name]])
    if len(shared) == len(class_names) == len(file_classes):
        return f"started from {source}; their classifier's rows were reordered to this folder's classes"
    new = [name for name in class_names if name not in row]
    dropped = [name for name in file_classes if name not in class_names]
    note = f"started from {source}; their classifier was kept for {len(shared)} of {len(class_names)} classes ({_some(shared)})"
    if new:
        note += f"; new rows for {_some(new)}"
    if dropped:
        note += f"; their rows for {_some(dropped)} (not in this folder) were dropped"
    return note


# ---------------------------------------------------------------- what trains


def frozen_prefixes(trainable: str, model_stages: Sequence[str] = STAGES) -> tuple[str, ...]:
    """Top-level modules that stay frozen under a trainable policy.

    `model_stages`: the model's stages (`stages(model)`); a CIFAR ResNet has three, so
    "layer3" trains its last stage and the head, and "layer4" (refused by
    `TrainConfig.problems`) would train the head only.
    """
    if trainable not in TRAINABLE_CHOICES:
        raise StudioError(f"unknown trainable part {trainable!r}; choose one of {', '.join(TRAINABLE_CHOICES)}")
    first_trained = {"all": 0, "layer3": 3, "layer4": 4, "head": 5}[trainable]
    if first_trained == 0:
        return ()
    return ("conv1", "bn1") + tuple(model_stages)[: first_trained - 1]


def apply_trainable(model: nn.Module, trainable: str) -> None:
    """Freeze everything before the trained part; remember the policy on the model."""
    frozen = frozen_prefixes(trainable, stages(model))
    for name, p in model.named_parameters():
        p.requires_grad_(not name.startswith(tuple(f"{f}." for f in frozen)))
    model.studio_trainable = trainable
    set_train_mode(model, model.training)


def set_train_mode(model: nn.Module, training: bool = True) -> nn.Module:
    """model.train(training), keeping frozen parts in eval mode.

    Frozen batch-norm layers must not update their running statistics either, or a
    "frozen" backbone would still drift.
    """
    model.train(training)
    if training:
        for name in frozen_prefixes(getattr(model, "studio_trainable", "all"), stages(model)):
            getattr(model, name).eval()
    return model


def trainable_parameters(model: nn.Module) -> list[nn.Parameter]:
    return [p for p in model.parameters() if p.requires_grad]
