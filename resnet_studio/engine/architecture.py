"""A ResNet described block by block: stem, stages, residual blocks, head.

The description is read from a model instance: its modules give the layers, kernels,
strides, parameter counts and what is frozen; one zero image sent through it with
forward hooks gives every output shape. The image lives on the "meta" device, which
carries shapes but no numbers, so the pass measures shapes without computing
anything and costs the same on a laptop as on a GPU box.

The result is plain JSON-ready data (`resnet-studio info --json` prints it as is); the
UI's block diagram draws from it.
"""

from __future__ import annotations

import copy
import functools
import threading
from typing import Any

import torch
from torch import nn
from torch.overrides import TorchFunctionMode

from .config import ALL_DEPTHS, SETTINGS
from .errors import StudioError
from .errors import describe as describe_error
from .models import ShortcutA, apply_trainable, build_model, frozen_prefixes, model_stem
from .models import stages as stage_names

__all__ = ["describe", "describe_depth", "format_table", "layer_names", "PAPER_NAMES"]

# The stage names of He et al. (2016), Table 1, beside torchvision's module names.
PAPER_NAMES = {"stem": "conv1", "layer1": "conv2_x", "layer2": "conv3_x", "layer3": "conv4_x", "layer4": "conv5_x", "head": "fc"}


# ---------------------------------------------------------------- public


def describe(model: nn.Module, image_size: int = 224) -> dict[str, Any]:
    """The description of a torchvision ResNet (any depth, replaced head, frozen parts).

    Shapes are [channels, height, width] without the batch dimension ([classes] for
    the head). `mult_adds` counts the multiply-adds of every convolution and the
    classifier for one image of `image_size` pixels, from the measured shapes.
    """
    image_size = _check_image_size(image_size)
    model_stages = stage_names(model)
    if len(model_stages) < 3 or not all(hasattr(model, n) for n in ("conv1", "bn1", "maxpool", "avgpool", "fc")):
        raise StudioError("the model is not a torchvision ResNet (no conv1/layer1..layer4/fc)")
    shapes = _measure_shapes(model, image_size)

    def shape(name: str, call: int = 0) -> list[int]:
        return shapes[name][call]

    stem_layers = [
        _layer("conv1", model.conv1, shape("conv1")),
        _layer("bn1", model.bn1, shape("bn1")),
        _layer("relu", model.relu, shape("relu")),
    ]
    if not isinstance(model.maxpool, nn.Identity):  # the small stem and the CIFAR ResNets have none
        stem_layers.append(_layer("maxpool", model.maxpool, shape("maxpool")))
    stem = _group("stem", stem_layers, [model.conv1, model.bn1], shape("maxpool"))
    stem["kind"] = model_stem(model)  # "imagenet" (7x7/2 + max-pool) or "small" (3x3/1)

    stages = []
    for stage_name in model_stages:
        stage = getattr(model, stage_name)
        blocks = [_block(f"{stage_name}.{i}", block, shapes) for i, block in enumerate(stage)]
        stages.append(
            {
                "name": stage_name,
                "paper_name": PAPER_NAMES[stage_name],
                "out_shape": shape(stage_name),
                "params": sum(b["params"] for b in blocks),
                "trainable": all(b["trainable"] for b in blocks),
                "mult_adds": sum(b["mult_adds"] for b in blocks),
                "blocks": blocks,
            }
        )

    head_layers = [_layer("avgpool", model.avgpool, shape("avgpool")), _layer("fc", model.fc, shape("fc"))]
    head = _group("head", head_layers, [model.fc], shape("fc"))

    groups = [stem, *stages, head]
    blocks = [b for s in stages for b in s["blocks"]]
    main_convs = sum(1 for b in blocks for layer in b["layers"] if layer["kind"] == "conv")
    return {
        "depth": 1 + main_convs + 1,  # the stem conv, the main-path convs, the classifier
        "block": blocks[0]["type"] if blocks else None,
        "image_size": image_size,
        "num_classes": int(model.fc.out_features),
        "trainable_part": getattr(model, "studio_trainable", None),
        "input_shape": [3, image_size, image_size],
        "total_params": sum(p.numel() for p in model.parameters()),
        "trainable_params": sum(p.numel() for p in model.parameters() if p.requires_grad),
        "mult_adds": sum(g["mult_adds"] for g in groups),
        "num_stages": len(stages),
        "stem": stem,
        "stages": stages,
        "head": head,
    }


