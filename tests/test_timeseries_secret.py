"""The per-install salt (issue 13, hidden means hidden): created once, atomically, in the user's
cache; every process and thread that races to create it reads the same one; builds are
reproducible with one salt and differ with another; the public seed alone no longer rebuilds."""

import multiprocessing
import os
import stat
from concurrent.futures import ThreadPoolExecutor

from agentgym.envs.timeseries import secret
from agentgym.envs.timeseries.builders import BUILDERS, build
from agentgym.envs.timeseries.catalog import all_specs

SPEC = {s.id: s for s in all_specs()}["imp-scattered-d-10"]


def _salt_in(cache: str) -> str:
    os.environ["AGENTGYM_CACHE"] = cache
    os.environ.pop("AGENTGYM_TS_SALT", None)
    secret._cached.clear()
    return secret.salt().hex()


def test_salt_is_created_once_in_the_cache_and_kept(tmp_path, monkeypatch):
    monkeypatch.setenv("AGENTGYM_CACHE", str(tmp_path))
    monkeypatch.delenv("AGENTGYM_TS_SALT", raising=False)
    secret._cached.clear()
    first = secret.salt()
    path = tmp_path / "timeseries" / "salt"
    assert path.is_file() and stat.S_IMODE(path.stat().st_mode) == 0o600 and len(first) == 32
    secret._cached.clear()
    assert secret.salt() == first  # read back, not recreated
    assert [p.name for p in path.parent.iterdir()] == ["salt"]  # no temp files left


def test_many_threads_and_processes_racing_on_a_cold_cache_agree(tmp_path, monkeypatch):
    cache = str(tmp_path / "cold")
    monkeypatch.setenv("AGENTGYM_CACHE", cache)
    monkeypatch.delenv("AGENTGYM_TS_SALT", raising=False)
    with multiprocessing.get_context("spawn").Pool(6) as pool:
        from_procs = pool.map(_salt_in, [cache] * 12)
    secret._cached.clear()

    def create(_):
        return secret._create(secret.salt_path()).hex()

    with ThreadPoolExecutor(16) as ex:
        from_threads = list(ex.map(create, range(32)))
    assert len(set(from_procs + from_threads)) == 1
    assert sorted(p.name for p in (tmp_path / "cold" / "timeseries").iterdir()) == ["salt"]
    secret._cached.clear()


def test_builds_reproduce_with_one_salt_and_differ_with_another():
    a = build(SPEC, salt=b"\x05" * 32)
    again = build(SPEC.model_copy(), salt=b"\x05" * 32)
    other = build(SPEC, salt=b"\x06" * 32)
    public_only = BUILDERS["impute"](SPEC)
    assert a.public_files == again.public_files and a.answers.equals(again.answers)
    assert len({a.public_files["data.csv"], other.public_files["data.csv"], public_only.public_files["data.csv"]}) == 3
    assert a.spec == SPEC  # the instance carries the public spec; the salted seed stays private


def test_salt_override_and_fingerprint(monkeypatch):
    monkeypatch.setenv("AGENTGYM_TS_SALT", "ab" * 32)
    assert secret.salt() == bytes.fromhex("ab" * 32)
    assert secret.salted_seed(7) != secret.salted_seed(8) != secret.salted_seed(7, 1)
    assert len(secret.fingerprint()) == 12 and "ab" * 6 not in secret.fingerprint()
