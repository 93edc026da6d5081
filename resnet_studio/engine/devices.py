"""Which device trains: CUDA, then Apple's MPS, then the CPU."""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch

from .errors import StudioError

__all__ = [
    "DeviceInfo",
    "available_devices",
    "resolve_device",
    "describe_device",
    "copy_is_async",
    "to_device",
    "mixed_precision",
]


@dataclass(frozen=True)
class DeviceInfo:
    id: str  # "cpu", "cuda:0", "mps"
    label: str  # what a person reads: "NVIDIA H100 80GB HBM3 (79.1 GB)"
    note: str = ""


def _mps_available() -> bool:
    mps = getattr(torch.backends, "mps", None)
    return bool(mps and mps.is_available())


def available_devices() -> list[DeviceInfo]:
    """The devices this machine can train on, fastest first."""
    found: list[DeviceInfo] = []
    if torch.cuda.is_available():
        for i in range(torch.cuda.device_count()):
            props = torch.cuda.get_device_properties(i)
            found.append(DeviceInfo(f"cuda:{i}", f"{props.name} ({props.total_memory / 1e9:.1f} GB)"))
    if _mps_available():
        found.append(DeviceInfo("mps", "Apple GPU (Metal)"))
    cores = os.cpu_count() or 1
    found.append(DeviceInfo("cpu", f"CPU ({cores} cores)", "much slower than a GPU: keep images small"))
    return found


def resolve_device(name: str = "auto") -> torch.device:
    name = (name or "auto").strip().lower()
    if name == "auto":
        if torch.cuda.is_available():
            return torch.device("cuda")
        if _mps_available():
            return torch.device("mps")
        return torch.device("cpu")
    if name.startswith("cuda"):
        if not torch.cuda.is_available():
            raise StudioError("--device cuda was asked for, but no CUDA GPU is available here; use --device cpu")
        device = torch.device(name)
        if device.index is not None and device.index >= torch.cuda.device_count():
            raise StudioError(f"there is no GPU {name}; this machine has {torch.cuda.device_count()}")
        return device
    if name == "mps":
        if not _mps_available():
            raise StudioError("--device mps was asked for, but Apple's Metal backend is not available here")
        return torch.device("mps")
    if name == "cpu":
        return torch.device("cpu")
    raise StudioError(f"unknown device {name!r}; use auto, cpu, cuda or mps")


def describe_device(device: torch.device) -> str:
    if device.type == "cuda":
        return f"{device} ({torch.cuda.get_device_name(device)})"
    if device.type == "cpu":
        n = torch.get_num_threads()
        return f"cpu ({n} thread{'s' if n != 1 else ''})"
    return str(device)


# ---------------------------------------------------------------- copies and precision


def copy_is_async(tensor: torch.Tensor, device: torch.device) -> bool:
    """Whether a copy of `tensor` to `device` may return before it is done: only from
    pinned host memory to a CUDA GPU. From pageable memory, or to Apple's MPS, the host
    memory could be reused before the copy reads it (silent corruption), so those wait."""
    return device.type == "cuda" and tensor.device.type == "cpu" and tensor.is_pinned()


def to_device(tensor: torch.Tensor, device: torch.device) -> torch.Tensor:
    """`tensor` on `device`; asynchronous only where that is safe (copy_is_async)."""
    return tensor.to(device, non_blocking=copy_is_async(tensor, device))


def mixed_precision(device: torch.device, precision: str = "auto") -> torch.dtype | None:
    """The autocast dtype of a run on `device` (None: fp32 throughout).

    "auto": bf16 on NVIDIA GPUs that compute in it, from compute capability 8.0 (Ampere:
    A100, RTX 30xx, and later); fp16, with a gradient scaler, on older ones (T4, V100,
    RTX 20xx, GTX 16xx), where bf16 is emulated: slow, and unsupported by cuDNN's
    convolutions; fp32 on Apple GPUs and CPUs. "bf16", "fp16" and "fp32" are taken as
    asked, on any device (CPU autocast computes in both).
    """
    if precision == "fp32":
        return None
    if precision == "bf16":
        return torch.bfloat16
    if precision == "fp16":
        return torch.float16
    if device.type != "cuda":
        return None
    major, _ = torch.cuda.get_device_capability(device)  # the run's GPU, not the current one
    return torch.bfloat16 if major >= 8 else torch.float16
