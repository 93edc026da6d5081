"""What the command line prints: one-line errors and notes on stderr, tables on stdout."""

from __future__ import annotations

import os
import shutil
import sys
import textwrap

__all__ = ["PROG", "EXIT_OK", "EXIT_FAILED", "EXIT_USAGE", "EXIT_CANCELLED", "UsageError", "one_line", "error", "note",
           "duration", "print_predictions", "print_evaluation", "print_depths", "terminal_width", "narrow_architecture_table"]

PROG = "resnet-studio"
EXIT_OK, EXIT_FAILED, EXIT_USAGE, EXIT_CANCELLED = 0, 1, 2, 130


class UsageError(Exception):
    """Bad usage found by a command itself; printed as one line, exit 2."""


def one_line(text: str) -> str:
    return " ".join(str(text).split())


def error(message: str) -> int:
    print(f"{PROG}: error: {one_line(message)}", file=sys.stderr)
    return EXIT_USAGE


def note(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


def duration(seconds: float) -> str:
    seconds = int(round(max(0.0, seconds)))
    h, rest = divmod(seconds, 3600)
    m, s = divmod(rest, 60)
    return f"{h}:{m:02d}:{s:02d}" if h else f"{m}:{s:02d}"


def print_predictions(results) -> None:
    """path, top-1 class and probability, the others: one row per image."""
    width = min(60, max(len("path"), *(len(r.path or "") for r in results)))
    label_width = max([len("top-1")] + [len(r.predictions[0][0]) for r in results if r.predictions])
    print(f"{'path':<{width}}  {'top-1':<{label_width}}  {'prob':>6}  others")
    for r in results:
        path = r.path or ""
        if len(path) > width:
            path = "..." + path[-(width - 3):]
        if r.error is not None:
            print(f"{path:<{width}}  error: {r.error}")
            continue
        label, prob = r.predictions[0]
        others = ", ".join(f"{lbl} {p:.1%}" for lbl, p in r.predictions[1:])
        print(f"{path:<{width}}  {label:<{label_width}}  {prob:>6.1%}  {others}".rstrip())


def print_evaluation(result, mistakes: int) -> None:
    print(f"{result.source}: {result.num_images} images, {len(result.classes)} classes")
    print(f"accuracy {result.accuracy:.1%}   top-{result.topk} accuracy {result.topk_accuracy:.1%}   "
          f"macro F1 {result.macro_f1:.3f}")
    width = max(len("class"), *(len(c) for c in result.classes))
    print()
    print(f"{'class':<{width}}  precision  recall     F1  support")
    for c in result.per_class:
        print(f"{c.name:<{width}}  {c.precision:>9.1%}  {c.recall:>6.1%}  {c.f1:.3f}  {c.support:>7}")
    if len(result.classes) <= 20:
        print()
        print("confusion matrix (rows: true class, columns: predicted)")
        cell = max(4, *(len(str(v)) for row in result.confusion for v in row))
        names = [c[:cell] for c in result.classes]
        print(f"{'':<{width}}  " + " ".join(f"{n:>{cell}}" for n in names))
        for name, row in zip(result.classes, result.confusion):
            print(f"{name:<{width}}  " + " ".join(f"{v:>{cell}}" for v in row))
    wrong = result.mistakes()
    if wrong and mistakes:
        print()
        print(f"most confident mistakes ({min(mistakes, len(wrong))} of {len(wrong)})")
        for s in wrong[:mistakes]:
            print(f"  {s.path}  true {result.classes[s.true]}, predicted {result.classes[s.pred]} ({s.confidence:.1%})")
    if result.skipped:
        note(f"skipped {len(result.skipped)} file(s):")
        for s in result.skipped[:20]:
            note(f"  {s.path}: {s.reason}")


def print_depths(rows: list[dict], image_size: int) -> None:
    print(f"{'depth':>5}  {'block':<10}  {'blocks':<13}  {'params':>8}  {'GMACs':>7}  ImageNet top-1")
    for row in rows:
        print(
            f"{row['depth']:>5}  {row['block']:<10}  {'-'.join(map(str, row['layers'])):<13}  "
            f"{row['params'] / 1e6:>7.2f}M  {row['gflops']:>7.2f}  "
            + (f"{row['imagenet_top1']:.1f}%" if row["imagenet_top1"] is not None else "none (CIFAR ResNet)")
        )
    print(f"(GMACs: billions of multiply-adds at {image_size} px; top-1 of torchvision's ImageNet weights)")


# ---------------------------------------------------------------- tables that fit the terminal


def terminal_width() -> int | None:
    """The columns a table should fit: $COLUMNS, else the terminal's width; None when the output
    goes to a file or a pipe (nothing wraps there)."""
    if os.environ.get("COLUMNS") or sys.stdout.isatty():
        return shutil.get_terminal_size().columns
    return None


def narrow_architecture_table(desc: dict, width: int) -> str:
    """`info --depth`'s table (engine/architecture.py format_table) made to fit `width` columns:
    the block type and the trainable/frozen column only where they vary, stage names without
    the paper's, a projection shortcut as its convolution (1x1/2), a cell's layers wrapped onto
    more lines where needed."""
    from resnet_studio.engine import architecture

    blocks = [b for stage in desc["stages"] for b in stage["blocks"]]
    parts = [desc["stem"], *desc["stages"], *blocks, desc["head"]]
    show_state = len({bool(part["trainable"]) for part in parts}) > 1
    show_type = len({b["type"] for b in blocks}) > 1

    def shape(values) -> str:
        return "x".join(str(v) for v in values)

    def layers(items) -> list[str]:
        return architecture.layer_names(items, brief=True)

    header = ["Block", "Type", "Layers", "Stride", "Shortcut", "Output", "Params", ""]
    rows: list[list | None] = []

    def row(name, kind, items, stride, shortcut, out, params, part=None) -> None:
        rows.append([name, kind, items, stride, shortcut, out, params,
                     "frozen" if part is not None and not part["trainable"] else ""])

    stem = desc["stem"]
    row("input", "", [], "", "", shape(desc["input_shape"]), "")
    row("stem", "", layers(stem["layers"]), str(desc["image_size"] // stem["out_shape"][1]), "", shape(stem["out_shape"]),
        f"{stem['params']:,}", stem)
    for stage in desc["stages"]:
        rows.append(None)
        row(stage["name"], "", [f"{len(stage['blocks'])} blocks"], "", "", shape(stage["out_shape"]), f"{stage['params']:,}",
            stage)
        for b in stage["blocks"]:
            shortcut = f"1x1/{b['shortcut_layers'][0]['stride']}" if b["shortcut_layers"] else b["shortcut"]  # a projection
            kernels = [f"{c['kernel']}x{c['kernel']} {c['out_channels']}" for c in b["layers"] if c["kind"] == "conv"]
            row("  " + b["name"], b["type"], kernels, str(b["stride"]), shortcut, shape(b["out_shape"]), f"{b['params']:,}", b)
    rows.append(None)
    head = desc["head"]
    row("head", "", layers(head["layers"]), "", "", shape(head["out_shape"]), f"{head['params']:,}", head)
    rows.append(None)
    row("total", "", [], "", "", "", f"{desc['total_params']:,}")

    keep = [i for i in range(len(header)) if (i != 1 or show_type) and (i != 7 or show_state)]
    header = [header[i] for i in keep]
    rows = [None if r is None else [r[i] for i in keep] for r in rows]
    wrap, right = header.index("Layers"), {header.index("Stride"), header.index("Params")}
    widths = [max([len(header[i])] + [len(r[i]) for r in rows if r and i != wrap]) for i in range(len(header))]
    room = width - (sum(widths) - widths[wrap]) - 2 * (len(header) - 1)
    widths[wrap] = max(len("Layers"), 12, min(room, max(len(", ".join(r[wrap])) for r in rows if r)))
    cells = {id(r): _wrap_items(r[wrap], widths[wrap]) for r in rows if r}
    widths[wrap] = max(len(line) for lines in cells.values() for line in lines)

    def fmt(values) -> str:
        return "  ".join(c.rjust(w) if i in right else c.ljust(w) for i, (c, w) in enumerate(zip(values, widths))).rstrip()

    rule = "-" * len(fmt(["x" * w for w in widths]))
    title = (
        f"ResNet-{desc['depth']} ({desc.get('block') or '?'}), {desc['image_size']}x{desc['image_size']} input, "
        f"{desc['num_classes']} classes" + (f", trainable: {desc['trainable_part']}" if desc.get("trainable_part") else "")
    )
    counts = (f"Parameters: {desc['total_params']:,} ({desc['trainable_params']:,} trainable)   "
              f"Multiply-adds: {desc['mult_adds'] / 1e9:.2f} GMACs")
    lines = [*textwrap.wrap(title, width, break_on_hyphens=False), *textwrap.wrap(counts, width, break_on_hyphens=False),
             "", fmt(header), rule]
    for r in rows:
        if r is None:
            lines.append(rule)
            continue
        first, *more = cells[id(r)]
        lines.append(fmt([*r[:wrap], first, *r[wrap + 1:]]))
        lines += [fmt([line if i == wrap else "" for i in range(len(header))]) for line in more]
    return "\n".join(lines)


def _wrap_items(items: list[str], width: int) -> list[str]:
    """Items joined by ", " on as few lines of `width` as they fit (",", without the space, to
    save a line), never splitting an item."""
    for sep in (", ", ","):
        if len(sep.join(items)) <= width:
            return [sep.join(items)]
    lines = [""]
    for item in items:
        if lines[-1] and len(lines[-1]) + 2 + len(item) > width:
            lines[-1] += ","
            lines.append(item)
        else:
            lines[-1] = f"{lines[-1]}, {item}" if lines[-1] else item
    return lines
