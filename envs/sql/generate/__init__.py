"""Seeded generator of the SQL domain's databases (and, through tasks/, of its tasks).

`python -m agentgym.envs.sql.generate` rewrites envs/sql/data/ bit-identically: same seed, same
bytes. data/manifest.json records the sha256 of every file's uncompressed content, so a test can
regenerate a database in memory and prove the committed one is what this code makes.
"""

from __future__ import annotations

import gzip
import hashlib
import json
from pathlib import Path

from agentgym.envs.sql.generate.core import Database, DomainFacts, render_files

SEED = 20261123
GENERATOR_VERSION = 1


def db_ids(lite: bool | None = None) -> list[str]:
    from agentgym.envs.sql.generate.domains import DOMAINS

    full = list(DOMAINS)
    if lite is None:
        return full + [f"{d}_lite" for d in full]
    return [f"{d}_lite" for d in full] if lite else full


def domain_of(db_id: str) -> str:
    return db_id.removesuffix("_lite")


def facts(db_id: str) -> DomainFacts:
    from agentgym.envs.sql.generate.domains import DOMAINS

    return DOMAINS[domain_of(db_id)].FACTS


def build_database(db_id: str, seed: int = SEED) -> Database:
    from agentgym.envs.sql.generate.domains import DOMAINS

    domain = domain_of(db_id)
    if domain not in DOMAINS:
        raise KeyError(f"unknown database {db_id!r}; known: {', '.join(db_ids())}")
    index = list(DOMAINS).index(domain)
    lite = db_id.endswith("_lite")
    db = DOMAINS[domain].build(seed + 101 * index + (7 if lite else 0), lite=lite)
    db.db_id = db_id
    if lite:
        db.title += " (lite: fewer tables and rows)"
    return db


def content_hash(name: str, data: bytes) -> str:
    raw = gzip.decompress(data) if name.endswith(".gz") else data
    return hashlib.sha256(raw).hexdigest()


def write_databases(out_dir: Path, seed: int = SEED, only: list[str] | None = None) -> dict[str, dict[str, str]]:
    manifest: dict[str, dict[str, str]] = {}
    for db_id in only or db_ids():
        files = render_files(build_database(db_id, seed))
        target = out_dir / db_id
        target.mkdir(parents=True, exist_ok=True)
        for name, data in files.items():
            (target / name).write_bytes(data)
        manifest[db_id] = {name: content_hash(name, data) for name, data in files.items()}
    return manifest


def write_manifest(out_dir: Path, databases: dict[str, dict[str, str]], tasks: dict[str, str], seed: int) -> None:
    body = {"generator_version": GENERATOR_VERSION, "seed": seed, "databases": databases, "tasks": tasks}
    (out_dir / "manifest.json").write_text(json.dumps(body, indent=1, sort_keys=True) + "\n", encoding="utf-8")
