"""Fault injection: running out of (GPU) memory during training, validation and prediction.

A real CUDA out-of-memory error cannot be produced on the CPU machines the suite runs
on, so `torch.cuda.OutOfMemoryError` - the very class torch raises - is injected into
the model's forward pass: either whenever a batch is larger than a pretend memory
limit, or at chosen steps. Everything after the raise is the real recovery code.
"""

from __future__ import annotations

import pytest
import torch

from resnet_studio.engine import evaluate, runs
from resnet_studio.engine.errors import OutOfMemory
from resnet_studio.engine.events import LogMessage, MemoryFallback, StepEnd
from resnet_studio.engine.fastdata import TensorBatch
from resnet_studio.engine.memory import ChunkedRunner, is_out_of_memory
from resnet_studio.engine.predict import Predictor
from resnet_studio.engine.train import Trainer
from resnet_studio.engine.train import prepare as trainer_module

from ..conftest import make_class_folder
from .test_trainer import Recorder, tiny_config


def fake_oom() -> torch.OutOfMemoryError:
    return torch.cuda.OutOfMemoryError(
        "CUDA out of memory. Tried to allocate 2.00 GiB. GPU 0 has a total capacity of 7.79 GiB of which 1.12 GiB is free."
    )


class MemoryFault:
    """A forward pre-hook that raises an out-of-memory error like a full GPU would."""

    def __init__(self, limit: int | None = None, at_calls: set[int] = frozenset(), training_only: bool = True, error=None):
        self.limit = limit  # batches larger than this "do not fit"
        self.at_calls = set(at_calls)  # training forward passes (1-based) that fail once
        self.training_only = training_only
        self.error = error or fake_oom
        self.calls = 0
        self.batch_sizes: list[int] = []

    def __call__(self, module, args):
        x = args[0]
        if self.training_only and not module.training:
            return None
        self.calls += 1
        self.batch_sizes.append(x.shape[0])
        if self.calls in self.at_calls or (self.limit is not None and x.shape[0] > self.limit):
            raise self.error()
        return None

    def install(self, monkeypatch, where=trainer_module):
        build = where.build_model

        def build_with_fault(*args, **kwargs):
            model = build(*args, **kwargs)
            model.register_forward_pre_hook(self)
            return model

        monkeypatch.setattr(where, "build_model", build_with_fault)
        return self


@pytest.fixture(scope="module")
def batch64_data(tmp_path_factory):
    """2 classes x 90 images: 144 for training, two batches of 64 per epoch."""
    return make_class_folder(tmp_path_factory.mktemp("b64") / "data", {"a": 90, "b": 90}, size=20)


def run64(data, tmp_path, **kw):
    rec = Recorder()
    config = tiny_config(data, tmp_path / "runs", batch_size=64, image_size=16, epochs=2, **kw)
    return Trainer(config, [rec]).run(), rec


def test_out_of_memory_above_a_limit_settles_on_a_smaller_batch_and_completes(batch64_data, tmp_path, monkeypatch):
    fault = MemoryFault(limit=16).install(monkeypatch)
    result, rec = run64(batch64_data, tmp_path)
    assert result.status == "completed", result.message
    assert result.epochs_completed == 2
    fallbacks = rec.of(MemoryFallback)
    assert [(f.phase, f.batch_size, f.piece_size) for f in fallbacks] == [("training", 64, 32), ("training", 64, 16)]
    assert "4 pieces of up to 16" in fallbacks[-1].message and "the same steps and learning rate" in fallbacks[-1].message
    assert "each piece's own statistics" in fallbacks[-1].message
    # every optimiser step after the second failure ran 64 images as 4 passes of 16
    assert fault.batch_sizes[:2] == [64, 32]
    assert set(fault.batch_sizes[2:]) == {16}
    assert len(fault.batch_sizes[2:]) == 4 * 2 * 2  # 4 pieces x 2 steps x 2 epochs
    steps = rec.of(StepEnd)
    assert [s.global_step for s in steps] == [1, 2, 3, 4]  # no step lost or doubled
    warnings = [e.message for e in rec.of(LogMessage) if e.level == "warning"]
    assert sum("out of memory" in w for w in warnings) == 2
    logged = [r for r in runs.read_metrics(result.run_dir) if r.get("event") == "log" and r.get("level") == "warning"]
    assert sum("out of memory" in r["message"] for r in logged) == 2


