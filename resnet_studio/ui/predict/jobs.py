"""What the Predict tab runs on worker threads: load a model, predict photos, Grad-CAM thumbnails.

Each function takes the BackgroundTask first (tasks.py), checks it between pieces of work
and reports results as they come, so the tab can show them chunk by chunk and drop a job
it no longer wants. The engine does the work: `Predictor.read` reads a photo as prediction
sees it, `Predictor.iter_predict` predicts, `explain` computes Grad-CAM on those pixels.
torch is imported here only once a job runs, never when the tab is built.
"""

from __future__ import annotations

from resnet_studio.engine.errors import describe

from ..images import heat_qimage, load_thumbnail

__all__ = ["TOPK", "CHUNK", "CAM_CHUNK", "THUMB", "THUMB_CHUNK", "load_predictor", "load_thumbnails", "predict_images",
           "cam_thumbnails"]

TOPK = 5  # classes shown per photo
CHUNK = 16  # photos read and predicted per step (the command line's batch): results appear after each
CAM_CHUNK = 4  # Grad-CAM thumbnails computed per step
THUMB_CHUNK = 4  # thumbnails of waiting photos made per step
THUMB = 96  # the side of a thumbnail on screen; its picture is made twice that, for high-DPI screens


def load_predictor(task, path: str | None):
    """The engine Predictor of a run folder or model file; None: torchvision's ImageNet ResNet-50."""
    from resnet_studio.engine.predict import Predictor

    return Predictor.imagenet(depth=50) if path is None else Predictor.from_path(path)


def load_thumbnails(task, items: list[tuple[int, object]]) -> None:
    """Thumbnails of photos ([(id, path or encoded bytes)]) before they are predicted, a few at
    a time: reports [(id, QImage or None)]; a file that cannot be read gets None (its
    prediction says why)."""
    for start in range(0, len(items), THUMB_CHUNK):
        task.check()
        out = []
        for entry_id, source in items[start : start + THUMB_CHUNK]:
            try:
                out.append((entry_id, load_thumbnail(source, THUMB)))
            except Exception:  # anything odd in one file: the prediction reports it
                out.append((entry_id, None))
        task.report(out)


def predict_images(task, predictor, items: list[tuple[int, object, bool]]) -> None:
    """Read, predict and (where asked) thumbnail `items` ([(id, path or encoded bytes, make a
    thumbnail)]) a chunk at a time.

    Reports each chunk as [(id, thumbnail QImage or None, [(label, prob)], error or None)].
    A photo that cannot be read, or that the model cannot run on, gets its error; the others
    of its chunk are still predicted.
    """
    for start in range(0, len(items), CHUNK):
        task.check()
        results: dict[int, tuple] = {}
        pictures: dict[int, object] = {}
        for entry_id, source, thumbnail in items[start : start + CHUNK]:
            try:
                picture = predictor.read(source)  # the pixels prediction sees: the same probabilities
                results[entry_id] = (_thumbnail(picture, source) if thumbnail else None, [], None)
                pictures[entry_id] = picture
            except Exception as exc:  # anything odd in one file stays in that file's entry
                results[entry_id] = (None, [], describe(exc))
            task.check()
        try:
            predictions = predictor.iter_predict(list(pictures.values()), topk=TOPK, batch_size=CHUNK)
            for entry_id, prediction in zip(pictures, predictions):
                top = [(str(label), float(prob)) for label, prob in prediction.predictions]
                results[entry_id] = (results[entry_id][0], top, prediction.error)
        except Exception as exc:  # the model itself failed: say so on each photo of the chunk
            for entry_id in pictures:
                results[entry_id] = (results[entry_id][0], [], f"the model could not run on this image ({describe(exc)})")
        task.report([(entry_id, *result) for entry_id, result in results.items()])


def cam_thumbnails(task, predictor, items: list[tuple[int, object, int | None, tuple[int, int]]]) -> None:
    """Grad-CAM heat layers for thumbnails: `items` are [(id, source, class or None: the top
    class, thumbnail (width, height))]. Reports [(id, heat QImage, class, label, crop)] a few
    at a time; a photo that cannot be read any more is left out."""
    from resnet_studio.engine.errors import StudioError
    from resnet_studio.engine.explain import explain

    for start in range(0, len(items), CAM_CHUNK):
        task.check()
        out = []
        for entry_id, source, class_index, size in items[start : start + CAM_CHUNK]:
            try:
                cam = explain(predictor, source, class_index).cam  # on the pixels the card's probabilities came from
            except StudioError:
                continue
            out.append((entry_id, heat_qimage(cam, size), class_index, cam.label, cam.crop))
        task.report(out)


def _thumbnail(picture, source):
    """A thumbnail of the model's reading; a file whose reading is smaller than a thumbnail
    (a big JPEG decoded at a reduced scale) is read again, finer, for the thumbnail only."""
    if min(picture.size) < THUMB * 2 and not isinstance(source, bytes):
        return load_thumbnail(source, THUMB)
    return load_thumbnail(None, THUMB, image=picture)



