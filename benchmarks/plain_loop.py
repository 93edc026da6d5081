"""The reference: the plain PyTorch training loop on a photo folder, as tutorials write it.

    python benchmarks/plain_loop.py DATA [--depth 18] [--image-size 64] [--epochs 3]
        [--batch-size 32] [--workers 2] [--device cpu] [--json]

torchvision ImageFolder + DataLoader (per-image PIL decode, RandomResizedCrop and flip
in the workers), fp32, the usual loop with `loss.item()` every step. The split is a
seeded 80/20 random_split; files that photo_folder.py breaks on purpose are left out
(a plain loop would crash on them). One JSON line per epoch with --json.
"""

from __future__ import annotations

import argparse
import json
import math
import time

import torch
import torchvision
from torch import nn
from torchvision import transforms

BROKEN = {"zero.jpg", "cut.jpg", "notes.jpg"}  # what photo_folder.py writes to break a plain loop
MEAN, STD = (0.485, 0.456, 0.406), (0.229, 0.224, 0.225)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("data")
    parser.add_argument("--depth", type=int, default=18)
    parser.add_argument("--image-size", type=int, default=64)
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--device", default="cpu")
    parser.add_argument("--lr", type=float, default=0.1)
    parser.add_argument("--json", action="store_true")
    args = parser.parse_args()
    started = time.perf_counter()
    device = torch.device(args.device)

    size = args.image_size
    train_tf = transforms.Compose([
        transforms.RandomResizedCrop(size, scale=(0.25, 1.0)),
        transforms.RandomHorizontalFlip(),
        transforms.ToTensor(),
        transforms.Normalize(MEAN, STD),
    ])
    val_tf = transforms.Compose([
        transforms.Resize(round(size / 0.875)),
        transforms.CenterCrop(size),
        transforms.ToTensor(),
        transforms.Normalize(MEAN, STD),
    ])
    usable = lambda path: path.lower().endswith((".jpg", ".jpeg", ".png")) and path.rsplit("/", 1)[-1] not in BROKEN
    train_all = torchvision.datasets.ImageFolder(args.data, train_tf, is_valid_file=usable)
    val_all = torchvision.datasets.ImageFolder(args.data, val_tf, is_valid_file=usable)
    n_val = round(len(train_all) * 0.2)
    order = torch.randperm(len(train_all), generator=torch.Generator().manual_seed(0)).tolist()
    train_set = torch.utils.data.Subset(train_all, order[n_val:])
    val_set = torch.utils.data.Subset(val_all, order[:n_val])
    loader_kw = dict(batch_size=args.batch_size, num_workers=args.workers, pin_memory=device.type == "cuda",
                     persistent_workers=args.workers > 0)
    train_loader = torch.utils.data.DataLoader(train_set, shuffle=True, drop_last=True, **loader_kw)
    val_loader = torch.utils.data.DataLoader(val_set, shuffle=False, **loader_kw)

    model = getattr(torchvision.models, f"resnet{args.depth}")(num_classes=len(train_all.classes)).to(device)
    optimizer = torch.optim.SGD(model.parameters(), lr=args.lr, momentum=0.9, nesterov=True, weight_decay=1e-4)
    # one epoch of warm-up (at most half the run), then cosine
    steps = args.epochs * len(train_loader)
    warmup = max(1, min(len(train_loader), steps // 2))
    schedule = lambda s: (s + 1) / warmup if s < warmup else 0.5 * (1 + math.cos(math.pi * (s - warmup) / (steps - warmup)))
    scheduler = torch.optim.lr_scheduler.LambdaLR(optimizer, schedule)
    criterion = nn.CrossEntropyLoss(label_smoothing=0.1)

    for epoch in range(1, args.epochs + 1):
        epoch_start = time.perf_counter()
        model.train()
        seen, loss_sum = 0, 0.0
        for images, labels in train_loader:
            images, labels = images.to(device, non_blocking=True), labels.to(device, non_blocking=True)
            loss = criterion(model(images), labels)
            optimizer.zero_grad()
            loss.backward()
            optimizer.step()
            scheduler.step()
            loss_sum += loss.item() * len(labels)
            seen += len(labels)
        train_seconds = time.perf_counter() - epoch_start
        model.eval()
        correct = total = 0
        with torch.no_grad():
            for images, labels in val_loader:
                preds = model(images.to(device)).argmax(1).cpu()
                correct += int((preds == labels).sum())
                total += len(labels)
        row = {
            "epoch": epoch,
            "train_loss": loss_sum / seen,
            "val_acc": correct / total,
            "images_per_sec": seen / train_seconds,
            "seconds": time.perf_counter() - epoch_start,
            "elapsed": time.perf_counter() - started,
        }
        print(json.dumps(row) if args.json else f"epoch {epoch}: {row}", flush=True)


if __name__ == "__main__":
    main()
