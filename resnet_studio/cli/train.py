"""`resnet-studio train`: a run in the terminal, a progress bar per epoch and a line each.

The settings are checked by the engine (TrainConfig.problems), as the window and the
trainer check them: the first error is one line naming the option, exit 2.
"""

from __future__ import annotations

import errno
import os
import signal
import stat
import sys
import threading
from pathlib import Path

from .console import EXIT_CANCELLED, EXIT_FAILED, EXIT_OK, PROG, UsageError, duration, note, one_line

__all__ = ["run", "ConsoleReport", "StopOnSignal", "detach_from_terminal"]


def run(args) -> int:
    from ..engine import runs
    from ..engine.config import SETTINGS, TrainConfig
    from ..engine.train import RunControl, Trainer

    if args.data is None and args.resume is None:
        raise UsageError("the following arguments are required: DATA (or --resume RUN_DIR)")
    given = {name: getattr(args, name) for name in SETTINGS if hasattr(args, name) and getattr(args, name) is not None}
    if args.data is not None:
        given["data_dir"] = args.data

    if args.resume is not None:
        config = runs.resume_config(args.resume, epochs=given.get("epochs"), data_dir=given.get("data_dir"))
        ignored = sorted(SETTINGS[k].flag or "DATA" for k, v in given.items()
                         if k not in TrainConfig.RESUMABLE and not _same(k, getattr(config, k), v))
        if ignored:
            note(f"note: a resumed run keeps its own settings; ignoring {', '.join(ignored)}")
    else:
        config = TrainConfig(**given)
        for problem in config.problems():
            flag = SETTINGS[problem.field].flag
            where = f"argument {flag}: " if flag else ""
            if problem.level == "error":
                raise UsageError(f"{where}{problem.message}")
            note(f"warning: {problem.message}")

    report = ConsoleReport()
    control = RunControl()
    trainer = Trainer(config, callbacks=[report], control=control, resume_dir=args.resume)
    with StopOnSignal(control):
        try:
            finished = trainer.run()
        except KeyboardInterrupt:  # a second Ctrl+C, or one that came before the handler
            control.stop()
            report.close_bar()
            note("interrupted; the checkpoint of the last completed epoch is kept")
            finished = None
    report.close_bar()
    run_dir = (finished.run_dir if finished else None) or report.run_dir or trainer.run_dir
    code = _report_ending(finished, report, run_dir)
    if run_dir:
        print(run_dir, flush=True)
    return code


def _same(name: str, kept, given) -> bool:
    """Whether a value given on the command line is the resumed run's own anyway."""
    if name in ("data_dir", "out_dir") and kept and given:
        return Path(kept).expanduser().resolve() == Path(given).expanduser().resolve()
    return kept == given


def _report_ending(finished, report: ConsoleReport, run_dir) -> int:
    if finished is None:
        return EXIT_CANCELLED
    status = finished.status if finished.status in ("completed", "cancelled") else "failed"
    best = (
        f"; best val acc {finished.best_val_acc:.1%} at epoch {finished.best_epoch}"
        if finished.best_val_acc is not None
        else ""
    )
    if status != "completed":  # a completed run: the engine's last log line said it ("run completed: ...")
        note(f"{status} after {finished.epochs_completed} epoch(s){best}")
    if status == "failed":
        message = finished.message or (report.errors[-1] if report.errors else "unknown error")
        for other in report.errors:
            if other != message:
                note(f"error: {other}")
        print(f"{PROG}: error: training failed: {one_line(message)}", file=sys.stderr)
        return EXIT_FAILED
    if status == "cancelled":
        note(f"resume with: {PROG} train --resume {run_dir}")
        return EXIT_CANCELLED
    return EXIT_OK


