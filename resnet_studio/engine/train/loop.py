"""The training loop: prepare, then for each epoch train and validate, then hand the
epoch to the callbacks.

    result = Trainer(config, callbacks=[print]).run()

Progress leaves through plain callables as typed events (events.py); the loop is
stopped or paused through a RunControl. What is written to the run folder, and early
stopping, are callbacks (callbacks.py); getting ready is prepare.py, step by step.

Images are decoded once into a memory cache and cropped, flipped and normalized in
batches on the training device (fastdata.py). Values the loop accumulates stay on the
device and are read back in batches (`sync_interval`), so a GPU never waits for the host.
"""

from __future__ import annotations

import dataclasses
import math
import os
import time
import traceback
from collections.abc import Callable, Iterable, Iterator
from pathlib import Path

import torch
from torch import nn

from .. import runs
from ..config import TrainConfig, is_cifar_depth
from ..data import DatasetScan, scan_dataset
from ..devices import describe_device, mixed_precision, resolve_device
from ..errors import RunCancelled, StudioError, describe
from ..events import EpochEnd, LogMessage, MemoryFallback, RunFinished, RunStarted, SkippedFile, StepEnd
from ..fastdata import Batch, BatchLoader, DeviceBatch, FeatureBank, TensorBatch, augmentation_for
from ..memory import ChunkedRunner, is_out_of_memory, memory_name, piece_bounds
from ..models import set_train_mode, stages
from . import prepare
from .callbacks import Callback, run_folder_callbacks
from .control import RunControl
from .pieces import BatchNormStats, batch_norm_in_pieces, forget_scaler_step, pieces_batch_norm
from .schedule import continue_schedule, make_optimizer, make_scheduler

__all__ = ["Trainer"]

Listener = Callable[[object], None]


