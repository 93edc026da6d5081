"""The engine's own errors. Each carries a one-line message meant for a person."""


class StudioError(Exception):
    """Bad input or a condition the user can fix; the message is one readable line."""


class DataError(StudioError):
    """The data folder cannot be used (missing, empty, one class, ...)."""


class ImageError(StudioError):
    """One image file cannot be read as a picture."""


class ModelFileError(StudioError):
    """A model, state-dict or checkpoint file cannot be loaded safely."""


class WeightsUnavailableError(StudioError):
    """Pretrained weights are not in the cache and cannot be downloaded."""


class RunCancelled(Exception):
    """Raised inside the training loop when the user asked it to stop."""


class OutOfMemory(StudioError):
    """Even the smallest batch did not fit in the device's memory."""


def describe(exc: BaseException) -> str:
    """One line for a person: a StudioError's own message, or the exception's type and its
    message's first line (for what nobody foresaw)."""
    lines = str(exc).strip().splitlines()
    if isinstance(exc, StudioError):
        return lines[0] if lines else type(exc).__name__
    return f"{type(exc).__name__}: {lines[0]}" if lines else type(exc).__name__
