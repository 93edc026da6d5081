"""ResNet Studio on one NVIDIA GPU: precision, out-of-memory recovery, resume, export, latency, throughput.

    python benchmarks/gpu_check.py [--quick] [--only NAMES] [--output FILE] [--work DIR]

Checks, each in a process of its own with its own time budget (a check that raises or
runs out of time is reported as failed with its reason; the others still run):

  precision           fp32, bf16 and forced fp16 runs of ResNet-18 on generated textures
                      reach the fp32 run's validation accuracy (within 3 points), and
                      compute in the dtype asked for
  oom                 a batch of ResNet-152 at 1024 px too big for the card (sized from its
                      memory) completes one epoch after falling back to pieces, and says so
                      in its log (MemoryFallback)
  resume              a run stopped after epoch 1 and resumed ends with the weights and
                      accuracy of an uninterrupted run (within a stated tolerance)
  export-torchscript  the TorchScript export on the GPU gives PyTorch's top-1 and
                      probabilities on the GPU
  export-onnx         the same for ONNX (ONNX Runtime's CUDA provider when installed, else
                      its CPU provider; skipped without onnx and onnxruntime)
  latency             Predictor on the GPU, one 4000x3000 JPEG, decoding included:
                      median of 20, ResNet-18 and ResNet-50
  throughput          ResNet-50, 224 px, batch 256, channels-last, mixed precision: the
                      studio's Trainer (epoch 1: decoding, on the GPU where it can, and
                      cache fill; later epochs: from the cache) against the plain fp32
                      DataLoader loop (plain_loop.py) on the same ~12,000 generated photos

Prints progress to stderr and one Markdown table (check, result, measured, target,
status) to stdout and to --output. Generated data go to --work and are reused by a
second run.
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import math
import os
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import warnings
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
REPO = HERE.parent
sys.path.insert(0, str(HERE))  # run.py, plain_loop.py and photo_folder.py (benchmarks/ is not a package)

#: training throughput targets on an H100/H200-class card (images per second)
EPOCH1_TARGET = 3_000  # epoch 1: decoding (on the GPU) and filling the image cache
CACHED_TARGET = 5_000  # later epochs: from the cache
TOTAL_SECONDS = 480  # the whole check, 8 minutes; the budgets below add up to less
MIN_BUDGET = 10  # seconds: a check is not started with less (starting torch alone takes a few)
CHANCE = 0.25  # the generated data have 4 classes

PASSED, FAILED, BELOW = "passed", "failed", "below target"

EPILOG = f"""\
targets (H100/H200-class card): training throughput >= {CACHED_TARGET:,} img/s after the
  first epoch and >= {EPOCH1_TARGET:,} img/s in epoch 1 (decoding on the GPU); a target
  missed is reported as "below target". The other checks pass or fail on the tolerances
  stated in the table's target column.
time: about 5 minutes, never more than 8 (each check has its own budget); with --quick
  about 3.
exit codes: 0 every check passed (or was skipped: a check whose optional package is
  missing, such as onnxruntime, is skipped with the reason); 1 a check failed or a
  target was missed; 2 no NVIDIA GPU with CUDA on this machine (or bad arguments).
