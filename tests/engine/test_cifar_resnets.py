"""The paper's CIFAR ResNets (20, 32, 44, 56, 110), the small-image stem and the suggestion
for small photos (issue 14)."""

import contextlib
import io
import json

import pytest
import torch

from resnet_studio import cli
from resnet_studio.engine import architecture, checkpoint, explain, export, models, recommend
from resnet_studio.engine.config import TrainConfig
from resnet_studio.engine.data import median_side, scan_dataset
from resnet_studio.engine.errors import StudioError
from resnet_studio.engine.evaluate import evaluate, validation_samples
from resnet_studio.engine.predict import Predictor
from resnet_studio.engine.train import Trainer

# He et al. 2016, section 4.2 / table 6: parameters for CIFAR-10
PAPER_PARAMS = {20: 0.27e6, 32: 0.46e6, 44: 0.66e6, 56: 0.85e6, 110: 1.7e6}


def run_main(argv):
    out, err = io.StringIO(), io.StringIO()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli.main([str(a) for a in argv])
    return code, out.getvalue(), err.getvalue()


@pytest.mark.parametrize("depth", sorted(PAPER_PARAMS))
def test_the_papers_layout_and_parameter_counts(depth):
    desc = architecture.describe_depth(depth, 32, 10)
    n = (depth - 2) // 6
    assert desc["depth"] == depth and desc["num_stages"] == 3
    assert [len(s["blocks"]) for s in desc["stages"]] == [n, n, n]
    assert [s["out_shape"] for s in desc["stages"]] == [[16, 32, 32], [32, 16, 16], [64, 8, 8]]
    assert desc["stem"]["layers"][0]["kernel"] == 3 and desc["stem"]["out_shape"] == [16, 32, 32]
    assert "maxpool" not in [layer["kind"] for layer in desc["stem"]["layers"]]
    assert desc["total_params"] == pytest.approx(PAPER_PARAMS[depth], rel=0.02)
    assert sum(p.numel() for p in models.build_model(depth, 10).parameters()) == desc["total_params"]
    assert models.stages(depth) == ("layer1", "layer2", "layer3")


def test_option_a_shortcut_has_no_parameters_and_pads_channels():
    model = models.build_model(20, 10)
    first = model.layer2[0]
    assert isinstance(first.downsample, models.ShortcutA) and not list(first.downsample.parameters())
    x = torch.randn(2, 16, 8, 8)
    y = first.downsample(x)
    assert y.shape == (2, 32, 4, 4)
    assert torch.equal(y[:, :16], x[:, :, ::2, ::2]) and not y[:, 16:].any()
    shortcuts = [b["shortcut"] for s in architecture.describe_depth(20, 32, 10)["stages"] for b in s["blocks"]]
    assert shortcuts.count("zero-padded") == 2 and "projection" not in shortcuts


def test_info_json_for_resnet_56():
    code, out, _ = run_main(["info", "--depth", "56", "--image-size", "32", "--classes", "10", "--json"])
    desc = json.loads(out)
    assert code == 0 and desc["num_stages"] == 3 and desc["total_params"] == pytest.approx(0.85e6, rel=0.02)
    assert [len(s["blocks"]) for s in desc["stages"]] == [9, 9, 9]
    assert [s["out_shape"][0] for s in desc["stages"]] == [16, 32, 64]
    code, out, _ = run_main(["info", "--image-size", "32", "--json"])
    assert code == 0 and {20, 32, 44, 56, 110} <= {row["depth"] for row in json.loads(out)}


def test_depth_summary_counts_cifar_and_small_stem_multiply_adds():
    row = models.depth_summary(20, 32)
    assert row["imagenet_top1"] is None and row["gflops"] == pytest.approx(0.0406, rel=0.02)  # the paper's ~41 M
    big, small = models.depth_summary(18, 64), models.depth_summary(18, 64, "small")
    assert 14 < small["gflops"] / big["gflops"] < 17  # 16x, less the stem's own share


def test_imagenet_weights_with_a_cifar_depth_is_a_problem_on_both_fronts(tmp_path):
    problems = TrainConfig(data_dir="x", depth=20, weights="imagenet").errors()
    assert [p.field for p in problems] == ["weights"] and "no ImageNet weights" in problems[0].message
    assert not TrainConfig(data_dir="x", depth=20, weights="none").errors()
    assert [p.field for p in TrainConfig(data_dir="x", depth=20, weights="none", trainable="layer4").errors()] == ["trainable"]
    (tmp_path / "a").mkdir()
    code, _, err = run_main(["train", tmp_path, "--depth", "20", "--out", tmp_path / "runs"])
    assert code == 2 and "no ImageNet weights" in err and not (tmp_path / "runs").exists()
    with pytest.raises(StudioError, match="no ImageNet weights"):
        models.build_model(20, 3, "imagenet")


def test_the_stem_rule():
    def stem(**kw):
        return TrainConfig(data_dir="x", **kw).resolved_stem()

    assert stem(weights="none", image_size=64) == "small"
    assert stem(weights="none", image_size=96) == "imagenet"
    assert stem(weights="imagenet", image_size=32) == "imagenet"
    assert stem(weights="none", image_size=224, stem="small") == "small"
    assert TrainConfig(data_dir="x", weights="some.pt", image_size=32).resolved_stem("small") == "small"
    assert TrainConfig(data_dir="x", weights="some.pt", image_size=32).resolved_stem("imagenet") == "imagenet"
    assert [p.field for p in TrainConfig(data_dir="x", stem="small", weights="imagenet").errors()] == ["stem"]
    model = models.build_model(18, 3, stem="small")
    assert model.conv1.kernel_size == (3, 3) and model.conv1.stride == (1, 1) and isinstance(model.maxpool, torch.nn.Identity)
    assert model(torch.zeros(1, 3, 16, 16)).shape == (1, 3)


