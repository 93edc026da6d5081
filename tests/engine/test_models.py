import urllib.error

import pytest
import torch
from safetensors.torch import save_file

from resnet_studio.engine import models
from resnet_studio.engine.errors import ModelFileError, StudioError, WeightsUnavailableError


@pytest.mark.parametrize("depth", [18, 34, 50, 101, 152])
def test_depth_table_builds_torchvision_resnets_with_a_new_head(depth):
    spec = models.DEPTHS[depth]
    model = models.build_model(depth, 7, weights="none")
    assert [len(getattr(model, s)) for s in models.STAGES] == list(spec.layers)
    assert type(model.layer1[0]).__name__ == spec.block
    assert model.fc.out_features == 7
    summary = models.depth_summary(depth, 112)
    assert summary["params"] == spec.default_weights.meta["num_params"]
    assert summary["gflops"] == pytest.approx(spec.default_weights.meta["_ops"] / 4)
    assert 69 < summary["imagenet_top1"] < 83


def test_unknown_depth_is_a_clear_error():
    with pytest.raises(StudioError, match="unsupported depth 21"):
        models.build_model(21, 2)


@pytest.fixture
def torch_home(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    calls = []

    def no_network(url, *args, **kwargs):
        calls.append(url)
        raise urllib.error.URLError("network is unreachable")

    monkeypatch.setattr(torch.hub, "download_url_to_file", no_network)
    return tmp_path / "torch" / "hub" / "checkpoints", calls


def test_imagenet_weights_come_from_torch_cache_without_download(torch_home):
    cache, calls = torch_home
    source = models.build_model(18, 1000, weights="none")
    cache.mkdir(parents=True)
    name = models.DEPTHS[18].default_weights.url.rsplit("/", 1)[-1]
    torch.save(source.state_dict(), cache / name)

    model = models.build_model(18, 5, weights="imagenet")
    assert calls == []
    assert torch.equal(model.conv1.weight, source.conv1.weight)
    assert torch.equal(model.layer4[1].bn2.running_var, source.layer4[1].bn2.running_var)
    assert model.fc.out_features == 5  # head replaced for the dataset


def test_imagenet_weights_offline_names_the_file_to_place(torch_home):
    cache, calls = torch_home
    with pytest.raises(WeightsUnavailableError) as info:
        models.build_model(50, 3, weights="imagenet")
    message = str(info.value)
    assert "\n" not in message
    assert "could not be downloaded" in message
    assert models.DEPTHS[50].default_weights.url.rsplit("/", 1)[-1] in message
    assert str(cache) in message and "train from scratch" in message and "--weights" not in message  # every front
    assert len(calls) == 1


def test_weights_from_safetensors_and_pth_files(tmp_path):
    source = models.build_model(34, 4, weights="none")
    torch.nn.init.normal_(source.fc.weight)
    save_file({k: v.contiguous() for k, v in source.state_dict().items()}, tmp_path / "w.safetensors")
    torch.save({"model": source.state_dict()}, tmp_path / "w.pth")  # a training checkpoint
    for name in ("w.safetensors", "w.pth"):
        same_classes = models.build_model(34, 4, weights=tmp_path / name)
        assert torch.equal(same_classes.fc.weight, source.fc.weight)  # head kept: it fits
        other_classes = models.build_model(34, 9, weights=tmp_path / name)
        assert other_classes.fc.out_features == 9
        assert torch.equal(other_classes.layer2[0].conv1.weight, source.layer2[0].conv1.weight)


def test_weights_for_another_depth_are_refused(tmp_path):
    torch.save(models.build_model(18, 2).state_dict(), tmp_path / "r18.pt")
    with pytest.raises(ModelFileError, match="do not fit ResNet-50"):
        models.build_model(50, 2, weights=tmp_path / "r18.pt")


class _Trap:
    def __init__(self, marker):
        self.marker = str(marker)

    def __reduce__(self):
        import os

        return (os.system, (f"touch '{self.marker}'",))


@pytest.mark.parametrize("payload", ["trap", "whole_model", "garbage", "truncated_safetensors"])
def test_unsafe_or_broken_weight_files_are_refused_without_running_code(tmp_path, payload):
    marker = tmp_path / "pwned"
    if payload == "trap":
        path = tmp_path / "evil.pth"
        torch.save({"model": _Trap(marker)}, path)
    elif payload == "whole_model":
        path = tmp_path / "model.pt"
        torch.save(models.build_model(18, 2), path)  # a pickled nn.Module, not a state dict
    elif payload == "garbage":
        path = tmp_path / "random.pth"
        path.write_bytes(bytes(range(256)) * 8)
    else:
        good = tmp_path / "good.safetensors"
        save_file({"a": torch.zeros(1000)}, good)
        path = tmp_path / "cut.safetensors"
        path.write_bytes(good.read_bytes()[:200])
    with pytest.raises(ModelFileError) as info:
        models.load_state_dict_file(path)
    assert "\n" not in str(info.value)
    if payload in ("trap", "whole_model"):
        assert "refused" in str(info.value)
    assert not marker.exists()


@pytest.mark.parametrize(
    "trainable, frozen",
    [
        ("all", set()),
        ("layer3", {"conv1", "bn1", "layer1", "layer2"}),
        ("layer4", {"conv1", "bn1", "layer1", "layer2", "layer3"}),
        ("head", {"conv1", "bn1", "layer1", "layer2", "layer3", "layer4"}),
    ],
)
def test_trainable_policy_freezes_parameters_and_batch_norm_statistics(trainable, frozen):
    model = models.build_model(18, 3, weights="none", trainable=trainable)
    for name, p in model.named_parameters():
        assert p.requires_grad == (name.split(".")[0] not in frozen), name
    models.set_train_mode(model, True)
    before = {k: v.clone() for k, v in model.state_dict().items() if "running_mean" in k}
    model(torch.randn(4, 3, 32, 32))
    for key, value in before.items():
        changed = not torch.equal(value, model.state_dict()[key])
        assert changed == (key.split(".")[0] not in frozen), key
    trainable_ids = {id(p) for p in models.trainable_parameters(model)}
    assert all((id(p) in trainable_ids) == p.requires_grad for p in model.parameters())
