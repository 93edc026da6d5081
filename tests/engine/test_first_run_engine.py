"""The engine's answers for a first run (issue 13): are the ImageNet weights at hand, and
which run does the window predict with at start."""

from __future__ import annotations

import json

import torch

from resnet_studio.engine import models, runs


def test_weights_cached_looks_at_the_file_and_never_downloads(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.setattr(torch.hub, "_hub_dir", None, raising=False)

    def no_download(*args, **kwargs):
        raise AssertionError("a download was attempted")

    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", no_download)
    path = models.imagenet_weights_path(18)
    assert path.parent == tmp_path / "torch" / "hub" / "checkpoints" and path.name.startswith("resnet18-")
    assert not models.imagenet_weights_cached(18)
    path.parent.mkdir(parents=True)
    path.write_bytes(b"")  # an empty file is not weights
    assert not models.imagenet_weights_cached(18)
    path.write_bytes(b"weights")
    assert models.imagenet_weights_cached(18) and not models.imagenet_weights_cached(50)


def _run(root, name, created, status=None, model=True):
    folder = root / name
    folder.mkdir(parents=True)
    (folder / runs.CONFIG).write_text(json.dumps({"data_dir": "/photos", "depth": 18, "created": created}))
    if status:
        (folder / runs.SUMMARY).write_text(json.dumps({"status": status}))
    if model:
        (folder / runs.MODEL).write_bytes(b"m")
    return str(folder)


def test_newest_completed_run_has_a_model(tmp_path):
    assert runs.newest_completed_run(tmp_path / "none") is None
    old = _run(tmp_path, "a", "2026-01-01T00:00:00", "completed")
    _run(tmp_path, "b", "2026-01-02T00:00:00", "completed", model=False)
    _run(tmp_path, "c", "2026-01-03T00:00:00", "cancelled")
    _run(tmp_path, "d", "2026-01-04T00:00:00")  # no summary: cut off
    assert runs.newest_completed_run(tmp_path).path == old
    newer = _run(tmp_path, "e", "2026-01-05T00:00:00", "completed")
    assert runs.newest_completed_run(tmp_path).path == newer
