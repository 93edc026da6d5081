"""Correct on every device, proven on the CPU: the precision choice, the fp16 gradient
scaler, out-of-memory at every point of a step, batch norm in pieces, copies to Apple
GPUs, and the validation loss.

CUDA and MPS are not here, so what depends on them is checked where it is decided: the
dtype against a mocked compute capability, the fp16 path with CPU autocast and a CPU
GradScaler, the copy flags as a function. Out-of-memory errors are the very class torch
raises, injected at one point of a step; everything after the raise is the real code.
"""

from __future__ import annotations

import re
import warnings
from pathlib import Path

import pytest
import torch
from torch import nn

from resnet_studio.engine import devices, fastdata
from resnet_studio.engine.devices import copy_is_async, mixed_precision, to_device
from resnet_studio.engine.events import EpochEnd
from resnet_studio.engine.train import Trainer
from resnet_studio.engine.train.pieces import BN_MIN_PIECE, pieces_batch_norm

from ..conftest import make_class_folder
from .test_faults_memory import fake_oom
from .test_trainer import Recorder, tiny_config

ENGINE = Path(devices.__file__).resolve().parent


@pytest.fixture(scope="module")
def batch32_data(tmp_path_factory):
    """2 classes x 24 images: 38 for training, one batch of 32 per epoch."""
    return make_class_folder(tmp_path_factory.mktemp("b32") / "data", {"a": 24, "b": 24}, size=20)


# ---------------------------------------------------------------- which precision


@pytest.mark.parametrize(
    "capability, expected",
    [((7, 5), torch.float16), ((7, 0), torch.float16), ((6, 1), torch.float16), ((8, 0), torch.bfloat16),
     ((9, 0), torch.bfloat16)],
)
def test_auto_precision_follows_the_run_gpus_compute_capability(monkeypatch, capability, expected):
    """T4/RTX 20xx/V100 (below 8.0) emulate bf16: fp16 with a scaler there, bf16 from Ampere on."""
    asked = []
    monkeypatch.setattr(torch.cuda, "get_device_capability", lambda device=None: asked.append(device) or capability)
    monkeypatch.setattr(torch.cuda, "is_bf16_supported", lambda *a, **k: True)  # emulation counts here: not asked
    assert mixed_precision(torch.device("cuda:1"), "auto") is expected
    assert asked == [torch.device("cuda:1")]  # the run's GPU, not the current one


def test_asked_precision_is_taken_and_auto_is_fp32_off_cuda():
    for device in ("cpu", "mps"):
        assert mixed_precision(torch.device(device), "auto") is None
    assert mixed_precision(torch.device("cpu"), "bf16") is torch.bfloat16
    assert mixed_precision(torch.device("cpu"), "fp16") is torch.float16
    assert mixed_precision(torch.device("cuda:0"), "fp32") is None


# ---------------------------------------------------------------- copies to the device


class FakeTensor:
    def __init__(self, pinned: bool):
        self.pinned = pinned
        self.device = torch.device("cpu")
        self.calls = []

    def is_pinned(self):
        return self.pinned

    def to(self, device, non_blocking=False):
        self.calls.append((device, non_blocking))
        return self


@pytest.mark.parametrize(
    "device, pinned, expected",
    [("cuda", True, True), ("cuda", False, False), ("mps", True, False), ("mps", False, False), ("cpu", False, False)],
)
def test_copies_are_asynchronous_only_from_pinned_memory_to_cuda(device, pinned, expected):
    """An asynchronous copy from pageable memory, or to Apple's MPS, can read memory after
    it was reused: PyTorch reports silent corruption for it."""
    t = FakeTensor(pinned)
    assert copy_is_async(t, torch.device(device)) is expected
    to_device(t, torch.device(device))
    assert t.calls == [(torch.device(device), expected)]


def test_no_engine_copy_chooses_non_blocking_itself():
    """Every host-to-device copy of the engine goes through devices.to_device."""
    offenders = [
        f"{path.relative_to(ENGINE)}:{n}"
        for path in ENGINE.rglob("*.py")
        if path.name != "devices.py"
        for n, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1)
        if re.search(r"non_blocking\s*=\s*True", line)
    ]
    assert offenders == []


