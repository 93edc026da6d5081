"""Stop and pause flags a long job checks between steps (training, evaluation)."""

from __future__ import annotations

import threading

from ..errors import RunCancelled

__all__ = ["RunControl"]


class RunControl:
    """Stop and pause flags the loop checks between steps. Safe to use from any thread."""

    def __init__(self) -> None:
        self._stop = threading.Event()
        self._running = threading.Event()
        self._running.set()

    def stop(self) -> None:
        self._stop.set()
        self._running.set()  # a paused run must wake up to stop

    def pause(self) -> None:
        if not self._stop.is_set():
            self._running.clear()

    def resume(self) -> None:
        self._running.set()

    @property
    def paused(self) -> bool:
        return not self._running.is_set()

    @property
    def stop_requested(self) -> bool:
        return self._stop.is_set()

    def check(self) -> None:
        """Wait while paused; raise RunCancelled once a stop was asked for."""
        while not self._running.wait(0.1):
            pass
        if self._stop.is_set():
            raise RunCancelled()
