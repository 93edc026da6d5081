"""The demo dataset: written all or nothing, never over anything that is already there."""

from __future__ import annotations

import pytest

from resnet_studio.engine import demo
from resnet_studio.engine.errors import StudioError


def _files(folder):
    return sorted(p.relative_to(folder).as_posix() for p in folder.rglob("*") if p.is_file())


def test_written_into_a_new_or_empty_folder(tmp_path):
    out = demo.make_demo_dataset(tmp_path / "new", per_class=2, image_size=16)
    assert [p.name for p in sorted(out.iterdir())] == list(demo.DEMO_CLASSES)
    assert len(_files(out)) == 8
    (tmp_path / "empty").mkdir()
    assert len(_files(demo.make_demo_dataset(tmp_path / "empty", per_class=1, image_size=16))) == 4
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no partial folder left


def test_a_folder_with_files_is_never_written_into(tmp_path):
    photos = tmp_path / "photos"
    (photos / "dots").mkdir(parents=True)
    (photos / "dots" / "dots_000.png").write_bytes(b"my own photo")
    with pytest.raises(StudioError, match="is not empty"):
        demo.make_demo_dataset(photos, per_class=1, image_size=16)
    assert (photos / "dots" / "dots_000.png").read_bytes() == b"my own photo"
    with pytest.raises(StudioError, match="is not empty"):  # reuse only takes a complete demo dataset
        demo.make_demo_dataset(photos, per_class=1, image_size=16, reuse=True)


def test_reuse_returns_an_existing_demo_dataset_untouched(tmp_path):
    out = demo.make_demo_dataset(tmp_path / "demo", per_class=1, image_size=16)
    before = {f: (out / f).stat().st_mtime_ns for f in _files(out)}
    assert demo.make_demo_dataset(out, per_class=5, image_size=16, reuse=True) == out
    assert {f: (out / f).stat().st_mtime_ns for f in _files(out)} == before


def test_an_interrupted_write_leaves_nothing(tmp_path):
    calls = []

    def stop_after_three():
        calls.append(1)
        if len(calls) > 3:
            raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        demo.make_demo_dataset(tmp_path / "demo", per_class=2, image_size=16, check=stop_after_three)
    assert list(tmp_path.iterdir()) == []