def describe_depth(
    depth: int, image_size: int = 224, num_classes: int = 1000, trainable: str = "all", stem: str = "imagenet"
) -> dict[str, Any]:
    """describe() of a fresh ResNet-`depth` with a `num_classes` head, a trainable policy and a
    stem ("imagenet" or "small"; a CIFAR ResNet has its own).

    The model is built on the meta device (no weights are allocated or initialised) and
    the description is cached, so redrawing a diagram for another policy is immediate.
    Returns a new dict each call; the caller may change it.
    """
    frozen_prefixes(trainable)  # validates the policy before anything is built
    try:
        depth, num_classes = int(depth), int(num_classes)
    except (TypeError, ValueError):
        raise StudioError(f"depth and number of classes must be whole numbers, not {depth!r} and {num_classes!r}") from None
    if stem not in ("imagenet", "small"):
        raise StudioError(f"unknown stem {stem!r}; choose imagenet or small")
    return copy.deepcopy(_describe_cached(depth, _check_image_size(image_size), num_classes, trainable, stem))


def format_table(desc: dict[str, Any]) -> str:
    """A readable text table of a description, for the command line."""
    trainable_part = desc.get("trainable_part")
    lines = [
        f"ResNet-{desc['depth']} ({desc.get('block') or '?'}), {desc['image_size']}x{desc['image_size']} input, "
        f"{desc['num_classes']} classes" + (f", trainable: {trainable_part}" if trainable_part else ""),
        f"Parameters: {desc['total_params']:,} ({desc['trainable_params']:,} trainable)   "
        f"Multiply-adds: {_human(desc['mult_adds'])}MACs",  # "4.09 GMACs": the setup panel's and the diagram's unit
        "",
    ]
    header = ("Block", "Type", "Layers", "Stride", "Shortcut", "Output", "Params", "")
    rows: list[tuple[str, ...]] = [("input", "", "", "", "", _shape_text(desc["input_shape"]), "", "")]

    def state(trainable: bool) -> str:
        return "trainable" if trainable else "frozen"

    stem = desc["stem"]
    stride = str(desc["image_size"] // stem["out_shape"][1])
    rows.append(("stem (conv1)", "", _layers_text(stem["layers"]), stride, "", _shape_text(stem["out_shape"]),
                 f"{stem['params']:,}", state(stem["trainable"])))
    for stage in desc["stages"]:
        rows.append(None)  # a rule
        rows.append(
            (f"{stage['name']} ({stage['paper_name']})", f"{len(stage['blocks'])} blocks", "", "", "",
             _shape_text(stage["out_shape"]), f"{stage['params']:,}", state(stage["trainable"]))
        )
        for b in stage["blocks"]:
            shortcut = b["shortcut"]
            if b["shortcut_layers"]:
                shortcut += f" 1x1/{b['shortcut_layers'][0]['stride']}"
            convs = [layer for layer in b["layers"] if layer["kind"] == "conv"]
            kernels = ", ".join(f"{c['kernel']}x{c['kernel']} {c['out_channels']}" for c in convs)
            rows.append(
                ("  " + b["name"], b["type"], kernels,
                 str(b["stride"]), shortcut, _shape_text(b["out_shape"]), f"{b['params']:,}", state(b["trainable"]))
            )
    rows.append(None)
    head = desc["head"]
    rows.append(("head (fc)", "", _layers_text(head["layers"]), "", "", _shape_text(head["out_shape"]), f"{head['params']:,}",
                 state(head["trainable"])))

    widths = [max(len(header[i]), *(len(r[i]) for r in rows if r)) for i in range(len(header))]
    right = {3, 6}

    def fmt(row: tuple[str, ...]) -> str:
        cells = [c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(row, widths))]
        return "  ".join(cells).rstrip()

    rule = "-" * len(fmt(tuple("x" * w for w in widths)))
    lines += [fmt(header), rule]
    lines += [rule if r is None else fmt(r) for r in rows]
    lines += [rule, fmt(("total", "", "", "", "", "", f"{desc['total_params']:,}", ""))]
    return "\n".join(lines)


# ---------------------------------------------------------------- measuring


_lock = threading.Lock()


@functools.lru_cache(maxsize=32)
def _describe_cached(depth: int, image_size: int, num_classes: int, trainable: str, stem: str = "imagenet") -> dict[str, Any]:
    if num_classes < 1:
        raise StudioError("a model needs at least one class")
    with _lock:  # the skeletons are shared: one head and one policy at a time
        model = _skeleton(depth, stem)
        if model.fc.out_features != num_classes:  # as build_model replaces the head
            model.fc = nn.Linear(model.fc.in_features, num_classes, device="meta")
        apply_trainable(model, trainable)
        return describe(model, image_size)


@functools.cache
def _skeleton(depth: int, stem: str = "imagenet") -> nn.Module:
    """A ResNet on the meta device: every module and parameter shape, no storage."""
    if depth not in ALL_DEPTHS:
        raise StudioError(f"unsupported depth {depth!r}; choose one of {', '.join(map(str, ALL_DEPTHS))}")
    with torch.device("meta"), _SkipInit():
        return build_model(depth, 1000, weights="none", stem=stem)