"""


# ---------------------------------------------------------------- sizes and budgets


@dataclass(frozen=True)
class Plan:
    """The sizes of every check in one mode (the full check, --quick, or the CPU smoke run)."""

    name: str
    device: str  # "cuda" or "cpu"
    budgets: dict[str, int]  # seconds per check
    workers: int | None = None  # the trainer's decoding threads; None: its own choice
    # precision, resume, exports: ResNet-18 on the generated demo textures (PNGs)
    demo_per_class: int = 200
    demo_size: int = 112
    image_size: int = 96
    batch: int = 32
    epochs: int = 4  # the textures are easy: ResNet-18 passes 95% after one epoch
    resume_epochs: int = 3
    export_epochs: int = 2
    acc_tolerance: float = 0.03  # a mixed-precision run's accuracy from the fp32 run's
    min_acc: float = 0.90  # what the fp32 run must reach (chance: 25%)
    resume_weights_tol: float = 2e-2  # relative L2 difference of the final weights
    resume_acc_tol: float = 0.05
    resume_why: str = "GPU kernels (atomic adds) do not repeat bit for bit, and the steps grow the differences"
    prob_tolerance: float = 1e-2  # exports: largest |probability difference|
    prob_why: str = "cuDNN and ONNX Runtime convolutions in TF32"
    # out of memory
    oom_depth: int = 152
    oom_size: int = 1024
    oom_factor: float = 3.0  # the batch needs this many times the card's memory
    # prediction latency
    latency_depths: tuple[int, ...] = (18, 50)
    latency_size: int = 224
    latency_repeat: int = 20
    # throughput
    tp_depth: int = 50
    tp_size: int = 224
    tp_batch: int = 256
    tp_epochs: int = 3
    tp_plain_epochs: int = 2  # plain_loop.py needs 2 (its warm-up is one epoch long)
    tp_unique_per_class: int = 64  # photos drawn per class; hard links make the copies
    tp_copies: int = 48
    tp_photo: tuple[int, int] = (1600, 1200)
    targets: bool = True  # the throughput targets apply (a CUDA card)


FULL = Plan(
    "full", "cuda",
    budgets={"precision": 75, "oom": 80, "resume": 60, "export-torchscript": 35, "export-onnx": 35, "latency": 35,
             "throughput": 140},
)
QUICK = dataclasses.replace(
    FULL, name="quick", demo_per_class=100, epochs=3, resume_epochs=2, export_epochs=1, oom_size=768, latency_repeat=10,
    tp_epochs=2, tp_unique_per_class=48, tp_copies=24, acc_tolerance=0.05, min_acc=0.85,
    budgets={"precision": 45, "oom": 60, "resume": 40, "export-torchscript": 30, "export-onnx": 30, "latency": 25,
             "throughput": 80},
)
#: every check with tiny sizes on the CPU: the script's logic, not the GPU's numbers
SMOKE = dataclasses.replace(
    FULL, name="smoke-cpu", device="cpu", workers=0, demo_per_class=6, demo_size=24, image_size=16, batch=8, epochs=2,
    resume_epochs=2, export_epochs=1, acc_tolerance=1.0, min_acc=0.0, resume_weights_tol=1e-5, resume_acc_tol=0.0,
    resume_why="CPU runs repeat", prob_tolerance=1e-4, prob_why="CPU kernels", latency_size=32, latency_repeat=2,
    tp_depth=18, tp_size=32, tp_batch=8, tp_epochs=2, tp_unique_per_class=2, tp_copies=3,
    tp_photo=(160, 120), targets=False,
    budgets=dict.fromkeys(("precision", "oom", "resume", "export-torchscript", "export-onnx", "latency", "throughput"), 120),
)


def plan_for(args) -> Plan:
    return SMOKE if args.smoke_cpu else QUICK if args.quick else FULL


# ---------------------------------------------------------------- rows and the table


@dataclass
class Row:
    check: str
    result: str
    measured: str = ""
    target: str = ""
    status: str = PASSED


def skipped(check: str, reason: str, target: str = "") -> Row:
    return Row(check, "not run", "", target, f"skipped ({reason})")


def judged(check: str, problems: list[str], result: str, measured: str, target: str) -> Row:
    """A row that failed with its problems (one line) when there are any."""
    if problems:
        return Row(check, "; ".join(problems), measured, target, FAILED)
    return Row(check, result, measured, target, PASSED)


def table(rows: list[Row], heading: str) -> str:
    cell = lambda text: str(text).replace("|", "\\|").replace("\n", " ")
    lines = [heading, "", "| check | result | measured | target | status |", "| --- | --- | --- | --- | --- |"]
    lines += [f"| {' | '.join(cell(v) for v in dataclasses.astuple(row))} |" for row in rows]
    return "\n".join(lines) + "\n"


def say(message: str) -> None:
    print(f"gpu_check: {message}", file=sys.stderr, flush=True)


def one_line(exc: BaseException) -> str:
    """An exception in one line: its first line, and its last one when it has more (a
    failed subprocess's error names the command first and the reason last)."""
    lines = [line.strip() for line in str(exc).strip().splitlines() if line.strip()]
    if not lines:
        return type(exc).__name__
    text = lines[0][:200] + (f" ... {lines[-1][:200]}" if len(lines) > 1 else "")
    return f"{type(exc).__name__}: {text}"


def fresh(folder: Path) -> Path:
    """`folder`, emptied: the runs of an earlier check go, its generated images stay elsewhere."""
    shutil.rmtree(folder, ignore_errors=True)
    return folder


def percent(value: float | None) -> str:
    return "n/a" if value is None else f"{value:.1%}"


# ---------------------------------------------------------------- training runs


@dataclass
class Run:
    """What one Trainer run told its callbacks."""

    finished: object  # RunFinished
    epochs: list = field(default_factory=list)  # EpochEnd
    fallbacks: list = field(default_factory=list)  # MemoryFallback
    logs: list[str] = field(default_factory=list)
    dtypes: set[str] = field(default_factory=set)  # what the classifier computed in while training
    trainer: object = None

    @property
    def run_dir(self) -> Path:
        return Path(self.finished.run_dir)

    @property
    def val_acc(self) -> float | None:
        return self.finished.final_val_acc

    def completed(self, what: str) -> list[str]:
        status, message = self.finished.status, self.finished.message
        return [] if status == "completed" else [f"{what} {status}" + (f": {message}" if message else "")]


def train(plan: Plan, data: Path, out: Path, label: str, *, control=None, resume_dir=None,
          on_epoch: Callable | None = None, **settings) -> Run:
    """One Trainer run on `data` (weights from scratch, seed 0), events recorded."""
    from resnet_studio.engine.config import TrainConfig
    from resnet_studio.engine.events import EpochEnd, LogMessage, MemoryFallback, RunStarted
    from resnet_studio.engine.train import Trainer

    # torchvision's ImageNet stem, as the plain loop has (auto would pick the small stem for the CPU smoke run's 16 px)
    base = dict(depth=18, epochs=plan.epochs, batch_size=plan.batch, image_size=plan.image_size, workers=plan.workers,
                stem="imagenet")
    config = TrainConfig(data_dir=str(data), weights="none", device=plan.device, out_dir=str(out), seed=0,
                         **{**base, **settings})
    run = Run(finished=None)

    def record_dtype(module, inputs, output) -> None:
        if module.training:
            run.dtypes.add(str(output.dtype).replace("torch.", ""))

    def listen(event) -> None:
        if isinstance(event, RunStarted):  # the model exists: watch what its classifier computes in
            run.trainer.model.fc.register_forward_hook(record_dtype)
        elif isinstance(event, EpochEnd):
            run.epochs.append(event)
            say(f"  {label}: epoch {event.epoch}/{event.epochs}, val {event.val_acc:.1%}, "
                f"{event.images_per_sec:,.0f} img/s, {event.seconds:.1f} s")
            if on_epoch:
                on_epoch(run.trainer, event)
        elif isinstance(event, MemoryFallback):
            run.fallbacks.append(event)
            say(f"  {label}: {event.message}")
        elif isinstance(event, LogMessage):
            run.logs.append(event.message)

    run.trainer = Trainer(config, [listen], control, resume_dir)
    run.finished = run.trainer.run()
    return run


def demo_data(plan: Plan, work: Path, per_class: int | None = None, size: int | None = None) -> Path:
    """The studio's generated demo textures (4 classes), written once into `work`."""
    from resnet_studio.engine.demo import make_demo_dataset

    per_class, size = per_class or plan.demo_per_class, size or plan.demo_size
    folder = work / f"demo-{per_class}x{size}px"
    if not folder.is_dir():
        started = time.perf_counter()
        make_demo_dataset(folder, per_class, size)
        say(f"  wrote {4 * per_class} demo images of {size} px in {time.perf_counter() - started:.1f} s")
    return folder


def reference_run(plan: Plan, work: Path) -> Path:
    """A run folder with a trained ResNet-18 (for the exports), trained once per mode."""
    from resnet_studio.engine import runs

    out = work / f"reference-{plan.name}"
    done = [r for r in runs.list_runs(out) if r.status == "completed" and r.has_model] if out.is_dir() else []
    if done:
        return Path(done[0].path)
    run = train(plan, demo_data(plan, work), out, "reference model", epochs=plan.export_epochs)
    problems = run.completed("the reference run")
    if problems:
        raise RuntimeError(problems[0])
    return run.run_dir


# ---------------------------------------------------------------- 1. precision


def check_precision(plan: Plan, work: Path) -> Row:
    data = demo_data(plan, work)
    expected = {"fp32": "float32", "bf16": "bfloat16", "fp16": "float16"}
    out = fresh(work / "runs-precision")
    runs = {p: train(plan, data, out, p, precision=p) for p in expected}
    problems = [p for name, run in runs.items() for p in run.completed(f"the {name} run")]
    for name, run in runs.items():
        if run.dtypes != {expected[name]}:
            seen = ", ".join(sorted(run.dtypes)) or "nothing"
            problems.append(f"--precision {name} computed in {seen}, not {expected[name]}")
    reference = runs["fp32"].val_acc or 0.0
    gaps = {name: abs((run.val_acc or 0.0) - reference) for name, run in runs.items() if name != "fp32"}
    if reference < plan.min_acc:
        problems.append(f"the fp32 run reached only {reference:.1%} (needs {plan.min_acc:.0%})")
    problems += [f"{name} reached {percent(runs[name].val_acc)}, {gap * 100:.1f} points from fp32"
                 for name, gap in gaps.items() if gap > plan.acc_tolerance]
    accs = ", ".join(f"{name} {percent(run.val_acc)}" for name, run in runs.items())
    result = (f"{accs} (ResNet-18, {plan.image_size} px, {plan.epochs} epochs, {4 * plan.demo_per_class} images); "
              "each computed in the dtype asked for")
    measured = "largest gap to fp32: " + f"{max(gaps.values()) * 100:.1f} points"
    target = (f"within {plan.acc_tolerance * 100:.0f} points of fp32; fp32 >= {plan.min_acc:.0%}"
              if plan.targets else "dtype as asked (CPU smoke run: accuracy not judged)")
    return judged("precision", problems, result, measured, target)


# ---------------------------------------------------------------- 2. out of memory


def activation_bytes_per_image(depth: int, size: int) -> float:
    """Training memory each image adds to a batch of ResNet-`depth` at `size` px (bf16
    autocast, channels-last), measured on the GPU with batches of 2 and 4."""
    import torch

    from resnet_studio.engine.models import build_model

    model = build_model(depth, 4, "none").cuda().to(memory_format=torch.channels_last).train()
    peaks = []
    for n in (2, 4):
        torch.cuda.synchronize()
        torch.cuda.reset_peak_memory_stats()
        base = torch.cuda.memory_allocated()
        x = torch.randn(n, 3, size, size, device="cuda").contiguous(memory_format=torch.channels_last)
        with torch.autocast("cuda", dtype=torch.bfloat16):
            loss = model(x).float().sum()
        loss.backward()
        torch.cuda.synchronize()
        peaks.append(torch.cuda.max_memory_allocated() - base)
        del x, loss
        model.zero_grad(set_to_none=True)
    del model
    torch.cuda.empty_cache()
    return max((peaks[1] - peaks[0]) / 2, 1.0)


def check_oom(plan: Plan, work: Path) -> Row:
    import torch

    from resnet_studio.engine import runs

    total = torch.cuda.get_device_properties(0).total_memory
    per_image = activation_bytes_per_image(plan.oom_depth, plan.oom_size)
    batch = min(4096, max(8, math.ceil(plan.oom_factor * total / per_image)))
    per_class = math.ceil(batch / 0.8 / 4) + 2  # enough training images for one batch after the 20% split
    say(f"  {per_image / 2**30:.2f} GiB per image, {total / 2**30:.0f} GiB card: batch {batch}")
    data = demo_data(plan, work, per_class, 128)
    run = train(plan, data, fresh(work / "runs-oom"), "oom", depth=plan.oom_depth, image_size=plan.oom_size, batch_size=batch,
                epochs=1)
    problems = run.completed("the run")
    training = [f for f in run.fallbacks if f.phase == "training"]
    if not training:
        problems.append(f"no MemoryFallback in training: a batch of {batch} fitted or the run did not fall back")
    logged = [row.get("message", "") for row in runs.read_metrics(run.run_dir) if row.get("event") == "log"]
    if any(not any(f.message in line for line in logged) for f in training):
        problems.append("the fallback is not in the run's log (metrics.jsonl)")
    epoch = run.epochs[-1] if run.epochs else None
    if epoch is None or not (math.isfinite(epoch.train_loss) and math.isfinite(epoch.val_loss)):
        problems.append("no finite training and validation loss after the fallback")
    piece = min(f.piece_size for f in training) if training else None
    result = (f"ResNet-{plan.oom_depth} at {plan.oom_size} px, batch {batch} (~{batch * per_image / 2**30:,.0f} GiB of "
              f"activations, {total / 2**30:.0f} GiB card): completed in pieces of {piece}, log: "
              f"\"{training[-1].message if training else ''}\"")
    measured = (f"pieces of {piece}; loss {epoch.train_loss:.3f}; val acc {percent(epoch.val_acc)} after 1 step "
                f"(chance {CHANCE:.0%})" if epoch else "")
    target = "completes, logs the fallback, finite losses (1 step from scratch: accuracy at chance, as a normal run)"
    return judged("oom", problems, result, measured, target)


# ---------------------------------------------------------------- 3. resume


def relative_difference(a: dict, b: dict) -> float:
    """||a - b|| / ||b|| over the floating-point tensors of two state dicts."""
    num = den = 0.0
    for key, ref in b.items():
        if ref.is_floating_point():
            num += (a[key].double() - ref.double()).pow(2).sum().item()
            den += ref.double().pow(2).sum().item()
    return math.sqrt(num / den) if den else 0.0


def check_resume(plan: Plan, work: Path) -> Row:
    import torch

    from resnet_studio.engine import checkpoint
    from resnet_studio.engine.train import RunControl

    if plan.device == "cuda":  # fewer run-to-run differences: deterministic cuDNN convolutions
        torch.backends.cudnn.deterministic = True
    data, out = demo_data(plan, work), fresh(work / "runs-resume")
    settings = dict(epochs=plan.resume_epochs, precision="fp32")
    after_one: dict = {}

    def keep_epoch_one(trainer, event) -> None:
        if event.epoch == 1:
            after_one.update({k: v.detach().cpu().clone() for k, v in trainer.model.state_dict().items()})

    full = train(plan, data, out, "uninterrupted", on_epoch=keep_epoch_one, **settings)
    control = RunControl()
    stopped = train(plan, data, out, "stopped", control=control,
                    on_epoch=lambda trainer, event: control.stop() if event.epoch == 1 else None, **settings)
    problems = full.completed("the uninterrupted run")
    if stopped.finished.status != "cancelled" or stopped.finished.epochs_completed != 1:
        problems.append(f"the stopped run ended {stopped.finished.status} after {stopped.finished.epochs_completed} "
                        "epoch(s), not cancelled after 1")
    if problems:
        return judged("resume", problems, "", "", "")
    stop_state = checkpoint.load_checkpoint(stopped.run_dir)["model"]
    resumed = train(plan, data, out, "resumed", resume_dir=stopped.run_dir, **settings)
    problems += resumed.completed("the resumed run")
    if resumed.epochs and resumed.epochs[0].epoch != 2:
        problems.append(f"the resumed run started at epoch {resumed.epochs[0].epoch}, not 2")
    weights = relative_difference(checkpoint.load_checkpoint(resumed.run_dir)["model"],
                                  checkpoint.load_checkpoint(full.run_dir)["model"])
    at_stop = relative_difference(stop_state, after_one) if after_one else float("nan")
    acc_gap = abs((resumed.val_acc or 0.0) - (full.val_acc or 0.0))
    if weights > plan.resume_weights_tol:
        problems.append(f"final weights differ by {weights:.1e} (relative), more than {plan.resume_weights_tol:.0e}")
    if acc_gap > plan.resume_acc_tol + 1e-9:
        problems.append(f"val acc {percent(resumed.val_acc)} resumed vs {percent(full.val_acc)} uninterrupted")
    result = (f"stopped after epoch 1 of {plan.resume_epochs} and resumed: completed, val acc {percent(resumed.val_acc)} "
              f"(uninterrupted {percent(full.val_acc)})")
    measured = (f"weights differ by {weights:.1e} at the end ({at_stop:.1e} after epoch 1, before the stop); "
                f"accuracy by {acc_gap * 100:.1f} points")
    target = (f"weights within {plan.resume_weights_tol:.0e} (relative L2), accuracy within "
              f"{plan.resume_acc_tol * 100:.0f} points ({plan.resume_why})")
    return judged("resume", problems, result, measured, target)


# ---------------------------------------------------------------- 4. export parity


def reference_probabilities(run_dir: Path, plan: Plan):
    """(PyTorch's probabilities on the device as float64 numpy, the preprocessed batch on
    the CPU) for the export's sample images: the run's validation images plus generated ones."""
    import torch

    from resnet_studio.engine import export
    from resnet_studio.engine.predict import Predictor

    predictor = Predictor.from_path(run_dir, plan.device)
    batch = torch.stack([predictor.tensor(item) for item in export.sample_images(run_dir)])
    return predictor.probabilities(batch).double().cpu().numpy(), batch


def compare_probabilities(reference, exported, tolerance: float) -> tuple[int, float]:
    """(images whose top class agrees, largest |probability difference|); a top class
    within `tolerance` of PyTorch's own top class in PyTorch's probabilities agrees."""
    import numpy as np

    agree = sum(1 for ref, got in zip(reference, exported) if ref[got.argmax()] >= ref.max() - tolerance)
    return agree, float(np.abs(reference - exported).max())


def softmax(logits):
    import numpy as np

    logits = np.asarray(logits, dtype=np.float64)
    exp = np.exp(logits - logits.max(axis=1, keepdims=True))
    return exp / exp.sum(axis=1, keepdims=True)


def export_row(check: str, plan: Plan, run_dir: Path, fmt: str, runner: Callable) -> Row:
    """Export the reference model (the studio checks it on the CPU as it writes it), run the
    file with `runner(path, batch)` -> (logits, where it ran), compare with PyTorch on the device."""
    from resnet_studio.engine import export

    result = export.export_model(run_dir, fmt, run_dir / "gpu-check-export" / f"model.{fmt}")
    reference, batch = reference_probabilities(run_dir, plan)
    logits, where = runner(result.path, batch)
    agree, diff = compare_probabilities(reference, softmax(logits), plan.prob_tolerance)
    n = len(reference)
    problems = [f"top-1 differs on {n - agree} of {n} images"] if agree < n else []
    if diff > plan.prob_tolerance:
        problems.append(f"probabilities differ by up to {diff:.1e}, more than {plan.prob_tolerance:.0e}")
    if problems:
        problems.append(where)
    outcome = f"{where} vs PyTorch on {plan.device}, {n} images (the run's validation images and generated ones)"
    measured = (f"top-1 the same on {agree}/{n}; largest probability difference {diff:.1e} "
                f"(the CPU check at export: {result.max_prob_diff:.1e})")
    target = f"top-1 identical, probabilities within {plan.prob_tolerance:.0e} ({plan.prob_why})"
    return judged(check, problems, outcome, measured, target)


def check_export_torchscript(plan: Plan, work: Path) -> Row:
    import torch

    def run_torchscript(path: str, batch):
        with warnings.catch_warnings():  # torch.jit is deprecated; the studio still exports to it
            warnings.simplefilter("ignore")
            module = torch.jit.load(path, map_location=plan.device).eval()
        with torch.inference_mode():
            return module(batch.to(plan.device)).float().cpu().numpy(), f"TorchScript on {plan.device}"

    return export_row("export-torchscript", plan, reference_run(plan, work), "torchscript", run_torchscript)


def check_export_onnx(plan: Plan, work: Path) -> Row:
    from resnet_studio.engine import export
    from resnet_studio.installation import install_command

    missing = export.missing_packages("onnx")
    if missing:
        return skipped("export-onnx", f"{' and '.join(missing)} not installed: {install_command('export', missing)}, "
                                      "or onnxruntime-gpu for the CUDA provider")
    import onnxruntime as ort

    cuda = plan.device == "cuda" and "CUDAExecutionProvider" in ort.get_available_providers()

    def run_onnx(path: str, batch):
        options = ort.SessionOptions()
        options.log_severity_level = 3
        providers = ["CUDAExecutionProvider", "CPUExecutionProvider"] if cuda else ["CPUExecutionProvider"]
        session = ort.InferenceSession(path, options, providers=providers)
        used = session.get_providers()[0]
        where = f"ONNX Runtime {ort.__version__} with {used}"
        if plan.device == "cuda" and not cuda:
            where += " (no CUDA provider: onnxruntime-gpu is not installed)"
        elif cuda and used != "CUDAExecutionProvider":
            where += " (the CUDA provider did not start: its CUDA libraries are missing)"
        return session.run(None, {session.get_inputs()[0].name: batch.numpy()})[0], where

    return export_row("export-onnx", plan, reference_run(plan, work), "onnx", run_onnx)


# ---------------------------------------------------------------- 5. prediction latency


def check_latency(plan: Plan, work: Path) -> Row:
    import torch
    from run import twelve_megapixel_photo

    from resnet_studio.engine import data
    from resnet_studio.engine.models import build_model
    from resnet_studio.engine.predict import Predictor

    photo = str(twelve_megapixel_photo(work))
    latency, problems = {}, []
    for depth in plan.latency_depths:
        torch.manual_seed(0)
        predictor = Predictor(build_model(depth, 4, "none"), ["a", "b", "c", "d"], plan.latency_size, device=plan.device)
        predictor.warm_up()
        predictor.predict([photo])  # the first photo sets up the kernels of its shape
        total, decode = [], []
        for _ in range(plan.latency_repeat):
            started = time.perf_counter()
            (prediction,) = predictor.predict([photo])  # results come back to the host: the device is done
            total.append(time.perf_counter() - started)
            started = time.perf_counter()
            data.load_image(photo, min_size=predictor.resize_size)
            decode.append(time.perf_counter() - started)
        if not prediction.ok or abs(sum(p for _, p in prediction.predictions) - 1) > 1e-3:
            problems.append(f"ResNet-{depth} did not predict the photo: {prediction.error or prediction.predictions}")
        latency[depth] = (statistics.median(total) * 1000, statistics.median(decode) * 1000)
        say(f"  ResNet-{depth}: {latency[depth][0]:.1f} ms per photo, of which decoding {latency[depth][1]:.1f} ms")
    parts = [f"ResNet-{d} {ms:.0f} ms" for d, (ms, _) in latency.items()]
    decode_ms = statistics.median(d for _, d in latency.values())
    result = (f"Predictor on {plan.device}, one 4000x3000 JPEG per call, decoding included, median of "
              f"{plan.latency_repeat}, {plan.latency_size} px input")
    measured = f"{', '.join(parts)} (decoding {decode_ms:.0f} ms)"
    return judged("latency", problems, result, measured, "measured (no target)")


# ---------------------------------------------------------------- 6. throughput


def _draw_photos(folder: str, per_class: int, width: int, height: int, seed: int) -> None:
    from photo_folder import make_photo_folder

    shutil.rmtree(folder, ignore_errors=True)
    make_photo_folder(Path(folder), per_class, width, height, held_out=0, seed=seed)


def throughput_folder(plan: Plan, work: Path) -> tuple[Path, int, float]:
    """(folder, images, seconds it took) of photo-sized JPEGs: photo_folder.py's photos
    drawn in parallel, each hard-linked `tp_copies` times under new names (the image cache
    is by path, so every copy is decoded). Its deliberately broken files are left out."""
    import multiprocessing

    from plain_loop import BROKEN

    width, height = plan.tp_photo
    folder = work / f"photos-{width}x{height}-{plan.tp_unique_per_class}x{plan.tp_copies}"
    done = folder.with_name(folder.name + ".done")
    if done.is_file():
        return folder, int(done.read_text()), 0.0
    started = time.perf_counter()
    shutil.rmtree(folder, ignore_errors=True)
    processes = max(1, min(16, os.cpu_count() or 1, plan.tp_unique_per_class))
    share = math.ceil(plan.tp_unique_per_class / processes)
    parts = [work / "photo-parts" / f"part{k:02d}" for k in range(processes)]
    # forked workers only draw and save (no CUDA); torch is imported but not started here
    with ProcessPoolExecutor(processes, mp_context=multiprocessing.get_context("fork")) as pool:
        list(pool.map(_draw_photos, map(str, parts), [share] * processes, [width] * processes, [height] * processes,
                      range(1, processes + 1)))
    count = 0
    for part in parts:
        for photo in sorted(part.glob("*/*")):
            if photo.name in BROKEN:
                continue
            (folder / photo.parent.name).mkdir(parents=True, exist_ok=True)
            for k in range(plan.tp_copies):
                target = folder / photo.parent.name / f"{part.name}-c{k:03d}-{photo.name}"
                try:
                    os.link(photo, target)
                except OSError:
                    shutil.copyfile(photo, target)
                count += 1
    done.write_text(str(count))
    return folder, count, time.perf_counter() - started


def gpu_decoding(run: Run, device: str) -> str:
    """Whether the trainer decoded the JPEGs on the GPU, as far as it tells."""
    if device != "cuda":
        return "GPU decoding: skipped (CUDA only)"
    cache = getattr(getattr(run.trainer, "input", None), "cache", None)
    used = getattr(cache, "batch_decoding", None)
    if used is None:
        return "GPU decoding: not in this version of the trainer"
    return "GPU decoding: on (nvJPEG)" if used else "GPU decoding: off (torchvision cannot decode JPEGs on this GPU)"


def check_throughput(plan: Plan, work: Path) -> Row:
    from run import plain_train

    folder, count, made = throughput_folder(plan, work)
    say(f"  {count:,} photos of {plan.tp_photo[0]}x{plan.tp_photo[1]} in {folder}"
        + (f", made in {made:.1f} s" if made else " (made before)"))
    run = train(plan, folder, fresh(work / "runs-throughput"), f"studio ResNet-{plan.tp_depth}", depth=plan.tp_depth,
                image_size=plan.tp_size, batch_size=plan.tp_batch, epochs=plan.tp_epochs, precision="auto")
    problems = run.completed("the studio run")
    rates = [e.images_per_sec for e in run.epochs]
    if len(rates) < 2:
        return judged("throughput", problems or ["the studio run has fewer than 2 epochs"], "", "", "")
    first, later = rates[0], statistics.median(rates[1:])
    workers = min(16, os.cpu_count() or 1) if plan.device == "cuda" else 0
    say(f"  plain fp32 DataLoader loop, {plan.tp_plain_epochs} epoch(s), {workers} workers...")
    plain = plain_train(folder, plan.tp_depth, plan.tp_size, plan.tp_plain_epochs, plan.tp_batch, workers, plan.device)
    plain_rate = statistics.median(plain["ips"])
    arithmetic = {"bfloat16": "bf16 mixed precision", "float16": "fp16 mixed precision", "float32": "fp32"}
    dtype = "/".join(arithmetic.get(d, d) for d in sorted(run.dtypes)) or "?"
    result = (f"ResNet-{plan.tp_depth}, {plan.tp_size} px, batch {plan.tp_batch}, channels-last, {dtype}, "
              f"{count:,} JPEGs of {plan.tp_photo[0]}x{plan.tp_photo[1]}"
              + (f" (made in {made:.0f} s)" if made else "") + f"; {gpu_decoding(run, plan.device)}; "
              f"plain fp32 loop {plain_rate:,.0f} img/s, studio {first / plain_rate:.1f}x / {later / plain_rate:.1f}x")
    measured = f"epoch 1: {first:,.0f} img/s; later: {later:,.0f} img/s"
    if not plan.targets:
        return judged("throughput", problems, result, measured, "none on the CPU (targets are for CUDA cards)")
    target = f"epoch 1 >= {EPOCH1_TARGET:,} img/s; later >= {CACHED_TARGET:,} img/s"
    row = judged("throughput", problems, result, measured, target)
    if row.status == PASSED and (first < EPOCH1_TARGET or later < CACHED_TARGET):
        row.status = BELOW
    return row


# ---------------------------------------------------------------- running the checks


@dataclass(frozen=True)
class Check:
    run: Callable[[Plan, Path], Row]
    cuda_only: str = ""  # why it cannot run on the CPU ("" when it can)


CHECKS: dict[str, Check] = {
    "precision": Check(check_precision),
    "oom": Check(check_oom, "CUDA only: it fills a GPU's memory"),
    "resume": Check(check_resume),
    "export-torchscript": Check(check_export_torchscript),
    "export-onnx": Check(check_export_onnx),
    "latency": Check(check_latency),
    "throughput": Check(check_throughput),
}


def child(args) -> None:
    """Run one check in this process and write its row (as JSON) to --row-file."""
    plan = plan_for(args)
    try:
        if plan.device == "cpu":
            import torch

            torch.set_num_threads(1)  # a small shared machine: one busy thread, not two fighting
        row = CHECKS[args.child].run(plan, Path(args.work))
    except Exception as exc:  # the check failed; the table says why, the next check runs
        import traceback

        traceback.print_exc()
        row = Row(args.child, one_line(exc), status=FAILED)
    Path(args.row_file).write_text(json.dumps(dataclasses.asdict(row)), encoding="utf-8")


def run_check(name: str, plan: Plan, args, timeout: float) -> Row:
    """The check in a process of its own, killed (with what it started) past `timeout`."""
    if CHECKS[name].cuda_only and plan.device != "cuda":
        return skipped(name, CHECKS[name].cuda_only)
    with tempfile.TemporaryDirectory() as tmp:
        row_file = Path(tmp) / "row.json"
        cmd = [sys.executable, __file__, "--child", name, "--row-file", str(row_file), "--work", str(args.work)]
        cmd += ["--smoke-cpu"] if args.smoke_cpu else ["--quick"] if args.quick else []
        from run import COMMON_ENV

        # its output goes with the progress lines, to stderr (stdout is the table's); a session
        # of its own, so that what it starts (plain_loop.py) can be ended with it
        proc = subprocess.Popen(cmd, cwd=REPO, env={**os.environ, **COMMON_ENV}, stdout=2, start_new_session=True)
        try:
            code = proc.wait(timeout=timeout)
        except BaseException as exc:  # past its budget, or this script was interrupted
            os.killpg(proc.pid, signal.SIGKILL)  # its process group: the check and what it started
            proc.wait()
            if not isinstance(exc, subprocess.TimeoutExpired):
                raise
            return Row(name, f"did not finish within its time budget of {timeout:.0f} s", status=FAILED)
        if row_file.is_file():
            return Row(**json.loads(row_file.read_text(encoding="utf-8")))
        return Row(name, f"its process ended with exit code {code} before reporting (see the lines above)", status=FAILED)


def heading(plan: Plan, seconds: float) -> str:
    import torch

    if plan.device == "cuda":
        try:  # read at the end: this process keeps no CUDA context while the checks run
            props = torch.cuda.get_device_properties(0)
            where = f"{props.name} ({props.total_memory / 2**30:.0f} GiB), CUDA {torch.version.cuda}"
        except Exception as exc:  # a GPU that a check left unusable: the table still comes
            where = f"a GPU that cannot be described now ({one_line(exc)})"
    else:
        where = f"CPU smoke run ({os.cpu_count()} cores): tiny sizes, the script's logic only"
    return f"### GPU check: {where}; torch {torch.__version__}; {plan.name} plan; {seconds:.0f} s"


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__, epilog=EPILOG, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--only", default=",".join(CHECKS), metavar="NAMES",
                        help=f"comma-separated checks to run (default: all): {', '.join(CHECKS)}")
    parser.add_argument("--quick", action="store_true", help="smaller sizes and fewer repeats (about 3 minutes)")
    parser.add_argument("--output", type=Path, default=Path("gpu_check.md"), metavar="FILE",
                        help="where the Markdown table is written (default: gpu_check.md)")
    parser.add_argument("--work", type=Path, default=Path(tempfile.gettempdir()) / "resnet-studio-gpu-check", metavar="DIR",
                        help="where the generated images go (kept and reused by the next check; its runs are replaced)")
    parser.add_argument("--smoke-cpu", action="store_true", help=argparse.SUPPRESS)  # every check, tiny, on the CPU
    parser.add_argument("--child", choices=list(CHECKS), help=argparse.SUPPRESS)
    parser.add_argument("--row-file", help=argparse.SUPPRESS)
    return parser, parser.parse_args(argv)