class Trainer:
    """One training run. `run()` returns its RunFinished event.

    `callbacks`: plain callables, each handed every event (RunStarted, StepEnd per step,
    EpochEnd, LogMessage, MemoryFallback, RunFinished) from the thread that runs it.
    `resume_dir`: continue that run with its own settings (runs.resume_config); only
    `config.epochs` is taken from `config`.
    """

    #: emit/flush step statistics at most this often on an accelerator (seconds);
    #: reading a loss back from the GPU waits for it, so it is done in batches.
    sync_interval = 0.1
    #: measure block gradient norms every this many steps (cheap, but not free)
    grad_stats_every = 10
    #: head-only training without augmentation trains the head on features computed once
    feature_shortcut = True

    def __init__(
        self,
        config: TrainConfig,
        callbacks: Iterable[Listener] = (),
        control: RunControl | None = None,
        resume_dir: str | os.PathLike | None = None,
    ):
        self.config = config
        self.listeners = list(callbacks)
        self.control = control or RunControl()
        self.resume_dir = Path(resume_dir) if resume_dir else None
        self.run_dir: Path | None = None
        self.metrics: runs.MetricsWriter | None = None
        self.skipped: list[SkippedFile] = []
        self.notes: list[str] = []  # explanations for the log, once the run folder exists
        self.should_stop = False  # set by a callback (early stopping) to end the run after this epoch

    # ------------------------------------------------------------ events and the log

    def emit(self, event) -> None:
        for listener in self.listeners:
            listener(event)

    def log(self, message: str, level: str = "info") -> None:
        """A line for the log: in metrics.jsonl and to the listeners. A failed write raises
        (mid-run, a disk that cannot take a line fails the run), after the listeners heard it."""
        try:
            if self.metrics:
                self.metrics.write({"event": "log", "level": level, "message": message, "time": time.time()})
        finally:  # the window and the terminal hear it even when the disk is full
            self.emit(LogMessage(level, message))

    def tell(self, message: str, level: str = "info") -> None:
        """log(), for the end of a run: a disk that cannot take the line does not stop it."""
        try:
            self.log(message, level)
        except OSError:
            pass

    # ------------------------------------------------------------ preparing

    def _prepare(self) -> None:
        """Every step before the first batch (prepare.py); StudioError for bad input."""
        resuming = self.resume_dir is not None
        if resuming:  # the run's own settings; only the number of epochs may change
            self.config = runs.resume_config(self.resume_dir, epochs=self.config.epochs, data_dir=self.config.data_dir)
        else:  # (a resumed run's settings were checked as they were read)
            self.config.validate()
        cfg = self.config
        prepare.check_output_folder(prepare.output_folder(cfg, self.resume_dir), resuming)
        resume_state = prepare.load_resume_state(self.resume_dir) if resuming else None
        if resuming and resume_state is None:
            self.notes.append("no checkpoint yet (the run ended in its first epoch): starting again from epoch 1")
        self.device = resolve_device(cfg.device)
        self.scan: DatasetScan = self._scan_data(resuming)
        self.classes = self.scan.classes

        if cfg.augmentation == "auto":  # resolved for this data set: config.json says which
            level, why = cfg.resolved_augmentation(self.scan.num_train)
            self.config = cfg = dataclasses.replace(cfg, augmentation=level)
            if cfg.augment:
                self.notes.append(f"augmentation: {level} ({why})")
        self.model, weights_note = prepare.make_model(cfg, self.classes, self.device, resume_state)
        self.notes.append(weights_note)
        if cfg.stem != self.model.studio_stem and not is_cifar_depth(cfg.depth):  # auto, resolved: config.json says which
            self.config = cfg = dataclasses.replace(cfg, stem=self.model.studio_stem)
            if self.model.studio_stem == "small":
                self.notes.append("small-image stem: 3x3 convolution without max-pool (16x the multiply-adds)")
        self._set_up_precision()
        # out of memory: training goes on in pieces of a batch with accumulated gradients
        # (pieces.py), evaluation in pieces
        self._bn_stats = BatchNormStats(self.model)
        self._train_memory = ChunkedRunner(self.device, "batch", self._on_reduce("training"))
        self._eval_memory = ChunkedRunner(self.device, "batch", self._on_reduce("validation"))
        self.input = prepare.TrainingInput(cfg, self.scan, self.device, self.feature_shortcut)
        self.notes.append(self.input.note(cfg))
        self.steps_per_epoch = len(self.input.train_loader)
        self._augment_gen = torch.Generator(device=self.device)
        self.net = self.model  # what the steps call: the model, compiled, or (features) only its head
        if cfg.compile and not self.use_features:
            self.net = torch.compile(self.model)

        self.optimizer = make_optimizer(self.model, cfg)
        self.scheduler = make_scheduler(self.optimizer, cfg, self.steps_per_epoch)
        self.criterion = nn.CrossEntropyLoss(label_smoothing=cfg.label_smoothing)
        self._block_params = _block_param_slices(self.model)
        self.progress = prepare.Progress.from_checkpoint(resume_state)
        if resume_state:
            self._restore(resume_state)

        slots = 2 if cfg.optimizer == "adamw" else 1
        prepare.check_free_space(prepare.output_folder(cfg, self.resume_dir), self.model, slots, resuming)
        try:
            start = self.progress.start_epoch
            self.run_dir = prepare.create_run_folder(cfg, self.scan, self.input.workers, self.resume_dir, start)
            self.metrics = runs.MetricsWriter(self.run_dir)
        except OSError as exc:
            where = self.run_dir or prepare.output_folder(cfg, self.resume_dir)
            raise StudioError(f"cannot write to the run folder {where}: {exc.strerror or exc}") from None
        self.callbacks: list[Callback] = run_folder_callbacks(cfg.patience)

    def _scan_data(self, resuming: bool) -> DatasetScan:
        """Check and split the data folder; a resumed run keeps its own split. The batch
        size is checked against the training images found."""
        cfg = self.config
        scan = scan_dataset(cfg.data_dir, cfg.val_split, cfg.seed)
        if resuming:
            prepare.reuse_split(scan, self.resume_dir)
        errors = cfg.errors(num_train=scan.num_train, check_files=not resuming)
        if errors:
            raise StudioError(errors[0].message)
        self.skipped = list(scan.skipped)
        return scan

    def _set_up_precision(self) -> None:
        """Autocast as config.precision asks (devices.mixed_precision: on "auto", bf16 on
        NVIDIA GPUs that compute in it, fp16 on older ones, fp32 elsewhere); fp16 with a
        gradient scaler, so that small gradients do not vanish."""
        self.amp_dtype = mixed_precision(self.device, self.config.precision)
        self.use_amp = self.amp_dtype is not None
        if self.device.type == "cuda":
            torch.backends.cudnn.benchmark = True
        self.scaler = torch.amp.GradScaler(self.device.type, enabled=self.amp_dtype == torch.float16)

    def _restore(self, state: dict) -> None:
        """Optimiser, schedule, scaler, memory pieces and skipped files from a checkpoint."""
        self.optimizer.load_state_dict(state["optimizer"])
        self.scheduler.load_state_dict(state["scheduler"])
        if "scaler" in state and self.scaler.is_enabled():
            self.scaler.load_state_dict(state["scaler"])
        pieces = state.get("memory_pieces") or {}
        self._train_memory.piece = pieces.get("training")  # what fit before fits again
        self._eval_memory.piece = pieces.get("validation")
        self.skipped = [SkippedFile(p, r) for p, r in state.get("skipped", [])] or self.skipped
        # the schedule continues from the first step of the epoch being redone
        continue_schedule(self.scheduler, (self.progress.start_epoch - 1) * self.steps_per_epoch)

    @property
    def use_features(self) -> bool:
        return self.input.use_features

    def memory_pieces(self) -> dict:
        """The most images per pass that fit, where a batch had to be split (else None)."""
        return {"training": self._train_memory.piece, "validation": self._eval_memory.piece}

    # ------------------------------------------------------------ running

    def run(self) -> RunFinished:
        """Train; raises StudioError only for problems found before the run starts."""
        self._prepare()
        cfg, start = self.config, self.progress.start_epoch
        self.emit(
            RunStarted(
                run_dir=str(self.run_dir),
                config={**cfg.to_dict(), "lr": cfg.resolved_lr()},
                classes=list(self.classes),
                class_counts=self.scan.class_counts(),
                num_train=self.scan.num_train,
                num_val=self.scan.num_val,
                skipped_files=list(self.skipped),
                device=describe_device(self.device),
                start_epoch=start,
                epochs=cfg.epochs,
                steps_per_epoch=self.steps_per_epoch,
            )
        )
        status, message = "completed", ""
        self._run_started = time.perf_counter()
        self._steps_done = 0
        try:
            self.metrics.write({"event": "resume" if self.resume_dir else "start", "epoch": start - 1, "time": time.time()})
            if start > 1:
                self.log(f"resumed from epoch {start - 1}: continuing with epoch {start} of {cfg.epochs}")
            for s in self.skipped:
                self.log(f"skipped {s.path}: {s.reason}", "warning")
            precision = {torch.bfloat16: " in bf16 mixed precision", torch.float16: " in fp16 mixed precision"}
            self.log(
                f"ResNet-{cfg.depth} on {describe_device(self.device)}{precision.get(self.amp_dtype, '')}: "
                f"{self.scan.num_train} training and "
                f"{self.scan.num_val} validation images, {len(self.classes)} classes"
            )
            for note in filter(None, self.notes):
                self.log(note)
            for cb in self.callbacks:
                cb.on_run_start(self)
            for epoch in range(start, cfg.epochs + 1):
                self._run_epoch(epoch)
                if self.should_stop:
                    break
        except RunCancelled:
            status, message = "cancelled", "stopped by the user"
        except StudioError as exc:
            status, message = "failed", str(exc)
        except OSError as exc:
            status, message = "failed", f"could not write to the run folder: {exc.strerror or exc}"
        except Exception as exc:  # keep the run folder consistent whatever went wrong
            status, message = "failed", _describe_failure(exc, self.device)
            try:
                (self.run_dir / "error.log").write_text(traceback.format_exc(), encoding="utf-8")
            except OSError:
                pass
        return self._finish(status, message)

    def _finish(self, status: str, message: str) -> RunFinished:
        if status == "failed":
            self.tell(message, "error")
        try:
            for cb in self.callbacks:  # each one's part of the ending, whatever happened to the others
                try:
                    cb.on_run_end(self, status, message)
                except OSError as exc:
                    reason = exc.strerror or exc
                    self.emit(LogMessage("error", f"could not record the end of the run in {self.run_dir}: {reason}"))
        finally:
            self.metrics.close()
        model_path = self.run_dir / runs.MODEL
        p = self.progress
        event = RunFinished(
            status=status,
            run_dir=str(self.run_dir),
            epochs_completed=p.completed_epochs,
            best_epoch=p.best_epoch,
            best_val_acc=p.best_val_acc,
            final_val_acc=p.final_val_acc,
            model_path=str(model_path) if model_path.exists() else None,
            message=message,
        )
        self.emit(event)
        return event

    def _run_epoch(self, epoch: int) -> None:
        """Train and validate one epoch, then hand it to the callbacks (save, log, stop early)."""
        cfg = self.config
        started = time.perf_counter()
        # order and augmentation: repeatable per epoch, also on resume
        torch.manual_seed(cfg.seed * 1000 + epoch)
        self.input.shuffle_gen.manual_seed(cfg.seed * 1000 + epoch)
        self._augment_gen.manual_seed(cfg.seed * 1000 + epoch)
        feature_seconds = 0.0
        if self.use_features and self.input.features is None:
            self.input.features = self._compute_features()
            feature_seconds = time.perf_counter() - started
        train_loss, train_acc, images, train_seconds, grad_norms = self._train_epoch(epoch)
        train_seconds += feature_seconds  # the image rate counts the pass that made the features
        val_loss, val_acc, per_class, confusion = self._validate()
        if epoch == self.progress.start_epoch and self.input.cache_report():
            self.log(self.input.cache_report())
        self.progress.final_val_acc = val_acc
        is_best = self.progress.is_best(val_acc)
        result = EpochEnd(
            epoch=epoch,
            epochs=cfg.epochs,
            train_loss=train_loss,
            train_acc=train_acc,
            val_loss=val_loss,
            val_acc=val_acc,
            lr=self.optimizer.param_groups[0]["lr"],
            images_per_sec=images / train_seconds if train_seconds > 0 else 0.0,
            seconds=time.perf_counter() - started,
            per_class_acc=per_class,
            is_best=is_best,
            block_grad_norms=grad_norms,
            confusion_matrix=confusion,
        )
        for cb in self.callbacks:
            cb.on_epoch_end(self, result)
        self.emit(result)

    def _train_epoch(self, epoch: int):
        """One pass over the training images: (loss, accuracy, images, seconds, block gradient norms)."""
        device = self.device
        set_train_mode(self.model, True)
        loss_sum = torch.zeros((), device=device)
        correct_sum = torch.zeros((), device=device)
        grad_sum = torch.zeros(len(self._block_params), device=device)
        grad_count = torch.zeros((), device=device)  # steps measured whose gradients were finite
        seen = 0
        pending: list[tuple[int, torch.Tensor, torch.Tensor, int, float]] = []
        started = last_flush = time.perf_counter()
        paused = 0.0  # time spent paused does not count against the image rate
        step = 0
        for batch in self._batches(training=True):
            waiting = time.perf_counter()
            self.control.check()
            paused += time.perf_counter() - waiting
            step += 1
            measure = bool(self._block_params) and (step - 1) % self.grad_stats_every == 0
            batch_loss, batch_correct, norms = self._train_step(batch, measure)
            if norms is not None:  # a step the fp16 scaler skipped (inf or nan gradients) is left out
                finite = torch.isfinite(norms).all()
                grad_sum += torch.where(finite, norms, 0.0)
                grad_count += finite
            lr = self.optimizer.param_groups[0]["lr"]
            self.scheduler.step()
            n = len(batch)
            loss_sum += batch_loss * n
            correct_sum += batch_correct
            seen += n
            self._steps_done += 1
            pending.append((step, batch_loss, batch_correct, n, lr))
            now = time.perf_counter()
            if device.type == "cpu" or now - last_flush >= self.sync_interval or step == self.steps_per_epoch:
                self._flush_steps(epoch, pending, seen, now - started - paused)
                pending.clear()
                last_flush = now
        if seen == 0:
            raise StudioError("every training image in this epoch failed to load")
        if device.type == "cuda":
            torch.cuda.synchronize(device)
        train_time = time.perf_counter() - started - paused
        self._flush_steps(epoch, pending, seen, train_time)
        counted = int(grad_count.item())
        grad_norms = dict(zip(self._block_params, (grad_sum / counted).tolist())) if counted else {}
        return (loss_sum / seen).item(), (correct_sum / seen).item(), seen, train_time, grad_norms

    @torch.no_grad()
    def _validate(self):
        """(loss, accuracy, accuracy per class, confusion matrix) on the validation images."""
        model, device = self.model, self.device
        model.eval()
        n_classes = len(self.classes)
        confusion = torch.zeros(n_classes, n_classes, dtype=torch.long, device=device)
        loss_sum = torch.zeros((), device=device)
        seen = 0
        for batch in self._batches(training=False):
            self.control.check()
            logits, labels = self._eval_logits(self.net, batch), batch.labels
            # the training loss's label smoothing: the two curves measure the same thing
            loss_sum += nn.functional.cross_entropy(
                logits.float(), labels, reduction="sum", label_smoothing=self.config.label_smoothing
            )
            preds = logits.argmax(1)
            cells = labels * n_classes + preds
            confusion.view(-1).scatter_add_(0, cells, torch.ones_like(cells))  # bincount would wait for the device
            seen += labels.numel()
        if seen == 0:
            raise StudioError("no validation image could be read")
        cm = confusion.cpu()
        per_class_total = cm.sum(1).clamp(min=1)
        per_class = {c: float(cm[i, i] / per_class_total[i]) for i, c in enumerate(self.classes)}
        return (loss_sum / seen).item(), float(cm.diag().sum() / seen), per_class, cm.tolist()

    # ------------------------------------------------------------ batches

    def _batches(self, training: bool) -> Iterator[DeviceBatch | TensorBatch]:
        """The batches of one pass, bound for the device: augmented training images,
        centre crops for validation (made into inputs a piece at a time: DeviceBatch), or
        the backbone's features when only the head trains (then self.net is the head)."""
        loader = self.input.train_loader if training else self.input.val_loader
        if self.input.features is not None:
            yield from self.input.features[0 if training else 1].batches(loader.index_batches())
            return
        for batch in loader:
            self._note_broken(batch.errors)
            if batch.labels.numel():
                yield self._on_device(batch, augment=training and self.config.augment)

    def _on_device(self, batch: Batch, augment: bool) -> DeviceBatch:
        """`batch` for the device; with `augment`, its random crops and flips (and colour
        jitter) are drawn now, for the whole batch."""
        cfg = self.config
        generator = self._augment_gen if augment else None
        channels_last = self.device.type in ("cuda", "cpu")
        level = augmentation_for(cfg.augmentation, cfg.color_jitter) if augment else "standard"
        return DeviceBatch(batch, self.device, cfg.image_size, generator, level, channels_last)

    def _eval_logits(self, net: nn.Module, batch: DeviceBatch | TensorBatch) -> torch.Tensor:
        """net's output for a batch, in pieces when it does not fit in memory."""

        def piece(start: int, stop: int) -> torch.Tensor:
            with torch.autocast(self.device.type, dtype=self.amp_dtype, enabled=self.use_amp):
                return net(batch.inputs(start, stop))

        return self._eval_memory.map(piece, len(batch))

    @torch.no_grad()
    def _compute_features(self) -> tuple[FeatureBank, FeatureBank]:
        """The frozen backbone's pooled output for every training and validation image,
        from one pass over the images; from now on the steps train only the head."""
        started = time.perf_counter()
        set_train_mode(self.model, True)  # frozen parts are in eval mode, as in the usual steps
        backbone = nn.Sequential(*list(self.model.children())[:-1], nn.Flatten())
        banks = []
        for samples in (self.scan.train, self.scan.val):
            bank = FeatureBank(samples, self.model.fc.in_features, self.device)
            for batch in BatchLoader(samples, **self.input.loading):  # every image, in order
                self.control.check()
                self._note_broken(batch.errors)
                if batch.labels.numel():
                    bank.add(batch.indices, self._eval_logits(backbone, self._on_device(batch, augment=False)))
            banks.append(bank)
        self.net = self.model.fc
        self.log(
            f"head-only training without augmentation: the backbone's features of {sum(len(b) for b in banks)} images "
            f"took {time.perf_counter() - started:.1f} s, once; each epoch trains the head on them"
        )
        return banks[0], banks[1]

    def _note_broken(self, errors: list[str]) -> None:
        """Skip and log, once each, images that failed to load during training."""
        for error in errors:
            path, reason = error.split(": ", 1)
            if all(s.path != path for s in self.skipped):
                self.skipped.append(SkippedFile(path, reason))
                self.log(f"skipped {path} during training: {reason}", "warning")

    # ------------------------------------------------------------ one step

    def _train_step(self, batch: DeviceBatch | TensorBatch, measure_grads: bool):
        """One optimiser step on a batch: (mean loss, number correct, block gradient norms
        or None), as device tensors. When the batch does not fit in memory it is retried in
        smaller pieces whose gradients add up to the whole batch's (the piece size found
        is kept for the rest of the run), after undoing what the failed attempt did."""
        n = len(batch)
        while True:
            pieces = self._train_memory.pieces(n)
            self._bn_stats.save()
            try:
                result = self._accumulated_step(batch, pieces, measure_grads)
                break
            except Exception as exc:  # only out-of-memory is retried
                if not is_out_of_memory(exc):
                    raise
            # outside the except block, so the failed attempt's activations can be freed
            self.optimizer.zero_grad(set_to_none=True)
            self._bn_stats.restore()
            forget_scaler_step(self.scaler)
            self._train_memory.shrink(math.ceil(n / pieces))
        self.scaler.update()  # after the step: a retry must not move the scale twice
        return result

    def _accumulated_step(self, batch: DeviceBatch | TensorBatch, pieces: int, measure_grads: bool):
        n = len(batch)
        self.optimizer.zero_grad(set_to_none=True)
        loss_sum = torch.zeros((), device=self.device)
        correct = torch.zeros((), dtype=torch.long, device=self.device)
        with pieces_batch_norm(self.model, pieces, math.ceil(n / pieces), self.config.pretrained):
            for start, stop in piece_bounds(n, pieces):
                x, y = batch.inputs(start, stop), batch.labels[start:stop]
                with torch.autocast(self.device.type, dtype=self.amp_dtype, enabled=self.use_amp):
                    logits = self.net(x)
                    loss = self.criterion(logits, y)
                # each piece's mean loss, weighted by its share: the gradients sum to the batch's
                self.scaler.scale(loss if pieces == 1 else loss * ((stop - start) / n)).backward()
                loss_sum += loss.detach().float() * (stop - start)
                correct += (logits.detach().argmax(1) == y).sum()
                del x, logits, loss
        norms = None
        if measure_grads:
            self.scaler.unscale_(self.optimizer)
            norms = self._block_grad_norms()
        self.scaler.step(self.optimizer)
        return loss_sum / n, correct, norms

    def _on_reduce(self, phase: str):
        return lambda old, new: self._memory_fallback(phase, old, new)

    def _memory_fallback(self, phase: str, old: int, new: int) -> None:
        """Tell the log and the window that batches now run in pieces of `new` images."""
        batch = self.config.batch_size
        where = memory_name(self.device)
        if phase == "training":
            pieces = math.ceil(batch / new)
            message = (
                f"out of {where} with {old} images at once: each batch of {batch} now runs as {pieces} pieces of up to "
                f"{new} with the gradients accumulated (the same steps and learning rate); batch norm layers use "
                f"{batch_norm_in_pieces(new, self.config.pretrained)}"
            )
        else:
            message = f"out of {where} during {phase} with {old} images at once: carrying on with {new} at a time"
        self.log(message, "warning")
        self.emit(MemoryFallback(phase, batch, new, message))

    def _block_grad_norms(self) -> torch.Tensor:
        """The gradient norm of each block of self._block_params, as one tensor on the
        device (reading it back would wait for the device: that is done per epoch)."""
        norms = []
        for params in self._block_params.values():
            grads = [p.grad for p in params if p.grad is not None]
            if grads:
                norms.append(torch.linalg.vector_norm(torch.stack(torch._foreach_norm(grads))))
            else:
                norms.append(torch.zeros((), device=self.device))
        return torch.stack(norms).float()

    def _flush_steps(self, epoch: int, pending, seen: int, train_time: float) -> None:
        """Turn buffered device values into StepEnd events and metrics lines (one sync)."""
        if not pending:
            return
        values = torch.stack([torch.stack([loss.float(), c.float()]) for _, loss, c, _, _ in pending]).tolist()
        elapsed = time.perf_counter() - self._run_started
        total_steps = (self.config.epochs - self.progress.start_epoch + 1) * self.steps_per_epoch
        rate = self._steps_done / elapsed if elapsed > 0 else 0.0
        eta = (total_steps - self._steps_done) / rate if rate > 0 else 0.0
        ips = seen / train_time if train_time > 0 else 0.0
        memory = torch.cuda.max_memory_allocated(self.device) / 2**20 if self.device.type == "cuda" else None
        for (step, _, _, n, lr), (loss, correct) in zip(pending, values):
            global_step = (epoch - 1) * self.steps_per_epoch + step
            self.metrics.write({"event": "step", "epoch": epoch, "step": global_step, "loss": loss, "lr": lr})
            self.emit(StepEnd(epoch, step, self.steps_per_epoch, global_step, loss, correct / n, lr, ips, eta, memory))


def _block_param_slices(model: nn.Module) -> dict[str, list[nn.Parameter]]:
    blocks = {}
    for stage in stages(model):
        for i, block in enumerate(getattr(model, stage)):
            params = [p for p in block.parameters() if p.requires_grad]
            if params:
                blocks[f"{stage}.{i}"] = params
    return blocks


def _describe_failure(exc: BaseException, device: torch.device) -> str:
    if is_out_of_memory(exc):  # outside a step: moving the model, saving
        return f"out of {memory_name(device)}: {describe(exc)}"
    return describe(exc)
