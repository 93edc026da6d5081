"""`doctor`: the dataset doctor's checks before training, as a table or JSON.

Findings are not errors: the command exits 0 when the check ran, 2 (one line) for a folder
that cannot be scanned. `--fix-split` writes nothing; it says what the split would keep together.
"""

from __future__ import annotations

import contextlib
import json
import os
import sys

from .console import EXIT_OK, note

__all__ = ["DESCRIPTION", "run"]

DESCRIPTION = (
    "Check DATA before training: exact and near duplicates (any name or format), the same photo in two classes or on "
    "both sides of the train/validation split the trainer would make, photos much smaller than the training size, "
    "extreme aspect ratios, class imbalance and unreadable files. Prints the findings grouped by kind; exits 0 when "
    "the check ran (findings are not errors)."
)

SHOWN_PER_KIND = 10  # findings of one kind in the table; --json lists every one
SHOWN_GROUPS = 20  # groups listed by --fix-split


def run(args) -> int:
    from ..engine import data, doctor

    with _bar("scanning") as progress:
        scan = data.scan_dataset(args.data, args.val_split, args.seed, progress=progress, strict=False)
    with _bar("checking") as progress:
        report = doctor.check_dataset(scan, image_size=args.image_size, progress=progress)
    split = _fixed_split(scan, report, args) if args.fix_split else None

    if args.json:
        out = report.to_dict()
        if split is not None:
            out["fixed_split"] = split
        print(json.dumps(out, indent=2))
        return EXIT_OK
    if report.problem:
        note(f"note: {report.problem}")
    _print_report(report)
    if split is not None:
        print()
        _print_split(split, report.root)
    return EXIT_OK


@contextlib.contextmanager
def _bar(what: str):
    """A progress bar on stderr (none when stderr is not a terminal), fed progress(done, total)."""
    from tqdm import tqdm

    bar = tqdm(desc=what, unit="img", leave=False, file=sys.stderr, disable=None)

    def update(done: int, total: int) -> None:
        bar.total = total
        bar.update(done - bar.n)

    try:
        yield update
    finally:
        bar.close()


def _short(path: str, root: str) -> str:
    """A path under the data folder, relative to it."""
    relative = os.path.relpath(path, root)
    return path if relative.startswith("..") else relative


def _print_report(report) -> None:
    print(f"{report.root}: {report.num_images:,} images, {len(report.classes)} classes, checked in {report.seconds:.1f} s "
          f"(training size {report.image_size} px)")
    found = report.by_kind()
    if not found:
        print("no problems found")
        return
    from ..engine.doctor import KINDS

    for kind, findings in found.items():
        # A suggestion the kind's findings share is said once, after the title.
        shared = {f.suggestion for f in findings}
        print()
        print(f"{KINDS[kind]} ({len(findings):,})" + (f": {findings[0].suggestion}" if len(shared) == 1 else ""))
        for finding in findings[:SHOWN_PER_KIND]:
            files = "  ".join(_short(path, report.root) for path in finding.files)
            detail = f"({finding.detail})" if finding.detail else ""
            print("  " + "  ".join(part for part in (files, detail) if part))
            if len(shared) > 1:
                print(f"      {finding.suggestion}")
        if len(findings) > SHOWN_PER_KIND:
            print(f"  ... and {len(findings) - SHOWN_PER_KIND:,} more (--json lists every one)")


def _fixed_split(scan, report, args) -> dict:
    """What the split would be with the report's groups kept together; nothing is written."""
    from ..engine.data import regroup_split

    if scan.layout != "folders":
        return {"made_here": False, "groups": [], "moved": [], "num_train": scan.num_train, "num_val": scan.num_val}
    fixed = regroup_split(scan, report.groups, args.val_split, args.seed)
    was_val = {p for p, _ in scan.val}
    now_val = {p for p, _ in fixed.val}
    groups = [{"side": "val" if group[0] in now_val else "train", "files": group} for group in report.groups]
    moved = sorted(was_val ^ now_val)
    return {"made_here": True, "groups": groups, "moved": moved, "num_train": fixed.num_train, "num_val": fixed.num_val}


def _print_split(split: dict, root: str) -> None:
    if not split["made_here"]:
        print("--fix-split: the train/ and val/ folders are used as given, so the split is not made here: move each group "
              "listed under 'the same photo on both sides of the split' to one side")
        return
    if not split["groups"]:
        print("--fix-split: no duplicate groups, so the split stays as it is")
        return
    files = sum(len(g["files"]) for g in split["groups"])
    print(f"--fix-split: the split would keep {len(split['groups']):,} groups ({files:,} files) together; "
          f"{len(split['moved']):,} files change sides: {split['num_train']:,} training, {split['num_val']:,} validation. "
          "Nothing was written.")
    for group in split["groups"][:SHOWN_GROUPS]:
        print(f"  {group['side']:<5}  " + ", ".join(_short(p, root) for p in group["files"]))
    if len(split["groups"]) > SHOWN_GROUPS:
        print(f"  ... and {len(split['groups']) - SHOWN_GROUPS:,} more (--json lists every one)")