def main(argv=None) -> int:
    started = time.perf_counter()
    parser, args = parse_args(argv)
    if args.child:
        child(args)
        return 0
    names = [n.strip() for n in args.only.split(",") if n.strip()]
    unknown = [n for n in names if n not in CHECKS]
    if unknown or not names:
        parser.error(f"unknown check(s): {', '.join(unknown) or '(none given)'}; choose from {', '.join(CHECKS)}")
    import torch

    if not args.smoke_cpu and not torch.cuda.is_available():
        build = f"CUDA {torch.version.cuda} build" if torch.version.cuda else "a CPU-only build"
        print(f"gpu_check needs an NVIDIA GPU with CUDA; none is available here (torch {torch.__version__}, {build}, "
              "CUDA not available)", file=sys.stderr)
        return 2
    plan = plan_for(args)
    args.work = args.work.resolve()
    args.work.mkdir(parents=True, exist_ok=True)
    deadline = started + TOTAL_SECONDS - 10  # room to write the table
    rows = []
    for i, name in enumerate(names, 1):
        budget = plan.budgets[name]
        left = budget if args.smoke_cpu else min(budget, deadline - time.perf_counter())
        say(f"[{i}/{len(names)}] {name} (budget {left:.0f} s)...")
        check_started = time.perf_counter()
        if left < MIN_BUDGET:
            row = Row(name, f"not run: the {TOTAL_SECONDS // 60}-minute total was used up", status=FAILED)
        else:
            row = run_check(name, plan, args, left)
            if not row.status.startswith("skipped"):
                row.result += f" [{time.perf_counter() - check_started:.0f} s]"
        say(f"[{i}/{len(names)}] {name}: {row.status} in {time.perf_counter() - check_started:.0f} s"
            + (f" - {row.result}" if row.status == FAILED else ""))
        rows.append(row)
    text = table(rows, heading(plan, time.perf_counter() - started))
    print(text)
    args.output.write_text(text, encoding="utf-8")
    say(f"table written to {args.output}")
    return 1 if any(row.status in (FAILED, BELOW) for row in rows) else 0


if __name__ == "__main__":
    sys.exit(main())
