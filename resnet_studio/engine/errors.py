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