class _SkipInit(TorchFunctionMode):
    """Makes weight initialisers no-ops: a meta tensor has no values to draw.

    torch runs them on meta tensors through slow Python decompositions, which would
    double the time to build a ResNet-152 skeleton. Modes are per thread, so a model
    built at the same time on another thread is initialised as usual.
    """

    _INITS = frozenset({"uniform_", "normal_", "trunc_normal_", "kaiming_uniform_", "kaiming_normal_",
                        "xavier_uniform_", "xavier_normal_", "constant_", "ones_", "zeros_", "fill_", "zero_"})

    def __torch_function__(self, func, types, args=(), kwargs=None):
        kwargs = kwargs or {}
        if getattr(func, "__name__", "") in self._INITS:
            tensor = args[0] if args else kwargs.get("tensor")
            if isinstance(tensor, torch.Tensor) and tensor.is_meta:
                return tensor
        return func(*args, **kwargs)


def _check_image_size(image_size: int) -> int:
    try:
        size = int(image_size)
    except (TypeError, ValueError):
        raise StudioError(f"image size must be a whole number of pixels, not {image_size!r}") from None
    problem = SETTINGS["image_size"].check(size)
    if problem:
        raise StudioError(problem)
    return size


def _measure_shapes(model: nn.Module, image_size: int) -> dict[str, list[list[int]]]:
    """Every module's output shape per call (a shared ReLU is called several times)."""
    shapes: dict[str, list[list[int]]] = {}
    handles = []

    def hook(name):
        def record(_module, _inputs, output):
            shapes.setdefault(name, []).append(list(output.shape[1:]))

        return record

    for name, module in model.named_modules():
        if name:
            handles.append(module.register_forward_hook(hook(name)))
    # A model with real weights keeps them where they are: the pass swaps in meta
    # stand-ins, so its weights and batch-norm statistics are never touched.
    tensors = [*model.named_parameters(), *model.named_buffers()]
    stand_ins = None if all(t.is_meta for _, t in tensors) else {n: torch.empty_like(t, device="meta") for n, t in tensors}
    # Batch norm keeps its input's shape, and on the meta device torch runs it through
    # slow Python decompositions (0.6 s of ResNet-152's 0.65 s): pass its input through.
    norms = [m for m in model.modules() if isinstance(m, nn.modules.batchnorm._NormBase) and "forward" not in vars(m)]
    x = torch.zeros(1, 3, image_size, image_size, device="meta")
    try:
        for m in norms:
            m.forward = _same_shape
        with torch.no_grad():
            if stand_ins is None:
                model(x)
            else:
                torch.func.functional_call(model, stand_ins, (x,), strict=False)
    except RuntimeError as exc:
        raise StudioError(f"a {image_size} px image does not fit through this model ({describe_error(exc)})") from None
    finally:
        for m in norms:
            del m.forward
        for h in handles:
            h.remove()
    return shapes


def _same_shape(x: torch.Tensor) -> torch.Tensor:
    return x


# ---------------------------------------------------------------- describing


def _block(name: str, block: nn.Module, shapes: dict[str, list[list[int]]]) -> dict[str, Any]:
    layers: list[dict[str, Any]] = []
    relu_calls = iter(shapes.get(f"{name}.relu", []))
    main = [(n, m) for n, m in block.named_children() if n not in ("relu", "downsample")]
    convs = [n for n, m in main if isinstance(m, nn.Conv2d)]
    last_bn = [n for n, m in main if isinstance(m, nn.BatchNorm2d)][-1]
    for child_name, child in main:
        full = f"{name}.{child_name}"
        layers.append(_layer(full, child, shapes[full][0]))
        # torchvision applies the block's one ReLU after every batch norm but the last,
        # then once more after the addition.
        if isinstance(child, nn.BatchNorm2d) and child_name != last_bn:
            layers.append(_layer(f"{name}.relu", block.relu, next(relu_calls)))
    out_shape = shapes[name][0]
    layers.append({"name": f"{name}.add", "kind": "add", "kernel": None, "stride": None, "in_channels": out_shape[0],
                   "out_channels": out_shape[0], "params": 0, "trainable": None, "out_shape": out_shape, "mult_adds": 0})
    layers.append(_layer(f"{name}.relu", block.relu, next(relu_calls, out_shape)))

    shortcut_layers = []
    downsample = getattr(block, "downsample", None)
    option_a = isinstance(downsample, ShortcutA)  # the paper's option A: subsampled, zero-padded, no parameters
    if downsample is not None and not option_a:
        for child_name, child in downsample.named_children():
            full = f"{name}.downsample.{child_name}"
            shortcut_layers.append(_layer(full, child, shapes[full][0]))

    params = list(block.parameters())
    first_conv = getattr(block, convs[0])
    strides = [layer["stride"] for layer in layers if layer["kind"] == "conv"]
    return {
        "name": name,
        "type": type(block).__name__,
        "in_channels": int(first_conv.in_channels),
        "out_channels": int(out_shape[0]),
        "stride": max(_scalar_int(s) for s in strides),
        # "zero-padded": option A's identity, subsampled by the stride, with zero channels added
        "shortcut": "projection" if shortcut_layers else ("zero-padded" if option_a else "identity"),
        "shortcut_layers": shortcut_layers,
        "params": sum(p.numel() for p in params),
        "trainable": bool(params) and all(p.requires_grad for p in params),
        "out_shape": out_shape,
        "mult_adds": sum(layer["mult_adds"] for layer in layers + shortcut_layers),
        "layers": layers,
    }


