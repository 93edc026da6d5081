"""What the window offers as it opens, and when a run cannot get its ImageNet weights.

- At start the newest completed run with a model (`engine.runs.newest_completed_run`) is the
  current run: the Predict tab classifies with its model; torchvision's ImageNet model only
  when there is none.
- `ResumeOffer`: a banner "Resume the interrupted run?" (Resume / Dismiss) when the newest
  run was cut off (its process ended mid-run: a crash, a kill, a power cut). Offered once
  per run: the settings remember the run it offered.
- `weights_unavailable` / `offer_weights_choices`: a run that could not download its
  ImageNet weights gets the window's words (not the command line's) and two ways on:
  Train from scratch, Choose weights file….

No torch at import; the engine's weights functions are imported when a run has failed.
"""

from __future__ import annotations

from collections.abc import Callable

from PySide6.QtCore import QSettings, Signal
from PySide6.QtWidgets import QWidget

from resnet_studio.engine import runs as engine_runs

from .format import escape
from .widgets import Banner

__all__ = ["ResumeOffer", "OFFERED_KEY", "weights_unavailable", "offer_weights_choices", "WEIGHTS_TITLE"]

OFFERED_KEY = "session/resume_offered"  # the run folder last offered for resuming
WEIGHTS_TITLE = "The ImageNet weights could not be downloaded"


class ResumeOffer(Banner):
    """"Resume the interrupted run?", once per run; `resumeRequested` carries its folder."""

    resumeRequested = Signal(str)

    def __init__(self, settings: QSettings, parent: QWidget | None = None) -> None:
        super().__init__(parent)
        self._settings = settings
        self.run_dir = ""  # the run offered now, "" when none

    def check(self, runs_dir=None) -> bool:
        """Offer to resume the newest run if it was cut off and was not offered before."""
        found = engine_runs.list_runs(runs_dir)
        last = found[0] if found else None
        if last is None or last.status != "interrupted" or not last.resumable:
            return False
        if str(self._settings.value(OFFERED_KEY, "") or "") == last.path:
            return False
        self._settings.setValue(OFFERED_KEY, last.path)
        self.run_dir = last.path
        model = f"ResNet-{last.depth}" if last.depth else "A run"
        done = last.epochs_completed
        where = (f"after {done} of {last.epochs} epochs" if last.epochs else f"after {done} epoch(s)") if done else (
            "in its first epoch")
        self.show_message(
            "warning",
            "Resume the interrupted run?",
            f"{model} on {escape(last.dataset or '?')} (<i>{escape(last.name)}</i>) was cut off {where}: the studio "
            "or the computer stopped while it trained. Resume continues it from its last finished epoch.",
            [("Resume", self._resume), ("Dismiss", self.dismiss)],
        )
        return True

    def dismiss(self) -> None:
        self.run_dir = ""
        self.hide()

    def _resume(self) -> None:
        path = self.run_dir
        self.dismiss()
        if path:
            self.resumeRequested.emit(path)


def weights_unavailable(config, message: str) -> bool:
    """Whether a run of `config` (None: a resumed run) failed for want of its ImageNet weights:
    it asked for them, the engine said they could not be had, and they are not in torch's cache."""
    if config is None or str(config.weights) != "imagenet" or "ImageNet weights" not in message:
        return False
    from resnet_studio.engine import models

    return not models.imagenet_weights_cached(config.depth)


def offer_weights_choices(banner: Banner, depth: int, train_from_scratch: Callable[[], None],
                          choose_file: Callable[[], object]) -> None:
    """Say, in the window's words, why the run could not start, and offer the two ways on."""
    from resnet_studio.engine import models

    path = models.imagenet_weights_path(depth)
    banner.show_message(
        "error",
        WEIGHTS_TITLE,
        f"ResNet-{depth} was to start from weights learnt on ImageNet, which are downloaded once, and the download "
        "did not work (no internet connection, or a proxy in the way). <b>Train from scratch</b> needs no download "
        "(right for the demo dataset; real photos learn far better from ImageNet weights), or <b>choose a weights "
        "file</b> you have (.safetensors, .pt or .pth)."
        f"<br><span style='font-size:small'>To use the ImageNet weights without a connection, copy "
        f"<i>{escape(path.name)}</i> into <i>{escape(str(path.parent))}</i>.</span>",
        [("Train from scratch", train_from_scratch), ("Choose weights file…", lambda: _choose(banner, choose_file)),
         ("Dismiss", banner.hide)],
    )


def _choose(banner: Banner, choose_file: Callable[[], object]) -> None:
    if choose_file():
        banner.hide()  # the setup now starts from that file: Start is the next step
