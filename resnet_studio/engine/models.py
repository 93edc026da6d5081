"""ResNet depths, weights, the classifier head and what trains.

The depth table is the only place a depth is described; every builder, weight enum
and block layout comes from torchvision.
"""

from __future__ import annotations

import os
import urllib.error
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import torch
from torch import nn
from torchvision import models as tvm

from .errors import ModelFileError, StudioError, WeightsUnavailableError

__all__ = [
    "DEPTHS",
    "TRAINABLE_CHOICES",
    "IMAGENET_MEAN",
    "IMAGENET_STD",
    "DepthSpec",
    "build_model",
    "apply_trainable",
    "set_train_mode",
    "trainable_parameters",
    "frozen_prefixes",
    "load_state_dict_file",
    "safe_torch_load",
    "imagenet_state_dict",
    "imagenet_categories",
    "depth_summary",
    "default_lr",
]

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)
STAGES = ("layer1", "layer2", "layer3", "layer4")
TRAINABLE_CHOICES = ("all", "layer3", "layer4", "head")


@dataclass(frozen=True)
class DepthSpec:
    depth: int
    builder: Callable[..., tvm.ResNet]
    weights: type[tvm.WeightsEnum]  # torchvision's enum; .DEFAULT is the best ImageNet set
    block: str  # "BasicBlock" or "Bottleneck"
    layers: tuple[int, int, int, int]  # residual blocks per stage

    @property
    def default_weights(self) -> tvm.WeightsEnum:
        return self.weights.DEFAULT


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


def _spec(depth: int) -> DepthSpec:
    try:
        return DEPTHS[int(depth)]
    except (KeyError, ValueError, TypeError):
        raise StudioError(f"unsupported depth {depth!r}; choose one of {', '.join(map(str, DEPTHS))}") from None


def depth_summary(depth: int, image_size: int = 224) -> dict:
    """Parameter count, compute and ImageNet top-1 of a depth, from torchvision's metadata.

    GFLOPs (multiply-adds) scale with the image area; the figure is torchvision's own
    224 px measurement scaled to `image_size`.
    """
    w = _spec(depth).default_weights
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


def default_lr(optimizer: str, pretrained: bool) -> float:
    """Learning rates that work for a batch of ~32: gentler when starting from ImageNet."""
    if optimizer == "adamw":
        return 3e-4 if pretrained else 1e-3
    return 0.01 if pretrained else 0.1


# ---------------------------------------------------------------- weights


def _weights_file_name(weights: tvm.WeightsEnum) -> str:
    return os.path.basename(weights.url)


def _hub_checkpoint_dir() -> Path:
    return Path(torch.hub.get_dir()) / "checkpoints"