class ConsoleReport:
    """Trainer callback: a progress bar per epoch on stderr, one line per epoch on stdout."""

    def __init__(self):
        self.bar = None
        self.run_dir: str | None = None
        self.errors: list[str] = []  # printed once, at the end
        self._listed: set[str] = set()  # skipped-file warnings already listed at the start

    def __call__(self, event) -> None:
        try:
            self._report(event)
        except OSError as exc:
            # the terminal went away (closed mid-run: EIO) before SIGHUP was handled: the run goes
            # on to its end with its output dropped, and StopOnSignal stops it as cancelled
            if exc.errno != errno.EIO:
                raise
            detach_from_terminal()

    def _report(self, event) -> None:
        from ..engine import events

        if isinstance(event, events.StepEnd):
            self._step(event)
        elif isinstance(event, events.EpochEnd):
            self.close_bar()
            print(
                f"epoch {event.epoch}/{event.epochs}  "
                f"train loss {event.train_loss:.4f} acc {event.train_acc:.1%}  "
                f"val loss {event.val_loss:.4f} acc {event.val_acc:.1%}  "
                f"lr {event.lr:.3g}  {event.images_per_sec:.0f} img/s  {event.seconds:.1f} s",
                flush=True,  # a best epoch: the engine's log line says so ("epoch 4: best so far ...")
            )
        elif isinstance(event, events.RunStarted):
            self._started(event)
        elif isinstance(event, events.LogMessage):
            if event.level == "error":
                self.errors.append(event.message)
            elif event.message not in self._listed:
                self.close_bar()
                note(event.message if event.level == "info" else f"{event.level}: {event.message}")
        elif isinstance(event, events.RunFinished):
            self.close_bar()
            self.run_dir = event.run_dir or self.run_dir

    def _started(self, event) -> None:
        self.run_dir = event.run_dir
        note(f"run folder: {event.run_dir}")  # a resumed run: the engine logs "resumed from epoch N"
        if event.skipped_files:
            note(f"skipped {len(event.skipped_files)} file(s):")
            for skipped in event.skipped_files:
                note(f"  {skipped.path}: {skipped.reason}")
                self._listed.add(f"skipped {skipped.path}: {skipped.reason}")

    def _step(self, event) -> None:
        if self.bar is None:
            from tqdm import tqdm

            self.bar = tqdm(
                total=event.steps_per_epoch,
                initial=event.step - 1,
                desc=f"epoch {event.epoch}",
                unit="step",
                leave=False,
                file=sys.stderr,
                dynamic_ncols=True,
                disable=None,  # no bar when stderr is not a terminal
            )
        postfix = {"loss": f"{event.loss:.3f}", "img/s": f"{event.images_per_sec:.0f}", "run ETA": duration(event.eta_seconds)}
        self.bar.set_postfix(postfix, refresh=False)
        self.bar.update(1)

    def close_bar(self) -> None:
        if self.bar is not None:
            self.bar.close()
            self.bar = None


def detach_from_terminal() -> None:
    """Send what goes to a terminal that is gone to /dev/null: stdout and stderr, where they
    are character devices (a terminal), not files or pipes, which still work."""
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        for stream in (sys.__stdout__, sys.__stderr__):
            try:
                fd = stream.fileno()
                if stat.S_ISCHR(os.fstat(fd).st_mode):
                    os.dup2(devnull, fd)
            except (AttributeError, OSError, ValueError):
                continue
    finally:
        os.close(devnull)


class StopOnSignal:
    """While training: SIGINT (Ctrl+C), SIGTERM and SIGHUP (the terminal went away) ask the
    run to stop at the next step; after SIGHUP, output to the terminal is dropped.

    A second Ctrl+C interrupts at once. A signal that was ignored when training started
    (`nohup`, a background job started with SIGINT ignored) stays ignored. Handlers can
    only be installed from the main thread; elsewhere (a test runner's thread) they are
    left alone. On the way out, each signal gets back the handler it had before.
    """

    def __init__(self, control):
        self.control = control
        self.signalled = False
        self._previous: dict[int, object] = {}

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM, getattr(signal, "SIGHUP", None)):  # no SIGHUP on Windows
                if sig is not None and signal.getsignal(sig) is not signal.SIG_IGN:
                    self._previous[sig] = signal.signal(sig, self._handle)
        return self

    def __exit__(self, *exc_info):
        for sig, handler in self._previous.items():
            signal.signal(sig, handler)
        return False

    def stop(self, signum: int = signal.SIGINT) -> None:
        if not self.signalled:
            again = " (Ctrl+C again to interrupt at once)" if signum == signal.SIGINT else ""
            note(f"stopping after this step; the checkpoint is kept{again}")
        self.signalled = True
        self.control.stop()

    def _handle(self, signum, frame) -> None:
        if signum == signal.SIGINT and self.signalled:
            raise KeyboardInterrupt
        if signum == getattr(signal, "SIGHUP", None):
            detach_from_terminal()
        self.stop(signum)