def _group(name: str, layers: list[dict], modules: list[nn.Module], out_shape: list[int]) -> dict[str, Any]:
    params = [p for m in modules for p in m.parameters()]
    return {
        "name": name,
        "paper_name": PAPER_NAMES[name],
        "layers": layers,
        "out_shape": out_shape,
        "params": sum(p.numel() for p in params),
        "trainable": bool(params) and all(p.requires_grad for p in params),
        "mult_adds": sum(layer["mult_adds"] for layer in layers),
    }


_KINDS = {
    nn.Conv2d: "conv",
    nn.BatchNorm2d: "batchnorm",
    nn.ReLU: "relu",
    nn.MaxPool2d: "maxpool",
    nn.AdaptiveAvgPool2d: "avgpool",
    nn.AvgPool2d: "avgpool",
    nn.Linear: "linear",
}


def _layer(name: str, module: nn.Module, out_shape: list[int]) -> dict[str, Any]:
    kind = next((k for cls, k in _KINDS.items() if isinstance(module, cls)), type(module).__name__.lower())
    params = list(module.parameters(recurse=False))
    kernel = stride = None
    in_channels = out_channels = out_shape[0]
    mult_adds = 0
    if isinstance(module, nn.Conv2d):
        kernel, stride = _scalar(module.kernel_size), _scalar(module.stride)
        in_channels, out_channels = int(module.in_channels), int(module.out_channels)
        kh, kw = module.kernel_size
        mult_adds = _prod(out_shape) * (in_channels // module.groups) * kh * kw
    elif isinstance(module, nn.Linear):
        in_channels, out_channels = int(module.in_features), int(module.out_features)
        mult_adds = in_channels * out_channels
    elif isinstance(module, (nn.MaxPool2d, nn.AvgPool2d)):
        kernel, stride = _scalar(module.kernel_size), _scalar(module.stride)
    return {
        "name": name,
        "kind": kind,
        "kernel": kernel,
        "stride": stride,
        "in_channels": in_channels,
        "out_channels": out_channels,
        "params": sum(p.numel() for p in params),
        "trainable": (all(p.requires_grad for p in params) if params else None),
        "out_shape": out_shape,
        "mult_adds": mult_adds,
    }


def _scalar(value):
    """7 for (7, 7); a list when the two sides differ."""
    if isinstance(value, (tuple, list)):
        return int(value[0]) if len(set(value)) == 1 else [int(v) for v in value]
    return int(value)


def _scalar_int(value) -> int:
    return max(value) if isinstance(value, list) else int(value)


def _prod(values) -> int:
    out = 1
    for v in values:
        out *= int(v)
    return out


# ---------------------------------------------------------------- text


def _shape_text(shape: list[int]) -> str:
    return "x".join(str(s) for s in shape)


def _human(n: float) -> str:
    for unit, scale in (("G", 1e9), ("M", 1e6), ("K", 1e3)):
        if n >= scale:
            return f"{n / scale:.2f} {unit}"
    return str(int(n))


def layer_names(layers: list[dict], brief: bool = False) -> list[str]:
    """Each layer of a description as a short name ("conv 3x3/1", "bn", "fc 512->10");
    `brief` keeps only the convolutions, pools and the classifier (a narrow table)."""
    parts = []
    for layer in layers:
        if layer["kind"] in ("conv", "maxpool"):
            parts.append(f"{layer['kind']} {layer['kernel']}x{layer['kernel']}/{layer['stride']}")
        elif layer["kind"] == "linear":
            parts.append(f"fc {layer['in_channels']}->{layer['out_channels']}")
        elif brief:
            continue
        elif layer["kind"] == "batchnorm":
            parts.append("bn")
        else:
            parts.append(layer["kind"])
    return parts


def _layers_text(layers: list[dict]) -> str:
    return ", ".join(layer_names(layers))
