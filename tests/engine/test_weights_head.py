"""A start file's classifier is matched to the data folder's classes by name (issue 12)."""

import json

import pytest
import torch
from safetensors.torch import save_file

from resnet_studio.engine import checkpoint, models
from resnet_studio.engine.config import TrainConfig
from resnet_studio.engine.data import scan_dataset
from resnet_studio.engine.errors import StudioError
from resnet_studio.engine.events import LogMessage
from resnet_studio.engine.train import Trainer, prepare
from tests.conftest import make_class_folder


def studio_model(folder, classes, seed=1):
    """A saved ResNet-18 studio model (model.safetensors + model.json) with a distinctive head."""
    torch.manual_seed(seed)
    model = models.build_model(18, len(classes))
    torch.nn.init.normal_(model.fc.weight)
    torch.nn.init.normal_(model.fc.bias)
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "model.safetensors"
    checkpoint.save_model(model, path, {"depth": 18, "classes": list(classes), "image_size": 32})
    return model, path


def fresh_head(num_classes, seed=0):
    """The classifier build_model makes for `num_classes` when nothing is loaded into it."""
    torch.manual_seed(seed)
    return models.build_model(18, num_classes).fc


def build(path, classes, seed=0, **kw):
    torch.manual_seed(seed)
    return models.build_model(18, len(classes), path, class_names=classes, **kw)


def test_same_names_in_the_same_order_keep_the_head_without_a_note(tmp_path):
    source, path = studio_model(tmp_path / "run", ["cat", "dog", "fish"])
    model = build(path, ["cat", "dog", "fish"])
    assert torch.equal(model.fc.weight, source.fc.weight) and torch.equal(model.fc.bias, source.fc.bias)
    assert torch.equal(model.layer3[0].conv1.weight, source.layer3[0].conv1.weight)
    assert model.studio_weights_note == ""


def test_the_same_classes_in_another_order_reorder_the_rows(tmp_path):
    source, path = studio_model(tmp_path / "run", ["cat", "dog", "fish"])
    model = build(path, ["fish", "cat", "dog"])
    order = [2, 0, 1]
    assert torch.equal(model.fc.weight, source.fc.weight[order])
    assert torch.equal(model.fc.bias, source.fc.bias[order])
    assert torch.equal(model.layer4[1].bn2.running_mean, source.layer4[1].bn2.running_mean)
    assert model.studio_weights_note == (
        "started from the weights in model.safetensors; their classifier's rows were reordered to this folder's classes"
    )


def test_shared_classes_keep_their_rows_and_new_classes_get_fresh_rows(tmp_path):
    # a 5-class run fine-tuned from a 3-class run whose classes are among its own
    source, path = studio_model(tmp_path / "run", ["cat", "dog", "fish"])
    classes = ["bird", "cat", "dog", "fish", "owl"]
    model = build(path, classes)
    fresh = fresh_head(5)
    for i, j in ((1, 0), (2, 1), (3, 2)):
        assert torch.equal(model.fc.weight[i], source.fc.weight[j]) and model.fc.bias[i] == source.fc.bias[j]
    for i in (0, 4):  # initialised exactly as build_model's new classifier, not copied from the file
        assert torch.equal(model.fc.weight[i], fresh.weight[i]) and model.fc.bias[i] == fresh.bias[i]
        assert not any(torch.equal(model.fc.weight[i], row) for row in source.fc.weight)
    assert model.studio_weights_note == (
        "started from the weights in model.safetensors; their classifier was kept for 3 of 5 classes "
        "(cat, dog, fish); new rows for bird, owl"
    )


def test_a_head_of_the_same_size_with_partly_other_classes_is_not_kept_whole(tmp_path):
    source, path = studio_model(tmp_path / "run", ["cat", "dog"])
    model = build(path, ["dog", "bird"])
    assert torch.equal(model.fc.weight[0], source.fc.weight[1]) and model.fc.bias[0] == source.fc.bias[1]
    assert not any(torch.equal(model.fc.weight[1], row) for row in source.fc.weight)
    assert torch.equal(model.fc.weight[1], fresh_head(2).weight[1])
    note = model.studio_weights_note
    assert note == (
        "started from the weights in model.safetensors; their classifier was kept for 1 of 2 classes (dog); "
        "new rows for bird; their rows for cat (not in this folder) were dropped"
    )


def test_no_shared_classes_give_a_new_head(tmp_path):
    source, path = studio_model(tmp_path / "run", ["cat", "dog"])
    model = build(path, ["bird", "fish"])
    fresh = fresh_head(2)
    assert torch.equal(model.fc.weight, fresh.weight) and torch.equal(model.fc.bias, fresh.bias)
    assert not any(torch.equal(row, src) for row in model.fc.weight for src in source.fc.weight)
    assert torch.equal(model.layer1[0].conv2.weight, source.layer1[0].conv2.weight)  # the backbone still loads
    assert model.studio_weights_note == (
        "started from the weights in model.safetensors; their classifier was replaced by a new one: "
        "none of its 2 classes (cat, dog) is among this folder's"
    )


