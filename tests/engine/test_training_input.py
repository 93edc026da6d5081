"""The training input's caches: validation at prediction's resize, training at its own size."""

from __future__ import annotations

import torch

from resnet_studio.engine.data import resize_size_for, scan_dataset
from resnet_studio.engine.train import prepare

from .test_trainer import tiny_config


def test_training_images_are_cached_at_their_own_size_with_the_budget_shared_by_bytes(tiny_demo, tmp_path, monkeypatch):
    config = tiny_config(tiny_demo, tmp_path, image_size=16, cache_budget_mb=10)
    scan = scan_dataset(config.data_dir, config.val_split, config.seed)
    same = prepare.TrainingInput(config, scan, torch.device("cpu"))
    assert same.train_cache is same.cache and same.cache.short_side == resize_size_for(16) == 18  # 1.14x: one cache

    monkeypatch.setattr(prepare, "TRAIN_CACHE_SCALE", 2.0)
    two = prepare.TrainingInput(config, scan, torch.device("cpu"))
    assert (two.train_cache.short_side, two.cache.short_side) == (32, 18)
    assert two.train_cache.budget_bytes + two.cache.budget_bytes == 10 * 2**20
    expected = len(scan.train) * 32**2 / (len(scan.train) * 32**2 + len(scan.val) * 18**2)
    assert abs(two.train_cache.budget_bytes / 2**20 / 10 - expected) < 1e-6
    batch = next(iter(two.train_loader))
    assert batch.sizes.min() == 32  # training crops come from the larger images
    assert next(iter(two.val_loader)).sizes.min() == 18  # validation's centre crops as prediction sees them
    assert "image cache:" in two.cache_report()


def test_the_head_only_shortcut_reads_every_image_at_prediction_size(tiny_demo, tmp_path, monkeypatch):
    monkeypatch.setattr(prepare, "TRAIN_CACHE_SCALE", 2.0)
    config = tiny_config(tiny_demo, tmp_path, image_size=16, trainable="head", augment=False)
    scan = scan_dataset(config.data_dir, config.val_split, config.seed)
    features = prepare.TrainingInput(config, scan, torch.device("cpu"))
    assert features.use_features and features.train_cache is features.cache and features.cache.budget_bytes == 0
