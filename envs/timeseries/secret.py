"""The per-install salt mixed into every task's seed, so hidden answers are not a function of
public information alone.

catalog.py publishes each task's seed, and the generators are public code: without a secret,
pasting the generator with the published seed reproduces train.csv and the hidden answers
exactly. The salt is 32 random bytes kept in the user's cache (AGENTGYM_CACHE or
~/.cache/agentgym, file timeseries/salt, mode 0600). It never enters a sandbox: only the data
built from it does. It is created once, atomically (a private temp file hard-linked into place,
which fails when another process won the race; everyone then reads the winner's), and stays, so
results are reproducible on one install; another install (another salt) gets other data of the
same kind. AGENTGYM_TS_SALT (hex) overrides it, e.g. to reproduce another install's runs.

What it does not hide: on the local runtime the agent's process runs as the user who owns the
cache, so a local agent that finds the file can read it (the docker runtime never mounts it).
"""

from __future__ import annotations

import hashlib
import hmac
import os
import secrets
import threading
from pathlib import Path

SALT_BYTES = 32
_lock = threading.Lock()
_cached: dict[str, bytes] = {}


def salt_path() -> Path:
    from agentgym.images.core import cache_dir

    return Path(cache_dir()) / "timeseries" / "salt"


def _read(path: Path) -> bytes | None:
    try:
        data = bytes.fromhex(path.read_text().strip())
    except (FileNotFoundError, ValueError):
        return None
    return data if len(data) == SALT_BYTES else None


def _create(path: Path) -> bytes:
    """The salt at path, created there if missing: first writer wins, everyone reads the same."""
    path.parent.mkdir(parents=True, exist_ok=True)
    for _attempt in range(20):
        got = _read(path)
        if got is not None:
            return got
        tmp = path.with_name(f".salt.{os.getpid()}.{threading.get_ident()}.{secrets.token_hex(4)}")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        try:
            os.write(fd, secrets.token_hex(SALT_BYTES).encode() + b"\n")
            os.fsync(fd)
        finally:
            os.close(fd)
        try:
            os.link(tmp, path)  # atomic, never overwrites: a racing winner's salt stays
        except FileExistsError:
            if _read(path) is None:  # a broken file (not ours): replace it, atomically
                os.replace(tmp, path)
                continue
        finally:
            tmp.unlink(missing_ok=True)
    got = _read(path)
    if got is None:
        raise RuntimeError(f"cannot create the time-series salt at {path}")
    return got


def salt() -> bytes:
    """This install's salt (AGENTGYM_TS_SALT, else the cache file, created on first use)."""
    env = os.environ.get("AGENTGYM_TS_SALT", "").strip()
    if env:
        return hashlib.sha256(env.encode()).digest() if len(env) != 2 * SALT_BYTES else bytes.fromhex(env)
    path = salt_path()
    key = str(path)
    with _lock:
        if key not in _cached:
            _cached[key] = _create(path)
        return _cached[key]


def salted_seed(public_seed: int, draw: int = 0, key: bytes | None = None) -> int:
    """The seed a task is built from: an HMAC of the public seed (and the draw, when an earlier draw
    was unusable) under the salt, 62 bits. Specs with the same public seed (bring-your-own tasks
    all use 0) draw the same, as they did from the public seed alone."""
    mac = hmac.new(key if key is not None else salt(), f"{public_seed}\x00{draw}".encode(), hashlib.sha256)
    return int.from_bytes(mac.digest()[:8], "big") >> 2


def fingerprint(key: bytes | None = None) -> str:
    """A short public tag of the salt (reports, cache keys): says which install built a task, reveals nothing."""
    return hashlib.sha256(b"agentgym-ts-fingerprint\x00" + (key if key is not None else salt())).hexdigest()[:12]