def test_feature_bank_positions_are_made_on_the_device_not_copied_from_a_temporary(monkeypatch):
    bank = fastdata.FeatureBank([("a", 0), ("b", 1), ("c", 0)], 4, torch.device("cpu"))
    copies = []
    real_to = torch.Tensor.to
    monkeypatch.setattr(torch.Tensor, "to", lambda self, *a, **k: copies.append(k) or real_to(self, *a, **k))
    bank.add([0, 2], torch.ones(2, 4))
    assert [len(b) for b in bank.batches([[0, 1, 2]])] == [2]
    assert not any(k.get("non_blocking") for k in copies)


# ---------------------------------------------------------------- one step, interrupted anywhere


def _prepared(data, tmp_path, **kw) -> Trainer:
    config = tiny_config(data, tmp_path / "runs", batch_size=32, image_size=16, precision="fp16", **kw)
    trainer = Trainer(config)
    trainer._prepare()
    # a modest scale, so the first step is not skipped as an overflow and changes the weights
    trainer.scaler = torch.amp.GradScaler("cpu", init_scale=2.0**6)
    return trainer


def _state(trainer: Trainer) -> dict:
    return {
        "model": {k: v.clone() for k, v in trainer.model.state_dict().items()},
        "optimizer": trainer.optimizer.state_dict(),
        "scaler": trainer.scaler.state_dict(),
    }


def _put_back(trainer: Trainer, state: dict) -> None:
    trainer.model.load_state_dict(state["model"])
    trainer.optimizer.load_state_dict(state["optimizer"])
    trainer.scaler = torch.amp.GradScaler("cpu")
    trainer.scaler.load_state_dict(state["scaler"])


class Once:
    """Wraps `fn` so that its first call raises an out-of-memory error, before or after
    the real call; later calls are the real thing."""

    def __init__(self, fn, after: bool = False):
        self.fn, self.after, self.fired = fn, after, False

    def __call__(self, *args, **kwargs):
        if self.fired:
            return self.fn(*args, **kwargs)
        self.fired = True
        if self.after:
            self.fn(*args, **kwargs)
        raise fake_oom()


def _inject(where: str, trainer: Trainer, monkeypatch) -> Once:
    if where == "forward":
        once = Once(lambda: None)
        trainer.model.layer2.register_forward_pre_hook(lambda module, args: once())
    elif where == "backward":
        once = Once(lambda grad: None)
        trainer.model.layer1[0].conv1.weight.register_hook(lambda grad: once(grad))
    elif where == "unscale":  # after unscale_ has recorded the step as unscaled (e.g. in the norms)
        once = Once(trainer.scaler.unscale_, after=True)
        monkeypatch.setattr(trainer.scaler, "unscale_", once)
    elif where == "scaler step":  # inside scaler.step: the optimiser fails after the scaler unscaled
        once = Once(trainer.optimizer.step)
        monkeypatch.setattr(trainer.optimizer, "step", once)
    elif where == "augmentation":
        once = Once(fastdata._crop_resize)
        monkeypatch.setattr(fastdata, "_crop_resize", once)
    else:
        raise AssertionError(where)
    return once


# (where, whether the step measures block gradient norms: then it calls unscale_ itself)
POINTS = [("forward", False), ("backward", False), ("unscale", True), ("scaler step", True), ("scaler step", False),
          ("augmentation", False)]