def test_out_of_memory_at_chosen_steps_halves_the_batch_each_time(batch64_data, tmp_path, monkeypatch):
    # training forward passes 2 and 4 fail: step 2 (64) -> retried as 2 x 32, the
    # second piece of which (pass 4) fails -> retried as 4 x 16
    fault = MemoryFault(at_calls={2, 4}).install(monkeypatch)
    result, rec = run64(batch64_data, tmp_path)
    assert result.status == "completed", result.message
    assert [f.piece_size for f in rec.of(MemoryFallback)] == [32, 16]
    assert fault.batch_sizes[:8] == [64, 64, 32, 32, 16, 16, 16, 16]
    assert len(rec.of(StepEnd)) == 4


def test_gives_up_with_a_clear_message_only_when_even_a_tiny_batch_fails(batch64_data, tmp_path, monkeypatch):
    MemoryFault(limit=0).install(monkeypatch)
    result, rec = run64(batch64_data, tmp_path)
    assert result.status == "failed"
    assert "out of memory even with a batch of 1 image" in result.message
    assert [f.piece_size for f in rec.of(MemoryFallback)] == [32, 16, 8, 4, 2, 1]
    assert runs.read_json(f"{result.run_dir}/summary.json")["status"] == "failed"


def test_an_error_that_is_not_out_of_memory_still_fails_the_run_with_its_message(batch64_data, tmp_path, monkeypatch):
    def cudnn_error():
        return RuntimeError("cuDNN error: CUDNN_STATUS_INTERNAL_ERROR")

    MemoryFault(at_calls={3}, error=cudnn_error).install(monkeypatch)
    result, rec = run64(batch64_data, tmp_path)
    assert result.status == "failed"
    assert result.message == "RuntimeError: cuDNN error: CUDNN_STATUS_INTERNAL_ERROR"
    assert not rec.of(MemoryFallback)
    assert "CUDNN_STATUS_INTERNAL_ERROR" in (tmp_path / "runs").joinpath(result.run_dir, "error.log").read_text()
    # the first epoch's checkpoint survives the failure in the second
    assert result.epochs_completed == 1
    assert (tmp_path / "runs" / result.run_dir / "checkpoint.pt").is_file()


def test_out_of_memory_during_validation_runs_it_in_pieces(batch64_data, tmp_path, monkeypatch):
    class ValidationFault(MemoryFault):
        def __call__(self, module, args):
            if module.training:
                return None
            return super().__call__(module, args)

    fault = ValidationFault(limit=8, training_only=False).install(monkeypatch)
    result, rec = run64(batch64_data, tmp_path)
    assert result.status == "completed", result.message
    fallbacks = rec.of(MemoryFallback)
    assert [(f.phase, f.piece_size) for f in fallbacks] == [("validation", 18), ("validation", 9), ("validation", 4)]
    assert max(fault.batch_sizes[3:]) <= 8
    assert result.final_val_acc is not None


def test_accumulated_pieces_give_the_whole_batch_gradient(batch64_data, tmp_path):
    """With batch norm frozen (head-only), 4 pieces of 16 take exactly the step one batch of 64 takes."""
    config = tiny_config(batch64_data, tmp_path / "runs", batch_size=64, image_size=16, trainable="head", augment=False)
    trainer = Trainer(config)
    trainer._prepare()
    torch.manual_seed(0)
    inputs = torch.randn(64, 3, 16, 16).contiguous(memory_format=torch.channels_last)
    labels = torch.randint(0, 2, (64,))
    start = {k: v.clone() for k, v in trainer.model.state_dict().items()}
    state = trainer.optimizer.state_dict()

    batch = TensorBatch(inputs, labels)
    whole_loss, whole_correct, _ = trainer._accumulated_step(batch, 1, False)
    after_whole = {k: v.clone() for k, v in trainer.model.state_dict().items()}
    trainer.model.load_state_dict(start)
    trainer.optimizer.load_state_dict(state)
    piece_loss, piece_correct, _ = trainer._accumulated_step(batch, 4, False)
    assert torch.allclose(whole_loss, piece_loss, atol=1e-6)
    assert int(whole_correct) == int(piece_correct)
    for name, value in trainer.model.state_dict().items():
        assert torch.allclose(value, after_whole[name], atol=1e-6), name
    assert not torch.equal(after_whole["fc.weight"], start["fc.weight"])  # the step did something


