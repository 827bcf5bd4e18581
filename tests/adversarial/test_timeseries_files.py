"""Adversarial suite, time series (issue 13): malformed artifacts, configs, modules and submission files: agent failures read with bounds. Each attack runs as an agent would
(write_file / bash / python tool calls, then submit through env.step) and asserts reward 0 or a
clear refusal: an agent failure with its reason (info["agent_failure"]), never an infrastructure
error (info["error"]), and no effect on an episode running beside it. Envs are pooled per module
(ts_episodes.py)."""

from __future__ import annotations

import os
import resource
import time
from concurrent.futures import ThreadPoolExecutor

import pytest

from tests.adversarial.ts_episodes import IMPUTE, call, episode, neighbour, shared_envs, zero  # noqa: F401


# ---- malformed artifacts, configs and modules: agent failures, never infrastructure errors -----------------

def _npz_corruption(kind: str) -> str:
    return {
        "bad_crc": "b = bytearray(raw); i = raw.index(b'NUMPY') + 200; b[i] ^= 0xFF; raw = bytes(b)",
        "encrypted": "b = bytearray(raw); b[6] |= 1; c = raw.rindex(b'PK\\x01\\x02'); b[c + 8] |= 1; raw = bytes(b)",
        "compression": "b = bytearray(raw); b[8] = 99; c = raw.rindex(b'PK\\x01\\x02'); b[c + 10] = 99; raw = bytes(b)",
        "truncated": "import zipfile, io\nz = io.BytesIO()\nwith zipfile.ZipFile(z, 'w') as zf:\n"
                     "    zf.writestr('coef.npy', raw_npy[:len(raw_npy) // 2])\nraw = z.getvalue()",
    }[kind]


@pytest.mark.parametrize("kind", ["bad_crc", "encrypted", "compression", "truncated"])
def test_attack_malformed_npz_artifact(kind):
    """npz artifacts with a bad CRC, the encrypted flag, an unknown compression method or a truncated
    array raised from zipfile/numpy inside the grader (an infrastructure error, dodging the zero).
    Stopped: guard.check_zip/load_npz check members, flags, methods and CRCs first: reward 0 with
    the reason."""
    with episode("eng-artifact-npz-d") as env:
        shape = (len(env.instance.context["series"]), len(env.instance.context["lags"]) + 2
                 + 2 * env.instance.context["harmonics"])
        code = ("import io, numpy as np\n"
                f"coef = np.full({shape}, 0.5)\n"
                "f = io.BytesIO(); np.savez(f, coef=coef); raw = f.getvalue()\n"
                "g = io.BytesIO(); np.save(g, coef); raw_npy = g.getvalue()\n"
                + _npz_corruption(kind) + "\nopen('model.npz', 'wb').write(raw)\n")
        call(env, "python", code=code)
        zero(call(env, "submit"), "model.npz")


@pytest.mark.parametrize("payload", ["[" * 100_000 + "]" * 100_000, "[" * 30_000 + "]" * 30_000,
                                     '{"window": ' + "9" * 5000 + ', "harmonics": 1, "trend": true}'])
def test_attack_hostile_json_config(payload):
    """A config nested 100k deep (RecursionError in json) or holding a 5000-digit integer (ValueError
    past Python's digit limit). Stopped: guard.parse_json bounds size, depth and digits before json
    parses anything: reward 0 with the reason, never info["error"]."""
    with episode("eng-tune-d") as env:
        call(env, "write_file", path="config.json", content=payload)
        zero(call(env, "submit"), "nested deeper", "characters", "the limit is")


@pytest.mark.parametrize("source", ["x = " + "(" * 200_000 + ")" * 200_000 + "\n",
                                    "x = " + "-" * 500_000 + "1\n"])
def test_attack_deep_ast_module(source):
    """A module whose AST is deep enough for ast.parse to raise RecursionError or MemoryError.
    Stopped: guard.parse_python catches both (and bounds size and depth): reward 0 with the reason."""
    with episode("eng-repair-column-d") as env:
        call(env, "write_file", path="forecaster.py", content=source)
        obs, *_ = call(env, "validate_submission")
        assert "invalid submission" in obs["text"]
        zero(call(env, "submit"), "forecaster.py")


# ---- the submission path: sizes and types checked before reading ------------------------------------------

@pytest.mark.parametrize("runtime", ["local", pytest.param("docker", marks=pytest.mark.docker)])
def test_attack_sparse_submission_file(runtime):
    """A 600 MB sparse submission.csv was read whole before the 20 MB check (2.5 GB host RSS).
    Stopped: the sandbox checks the size before reading: refused at once, host RSS unchanged."""
    with episode(IMPUTE, runtime) as env:
        call(env, "bash", command="truncate -s 600M submission.csv")
        rss = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        t = time.monotonic()
        zero(call(env, "submit"), "bytes", "limit")
        assert time.monotonic() - t < 20
        assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - rss < 100 * 1024  # KiB: < 100 MB growth


@pytest.mark.parametrize("runtime", ["local", pytest.param("docker", marks=pytest.mark.docker)])
def test_attack_fifo_at_the_submission_path(runtime):
    """A FIFO at submission.csv stalled every read for 120 s. Stopped: the type is checked on a
    non-blocking open: refused at once; an episode beside it finishes with its normal reward."""
    with ThreadPoolExecutor(1) as pool, episode(IMPUTE, runtime) as env:
        beside = pool.submit(neighbour, runtime)
        call(env, "bash", command="mkfifo submission.csv")
        t = time.monotonic()
        zero(call(env, "submit"), "FIFO", "regular file")
        assert time.monotonic() - t < 10
        assert beside.result(timeout=120) == 1.0


def test_attack_symlink_to_a_host_file_at_the_submission_path():
    """submission.csv as a symlink to a host file (local runtime: the sandbox is a host folder).
    Stopped: reads refuse symlinks out of the sandbox; the host file's content is never read or shown."""
    secret = os.path.join(os.path.expanduser("~"), ".agentgym-adversarial-secret")
    with open(secret, "w") as fh:
        fh.write("id,value\nTOPSECRET,1\n")
    try:
        with episode(IMPUTE) as env:
            call(env, "bash", command=f"ln -s {secret} submission.csv")
            obs, *_ = call(env, "view_file", path="submission.csv")
            assert "TOPSECRET" not in obs["text"]
            reason = zero(call(env, "submit"), "symlink", "outside", "regular file")
            assert "TOPSECRET" not in reason
    finally:
        os.unlink(secret)


def test_attack_dev_zero_at_the_submission_path():
    """Own: submission.csv -> /dev/zero (an endless file). Stopped: not a regular file: refused at once."""
    with episode(IMPUTE) as env:
        call(env, "bash", command="ln -s /dev/zero submission.csv")
        t = time.monotonic()
        zero(call(env, "submit"), "symlink", "device", "regular file", "outside")
        assert time.monotonic() - t < 10



def test_attack_million_column_header():
    """Own: a 2 MB submission whose header has a million columns (pandas would build a frame of a
    million columns before the column check). Stopped: the header is counted before parsing."""
    with episode(IMPUTE) as env:
        call(env, "bash", command="python3 -c \"print('id,value' + ',x' * 1000000); print('a,1' + ',0' * 1000000)\" "
                                   "> submission.csv")
        t = time.monotonic()
        zero(call(env, "submit"), "wrong columns")
        assert time.monotonic() - t < 10
