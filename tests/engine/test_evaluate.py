"""Evaluation: metrics against hand-computed values, per-image results, folders and run splits."""

from __future__ import annotations

from pathlib import Path

import pytest
from PIL import Image
from torch import nn

from resnet_studio.engine import evaluate, runs
from resnet_studio.engine.errors import DataError, StudioError
from resnet_studio.engine.predict import Predictor

COLOURS = {"red": (0, 0), "green": (1, 0), "blue": (2, 0)}


class MeanColour(nn.Module):
    """Logits = 4 x the mean of each (normalized) channel: a red picture is 'red'."""

    def forward(self, x):
        return x.mean(dim=(2, 3)) * 4.0


def colour_predictor() -> Predictor:
    return Predictor(MeanColour(), ["red", "green", "blue"], 16, resize_size=16)


def picture(rgb, size=20) -> Image.Image:
    return Image.new("RGB", (size, size), rgb)


# ---------------------------------------------------------------- metrics


def test_metrics_match_hand_computed_values():
    true = [0, 0, 0, 1, 1, 2]
    pred = [0, 0, 1, 1, 2, 2]
    hits = [True, True, True, True, False, True]
    acc, topk_acc, per_class, cm = evaluate.compute_metrics(true, pred, 4, hits)
    assert cm == [[2, 1, 0, 0], [0, 1, 1, 0], [0, 0, 1, 0], [0, 0, 0, 0]]
    assert acc == pytest.approx(4 / 6)
    assert topk_acc == pytest.approx(5 / 6)
    (p0, r0, f0, s0), (p1, r1, f1, s1), (p2, r2, f2, s2), (p3, r3, f3, s3) = per_class
    assert (p0, r0, f0, s0) == (pytest.approx(1.0), pytest.approx(2 / 3), pytest.approx(0.8), 3)
    assert (p1, r1, f1, s1) == (pytest.approx(0.5), pytest.approx(0.5), pytest.approx(0.5), 2)
    assert (p2, r2, f2, s2) == (pytest.approx(0.5), pytest.approx(1.0), pytest.approx(2 / 3), 1)
    assert (p3, r3, f3, s3) == (0.0, 0.0, 0.0, 0)  # never predicted, no images: 0, not NaN


def test_default_topk():
    assert [evaluate.default_topk(n) for n in (2, 3, 4, 10, 1000)] == [1, 1, 2, 5, 5]


# ---------------------------------------------------------------- evaluating a folder


@pytest.fixture
def colour_folder(tmp_path) -> Path:
    """red/ green/ blue/ folders; two mislabelled pictures, one broken file, one unknown class."""
    root = tmp_path / "colours"
    shades = {"red": [(250, 0, 0), (200, 10, 10), (160, 20, 20)], "green": [(0, 250, 0), (10, 200, 10)], "blue": [(0, 0, 250)]}
    for name, rgbs in shades.items():
        (root / name).mkdir(parents=True)
        for i, rgb in enumerate(rgbs):
            picture(rgb).save(root / name / f"{name}{i}.png")
    picture((0, 240, 0)).save(root / "red" / "really_green.png")  # confident mistake
    picture((90, 120, 60)).save(root / "red" / "muddy.png")  # a less confident one
    (root / "blue" / "broken.png").write_bytes(b"not a png")
    (root / "purple").mkdir()
    picture((128, 0, 128)).save(root / "purple" / "p.png")
    return root


def test_folder_evaluation(colour_folder):
    predictor = colour_predictor()
    samples, skipped, source = evaluate.folder_samples(colour_folder, predictor.classes)
    assert len(samples) == 9 and source == "all of colours"
    assert [s.reason for s in skipped] == ["class 'purple' is not one the model knows"]
    seen = []
    result = evaluate.evaluate(
        predictor, samples, topk=2, batch_size=4, skipped=skipped, progress=lambda d, t: seen.append((d, t))
    )
    assert seen[0] == (0, 9) and seen[-1] == (9, 9)
    assert result.num_images == 8  # the broken file is skipped, with its reason
    assert {Path(s.path).name for s in result.skipped} == {"p.png", "broken.png"}
    assert result.confusion == [[3, 2, 0], [0, 2, 0], [0, 0, 1]]
    assert result.accuracy == pytest.approx(6 / 8)
    assert result.per_class[0].recall == pytest.approx(3 / 5) and result.per_class[1].precision == pytest.approx(0.5)
    mistakes = result.mistakes()
    assert [Path(m.path).name for m in mistakes] == ["really_green.png", "muddy.png"]  # most confident first
    assert mistakes[0].confidence > mistakes[1].confidence and mistakes[0].true == 0 and mistakes[0].pred == 1
    assert mistakes[0].true_prob < mistakes[0].confidence
    assert [Path(m.path).name for m in result.cell(0, 1)] == ["really_green.png", "muddy.png"]
    assert result.mistakes(true=1) == []
    assert result.to_dict()["mistakes"][0]["pred"] == "green"


def test_evaluation_stops_when_check_raises(colour_folder):
    predictor = colour_predictor()
    samples, _, _ = evaluate.folder_samples(colour_folder, predictor.classes)
    calls = []

    def check():
        calls.append(1)
        if len(calls) > 1:
            raise RuntimeError("stop")

    with pytest.raises(RuntimeError, match="stop"):
        evaluate.evaluate(predictor, samples, batch_size=2, check=check)
    assert len(calls) == 2


