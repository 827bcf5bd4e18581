"""Where a database's committed files live and how to read them (host side only).

Layout per database under envs/sql/data/<db_id>/ (the public BIRD-Interact names where they exist):
  dump.sql.gz               CREATE TABLE + INSERT statements (SQLite dialect), the data itself
  schema.txt                CREATE TABLE statements with comments and sample rows (what agents see)
  column_meaning_base.json  {"db|table|column": meaning}
  kb.jsonl                  the knowledge base, one KBEntry per line
"""

from __future__ import annotations

import gzip
import json
from functools import lru_cache
from pathlib import Path
from typing import Any

from pydantic import BaseModel, ConfigDict

from agentgym.envs.sql.models import KBEntry

DATA_DIR = Path(__file__).resolve().parent / "data"


class DatabaseFiles(BaseModel):
    model_config = ConfigDict(frozen=True)

    db_id: str
    root: Path

    @property
    def dump(self) -> Path:
        return self.root / "dump.sql.gz"

    def dump_sql(self) -> str:
        with gzip.open(self.dump, "rt", encoding="utf-8") as f:
            return f.read()

    def schema_text(self) -> str:
        return (self.root / "schema.txt").read_text(encoding="utf-8")

    def column_meanings(self) -> dict[str, str]:
        return json.loads((self.root / "column_meaning_base.json").read_text(encoding="utf-8"))

    def kb(self) -> list[KBEntry]:
        lines = (self.root / "kb.jsonl").read_text(encoding="utf-8").splitlines()
        out = []
        for line in lines:
            if line.strip():
                raw = json.loads(line)
                for key in ("children_knowledge", "parent_knowledge"):  # BIRD's -1 / null: no links
                    if not isinstance(raw.get(key, []), list):
                        raw[key] = []
                    raw[key] = [c for c in raw.get(key, []) if isinstance(c, int) and c >= 0]
                out.append(KBEntry.model_validate(raw))
        return out


def database_files(db_id: str, data_dir: Path | None = None) -> Any:
    """The files of database db_id: ours (DatabaseFiles) or, under a user's data_dir, a BIRD-Interact
    folder with a PostgreSQL dump (bird_files.BirdFolder: same methods, plus statements())."""
    root = (data_dir or DATA_DIR) / db_id
    if data_dir is not None and not (root / "dump.sql.gz").is_file():
        from agentgym.envs.sql.bird_files import bird_folder

        folder = bird_folder(db_id, Path(data_dir))
        if folder is not None:
            return folder
    if not (root / "dump.sql.gz").is_file() and data_dir is not None:
        raise FileNotFoundError(f"no database {db_id!r} under {data_dir}: neither {db_id}/dump.sql.gz nor a PostgreSQL "
                                f"dump ({db_id}/{db_id}.sql, postgre_table_dumps/{db_id}_template/*.sql; env option "
                                "bird_dumps= names a dumps folder elsewhere)")
    if not (root / "dump.sql.gz").is_file():
        known = sorted(p.name for p in (data_dir or DATA_DIR).iterdir() if (p / "dump.sql.gz").is_file()) if (data_dir or DATA_DIR).is_dir() else []
        raise FileNotFoundError(
            f"no database {db_id!r} under {root.parent} (known: {', '.join(known) or 'none'}); "
            "regenerate with: python -m agentgym.envs.sql.generate"
        )
    return DatabaseFiles(db_id=db_id, root=root)


@lru_cache(maxsize=64)
def cached_kb(db_id: str, data_dir: Path | None = None) -> tuple[KBEntry, ...]:
    return tuple(database_files(db_id, data_dir).kb())