def imagenet_state_dict(depth: int, progress: bool = True) -> dict[str, torch.Tensor]:
    """torchvision's ImageNet weights, from torch's cache or downloaded into it.

    Offline, the error names the file to place in the cache (or to pass as a path).
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
            f"place {name} from {weights.url} in {_hub_checkpoint_dir()}/ or pass it with --weights PATH"
        ) from None


def _reason(exc: BaseException) -> str:
    reason = getattr(exc, "reason", None) or exc
    text = str(reason).strip().splitlines()
    return (text[0] if text else type(exc).__name__)[:120]


def load_state_dict_file(path: str | os.PathLike) -> dict[str, torch.Tensor]:
    """A state dict from .safetensors, or from .pt/.pth read with weights_only=True.

    A file that would need to run code to load (a pickled model, a booby-trapped
    pickle) is refused. A training checkpoint's "model" entry is accepted too.
    """
    path = Path(path)
    if not path.is_file():
        raise ModelFileError(f"weights file not found: {path}")
    if path.suffix.lower() == ".safetensors":
        from safetensors import SafetensorError
        from safetensors.torch import load_file

        try:
            state = load_file(str(path), device="cpu")
        except (SafetensorError, OSError, ValueError, RuntimeError) as exc:
            raise ModelFileError(f"{path.name} is not a readable safetensors file ({_reason(exc)})") from None
    else:
        state = safe_torch_load(path)
    if isinstance(state, dict):
        for key in ("model", "state_dict", "model_state_dict"):
            if isinstance(state.get(key), dict):
                state = state[key]
                break
    if not isinstance(state, dict) or not state or not all(isinstance(v, torch.Tensor) for v in state.values()):
        raise ModelFileError(f"{path.name} does not hold a state dict of tensors")
    return {k.removeprefix("module.").removeprefix("_orig_mod."): v for k, v in state.items()}


def safe_torch_load(path: Path):
    """torch.load with weights_only=True; anything that fails is a one-line ModelFileError."""
    try:
        return torch.load(path, map_location="cpu", weights_only=True)
    except Exception as exc:  # torch raises many types for a bad file; all mean "unreadable"
        if "weights only load failed" in str(exc).lower():
            raise ModelFileError(
                f"{path.name} was refused: loading it would run code from the file "
                "(it holds pickled objects, not plain tensors)"
            ) from None
        raise ModelFileError(f"{path.name} is not a readable PyTorch weights file ({_reason(exc)})") from None


# ---------------------------------------------------------------- building


def build_model(
    depth: int,
    num_classes: int,
    weights: str | os.PathLike | None = "none",
    trainable: str = "all",
    progress: bool = False,
) -> tvm.ResNet:
    """A torchvision ResNet with a fresh `num_classes` head.

    weights: "imagenet" (torchvision's pretrained set), "none" (random initialisation)
    or a path to a state-dict file. A file's classifier is kept when its shape fits
    `num_classes`, otherwise replaced.
    """
    spec = _spec(depth)
    if num_classes < 1:
        raise StudioError("a model needs at least one class")
    # zero_init_residual: start each block as the identity (Goyal et al.), which helps
    # from-scratch training; pretrained weights overwrite it.
    model = spec.builder(weights=None, zero_init_residual=True)
    state = None
    if weights is None or str(weights) == "none":
        pass
    elif str(weights) == "imagenet":
        state = imagenet_state_dict(depth, progress=progress)
    else:
        state = load_state_dict_file(weights)
    if state is not None:
        _load_backbone(model, state, depth)
    if model.fc.out_features != num_classes:
        model.fc = nn.Linear(model.fc.in_features, num_classes)
    apply_trainable(model, trainable)
    return model


def _load_backbone(model: nn.Module, state: dict[str, torch.Tensor], depth: int) -> None:
    own = model.state_dict()
    if state.get("fc.weight") is not None and state["fc.weight"].ndim == 2 and state["fc.weight"].shape[1] == model.fc.in_features:
        model.fc = nn.Linear(model.fc.in_features, state["fc.weight"].shape[0])
        own = model.state_dict()
    mismatched = [k for k, v in state.items() if k in own and own[k].shape != v.shape]
    missing = [k for k in own if k not in state]
    if mismatched or missing:
        example = (mismatched or missing)[0]
        raise ModelFileError(
            f"the weights do not fit ResNet-{depth}: {len(missing)} missing and {len(mismatched)} mis-shaped "
            f"tensors (e.g. {example}); is it a file for another depth?"
        )
    model.load_state_dict({k: v for k, v in state.items() if k in own})


# ---------------------------------------------------------------- what trains


def frozen_prefixes(trainable: str) -> tuple[str, ...]:
    """Top-level modules that stay frozen under a trainable policy."""
    if trainable not in TRAINABLE_CHOICES:
        raise StudioError(f"unknown trainable part {trainable!r}; choose one of {', '.join(TRAINABLE_CHOICES)}")
    first_trained = {"all": 0, "layer3": 3, "layer4": 4, "head": 5}[trainable]
    if first_trained == 0:
        return ()
    return ("conv1", "bn1") + STAGES[: first_trained - 1]


def apply_trainable(model: nn.Module, trainable: str) -> None:
    """Freeze everything before the trained part; remember the policy on the model."""
    frozen = frozen_prefixes(trainable)
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
        for name in frozen_prefixes(getattr(model, "studio_trainable", "all")):
            getattr(model, name).eval()
    return model


def trainable_parameters(model: nn.Module) -> list[nn.Parameter]:
    return [p for p in model.parameters() if p.requires_grad]
