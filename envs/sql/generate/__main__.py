"""python -m agentgym.envs.sql.generate [--out DIR] [--seed N] [--skip-tasks]

Regenerates the committed databases and task suites (validating every task) bit-identically."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

from agentgym.envs.sql.catalog import DATA_DIR
from agentgym.envs.sql.generate import SEED, write_databases, write_manifest


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(prog="python -m agentgym.envs.sql.generate", description=__doc__)
    p.add_argument("--out", type=Path, default=DATA_DIR, help=f"output folder (default {DATA_DIR})")
    p.add_argument("--seed", type=int, default=SEED)
    p.add_argument("--skip-tasks", action="store_true", help="databases only")
    args = p.parse_args(argv)
    t0 = time.perf_counter()
    dbs = write_databases(args.out, args.seed)
    print(f"wrote {len(dbs)} databases to {args.out} in {time.perf_counter() - t0:.1f}s")
    tasks: dict[str, str] = {}
    if not args.skip_tasks:
        from agentgym.envs.sql.tasks.build import write_suites

        report = write_suites(args.out, seed=args.seed)
        tasks = report.hashes
        print(report.summary())
    write_manifest(args.out, dbs, tasks, args.seed)
    return 0


if __name__ == "__main__":
    sys.exit(main())
