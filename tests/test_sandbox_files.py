"""Reads, writes and copies of files the agent controls: bounded, typed, and never fatal to the
channel server (issue 13: a diff path pointed at /dev/zero used to kill it). Both backends."""

from __future__ import annotations

import logging
import warnings
from collections.abc import Iterator
from pathlib import Path

import pytest

from agentgym.guard import AgentFault
from agentgym.sandbox import Sandbox, SandboxFileRefused, SandboxSpec, factory
from tests.test_sandbox_channel import new_sandbox


@pytest.fixture
def sbx(runtime: str) -> Iterator[Sandbox]:
    s = new_sandbox(runtime)
    yield s
    s.close()


def _plant(sbx: Sandbox) -> None:
    r = sbx.exec("mkfifo fifo && ln -s /dev/zero zero && truncate -s 1G sparse && ln -s ../../../../../../etc/passwd "
                 "out && ln -s fifo fifolink && echo fine > ok.txt && python3 -c \"import socket; "
                 "s = socket.socket(socket.AF_UNIX); s.bind('sock')\"")
    assert r.exit_code == 0, r.output


@pytest.mark.parametrize("path", ["/dev/zero", "fifo", "fifolink", "zero", "sparse", "sock", "/dev/urandom"])
def test_a_read_that_could_never_end_is_refused_and_the_server_survives(sbx: Sandbox, path: str) -> None:
    _plant(sbx)
    with pytest.raises(SandboxFileRefused) as info:
        sbx.read_file(path)
    assert isinstance(info.value, AgentFault) and not info.value.terminal
    assert any(w in info.value.reason for w in ("not a regular file", "limit", "cannot be opened", "out of the sandbox"))
    assert sbx.exec("echo alive").stdout == "alive\n"
    assert sbx.read_file("ok.txt") == b"fine\n"


def test_a_read_past_max_bytes_is_refused_before_reading(sbx: Sandbox) -> None:
    sbx.write_file("ten.txt", "0123456789")
    assert sbx.read_file("ten.txt", max_bytes=10) == b"0123456789"
    with pytest.raises(SandboxFileRefused, match="10 bytes; the limit is 9"):
        sbx.read_file("ten.txt", max_bytes=9)


def test_a_symlink_out_of_the_sandbox_is_refused_locally_and_followed_in_a_container(sbx: Sandbox) -> None:
    _plant(sbx)
    if sbx.runtime == "local":  # /etc/passwd of the host
        with pytest.raises(SandboxFileRefused, match="out of the sandbox"):
            sbx.read_file("out")
        with pytest.raises(SandboxFileRefused, match="out of the sandbox"):
            sbx.write_file("out", "x")
    else:  # the container's own /etc/passwd: the agent's to read
        assert b"root:" in sbx.read_file("out")


@pytest.mark.parametrize("path", ["fifo", "zero", "/dev/null"])
def test_a_write_to_a_fifo_or_device_is_refused_without_blocking(sbx: Sandbox, path: str) -> None:
    _plant(sbx)
    with pytest.raises(SandboxFileRefused):
        sbx.write_file(path, "data")
    assert sbx.exec("echo alive").stdout == "alive\n"


def test_copy_out_leaves_out_fifos_devices_and_links_out_and_is_bounded(sbx: Sandbox, tmp_path: Path) -> None:
    r = sbx.exec("mkdir -p t/sub && (cd t && mkfifo f && ln -s /etc/passwd abs && ln -s ../../../../../../../etc up "
                 "&& echo a > a && ln -s a rel && echo b > sub/b && ln -s /dev/zero z)")
    assert r.exit_code == 0, r.output
    sbx.copy_out("t", tmp_path / "t")
    got = sorted(str(p.relative_to(tmp_path / "t")) for p in (tmp_path / "t").rglob("*"))
    assert got == ["a", "rel", "sub", "sub/b"], got
    assert (tmp_path / "t" / "rel").is_symlink() and (tmp_path / "t" / "rel").read_text() == "a\n"
    assert sbx.exec("truncate -s 1G t/sparse").exit_code == 0
    with pytest.raises(SandboxFileRefused, match="limit"):
        sbx.copy_out("t", tmp_path / "t2", max_bytes=1 << 20)
    with pytest.raises(SandboxFileRefused):
        sbx.copy_out("t/f", tmp_path / "fifo")
    assert sbx.exec("echo alive").stdout == "alive\n"


def test_read_only_copy_out_through_the_channel_is_bounded_too(runtime: str, tmp_path: Path) -> None:
    s = new_sandbox(runtime, read_only=True)
    try:
        s.exec("mkdir t && mkfifo t/f && echo a > t/a && truncate -s 1G t/big")
        with pytest.raises(SandboxFileRefused, match="limit"):
            s.copy_out("t", tmp_path / "t", max_bytes=1 << 20)
        s.exec("rm t/big")
        s.copy_out("t", tmp_path / "t")
        assert sorted(p.name for p in (tmp_path / "t").iterdir()) == ["a"]
    finally:
        s.close()


def test_one_file_cannot_grow_past_max_file_size(runtime: str) -> None:
    s = new_sandbox(runtime, max_file_size="1m")
    try:
        r = s.exec("head -c 3000000 /dev/zero > big; echo rc=$?; wc -c < big")
        assert "rc=0" not in r.stdout and r.stdout.split()[-1] == str(1 << 20), r.output
        assert s.exec("echo alive").stdout == "alive\n"
    finally:
        s.close()


def test_auto_falling_back_to_local_says_so_loudly(monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    import agentgym

    monkeypatch.delenv("AGENTGYM_RUNTIME", raising=False)
    monkeypatch.setattr(factory, "docker_available", lambda: False)
    with warnings.catch_warnings(record=True) as seen, caplog.at_level(logging.WARNING, "agentgym.sandbox"):
        warnings.simplefilter("always")
        env = agentgym.make("shell-fixture", runtime="auto")
    try:
        assert any(issubclass(w.category, factory.LocalFallbackWarning) and "falls back to runtime='local'" in str(w.message)
                   for w in seen)
        assert any("no Docker engine" in r.getMessage() for r in caplog.records)
        _, info = env.reset(options={"task_id": "hello"})
        assert env.unwrapped.runtime == "local" and info["runtime"] == "local"
        assert env.unwrapped.sandbox.runtime == "local"
    finally:
        env.close()
    with warnings.catch_warnings():  # chosen knowingly: no warning
        warnings.simplefilter("error")
        assert factory.resolve_runtime("local") == "local"
        monkeypatch.setenv("AGENTGYM_RUNTIME", "local")
        assert factory.resolve_runtime("auto") == "local"


def test_spec_default_max_file_size_is_set() -> None:
    assert SandboxSpec().max_file_size == "2g"