def test_folder_with_a_split_uses_its_val_part(tmp_path):
    for part, n in (("train", 3), ("val", 1)):
        for name, rgb in (("red", (250, 0, 0)), ("green", (0, 250, 0))):
            (tmp_path / "d" / part / name).mkdir(parents=True)
            for i in range(n):
                picture(rgb).save(tmp_path / "d" / part / name / f"{i}.png")
    samples, _, source = evaluate.folder_samples(tmp_path / "d", ["red", "green", "blue"])
    assert source == "d/val" and len(samples) == 2 and all("/val/" in p.replace("\\", "/") for p, _ in samples)


def test_folder_of_other_classes_is_a_clear_error(tmp_path):
    (tmp_path / "cats").mkdir()
    picture((1, 2, 3)).save(tmp_path / "cats" / "a.png")
    with pytest.raises(DataError, match="none of the class folders"):
        evaluate.folder_samples(tmp_path, ["red", "green"])
    with pytest.raises(DataError, match="not a folder"):
        evaluate.folder_samples(tmp_path / "missing", ["red"])


def test_no_readable_image_is_an_error(tmp_path):
    (tmp_path / "bad.png").write_bytes(b"")
    with pytest.raises(StudioError, match="could be read"):
        evaluate.evaluate(colour_predictor(), [(str(tmp_path / "bad.png"), 0)])


# ---------------------------------------------------------------- a run's validation split


@pytest.fixture(scope="module")
def tiny_run(tiny_demo, tmp_path_factory):
    from resnet_studio.engine.config import TrainConfig
    from resnet_studio.engine.train import Trainer

    config = TrainConfig(
        data_dir=str(tiny_demo), depth=18, weights="none", stem="imagenet", epochs=1, batch_size=16, image_size=32,
        workers=0, device="cpu", out_dir=str(tmp_path_factory.mktemp("runs")),
    )
    finished = Trainer(config).run()
    assert finished.status == "completed"
    return Path(finished.run_dir)


def test_validation_split_of_a_run(tiny_run, tmp_path):
    import shutil

    predictor = Predictor.from_path(tiny_run)
    samples, skipped, source = evaluate.validation_samples(tiny_run, predictor.classes)
    assert source == "validation split of demo" and skipped == []
    assert len(samples) == runs.read_json(tiny_run / runs.SUMMARY)["num_val"]
    split = runs.read_split(tiny_run)
    assert sorted(samples) == sorted(split.val) and len(split.train) == runs.read_json(tiny_run / runs.SUMMARY)["num_train"]
    # without a checkpoint the split is still the run's own: split.json was written at its start
    copy = tmp_path / tiny_run.name
    shutil.copytree(tiny_run, copy)
    (copy / runs.CHECKPOINT).unlink()
    assert sorted(evaluate.validation_samples(copy, predictor.classes)[0]) == sorted(samples)
    result = evaluate.evaluate(predictor, samples, source=source)
    assert sum(map(sum, result.confusion)) == len(samples)
    assert len(result.per_class) == 4 and 0.0 <= result.accuracy <= 1.0


def test_a_photo_added_later_does_not_move_the_validation_split(tiny_demo, tmp_path):
    """Re-splitting the folder with the run's seed would move training images into the
    "validation" set once a photo is added; the run's split.json keeps them apart."""
    import shutil

    from resnet_studio.engine.config import TrainConfig
    from resnet_studio.engine.data import scan_dataset
    from resnet_studio.engine.train import Trainer

    data = shutil.copytree(tiny_demo, tmp_path / "data")
    config = TrainConfig(data_dir=str(data), weights="none", stem="imagenet", epochs=1, batch_size=16, image_size=32, workers=0,
                         device="cpu", out_dir=str(tmp_path / "runs"))
    run_dir = Trainer(config).run().run_dir
    before = evaluate.validation_samples(run_dir)[0]
    shutil.copy(data / "dots" / "dots_000.png", data / "dots" / "aaa_new.png")
    rescanned = scan_dataset(data, config.val_split, config.seed)
    assert sorted(p for p, _ in rescanned.val) != sorted(p for p, _ in before)  # what re-splitting would give
    assert evaluate.validation_samples(run_dir)[0] == before
    train = {p for p, _ in runs.read_split(run_dir).train}
    assert not train & {p for p, _ in before}


def test_a_run_from_before_split_json_uses_its_checkpoint(tiny_run, tmp_path):
    import shutil

    import torch

    copy = shutil.copytree(tiny_run, tmp_path / "old-run")
    split = runs.read_split(copy)
    (copy / runs.SPLIT).unlink()
    state = torch.load(copy / runs.CHECKPOINT, weights_only=True)
    state["train"], state["val"] = [list(x) for x in split.train], [list(x) for x in split.val]  # the old layout
    torch.save(state, copy / runs.CHECKPOINT)
    assert sorted(evaluate.validation_samples(copy)[0]) == sorted(split.val)


def test_a_run_that_does_not_record_its_split_is_refused(tiny_run, tmp_path):
    folder = tmp_path / "run"
    folder.mkdir()
    config = runs.read_json(tiny_run / runs.CONFIG)
    (folder / runs.CONFIG).write_text(__import__("json").dumps(config))
    with pytest.raises(StudioError, match="does not record its validation images"):
        evaluate.validation_samples(folder, ["checkers", "dots", "rings", "stripes"])
