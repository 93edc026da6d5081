"""engine.architecture: the block-by-block description of every depth.

Models are built on the meta device (shapes, no storage), so even ResNet-152 costs
milliseconds; one small real model checks that describing leaves weights alone.
"""

from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest
import torch

from resnet_studio.engine import architecture
from resnet_studio.engine.architecture import describe, describe_depth, format_table
from resnet_studio.engine.errors import StudioError
from resnet_studio.engine.models import DEPTHS, TRAINABLE_CHOICES, build_model, frozen_prefixes

BLOCKS_PER_STAGE = {18: [2, 2, 2, 2], 34: [3, 4, 6, 3], 50: [3, 4, 6, 3], 101: [3, 4, 23, 3], 152: [3, 8, 36, 3]}
ALL_DEPTHS = sorted(BLOCKS_PER_STAGE)


def meta_model(depth: int, num_classes: int = 1000, trainable: str = "all"):
    with torch.device("meta"):
        return build_model(depth, num_classes, weights="none", trainable=trainable)


def blocks(desc: dict) -> list[dict]:
    return [b for s in desc["stages"] for b in s["blocks"]]


@pytest.mark.parametrize("depth", ALL_DEPTHS)
def test_blocks_per_stage_and_names(depth):
    desc = describe_depth(depth)
    assert desc["depth"] == depth
    assert [len(s["blocks"]) for s in desc["stages"]] == BLOCKS_PER_STAGE[depth]
    assert [s["name"] for s in desc["stages"]] == ["layer1", "layer2", "layer3", "layer4"]
    block_type = "BasicBlock" if depth < 50 else "Bottleneck"
    for stage in desc["stages"]:
        assert [b["name"] for b in stage["blocks"]] == [f"{stage['name']}.{i}" for i in range(len(stage["blocks"]))]
        assert {b["type"] for b in stage["blocks"]} == {block_type}
    convs_per_block = 2 if depth < 50 else 3
    for b in blocks(desc):
        assert [ly["kind"] for ly in b["layers"] if ly["kind"] == "conv"] == ["conv"] * convs_per_block


@pytest.mark.parametrize("depth", ALL_DEPTHS)
def test_parameters_add_up_to_the_model_and_torchvision(depth):
    model = meta_model(depth)
    desc = describe(model, 224)
    total = sum(p.numel() for p in model.parameters())
    parts = desc["stem"]["params"] + sum(b["params"] for b in blocks(desc)) + desc["head"]["params"]
    assert parts == total == desc["total_params"]
    assert total == DEPTHS[depth].default_weights.meta["num_params"]
    assert sum(s["params"] for s in desc["stages"]) == sum(b["params"] for b in blocks(desc))
    for b in blocks(desc):  # a block is its layers and its shortcut
        assert b["params"] == sum(ly["params"] for ly in b["layers"] + b["shortcut_layers"])


@pytest.mark.parametrize("depth", ALL_DEPTHS)
def test_multiply_adds_match_torchvision(depth):
    desc = describe_depth(depth, image_size=224)
    assert desc["mult_adds"] == pytest.approx(DEPTHS[depth].default_weights.meta["_ops"] * 1e9, rel=1e-3)


@pytest.mark.parametrize("depth", ALL_DEPTHS)
def test_shapes_at_224(depth):
    desc = describe_depth(depth, image_size=224, num_classes=7)
    widen = 1 if depth < 50 else 4
    assert desc["input_shape"] == [3, 224, 224]
    assert desc["stem"]["out_shape"] == [64, 56, 56]
    assert [s["out_shape"] for s in desc["stages"]] == [
        [64 * widen, 56, 56], [128 * widen, 28, 28], [256 * widen, 14, 14], [512 * widen, 7, 7]
    ]
    assert desc["head"]["out_shape"] == [7]
    assert [ly["out_shape"] for ly in desc["head"]["layers"]] == [[512 * widen, 1, 1], [7]]
    assert desc["num_classes"] == 7
    for stage in desc["stages"]:
        assert stage["blocks"][-1]["out_shape"] == stage["out_shape"]


def test_shapes_are_measured_at_other_sizes():
    desc = describe_depth(50, image_size=200)
    # 200 -> 100 (conv1) -> 50 (maxpool) -> 50, 25, 13, 7: the rounding of a real pass
    assert [s["out_shape"][1:] for s in desc["stages"]] == [[50, 50], [25, 25], [13, 13], [7, 7]]
    assert describe_depth(18, image_size=32)["stages"][-1]["out_shape"] == [512, 1, 1]
    small, large = describe_depth(18, image_size=112), describe_depth(18, image_size=224)
    assert large["mult_adds"] > 3.5 * small["mult_adds"]


@pytest.mark.parametrize("depth", ALL_DEPTHS)
def test_projection_shortcuts_exactly_where_the_shape_changes(depth):
    desc = describe_depth(depth)
    shape_in = desc["stem"]["out_shape"]
    for stage in desc["stages"]:
        for i, b in enumerate(stage["blocks"]):
            changes = shape_in != b["out_shape"]
            assert (b["shortcut"] == "projection") == (i == 0 and changes), b["name"]
            if b["shortcut"] == "projection":
                conv, bn = b["shortcut_layers"]
                assert (conv["kind"], conv["kernel"], bn["kind"]) == ("conv", 1, "batchnorm")
                assert conv["stride"] == b["stride"] == shape_in[1] // b["out_shape"][1]
                assert conv["out_channels"] == b["out_channels"]
            else:
                assert b["shortcut_layers"] == [] and b["in_channels"] == b["out_channels"] and b["stride"] == 1
            assert b["in_channels"] == shape_in[0]
            shape_in = b["out_shape"]


