"""The training device setting (agentgym.rl.device): cpu by default, cuda refused in one line where
torch sees no GPU, and with CUDA present (mocked: CI has no GPU) the configs SFTTrainer and
GRPOTrainer get say use_cpu=False and bf16 as asked. Configs are built, nothing is trained."""

from __future__ import annotations

from pathlib import Path
from types import SimpleNamespace
from unittest import mock

import pytest

pytest.importorskip("trl")
import torch  # noqa: E402
from pydantic import ValidationError  # noqa: E402

from agentgym.rl.device import DeviceError, resolve_device, trainer_device_args  # noqa: E402
from agentgym.rl.trl_grpo import GRPOSettings, train_grpo  # noqa: E402
from agentgym.rl.trl_sft import SFTSettings, sft_config  # noqa: E402
from agentgym.rl.trl_train import TrainConfigError, check, load_config  # noqa: E402


@pytest.fixture
def no_gpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)


@pytest.fixture
def fake_gpu():
    """torch reports one bf16-capable CUDA GPU; accelerate's shared device state is reset after."""
    from accelerate.state import AcceleratorState

    with mock.patch.object(torch.cuda, "is_available", return_value=True), \
            mock.patch.object(torch.cuda, "is_bf16_supported", return_value=True), \
            mock.patch.object(torch.cuda, "device_count", return_value=1), mock.patch.object(torch.cuda, "set_device"):
        yield
    AcceleratorState._reset_state(True)


class _Built(Exception):
    def __init__(self, config):
        super().__init__("built")
        self.config = config


def _grpo_config(settings: GRPOSettings, tmp_path: Path):
    """The GRPOConfig train_grpo hands GRPOTrainer (a stub that stops there: nothing trains)."""
    def stub(*a, args, **kw):
        raise _Built(args)

    with mock.patch("trl.GRPOTrainer", stub), pytest.raises(_Built) as built:
        train_grpo("unused-model", SimpleNamespace(padding_side="right"), "shell-fixture", ["hello"], tmp_path, settings,
                   env_kwargs={"runtime": "local"}, log=SimpleNamespace())
    return built.value.config


def test_cpu_is_the_default_and_sets_use_cpu(tmp_path):
    assert SFTSettings().device == GRPOSettings().device == "cpu"
    config = sft_config(SFTSettings(), tmp_path)
    assert config.use_cpu is True and config.bf16 is False
    assert trainer_device_args("cpu", bf16=True) == {"use_cpu": True, "bf16": False}  # never bf16 on the CPU


def test_cuda_without_a_gpu_is_one_line_naming_the_fix(no_gpu, tmp_path):
    with pytest.raises(DeviceError) as exc:
        resolve_device("cuda")
    msg = str(exc.value)
    assert "\n" not in msg and "no CUDA GPU" in msg and "use device cpu or auto" in msg
    assert resolve_device("auto") == "cpu"
    with pytest.raises(DeviceError, match="no CUDA GPU"):
        sft_config(SFTSettings(device="cuda"), tmp_path)
    with pytest.raises(DeviceError, match="unknown device 'tpu'"):
        resolve_device("tpu")


def test_agentgym_train_refuses_cuda_without_a_gpu_before_writing(no_gpu, tmp_path):
    (tmp_path / "model").mkdir()
    (tmp_path / "model" / "config.json").write_text("{}")
    cfg = tmp_path / "train.yaml"
    cfg.write_text(f"model: {tmp_path / 'model'}\nenv: shell-fixture\nalgorithm: grpo\ngrpo: {{device: cuda}}\nout: {tmp_path / 'out'}\n")
    with pytest.raises(TrainConfigError) as exc:
        check(load_config(cfg))
    assert str(exc.value).startswith("grpo.device: device 'cuda' asked for") and "\n" not in str(exc.value)
    assert not (tmp_path / "out").exists()
    cfg.write_text(f"model: {tmp_path / 'model'}\nenv: shell-fixture\nalgorithm: sft\nsft: {{device: tpu}}\nout: {tmp_path / 'out'}\n")
    with pytest.raises(TrainConfigError, match=r"config key 'sft.device': Input should be 'auto', 'cpu' or 'cuda'"):
        load_config(cfg)
    with pytest.raises(ValidationError):
        GRPOSettings(device="gpu")


def test_with_a_gpu_the_trainers_leave_the_cpu(fake_gpu, tmp_path):
    sft = sft_config(SFTSettings(device="cuda", bf16=True), tmp_path)
    assert sft.use_cpu is False and sft.bf16 is True
    auto = sft_config(SFTSettings(device="auto"), tmp_path)
    assert auto.use_cpu is False and auto.bf16 is False  # bf16 only when asked for
    grpo = _grpo_config(GRPOSettings(device="cuda", bf16=True), tmp_path)
    assert grpo.use_cpu is False and grpo.bf16 is True
    with mock.patch.object(torch.cuda, "is_bf16_supported", return_value=False):  # an older GPU: fp32
        assert trainer_device_args("cuda", bf16=True) == {"use_cpu": False, "bf16": False}


def test_grpo_on_cpu_keeps_use_cpu(tmp_path):
    grpo = _grpo_config(GRPOSettings(), tmp_path)
    assert grpo.use_cpu is True and grpo.bf16 is False


def test_train_grpo_refuses_cuda_without_a_gpu_before_it_writes(no_gpu, tmp_path):
    """Called directly (not through agentgym train's check), cuda without a GPU is refused before
    the run's log or env is opened: nothing is left in the out folder."""
    with pytest.raises(DeviceError, match="no CUDA GPU"):
        train_grpo("unused-model", None, "shell-fixture", ["hello"], tmp_path / "out", GRPOSettings(device="cuda"))
    assert not (tmp_path / "out").exists()