def test_chunked_runner_matches_the_whole_batch_and_stops_at_its_floor():
    calls = []

    def fn(x):
        calls.append(len(x))
        if len(x) > 5:
            raise fake_oom()
        return x * 2

    reduced = []
    runner = ChunkedRunner(torch.device("cpu"), on_reduce=lambda old, new: reduced.append((old, new)))
    x = torch.arange(20.0)
    assert torch.equal(runner(fn, x), x * 2)
    assert reduced == [(20, 10), (10, 5)]
    assert calls[-4:] == [5, 5, 5, 5]
    assert torch.equal(runner(fn, torch.arange(7.0)), torch.arange(7.0) * 2)  # the piece size is kept
    with pytest.raises(OutOfMemory, match="even with a batch of 1 image"):
        ChunkedRunner(torch.device("cpu"))(lambda x: (_ for _ in ()).throw(fake_oom()), x)
    with pytest.raises(ValueError):  # anything else is not retried
        ChunkedRunner(torch.device("cpu"))(lambda x: (_ for _ in ()).throw(ValueError("shape")), x)


def test_what_counts_as_out_of_memory():
    assert is_out_of_memory(fake_oom())
    assert is_out_of_memory(RuntimeError("MPS backend out of memory (MPS allocated: 8.00 GB)"))
    assert is_out_of_memory(RuntimeError("DefaultCPUAllocator: can't allocate memory: you tried to allocate 123"))
    assert not is_out_of_memory(RuntimeError("size mismatch"))
    assert not is_out_of_memory(ValueError("out of memory"))  # only the errors allocators raise


@pytest.fixture
def colour_predictor():
    import torchvision

    torch.manual_seed(0)
    model = torchvision.models.resnet18(num_classes=3)
    return Predictor(model, ["r", "g", "b"], image_size=32)


def test_prediction_and_evaluation_carry_on_in_smaller_pieces(colour_predictor, tmp_path):
    data = make_class_folder(tmp_path / "d", {"r": 4, "g": 4, "b": 4}, size=40)
    paths = sorted(str(p) for p in data.rglob("*.png"))
    expected = colour_predictor.predict(paths, batch_size=12)

    fault = MemoryFault(limit=3, training_only=False)
    colour_predictor.model.register_forward_pre_hook(fault)
    notices = []
    colour_predictor.on_memory_fallback = notices.append
    got = colour_predictor.predict(paths, batch_size=12)
    assert [p.predictions[0][0] for p in got] == [p.predictions[0][0] for p in expected]
    for a, b in zip(got, expected):
        assert a.predictions[0][1] == pytest.approx(b.predictions[0][1], abs=1e-5)
    assert notices == [
        "out of memory with 12 images at once: carrying on with 6 at a time",
        "out of memory with 6 images at once: carrying on with 3 at a time",
    ]
    samples = [(p, "rgb".index(p.split("/")[-2])) for p in paths]
    result = evaluate.evaluate(colour_predictor, samples, batch_size=12)
    assert result.num_images == 12
    assert max(fault.batch_sizes[-4:]) <= 3


def test_a_resumed_run_keeps_the_batch_pieces_that_fit(batch64_data, tmp_path, monkeypatch):
    MemoryFault(limit=16).install(monkeypatch)
    first, _ = run64(batch64_data, tmp_path)
    assert runs.read_json(f"{first.run_dir}/summary.json")["memory_pieces"] == {"training": 16, "validation": None}
    fault = MemoryFault(limit=16)
    fault.install(monkeypatch, trainer_module)
    rec = Recorder()
    resumed = Trainer(tiny_config(batch64_data, tmp_path / "runs", epochs=3), [rec], resume_dir=first.run_dir).run()
    assert resumed.status == "completed" and resumed.epochs_completed == 3
    assert not rec.of(MemoryFallback)  # no new out-of-memory errors
    assert set(fault.batch_sizes) == {16}