@pytest.mark.parametrize("trainable", TRAINABLE_CHOICES)
@pytest.mark.parametrize("depth", [18, 50])
def test_trainable_flags_follow_the_policy(depth, trainable):
    model = meta_model(depth, 10, trainable)
    desc = describe(model)
    frozen = frozen_prefixes(trainable)
    assert desc["stem"]["trainable"] == ("conv1" not in frozen)
    assert desc["head"]["trainable"] is True
    for stage in desc["stages"]:
        assert stage["trainable"] == (stage["name"] not in frozen)
        for b in stage["blocks"]:
            assert b["trainable"] == (stage["name"] not in frozen)
            assert all(ly["trainable"] == b["trainable"] for ly in b["layers"] + b["shortcut_layers"] if ly["params"])
    assert desc["trainable_params"] == sum(p.numel() for p in model.parameters() if p.requires_grad)
    assert desc["trainable_part"] == trainable
    assert describe_depth(depth, num_classes=10, trainable=trainable) == desc


def test_describing_a_real_model_leaves_it_untouched():
    model = build_model(18, 3, weights="none", trainable="layer4")
    model.train()
    before = {k: v.clone() for k, v in model.state_dict().items()}
    desc = describe(model, 224)
    assert all(torch.equal(before[k], v) for k, v in model.state_dict().items())
    assert all(t.device.type == "cpu" for t in model.state_dict().values())
    assert model.training and not model.conv1.weight.requires_grad and model.fc.weight.requires_grad
    assert desc == describe_depth(18, num_classes=3, trainable="layer4")


def test_layers_of_a_bottleneck_block():
    b = describe_depth(50)["stages"][1]["blocks"][0]  # layer2.0
    assert (b["name"], b["in_channels"], b["out_channels"], b["stride"]) == ("layer2.0", 256, 512, 2)
    kinds = [ly["kind"] for ly in b["layers"]]
    assert kinds == ["conv", "batchnorm", "relu", "conv", "batchnorm", "relu", "conv", "batchnorm", "add", "relu"]
    convs = [ly for ly in b["layers"] if ly["kind"] == "conv"]
    assert [(ly["kernel"], ly["stride"], ly["in_channels"], ly["out_channels"]) for ly in convs] == [
        (1, 1, 256, 128), (3, 2, 128, 128), (1, 1, 128, 512)
    ]
    assert [ly["out_shape"] for ly in convs] == [[128, 56, 56], [128, 28, 28], [512, 28, 28]]
    assert convs[1]["params"] == 3 * 3 * 128 * 128
    stem = describe_depth(50)["stem"]
    assert [(ly["kind"], ly["kernel"], ly["stride"]) for ly in stem["layers"]] == [
        ("conv", 7, 2), ("batchnorm", None, None), ("relu", None, None), ("maxpool", 3, 2)
    ]


def test_json_keys_and_round_trip():
    desc = describe_depth(34, image_size=160, num_classes=5, trainable="layer3")
    assert json.loads(json.dumps(desc)) == desc
    for key in ("depth", "image_size", "num_classes", "total_params", "trainable_params", "mult_adds", "stem", "stages", "head"):
        assert key in desc
    for part in ("stem", "head"):
        assert {"layers", "out_shape", "params"} <= set(desc[part])
    for stage in desc["stages"]:
        assert {"name", "out_shape", "blocks"} <= set(stage)
        for b in stage["blocks"]:
            keys = {"name", "type", "in_channels", "out_channels", "stride", "shortcut", "params", "trainable", "out_shape"}
            assert keys | {"layers"} <= set(b)
            for layer in b["layers"]:
                assert {"kind", "kernel", "stride", "in_channels", "out_channels", "params"} <= set(layer)


def test_describe_depth_returns_a_fresh_copy():
    a = describe_depth(18)
    a["stages"][0]["blocks"].clear()
    assert len(describe_depth(18)["stages"][0]["blocks"]) == 2


def test_format_table_lists_every_block():
    desc = describe_depth(101, num_classes=4, trainable="head")
    text = format_table(desc)
    for b in blocks(desc):
        assert f"  {b['name']} " in text
    assert "ResNet-101" in text and f"{desc['total_params']:,}" in text
    assert "projection 1x1/2" in text and "2048x7x7" in text and "frozen" in text
    assert all(line == line.rstrip() for line in text.splitlines())


@pytest.mark.parametrize(
    "kwargs",
    [{"depth": 19}, {"depth": "deep"}, {"image_size": 8}, {"image_size": "big"}, {"trainable": "layer2"}, {"num_classes": 0}],
)
def test_bad_input_is_a_studio_error(kwargs):
    args = {"depth": 18, "image_size": 224, "num_classes": 10, "trainable": "all", **kwargs}
    with pytest.raises(StudioError):
        describe_depth(**args)


def test_engine_module_does_not_import_qt():
    tree = ast.parse(Path(architecture.__file__).read_text())
    names = [a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names]
    names += [n.module or "" for n in ast.walk(tree) if isinstance(n, ast.ImportFrom)]
    assert not [n for n in names if "PySide" in n or "Qt" in n or "pyqtgraph" in n]
