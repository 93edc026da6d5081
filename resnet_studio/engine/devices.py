"""Which device trains: CUDA, then Apple's MPS, then the CPU."""

from __future__ import annotations

import os
from dataclasses import dataclass

import torch

from .errors import StudioError

__all__ = ["DeviceInfo", "available_devices", "resolve_device", "describe_device"]


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
