"""Predictor: loading saved models safely, preprocessing, batching, top-k, broken images."""

from __future__ import annotations

import os
import urllib.error

import numpy as np
import pytest
import torch
from PIL import Image

from resnet_studio.engine import checkpoint, data, models
from resnet_studio.engine.errors import ImageError, ModelFileError, WeightsUnavailableError
from resnet_studio.engine.predict import Prediction, Predictor

CLASSES = ["ant", "bee", "cat", "dog"]
BIAS = [0.0, 2.0, 1.0, -1.0]  # with a zero fc weight: bee > cat > ant > dog for every image


class _Booby:
    """Unpickling this runs a shell command that leaves a marker file."""

    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        return (os.system, (f"touch '{self.marker}'",))


def save_model(folder, classes=CLASSES, bias=BIAS, image_size=32, resize_size=37, seed=0):
    torch.manual_seed(seed)
    model = models.build_model(18, len(classes), "none")
    if bias is not None:
        with torch.no_grad():
            model.fc.weight.zero_()
            model.fc.bias.copy_(torch.tensor(bias))
    folder.mkdir(parents=True, exist_ok=True)
    meta = {
        "depth": 18,
        "classes": list(classes),
        "image_size": image_size,
        "resize_size": resize_size,
        "mean": list(models.IMAGENET_MEAN),
        "std": list(models.IMAGENET_STD),
        "project_version": "test",
        "trainable": "all",
        "weights": "none",
        "epoch": 1,
        "val_acc": 0.5,
    }
    checkpoint.save_model(model, folder / "model.safetensors", meta)
    return folder


def write_images(folder, n=5, size=(24, 20), seed=0):
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    paths = []
    for i in range(n):
        p = folder / f"img{i}.png"
        Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8)).save(p)
        paths.append(p)
    return paths


@pytest.fixture(scope="module")
def model_dir(tmp_path_factory):
    return save_model(tmp_path_factory.mktemp("model"))


@pytest.fixture(scope="module")
def predictor(model_dir):
    return Predictor.from_path(model_dir)


@pytest.fixture(scope="module")
def images(tmp_path_factory):
    return write_images(tmp_path_factory.mktemp("images"))


def test_from_path_accepts_run_folder_safetensors_and_json(model_dir):
    for path in (model_dir, model_dir / "model.safetensors", model_dir / "model.json", str(model_dir)):
        p = Predictor.from_path(path)
        assert p.classes == CLASSES
        assert p.depth == 18
        assert p.image_size == 32
        assert not p.model.training
        assert p.device == torch.device("cpu")


def test_topk_sorted_by_probability(predictor, images):
    expected = torch.tensor(BIAS).softmax(0).tolist()
    for result in predictor.predict(images, topk=4):
        assert result.error is None
        assert [label for label, _ in result.predictions] == ["bee", "cat", "ant", "dog"]
        probs = [p for _, p in result.predictions]
        assert probs == sorted(probs, reverse=True)
        assert probs == pytest.approx([expected[1], expected[2], expected[0], expected[3]], abs=1e-5)


@pytest.mark.parametrize("topk, n", [(1, 1), (2, 2), (4, 4), (50, 4)])
def test_topk_is_clipped_to_the_number_of_classes(predictor, images, topk, n):
    (result,) = predictor.predict(images[:1], topk=topk)
    assert len(result.predictions) == n
    assert result.top1[0] == "bee"


def test_broken_image_gives_an_error_entry_and_keeps_order(predictor, images, tmp_path):
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"this is not a png")
    empty = tmp_path / "empty.jpg"
    empty.write_bytes(b"")
    missing = tmp_path / "gone.png"
    items = [images[0], broken, images[1], empty, images[2], missing, images[3]]
    results = predictor.predict(items, topk=2, batch_size=2)
    assert [r.path for r in results] == [str(p) for p in items]
    assert [r.ok for r in results] == [True, False, True, False, True, False, True]
    with pytest.raises(ImageError) as exc:
        data.load_image(broken)
    assert results[1].error == str(exc.value)
    assert results[1].predictions == []
    assert "empty" in results[3].error
    assert "not found" in results[5].error
    assert all(len(r.predictions) == 2 for r in results if r.ok)


def test_all_images_broken(predictor, tmp_path):
    broken = tmp_path / "a.png"
    broken.write_bytes(b"nope")
    (result,) = predictor.predict([broken])
    assert result.error and not result.predictions


def test_to_dict_matches_the_cli_json(predictor, images, tmp_path):
    broken = tmp_path / "x.png"
    broken.write_bytes(b"x")
    good, bad = predictor.predict([images[0], broken], topk=2)
    d = good.to_dict()
    assert set(d) == {"path", "predictions"}
    assert d["path"] == str(images[0])
    assert [set(p) for p in d["predictions"]] == [{"label", "prob"}] * 2
    assert isinstance(d["predictions"][0]["prob"], float)
    assert bad.to_dict() == {"path": str(broken), "error": bad.error}
    assert Prediction(None, [("a", 1.0)]).to_dict() == {"path": None, "predictions": [{"label": "a", "prob": 1.0}]}


