"""What the command line prints: one-line errors and notes on stderr, tables on stdout."""

from __future__ import annotations

import sys

__all__ = ["PROG", "EXIT_OK", "EXIT_FAILED", "EXIT_USAGE", "EXIT_CANCELLED", "UsageError", "one_line", "error", "note",
           "duration", "print_predictions", "print_evaluation", "print_depths"]

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
    print(f"{'depth':>5}  {'block':<10}  {'blocks':<13}  {'params':>8}  {'GFLOPs':>7}  ImageNet top-1")
    for row in rows:
        print(
            f"{row['depth']:>5}  {row['block']:<10}  {'-'.join(map(str, row['layers'])):<13}  "
            f"{row['params'] / 1e6:>7.1f}M  {row['gflops']:>7.2f}  {row['imagenet_top1']:.1f}%"
        )
    print(f"(GFLOPs at {image_size} px; top-1 of torchvision's ImageNet weights)")