@pytest.mark.parametrize("where, measure", POINTS)
def test_out_of_memory_anywhere_in_a_step_ends_with_the_weights_of_an_uninterrupted_step(
    batch32_data, tmp_path, monkeypatch, where, measure
):
    """fp16 with its gradient scaler, every layer training (batch norm included): a step
    that runs out of memory at any point and is retried in two pieces ends exactly where
    the same step in two pieces ends without the error. Before the retry forgot the
    scaler's record, a failure after unscale_ applied gradients still multiplied by the
    scale (or refused with "unscale_() has already been called"); before the running
    statistics were put back, the failed attempt's pieces had already moved them."""
    trainer = _prepared(batch32_data, tmp_path)
    batch = next(trainer._batches(training=True))  # its augmentation is drawn once, for the whole batch
    start = _state(trainer)

    trainer._train_memory.piece = 16  # the reference: two pieces of 16, no error
    trainer._train_step(batch, measure)
    reference = _state(trainer)
    assert not torch.equal(reference["model"]["fc.weight"], start["model"]["fc.weight"])  # the step was taken

    _put_back(trainer, start)
    trainer._train_memory.piece = None  # the whole batch fails once, then runs as two pieces of 16
    once = _inject(where, trainer, monkeypatch)
    trainer._train_step(batch, measure)
    assert once.fired and trainer._train_memory.piece == 16
    for name, value in trainer.model.state_dict().items():
        torch.testing.assert_close(value, reference["model"][name], rtol=1e-5, atol=1e-6, msg=name)
    assert trainer.scaler.state_dict()["scale"] == reference["scaler"]["scale"]


def test_out_of_memory_in_augmentation_is_recovered_in_a_run(batch32_data, tmp_path, monkeypatch):
    """The crops are made inside the fallback: a batch whose augmentation runs out of
    memory goes on in pieces instead of ending the run."""
    once = Once(fastdata._crop_resize)
    monkeypatch.setattr(fastdata, "_crop_resize", once)
    result = Trainer(tiny_config(batch32_data, tmp_path / "runs", batch_size=32, image_size=16, epochs=1)).run()
    assert once.fired and result.status == "completed", result.message


# ---------------------------------------------------------------- fp16 diagnostics


def test_skipped_fp16_steps_leave_the_gradient_norms_finite_and_the_schedule_quiet(batch32_data, tmp_path, monkeypatch):
    """A step the scaler skips (inf gradients) is left out of the epoch's block gradient
    norms, and the schedule goes on without torch's "lr_scheduler.step() before
    optimizer.step()" warning, even when the very first steps are skipped."""
    rec = Recorder()
    config = tiny_config(batch32_data, tmp_path / "runs", batch_size=8, image_size=16, epochs=1, precision="fp16")
    trainer = Trainer(config, [rec])
    trainer.grad_stats_every = 1
    real_prepare = trainer._prepare

    def prepare_with_an_overflow():
        real_prepare()
        calls = {"n": 0}

        def overflow_first_steps(grad):
            calls["n"] += 1
            return grad * float("inf") if calls["n"] <= 2 else grad

        trainer.model.layer1[0].conv1.weight.register_hook(overflow_first_steps)

    monkeypatch.setattr(trainer, "_prepare", prepare_with_an_overflow)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = trainer.run()
    assert result.status == "completed", result.message
    assert trainer.scaler.get_scale() < 2.0**16  # the overflowing steps were skipped: the scale came down
    norms = rec.of(EpochEnd)[0].block_grad_norms
    assert norms and all(torch.isfinite(torch.tensor(v)) for v in norms.values()), norms
    assert not [w for w in caught if "lr_scheduler.step()" in str(w.message)]


def test_the_fp16_scaler_is_used_on_the_runs_device(tiny_demo, tmp_path):
    trainer = Trainer(tiny_config(tiny_demo, tmp_path, precision="fp16"))
    trainer._prepare()
    assert trainer.amp_dtype is torch.float16 and trainer.scaler.is_enabled()
    bf16 = Trainer(tiny_config(tiny_demo, tmp_path, precision="bf16"))
    bf16._prepare()
    assert bf16.amp_dtype is torch.bfloat16 and not bf16.scaler.is_enabled()
    auto = Trainer(tiny_config(tiny_demo, tmp_path))
    auto._prepare()
    assert auto.amp_dtype is None and not auto.use_amp  # auto on the CPU: fp32


# ---------------------------------------------------------------- batch norm in pieces