def test_probabilities_match_the_eval_preprocessing(tmp_path, images):
    model_dir = save_model(tmp_path / "m", bias=None, seed=3)
    p = Predictor.from_path(model_dir)
    model, _ = checkpoint.load_model(model_dir)
    batch = torch.stack([data.eval_transform(32)(data.load_image(path)) for path in images])
    with torch.no_grad():
        expected = model(batch).softmax(1)
    results = p.predict(images, topk=4, batch_size=3)
    for row, result in zip(expected, results):
        probs = dict(result.predictions)
        assert [probs[c] for c in CLASSES] == pytest.approx(row.tolist(), abs=1e-5)


def test_batches_give_the_same_answers_as_single_images(tmp_path, images):
    p = Predictor.from_path(save_model(tmp_path / "m", bias=None, seed=4))
    together = p.predict(images, topk=4, batch_size=16)
    alone = [r for path in images for r in p.predict([path], topk=4, batch_size=1)]
    for a, b in zip(together, alone):
        assert [label for label, _ in a.predictions] == [label for label, _ in b.predictions]
        assert [x for _, x in a.predictions] == pytest.approx([x for _, x in b.predictions], abs=1e-5)


def test_pil_images_and_rgba(predictor, images):
    rgba = Image.open(images[0]).convert("RGBA")
    gray = Image.open(images[1]).convert("L")
    results = predictor.predict([rgba, gray, images[2]], topk=1)
    assert [r.path for r in results] == [None, None, str(images[2])]
    assert all(r.ok for r in results)


def test_iter_predict_yields_in_order(predictor, images):
    it = predictor.iter_predict(iter(images), topk=1, batch_size=2)
    first = next(it)
    assert first.path == str(images[0])
    assert [r.path for r in [first, *it]] == [str(p) for p in images]


def test_model_is_put_in_eval_mode():
    model = models.build_model(18, 2, "none")
    model.train()
    p = Predictor(model, ["a", "b"], 32, models.IMAGENET_MEAN, models.IMAGENET_STD, "cpu")
    assert not p.model.training
    assert p.depth == 18


def test_warm_up_changes_nothing_but_the_first_wait(predictor, images):
    before = predictor.predict(images[:2])
    predictor.warm_up()
    assert predictor.predict(images[:2]) == before
    assert predictor.model.conv1.weight.is_contiguous(memory_format=torch.channels_last)


def test_custom_resize_and_normalization_are_used(tmp_path, images):
    p = Predictor(models.build_model(18, 2, "none"), ["a", "b"], 32, (0.5, 0.5, 0.5), (0.5, 0.5, 0.5), "cpu", resize_size=48)
    x = p.transform(data.load_image(images[0]))
    assert tuple(x.shape) == (3, 32, 32)
    assert x.min() >= -1.0 - 1e-6 and x.max() <= 1.0 + 1e-6
    assert all(r.ok for r in p.predict(images[:2]))


def test_booby_trapped_pickle_is_refused(tmp_path):
    marker = tmp_path / "pwned"
    evil = tmp_path / "model.pt"
    torch.save({"model": _Booby(marker)}, evil)
    with pytest.raises(ModelFileError, match="refused"):
        Predictor.from_path(evil)
    # a pickle renamed to model.safetensors, with a plausible model.json beside it
    disguised = save_model(tmp_path / "run")
    (disguised / "model.safetensors").write_bytes(evil.read_bytes())
    with pytest.raises(ModelFileError):
        Predictor.from_path(disguised)
    assert not marker.exists()


def test_missing_or_damaged_model_files(tmp_path):
    with pytest.raises(ModelFileError):
        Predictor.from_path(tmp_path / "nothing-here")
    run = save_model(tmp_path / "run")
    (run / "model.json").write_text("{not json")
    with pytest.raises(ModelFileError):
        Predictor.from_path(run)


def test_imagenet_offline_raises_weights_unavailable(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path))

    def offline(*args, **kwargs):
        raise urllib.error.URLError("no network")

    monkeypatch.setattr("torchvision.models._api.load_state_dict_from_url", offline)
    with pytest.raises(WeightsUnavailableError, match="could not be downloaded"):
        Predictor.imagenet(depth=18)


def test_imagenet_with_weights_at_hand(monkeypatch, images):
    torch.manual_seed(0)
    state = models.build_model(18, 1000, "none").state_dict()
    monkeypatch.setattr(models, "imagenet_state_dict", lambda depth, progress=True: state)
    p = Predictor.imagenet(depth=18)
    assert len(p.classes) == 1000 and p.classes == models.imagenet_categories()
    assert p.depth == 18 and p.image_size == 224
    (result,) = p.predict(images[:1], topk=3)
    assert len(result.predictions) == 3
    assert all(label in p.classes for label, _ in result.predictions)


def test_one_csv_layout_for_every_front(predictor, images, tmp_path):
    broken = tmp_path / "broken.png"
    broken.write_bytes(b"not a png")
    results = predictor.predict([images[0], broken, images[1]], topk=2)
    results.append(Prediction("Pasted image 1", [("cat", 0.75), ("ant", 0.25)]))
    from resnet_studio.engine.predict import write_csv

    write_csv(tmp_path / "p.csv", results)
    lines = (tmp_path / "p.csv").read_text(encoding="utf-8").splitlines()
    assert lines[0] == "path,label_1,prob_1,label_2,prob_2,error"
    label, prob = results[0].predictions[0]
    assert lines[1].startswith(f"{images[0]},{label},{prob:.6f},")
    assert lines[2].startswith(f"{broken},,,,,") and "not an image" in lines[2]
    assert lines[4] == "Pasted image 1,cat,0.750000,ant,0.250000,"
