"""Where training runs: the ``device`` and ``bf16`` settings of SFT and GRPO, resolved once.

Why one place: SFTSettings, GRPOSettings, `agentgym train` and benchmarks/train.py all take the
same ``device`` ("cpu" | "cuda" | "auto") and must turn it into the same TrainingArguments
(``use_cpu``, ``bf16``) and the same error when a GPU is asked for and torch sees none. The
default is "cpu", so configs written before the GPU path train exactly as they did.
"""

from __future__ import annotations

from typing import Any, Literal

Device = Literal["auto", "cpu", "cuda"]


class DeviceError(ValueError):
    """The requested device cannot be used here; the message is one line that says what to do."""


def resolve_device(device: str) -> str:
    """"cpu" or "cuda" for ``device``; "auto" takes the GPU when torch sees one. Raises DeviceError
    for an unknown name, or for "cuda" where torch sees no CUDA GPU."""
    if device not in ("auto", "cpu", "cuda"):
        raise DeviceError(f"unknown device {device!r}; use cpu, cuda or auto")
    if device == "cpu":
        return "cpu"
    import torch

    if torch.cuda.is_available():
        return "cuda"
    if device == "auto":
        return "cpu"
    build = f"torch {torch.__version__}" + ("" if torch.version.cuda else ", a build without CUDA")
    raise DeviceError(f"device 'cuda' asked for, but torch sees no CUDA GPU ({build}); use device cpu or auto here, "
                      "or run on a machine with an NVIDIA GPU and a CUDA build of torch (scripts/gpu_train_demo.sh)")


def trainer_device_args(device: str, bf16: bool = False) -> dict[str, Any]:
    """The TrainingArguments (SFTConfig, GRPOConfig) keywords for ``device``: ``use_cpu`` and
    ``bf16`` (on only when asked for, on a GPU that supports it; never on the CPU)."""
    where = resolve_device(device)
    if where == "cpu":
        return {"use_cpu": True, "bf16": False}
    import torch

    return {"use_cpu": False, "bf16": bool(bf16 and torch.cuda.is_bf16_supported())}


def gpu_name() -> str | None:
    """The first CUDA GPU's name, or None where torch sees none."""
    import torch

    return torch.cuda.get_device_name(0) if torch.cuda.is_available() else None


__all__ = ["Device", "DeviceError", "gpu_name", "resolve_device", "trainer_device_args"]