def test_model_json_round_trips_the_stem(tmp_path):
    model = models.build_model(18, 3, stem="small")
    meta = {"depth": 18, "stem": "small", "classes": ["a", "b", "c"], "image_size": 32}
    checkpoint.save_model(model, tmp_path / "model.safetensors", meta)
    loaded, read = checkpoint.load_model(tmp_path)
    assert read["stem"] == "small" and loaded.conv1.kernel_size == (3, 3)
    old = {k: v for k, v in meta.items() if k != "stem"}  # a model.json from before: the ImageNet stem
    (tmp_path / "old").mkdir()
    checkpoint.save_model(models.build_model(18, 3), tmp_path / "old" / "model.safetensors", old)
    assert checkpoint.load_model(tmp_path / "old")[0].conv1.kernel_size == (7, 7)


def test_the_suggestion_for_small_photos(tiny_demo):
    scan = scan_dataset(tiny_demo)
    assert scan.median_side == 32 == median_side([p for p, _ in scan.train])
    config = TrainConfig(data_dir=str(tiny_demo))
    s = recommend.suggestion(scan.median_side, scan.num_train, config)
    assert s.depth == 20 and s.image_size == 32 and s.settings["weights"] == "none"
    assert "about 32 px" in s.why and "ResNet-20 at 32 px" in s.why and "ResNet-18" in s.why
    assert recommend.suggestion(28, 30_000, config).depth == 56
    assert recommend.suggestion(200, 100, config) is None and recommend.suggestion(None, 100, config) is None
    assert recommend.suggestion(32, 100, TrainConfig(data_dir="x", depth=20, weights="none", image_size=32)) is None
    assert recommend.suggested_image_size(12) == 16 and recommend.suggested_image_size(90) == 88


@pytest.fixture(scope="module")
def cifar_run(tiny_demo, tmp_path_factory):
    out = tmp_path_factory.mktemp("cifar-runs")
    config = TrainConfig(data_dir=str(tiny_demo), depth=20, weights="none", epochs=1, batch_size=8, image_size=32,
                         device="cpu", workers=0, out_dir=str(out), seed=0)
    result = Trainer(config).run()
    assert result.status == "completed"
    return result.run_dir


def test_a_resnet_20_run_predicts_explains_evaluates_exports_and_resumes(cifar_run, tiny_demo, tmp_path):
    meta = json.loads(open(f"{cifar_run}/model.json").read())
    assert meta["depth"] == 20 and meta["stem"] == "small"
    assert json.loads(open(f"{cifar_run}/config.json").read())["depth"] == 20
    predictor = Predictor.from_path(cifar_run)
    assert predictor.depth == 20
    photo = next(iter(sorted((tiny_demo / "dots").iterdir())))
    (prediction,) = predictor.predict([photo])
    assert prediction.error is None and len(prediction.predictions) == 4
    cam = explain.grad_cam(predictor, [photo])[0]
    assert cam.grid.shape == (8, 8)  # the last stage (layer3) at 32 px
    samples, skipped, _ = validation_samples(cifar_run)
    assert evaluate(predictor, samples).accuracy >= 0

    pytest.importorskip("onnxruntime")
    result = export.export_model(cifar_run, "onnx", tmp_path / "m.onnx")
    assert result.top1_agree == result.images_checked > 0

    more = Trainer(TrainConfig(data_dir=str(tiny_demo), epochs=2, device="cpu", workers=0), resume_dir=cifar_run).run()
    assert more.status == "completed" and more.epochs_completed == 2


def test_a_small_stem_run_saves_its_stem_and_a_weights_file_of_the_same_depth_starts_a_run(cifar_run, tiny_demo, tmp_path):
    config = TrainConfig(data_dir=str(tiny_demo), depth=20, weights=f"{cifar_run}/model.safetensors", epochs=1,
                         batch_size=8, image_size=16, device="cpu", workers=0, out_dir=str(tmp_path), seed=0)
    assert not config.errors()
    result = Trainer(config).run()
    assert result.status == "completed"
    with pytest.raises(StudioError, match="ResNet-20"):
        models.build_model(32, 4, f"{cifar_run}/model.safetensors")
    small = Trainer(TrainConfig(data_dir=str(tiny_demo), depth=18, weights="none", epochs=1, batch_size=16, image_size=16,
                                device="cpu", workers=0, out_dir=str(tmp_path / "r18"), seed=0)).run()
    saved = json.loads(open(f"{small.run_dir}/config.json").read())
    assert saved["stem"] == "small" and saved["augmentation"] == "light"  # auto, resolved for 16 px images: kept for resume
    assert json.loads(open(f"{small.run_dir}/model.json").read())["stem"] == "small"
    assert Predictor.from_path(small.run_dir).model.conv1.kernel_size == (3, 3)


def test_a_run_from_before_the_stem_setting_resumes_with_its_own_stem(tiny_demo, tmp_path):
    config = TrainConfig(data_dir=str(tiny_demo), depth=18, weights="none", stem="imagenet", epochs=1, batch_size=16,
                         image_size=32, device="cpu", workers=0, out_dir=str(tmp_path), seed=0)
    first = Trainer(config).run()
    saved = json.loads(open(f"{first.run_dir}/config.json").read())
    del saved["stem"]  # written before the stem setting: auto would now pick the small stem at 32 px
    open(f"{first.run_dir}/config.json", "w").write(json.dumps(saved))
    more = Trainer(TrainConfig(data_dir=str(tiny_demo), epochs=2, device="cpu", workers=0), resume_dir=first.run_dir).run()
    assert more.status == "completed" and more.epochs_completed == 2
    assert json.loads(open(f"{first.run_dir}/model.json").read())["stem"] == "imagenet"