def test_pieces_move_the_running_statistics_as_far_as_the_whole_batch():
    torch.manual_seed(0)
    piece = torch.randn(16, 3, 4, 4) * 2 + 5
    whole, pieced = nn.BatchNorm2d(3), nn.BatchNorm2d(3)
    whole(torch.cat([piece] * 4))
    with pieces_batch_norm(pieced, 4, 16, pretrained=True) as how:
        for _ in range(4):
            pieced(piece)
    assert how == "each piece's own statistics"
    torch.testing.assert_close(pieced.running_mean, whole.running_mean)
    torch.testing.assert_close(pieced.running_var, whole.running_var, rtol=1e-3, atol=1e-4)
    assert pieced.momentum == whole.momentum == 0.1  # put back after the batch


@pytest.mark.parametrize("pretrained, piece", [(True, 7), (True, 1), (False, 1)])
def test_small_pieces_normalize_with_the_running_statistics_and_leave_them(pretrained, piece):
    layer = nn.BatchNorm2d(3)
    layer.running_mean.fill_(1.0)
    before = layer.running_mean.clone()
    with pieces_batch_norm(layer, 8, piece, pretrained) as how:
        assert not layer.training
        out = layer(torch.full((piece, 3, 4, 4), 1.0))
    assert how == "their running statistics" and layer.training
    assert torch.equal(layer.running_mean, before) and torch.allclose(out, torch.zeros_like(out), atol=1e-6)


def test_from_scratch_pieces_down_to_two_normalize_over_themselves():
    """From scratch the running statistics mean nothing yet: pieces of 2 to 7 use their own."""
    assert BN_MIN_PIECE == {"pretrained": 8, "scratch": 2}
    layer = nn.BatchNorm2d(3)
    with pieces_batch_norm(layer, 8, 2, pretrained=False) as how:
        assert layer.training and layer.momentum == pytest.approx(1 - 0.9 ** (1 / 8))
    assert how == "each piece's own statistics" and layer.momentum == 0.1


# ---------------------------------------------------------------- the validation loss


def test_validation_loss_uses_the_training_loss_label_smoothing(tiny_demo, tmp_path):
    """Both curves measure the same loss: validating on the training images in eval mode
    gives the smoothed cross-entropy, not the plain one."""
    trainer = Trainer(tiny_config(tiny_demo, tmp_path, label_smoothing=0.3))
    trainer._prepare()
    val_loss, *_ = trainer._validate()
    trainer.model.eval()
    logits, labels = [], []
    with torch.no_grad():
        for batch in trainer._batches(training=False):
            logits.append(trainer.model(batch.inputs()))
            labels.append(batch.labels)
    logits, labels = torch.cat(logits), torch.cat(labels)
    smoothed = nn.functional.cross_entropy(logits, labels, label_smoothing=0.3).item()
    plain = nn.functional.cross_entropy(logits, labels).item()
    assert val_loss == pytest.approx(smoothed, rel=1e-5) and abs(smoothed - plain) > 1e-3


def test_a_run_that_falls_back_to_small_pieces_reaches_the_accuracy_of_one_that_did_not(tmp_path_factory, monkeypatch):
    """ResNet-18 from scratch on generated photos: every training batch of 16 runs out of
    memory above 4 images and goes on as pieces of 4 (the same steps and learning rate,
    batch norm over each piece); it learns as well as the run that never ran out."""
    from resnet_studio.engine.demo import make_demo_dataset
    from resnet_studio.engine.events import MemoryFallback

    from .test_faults_memory import MemoryFault

    data = make_demo_dataset(tmp_path_factory.mktemp("fallback") / "demo", per_class=30, image_size=40)
    config = dict(batch_size=16, image_size=32, epochs=5, lr=0.05, augmentation="standard")
    whole = Trainer(tiny_config(data, tmp_path_factory.mktemp("whole"), **config)).run()
    MemoryFault(limit=4).install(monkeypatch)
    rec = Recorder()
    pieced = Trainer(tiny_config(data, tmp_path_factory.mktemp("pieces"), **config), [rec]).run()
    assert [f.piece_size for f in rec.of(MemoryFallback)] == [8, 4]
    assert whole.best_val_acc >= 0.8, whole.best_val_acc  # 4 classes: chance is 0.25
    assert pieced.best_val_acc >= whole.best_val_acc - 0.15, (pieced.best_val_acc, whole.best_val_acc)