def test_notes_quote_only_a_few_class_names(tmp_path):
    old = [f"old{i}" for i in range(8)]
    _, path = studio_model(tmp_path / "run", old + ["shared"])
    new = ["shared"] + [f"new{i}" for i in range(6)]
    note = build(path, new).studio_weights_note
    assert "\n" not in note
    assert "kept for 1 of 7 classes (shared)" in note
    assert "new rows for new0, new1, new2 and 3 more" in note
    assert "their rows for old0, old1, old2 and 5 more (not in this folder) were dropped" in note
    assert "new4" not in note and "old5" not in note


def _plain_safetensors(source, folder):
    save_file({k: v.contiguous() for k, v in source.state_dict().items()}, folder / "plain.safetensors")
    return folder / "plain.safetensors"


def _pth(source, folder):
    torch.save(source.state_dict(), folder / "w.pth")
    return folder / "w.pth"


def _model_json_of_another_model(source, folder):
    # model.json beside the file, but it describes 3 classes while the file's classifier has 2
    save_file({k: v.contiguous() for k, v in source.state_dict().items()}, folder / "model.safetensors")
    (folder / "model.json").write_text(json.dumps({"depth": 18, "classes": ["a", "b", "c"], "image_size": 32}))
    return folder / "model.safetensors"


def _broken_model_json(source, folder):
    save_file({k: v.contiguous() for k, v in source.state_dict().items()}, folder / "model.safetensors")
    (folder / "model.json").write_text("{not json")
    return folder / "model.safetensors"


@pytest.mark.parametrize("write", [_plain_safetensors, _pth, _model_json_of_another_model, _broken_model_json])
def test_a_file_without_class_names_keeps_a_head_that_fits_but_says_they_were_not_checked(tmp_path, write):
    torch.manual_seed(1)
    source = models.build_model(18, 2)
    torch.nn.init.normal_(source.fc.weight)
    path = write(source, tmp_path)
    model = build(path, ["dog", "cat"])
    assert torch.equal(model.fc.weight, source.fc.weight) and torch.equal(model.fc.bias, source.fc.bias)
    assert model.studio_weights_note == (
        f"started from the weights in {path.name}; their classifier was kept, but its classes could not be checked: "
        "the file has no class names, so it is assumed to list this folder's 2 classes in the same order"
    )
    other_size = build(path, ["dog", "cat", "owl"])  # a head of another size is still replaced, as before
    assert other_size.studio_weights_note == (
        f"started from the weights in {path.name}; their 2-class classifier was replaced by a new one for 3 classes"
    )


def test_without_class_names_the_head_rules_are_unchanged(tmp_path):
    source, path = studio_model(tmp_path / "run", ["cat", "dog"])
    same_size = models.build_model(18, 2, path)  # the file's classes are [cat, dog]; nothing is matched
    assert torch.equal(same_size.fc.weight, source.fc.weight) and same_size.studio_weights_note == ""
    torch.manual_seed(0)
    other_size = models.build_model(18, 3, path)
    assert torch.equal(other_size.fc.weight, fresh_head(3).weight)
    assert other_size.studio_weights_note == (
        "started from the weights in model.safetensors; their 2-class classifier was replaced by a new one for 3 classes"
    )


def test_class_names_must_match_the_number_of_classes(tmp_path):
    with pytest.raises(StudioError, match="2 class names were given for a model of 3 classes"):
        models.build_model(18, 3, "none", class_names=["a", "b"])


def tiny_config(data_dir, out_dir, **kw) -> TrainConfig:
    base = dict(data_dir=str(data_dir), depth=18, weights="none", epochs=1, batch_size=4, image_size=16,
                device="cpu", workers=0, out_dir=str(out_dir), seed=0)
    return TrainConfig(**{**base, **kw})


def test_training_from_another_runs_model_matches_the_head_to_the_folder(tmp_path):
    source, path = studio_model(tmp_path / "other-run", ["dog", "cat"])  # the other run listed dog first
    data = make_class_folder(tmp_path / "data", {"cat": 5, "dog": 5, "owl": 5}, size=16)
    config = tiny_config(data, tmp_path / "runs", weights=str(path))
    classes = scan_dataset(config.data_dir, config.val_split, config.seed).classes
    assert classes == ["cat", "dog", "owl"]

    model, note = prepare.make_model(config, classes, torch.device("cpu"), None)
    assert model.fc.out_features == 3
    assert torch.equal(model.fc.weight[0], source.fc.weight[1]) and torch.equal(model.fc.weight[1], source.fc.weight[0])
    assert torch.equal(model.fc.bias[:2], source.fc.bias[[1, 0]])
    assert note == (
        "started from the weights in model.safetensors; their classifier was kept for 2 of 3 classes (cat, dog); "
        "new rows for owl"
    )

    # and the trainer passes the folder's classes, so the run's log says so
    logged = []
    result = Trainer(config, [lambda e: logged.append(e)]).run()
    assert result.status == "completed"
    assert note in [e.message for e in logged if isinstance(e, LogMessage)]
