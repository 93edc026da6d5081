"""The words the block diagram writes: shapes, layer lines ("3×3 conv, 128, /2"), titles and tooltips.

Each takes a part of `engine.architecture.describe`'s dictionary and returns text;
the diagram, its details panel and its exports all word things the same way.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from .tint import BlockStats

__all__ = [
    "shape_text",
    "short_count",
    "value_text",
    "macs_text",
    "kernel_text",
    "stride_of",
    "conv_line",
    "shortcut_label",
    "group_lines",
    "state_word",
    "title_text",
    "subtitle_text",
    "group_tooltip",
    "block_tooltip",
    "stack_tooltip",
]


# ---------------------------------------------------------------- numbers


def shape_text(shape: list[int] | None) -> str:
    """[256, 56, 56] -> '256×56×56'."""
    return "×".join(str(s) for s in shape) if shape else ""


def short_count(n: int) -> str:
    """11689512 -> '11.7 M', 5130 -> '5.1 K' (format.count would write '5,130')."""
    if n >= 1e6:
        return f"{n / 1e6:.1f} M"
    if n >= 1e3:
        return f"{n / 1e3:.1f} K"
    return str(n)


def value_text(v: float) -> str:
    """A block statistic: three significant digits, or scientific notation when tiny or huge."""
    return f"{v:.3g}" if 1e-3 <= abs(v) < 1e4 or v == 0 else f"{v:.2e}"


def macs_text(n: float) -> str:
    """Multiply-adds (multiply-accumulates, MACs), as the setup panel's table and `info` name them:
    4.09e9 -> '4.09 GMACs', 3.7e8 -> '370.0 MMACs', 8192 -> '8,192 MACs'."""
    if n >= 1e9:
        return f"{n / 1e9:.2f} GMACs"
    if n >= 1e6:
        return f"{n / 1e6:,.1f} MMACs"
    return f"{int(n):,} MACs"


def kernel_text(kernel: int | list[int] | None) -> str:
    """3 -> '3×3', [1, 7] -> '1×7', None -> ''."""
    return f"{kernel}×{kernel}" if isinstance(kernel, int) else "×".join(map(str, kernel or []))


def stride_of(stride: int | list[int] | None) -> int:
    """A layer's stride as one number: the larger of a pair; 1 when it has none."""
    return stride if isinstance(stride, int) else max(stride or [1])


# ---------------------------------------------------------------- lines in the boxes


def conv_line(layer: dict) -> str:
    """Fig. 3 of the paper: '3×3 conv, 128, /2'."""
    stride = stride_of(layer.get("stride"))
    return f"{kernel_text(layer.get('kernel'))} conv, {layer['out_channels']}" + (f", /{stride}" if stride > 1 else "")


def shortcut_label(block: dict) -> str:
    """A projection shortcut's convolution: '1×1 conv, stride 2'; option A's: 'identity, zero-padded'."""
    if block.get("shortcut") == "zero-padded":
        return "identity, zero-padded"
    conv = next((layer for layer in block.get("shortcut_layers", []) if layer["kind"] == "conv"), None)
    stride = stride_of(conv["stride"] if conv else block.get("stride", 1))
    return f"1×1 conv, stride {stride}"


def group_lines(group: dict) -> list[str]:
    """The lines in the stem's or the head's box, one per layer worth naming."""
    lines = []
    layers = group["layers"]
    kinds = [layer["kind"] for layer in layers]
    for layer in layers:
        kind = layer["kind"]
        if kind == "conv":
            lines.append(conv_line(layer))
        elif kind == "batchnorm":
            lines.append("batch norm, relu" if "relu" in kinds else "batch norm")
        elif kind == "maxpool":
            lines.append(f"{layer['kernel']}×{layer['kernel']} max pool, /{layer['stride']}")
        elif kind == "avgpool":
            lines.append("global avg pool")
        elif kind == "linear":
            lines.append(f"fc, {layer['in_channels']} → {layer['out_channels']}")
    return lines


def state_word(part: dict) -> str:
    return "trainable" if part.get("trainable") else "frozen"


# ---------------------------------------------------------------- titles and tooltips


def title_text(desc: dict | None) -> str:
    """'ResNet-50  ·  Bottleneck blocks'."""
    d = desc or {}
    return f"ResNet-{d.get('depth', '?')}" + (f"  ·  {d['block']} blocks" if d.get("block") else "")


def subtitle_text(desc: dict | None) -> str:
    """Input size, classes, parameters (and how many train) and multiply-adds (GMACs), on one line."""
    d = desc or {}
    if not d:
        return ""
    part = d.get("trainable_part")
    return (
        f"{d['image_size']}×{d['image_size']} input  ·  {d['num_classes']} classes  ·  "
        f"{short_count(d['total_params'])} parameters ({short_count(d['trainable_params'])} trainable"
        + (f": {part}" if part and part != "all" else "")
        + f")  ·  {macs_text(d['mult_adds'])}"
    )


def group_tooltip(group: dict) -> str:
    """The stem's or the head's tooltip."""
    return (f"<b>{group['name']}</b> ({group.get('paper_name', '')})<br>Output {shape_text(group['out_shape'])}<br>"
            f"{group['params']:,} parameters, {state_word(group)}")


def block_tooltip(block: dict, stats: BlockStats) -> str:
    """A residual block's tooltip, with its statistic when one was reported."""
    tip = (f"<b>{block['name']}</b> · {block['type']}<br>{block['in_channels']} → {block['out_channels']} channels, "
           f"stride {block['stride']}, {block['shortcut']} shortcut<br>Output {shape_text(block['out_shape'])} · "
           f"{block['params']:,} parameters · {state_word(block)}")
    if block["name"] in stats.values:
        tip += f"<br>{stats.label}: {value_text(stats.values[block['name']])}"
    return tip


def stack_tooltip(blocks: list[dict]) -> str:
    """The tooltip of a collapsed stage's stack of `blocks`."""
    first, last = blocks[0], blocks[-1]
    return (f"<b>{first['name']} … {last['name']}</b>: {len(blocks)} {first['type']} blocks, {first['shortcut']} shortcuts<br>"
            f"{first['in_channels']} → {first['out_channels']} channels, output {shape_text(last['out_shape'])}<br>"
            f"{sum(b['params'] for b in blocks):,} parameters<br><i>Double-click to expand the stage.</i>")
