"""Where a model goes wrong: accuracy, top-k accuracy, per-class metrics, confusion matrix.

Evaluate a Predictor on labelled images: a run's own validation split
(`validation_samples`), or any folder in the class layout (`folder_samples`). Each
image's result is kept (true class, predicted class, confidence, top-k), so the
misclassified ones can be listed, most confident mistakes first.

    samples, skipped, source = validation_samples(run_dir, predictor.classes)
    result = evaluate(predictor, samples, progress=print_progress, check=control.check)
    result.accuracy, result.per_class, result.confusion, result.mistakes()

Rows of the confusion matrix are the true classes, columns the predicted ones (as in
summary.json). `progress(done, total)` is called from the calling thread after each
batch; `check()` is called before each batch and stops the evaluation by raising.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch

from . import checkpoint, data, runs
from .errors import DataError, ImageError, StudioError
from .events import SkippedFile

__all__ = [
    "SampleResult",
    "ClassMetrics",
    "Evaluation",
    "compute_metrics",
    "default_topk",
    "evaluate",
    "folder_samples",
    "validation_samples",
]

Progress = Callable[[int, int], None]


@dataclass(frozen=True)
class SampleResult:
    path: str
    true: int  # class index in Evaluation.classes
    pred: int
    confidence: float  # probability of `pred`
    true_prob: float  # probability the model gave the true class
    topk: tuple[tuple[int, float], ...]  # (class index, prob), most likely first

    @property
    def correct(self) -> bool:
        return self.true == self.pred


@dataclass(frozen=True)
class ClassMetrics:
    name: str
    precision: float
    recall: float
    f1: float
    support: int  # images of this class


@dataclass
class Evaluation:
    classes: list[str]
    samples: list[SampleResult]
    topk: int  # the k of topk_accuracy
    accuracy: float
    topk_accuracy: float
    per_class: list[ClassMetrics]
    confusion: list[list[int]]  # [true][pred]
    skipped: list[SkippedFile] = field(default_factory=list)
    source: str = ""  # what was evaluated, in words ("validation split of photos")

    @property
    def num_images(self) -> int:
        return len(self.samples)

    @property
    def macro_f1(self) -> float:
        return float(np.mean([c.f1 for c in self.per_class])) if self.per_class else 0.0

    def mistakes(self, true: int | None = None, pred: int | None = None) -> list[SampleResult]:
        """Misclassified samples (optionally only true -> pred), most confident first."""
        found = [
            s
            for s in self.samples
            if not s.correct and (true is None or s.true == true) and (pred is None or s.pred == pred)
        ]
        return sorted(found, key=lambda s: (-s.confidence, s.path))

    def cell(self, true: int, pred: int) -> list[SampleResult]:
        """The samples of one confusion-matrix cell, most confident first."""
        found = [s for s in self.samples if s.true == true and s.pred == pred]
        return sorted(found, key=lambda s: (-s.confidence, s.path))

    def to_dict(self) -> dict:
        """Plain JSON-able data (what `resnet-studio evaluate --json` prints)."""
        return {
            "source": self.source,
            "classes": list(self.classes),
            "num_images": self.num_images,
            "accuracy": self.accuracy,
            "topk": self.topk,
            "topk_accuracy": self.topk_accuracy,
            "macro_f1": self.macro_f1,
            "per_class": [
                {"class": c.name, "precision": c.precision, "recall": c.recall, "f1": c.f1, "support": c.support}
                for c in self.per_class
            ],
            "confusion_matrix": self.confusion,
            "mistakes": [
                {
                    "path": s.path,
                    "true": self.classes[s.true],
                    "pred": self.classes[s.pred],
                    "confidence": s.confidence,
                }
                for s in self.mistakes()
            ],
            "skipped_files": [{"path": s.path, "reason": s.reason} for s in self.skipped],
        }


def default_topk(num_classes: int) -> int:
    """A k for top-k accuracy that says something: 5, or fewer for a handful of classes."""
    return max(1, min(5, num_classes // 2))


# ---------------------------------------------------------------- metrics


def compute_metrics(
    true: Sequence[int], pred: Sequence[int], num_classes: int, topk_hits: Sequence[bool] | None = None
) -> tuple[float, float, list[tuple[float, float, float, int]], list[list[int]]]:
    """(accuracy, top-k accuracy, [(precision, recall, f1, support)] per class, confusion[true][pred]).

    A class that was never predicted has precision 0; one with no images has recall 0
    (and F1 0), as scikit-learn reports them.
    """
    t = np.asarray(true, dtype=np.int64)
    p = np.asarray(pred, dtype=np.int64)
    n = len(t)
    cm = np.bincount(t * num_classes + p, minlength=num_classes * num_classes).reshape(num_classes, num_classes)
    tp = np.diag(cm).astype(np.float64)
    support = cm.sum(axis=1)
    predicted = cm.sum(axis=0)
    precision = np.divide(tp, predicted, out=np.zeros_like(tp), where=predicted > 0)
    recall = np.divide(tp, support, out=np.zeros_like(tp), where=support > 0)
    denom = precision + recall
    f1 = np.divide(2 * precision * recall, denom, out=np.zeros_like(tp), where=denom > 0)
    accuracy = float(tp.sum() / n) if n else 0.0
    hits = np.asarray(topk_hits if topk_hits is not None else (t == p), dtype=bool)
    topk_accuracy = float(hits.mean()) if n else 0.0
    per_class = [(float(precision[i]), float(recall[i]), float(f1[i]), int(support[i])) for i in range(num_classes)]
    return accuracy, topk_accuracy, per_class, cm.tolist()


# ---------------------------------------------------------------- what to evaluate on


def folder_samples(
    folder: str | os.PathLike, classes: Sequence[str]
) -> tuple[list[tuple[str, int]], list[SkippedFile], str]:
    """Labelled images of a folder in the class layout, labelled with the model's classes.

    `DATA/<class>/...` uses every image; `DATA/train/...` with `DATA/val/...` uses the
    validation part. Images of a class the model does not know are skipped with a reason.
    Returns (samples, skipped, description). Raises DataError.
    """
    root = Path(folder).expanduser()
    if not root.is_dir():
        raise DataError(f"not a folder: {root}")
    index = {name: i for i, name in enumerate(classes)}
    base, description = root, f"all of {root.name}"
    split_dirs = data.find_split_dirs(root)
    if split_dirs:
        base = split_dirs[1]
        description = f"{root.name}/{base.name}"
    class_dirs = data.class_dirs(base)
    if not class_dirs:
        raise DataError(f"no class subfolders in {base} (the images must be in one subfolder per class)")
    samples: list[tuple[str, int]] = []
    skipped: list[SkippedFile] = []
    unknown: list[str] = []
    for d in class_dirs:
        files = data.list_image_files(d)
        if d.name not in index:
            if files:
                unknown.append(d.name)
                skipped.extend(SkippedFile(str(f), f"class {d.name!r} is not one the model knows") for f in files)
            continue
        samples.extend((str(f), index[d.name]) for f in files)
    if not samples:
        if unknown:
            shown = ", ".join(unknown[:4]) + (" ..." if len(unknown) > 4 else "")
            raise DataError(
                f"none of the class folders in {base.name} ({shown}) is a class of this model "
                f"({', '.join(list(classes)[:4])}{' ...' if len(classes) > 4 else ''})"
            )
        raise DataError(f"no images found in the class folders of {base}")
    return samples, skipped, description


def validation_samples(
    run_dir: str | os.PathLike, classes: Sequence[str] | None = None
) -> tuple[list[tuple[str, int]], list[SkippedFile], str]:
    """The images a run validated on, exactly (its split.json; for a run from before
    split.json, the lists its checkpoint kept), labelled with the model's classes.

    Returns (samples, skipped, description). Raises StudioError when the run does not say
    which images it validated on: the folder is never split again, since a photo added
    since would move others between the two sides.
    """
    run = runs.RunRecord.load(run_dir)
    if classes is None:
        try:
            classes = checkpoint.read_model_meta(Path(run.path) / runs.MODEL_META)["classes"]
        except StudioError as exc:
            raise StudioError(f"{run.name} has no readable model.json ({exc})") from None
    classes = list(classes)
    split = checkpoint.saved_split(run.path)
    if split is None:
        raise StudioError(
            f"{run.name} does not record its validation images (no {runs.SPLIT}): evaluate it on a folder instead"
        )
    index = {c: i for i, c in enumerate(classes)}
    samples, skipped = [], []
    for path, label in split.val:
        name = split.classes[label]
        if name in index:
            samples.append((path, index[name]))
        else:
            skipped.append(SkippedFile(path, f"class {name!r} is not one the model knows"))
    if not samples:
        raise DataError(f"no validation images of the model's classes in {run.name}")
    return samples, skipped, f"validation split of {run.dataset or run.name}"


# ---------------------------------------------------------------- evaluating


def evaluate(
    predictor,
    samples: Sequence[tuple[str, int]],
    *,
    topk: int | None = None,
    batch_size: int = 32,
    progress: Progress | None = None,
    check: Callable[[], None] | None = None,
    skipped: Sequence[SkippedFile] = (),
    source: str = "",
    workers: int | None = None,
) -> Evaluation:
    """Predict every (path, class index) of `samples` and measure the result.

    Labels index `predictor.classes`. Unreadable images are skipped and listed.
    `check()` runs before each batch (raise in it to stop); `progress(done, total)`
    after each. Raises StudioError when no image could be read.
    """
    classes = list(predictor.classes)
    n_classes = len(classes)
    k = max(1, min(int(topk or default_topk(n_classes)), n_classes))
    total = len(samples)
    skipped_out = list(skipped)
    results: list[SampleResult] = []
    hits: list[bool] = []
    keep = max(k, min(5, n_classes))
    workers = workers or min(4, os.cpu_count() or 1)

    def read(item):
        path, _ = item
        try:
            return predictor.tensor(path), None
        except ImageError as exc:
            return None, str(exc).split(": ", 1)[-1]

    if progress:
        progress(0, total)
    done = 0
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for start in range(0, total, batch_size):
            if check:
                check()
            chunk = samples[start : start + batch_size]
            tensors, labels, paths = [], [], []
            for (path, label), (tensor, reason) in zip(chunk, pool.map(read, chunk)):
                if tensor is None:
                    skipped_out.append(SkippedFile(path, reason or "unreadable"))
                    continue
                if not 0 <= int(label) < n_classes:
                    skipped_out.append(SkippedFile(path, f"label {label} is not a class of the model"))
                    continue
                tensors.append(tensor)
                labels.append(int(label))
                paths.append(path)
            if tensors:
                probs = predictor.probabilities(torch.stack(tensors)).cpu()
                top_p, top_i = probs.topk(keep, dim=1)
                for row, (path, label) in enumerate(zip(paths, labels)):
                    ids, ps = top_i[row].tolist(), top_p[row].tolist()
                    results.append(
                        SampleResult(
                            path=path,
                            true=label,
                            pred=ids[0],
                            confidence=float(ps[0]),
                            true_prob=float(probs[row, label]),
                            topk=tuple(zip(ids, (float(p) for p in ps))),
                        )
                    )
                    hits.append(label in ids[:k])
            done += len(chunk)
            if progress:
                progress(done, total)
    if not results:
        raise StudioError(f"none of the {total} images could be read" if total else "no images to evaluate")
    accuracy, topk_accuracy, per_class, cm = compute_metrics(
        [r.true for r in results], [r.pred for r in results], n_classes, hits
    )
    return Evaluation(
        classes=classes,
        samples=results,
        topk=k,
        accuracy=accuracy,
        topk_accuracy=topk_accuracy,
        per_class=[ClassMetrics(classes[i], *m) for i, m in enumerate(per_class)],
        confusion=cm,
        skipped=skipped_out,
        source=source,
    )
