"""The Evaluate tab's work off the UI thread: evaluate a run or a folder, read thumbnails.

Each function runs as `fn(task, *args)` on a BackgroundTask (ui/tasks.py): `task.report`
sends progress to the tab, `task.check` stops once the job was cancelled. torch is
imported here, on the worker thread, never when the tab is built.

The evaluations report ("stage", text) while they prepare, then ("progress", done, total);
they return (predictor, engine Evaluation).
"""

from __future__ import annotations

from ..images import load_thumbnail

__all__ = ["evaluate_run", "evaluate_folder", "read_thumbnails", "THUMB_CHUNK"]

THUMB_CHUNK = 12  # thumbnails sent back to the UI together


def evaluate_run(task, run_dir: str, predictor=None):
    """A run's model (loaded unless given) on the images the run validated on (its split.json)."""
    from resnet_studio.engine import evaluate
    from resnet_studio.engine.predict import Predictor

    task.report(("stage", "Loading the model…"))
    if predictor is None:
        predictor = Predictor.from_path(run_dir)
    task.check()
    task.report(("stage", "Finding the validation images…"))
    samples, skipped, source = evaluate.validation_samples(run_dir, predictor.classes)
    return predictor, _measure(task, predictor, samples, skipped, source)


def evaluate_folder(task, folder: str, predictor):
    """A loaded model on a folder in the class layout (DATA/<class>/..., or its val/ part)."""
    from resnet_studio.engine import evaluate

    task.report(("stage", "Listing the images…"))
    samples, skipped, source = evaluate.folder_samples(folder, predictor.classes)
    return predictor, _measure(task, predictor, samples, skipped, source)


def _measure(task, predictor, samples, skipped, source):
    from resnet_studio.engine import evaluate

    task.report(("stage", f"Evaluating {len(samples):,} images…"))
    return evaluate.evaluate(
        predictor,
        samples,
        skipped=skipped,
        source=source,
        check=task.check,
        progress=lambda done, total: task.report(("progress", done, total)),
    )


def read_thumbnails(task, paths: list[str], size: int) -> None:
    """Report [(path, QImage or None for an unreadable file)] a few at a time."""
    from resnet_studio.engine.errors import StudioError

    for start in range(0, len(paths), THUMB_CHUNK):
        task.check()
        out = []
        for path in paths[start : start + THUMB_CHUNK]:
            try:
                out.append((path, load_thumbnail(path, size)))
            except StudioError:
                out.append((path, None))
        task.report(out)
