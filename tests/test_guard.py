"""agentgym.guard: bounded reads and guarded parses of agent-controlled data are AgentFaults, never crashes."""

from __future__ import annotations

import io
import os
import zipfile

import numpy as np
import pytest

from agentgym.guard import AgentFault, check_zip, load_npz, parse_json, parse_python, read_agent_file


def test_regular_file_reads_and_limits(tmp_path):
    f = tmp_path / "a.txt"
    f.write_bytes(b"x" * 100)
    assert read_agent_file(f, limit=100) == b"x" * 100
    with pytest.raises(AgentFault, match="limit is 99"):
        read_agent_file(f, limit=99)


def test_sparse_file_refused_by_size_before_reading(tmp_path):
    f = tmp_path / "sparse"
    with open(f, "wb") as fh:
        fh.truncate(600 * 1024 * 1024)
    with pytest.raises(AgentFault, match="629145600 bytes"):
        read_agent_file(f, limit=20 * 1024 * 1024)


@pytest.mark.parametrize("kind", ["fifo", "device", "symlink", "dir", "missing"])
def test_non_regular_files_refused_at_once(tmp_path, kind):
    p = tmp_path / "sub"
    if kind == "fifo":
        os.mkfifo(p)
    elif kind == "device":
        p = "/dev/zero"
    elif kind == "symlink":
        (tmp_path / "t").write_text("secret")
        os.symlink(tmp_path / "t", p)
    elif kind == "dir":
        p.mkdir()
    with pytest.raises(AgentFault):
        read_agent_file(p)


def test_json_limits():
    assert parse_json('{"a": [1, 2.5, "x]]]"]}') == {"a": [1, 2.5, "x]]]"]}
    with pytest.raises(AgentFault, match="nested deeper"):
        parse_json("[" * 100_000 + "]" * 100_000)
    with pytest.raises(AgentFault, match="number of 5000"):
        parse_json('{"n": ' + "9" * 5000 + "}")
    with pytest.raises(AgentFault, match="not valid JSON"):
        parse_json("{nope")


def test_python_limits():
    assert parse_python("x = 1").body
    with pytest.raises(AgentFault):
        parse_python("x = " + "(" * 5000 + "1" + ")" * 5000)
    with pytest.raises(AgentFault, match="deeper"):
        parse_python("x = " + "-" * 1000 + "1")
    with pytest.raises(AgentFault, match="does not parse"):
        parse_python("def (")


def _npz(**arrays) -> bytes:
    buf = io.BytesIO()
    np.savez(buf, **arrays)
    return buf.getvalue()


def test_npz_good_and_corrupt():
    data = _npz(w=np.arange(5.0))
    assert load_npz(data)["w"].tolist() == [0, 1, 2, 3, 4]
    # a flipped byte inside the member: CRC error
    bad = bytearray(data)
    i = bad.index(b"\x93NUMPY") + 60
    bad[i] ^= 0xFF
    with pytest.raises(AgentFault):
        load_npz(bytes(bad))
    with pytest.raises(AgentFault):
        load_npz(data[: len(data) // 2])  # truncated
    # encrypted flag and an unknown compression method, set in both headers
    for patch in ("flag", "method"):
        raw = bytearray(data)
        for sig, off in ((b"PK\x03\x04", 6), (b"PK\x01\x02", 8)):
            j = raw.index(sig)
            if patch == "flag":
                raw[j + off] |= 0x01
            else:
                raw[j + off + 2:j + off + 4] = (99).to_bytes(2, "little")
        with pytest.raises(AgentFault):
            load_npz(bytes(raw))


def test_zip_member_count_and_size():
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for i in range(100):
            zf.writestr(f"m{i}.npy", b"")
    with pytest.raises(AgentFault, match="100 members"):
        check_zip(buf.getvalue())
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("big.npy", b"\0" * (10 * 1024 * 1024))
    with pytest.raises(AgentFault, match="unpacks to more"):
        check_zip(buf.getvalue(), max_bytes=1024 * 1024)


@pytest.mark.parametrize("terminal", [False, True])
def test_env_reports_agent_fault_as_agent_failure_not_error(terminal):
    from agentgym import Tool
    from tests.toy_env import EchoArgs, ToyEnv

    class Faulty(ToyEnv):
        def _tools(self):
            def boom(args):
                raise AgentFault("your submission is a FIFO", terminal=terminal)
            return [*super()._tools(), Tool(name="boom", description="fails", params=EchoArgs, handler=boom)]

    env = Faulty()
    env.reset(seed=0)
    obs, reward, term, trunc, info = env.step({"name": "boom", "arguments": {"text": "x"}})
    assert "error" not in info and info["agent_failure"] == "your submission is a FIFO"
    assert obs["text"].startswith("Error: your submission is a FIFO")
    assert term is terminal and reward == 0.0
    if not terminal:  # the episode goes on
        assert env.step({"name": "echo", "arguments": {"text": "hi"}})[0]["text"].startswith("hi")
