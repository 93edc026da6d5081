"""The fastai peer for benchmarks/small_images.py: fastai's defaults on a class folder, scored on held-out images.

    /tmp/fastai-venv/bin/python benchmarks/fastai_peer.py TRAIN TEST [--size 32] [--epochs 10]
        [--batch-size 32] [--seed 0] [--lr auto|FLOAT]

Runs in its own virtual environment (fastai is not a dependency of ResNet Studio):

    python -m venv /tmp/fastai-venv && /tmp/fastai-venv/bin/pip install fastai

What fastai's documentation and course do for an image folder, from scratch (no download
here): `ImageDataLoaders.from_folder(TRAIN, valid_pct=0.2, item_tfms=Resize(size),
batch_tfms=aug_transforms())`, `vision_learner(dls, resnet18, pretrained=False,
metrics=accuracy)`, `lr_find()` (its `valley` suggestion; `--lr FLOAT` skips it), then
`fit_one_cycle(epochs, lr)`. The last epoch's model predicts every image of TEST (one
subfolder per class). Prints one JSON line: test accuracy, the learning rate, seconds.
"""

from __future__ import annotations

import argparse
import json
import time
from pathlib import Path


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("train", type=Path)
    parser.add_argument("test", type=Path)
    parser.add_argument("--size", type=int, default=32)
    parser.add_argument("--epochs", type=int, default=10)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--lr", default="auto", help="auto: lr_find()'s valley suggestion")
    args = parser.parse_args()
    started = time.perf_counter()

    import torch
    from fastai.vision.all import (
        ImageDataLoaders,
        Resize,
        accuracy,
        aug_transforms,
        get_image_files,
        parent_label,
        resnet18,
        set_seed,
        vision_learner,
    )

    set_seed(args.seed, reproducible=True)
    dls = ImageDataLoaders.from_folder(args.train, valid_pct=0.2, seed=args.seed, item_tfms=Resize(args.size),
                                       batch_tfms=aug_transforms(), bs=args.batch_size, device=torch.device("cpu"))
    learn = vision_learner(dls, resnet18, pretrained=False, metrics=accuracy)
    with learn.no_bar(), learn.no_logging():
        before = time.perf_counter()
        lr = float(learn.lr_find(show_plot=False).valley) if args.lr == "auto" else float(args.lr)
        found = time.perf_counter()
        learn.fit_one_cycle(args.epochs, lr)
    trained = time.perf_counter()
    valid_acc = float(learn.validate()[1])

    files = get_image_files(args.test)
    test_dl = learn.dls.test_dl(files, with_labels=True)
    with learn.no_bar():
        probs, targets = learn.get_preds(dl=test_dl)
    labels = [parent_label(f) for f in files]
    vocab = list(learn.dls.vocab)
    assert [vocab[int(t)] for t in targets] == labels  # the held-out labels, by folder name
    test_acc = float((probs.argmax(1) == targets).float().mean())
    print(json.dumps({
        "test_acc": test_acc, "test_images": len(files), "valid_acc": valid_acc, "lr": lr, "lr_find": args.lr == "auto",
        "lr_find_seconds": found - before if args.lr == "auto" else 0.0, "train_seconds": trained - started,
        "seconds": time.perf_counter() - started, "fastai": __import__("fastai").__version__, "torch": torch.__version__,
    }), flush=True)


if __name__ == "__main__":
    main()
