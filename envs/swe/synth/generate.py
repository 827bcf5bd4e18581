"""Generate swe-synth instances: inject bugs, validate them in Docker, write SWE-bench-schema JSONL.

    python -m agentgym.envs.swe.synth.generate --out envs/swe/data/synth/instances.jsonl

Per project: unpack the committed sdist, run its test selection twice on the original tree (tests
that do not pass both times are never used), then try seeded AST mutations one by one. A mutation is
kept when its tests collect, 1..20 originally-passing tests fail (FAIL_TO_PASS) and, in a second run
of only the affected test files, exactly those fail again while every other test of those files
passes (PASS_TO_PASS) - and the `-rA` summary lines say the same. At most --per-function bugs per function (default 1).
At most 2 containers run at once (shared CPUs).
"""

from __future__ import annotations

import argparse
import json
import shutil
import sys
import tempfile
import time
import zlib
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

from agentgym.envs.swe.instance import SWEInstance
from agentgym.envs.swe.synth.mutate import Mutation, find_mutations, sample_mutations
from agentgym.envs.swe.synth.projects import INSTANCES_JSONL, Project, SynthError, load_projects, unpack_tree
from agentgym.envs.swe.synth.runner import TestRun, check_image, run_tests
from agentgym.envs.swe.synth.snapshot import materialize, unified_diff
from agentgym.envs.swe.synth.statements import write_statement

MAX_F2P = 20
CREATED_AT = "2024-01-01T00:00:00Z"
FAILING = ("failed", "error")


def plain_id(node_id: str) -> bool:
    """Node ids a line-based -rA parser can read unambiguously (no whitespace, printable ASCII)."""
    return node_id.isascii() and node_id.isprintable() and not any(c.isspace() for c in node_id)


def _file_of(node_id: str) -> str:
    return node_id.split("::", 1)[0]


class Candidate:
    """A validated bug before it gets its id and commit."""

    def __init__(self, project: Project, mutation: Mutation, f2p: list[str], p2p: list[str],
                 files: list[str], messages: dict[str, str], patch: str) -> None:
        self.project, self.mutation, self.f2p, self.p2p = project, mutation, f2p, p2p
        self.files, self.messages, self.patch = files, messages, patch


class ProjectRun:
    """Validation state for one project: its original tree and the tests that reliably pass there."""

    def __init__(self, project: Project, work: Path, log: callable) -> None:  # type: ignore[valid-type]
        self.project, self.work, self.log = project, work, log
        self.original = unpack_tree(project, work / "original")
        self.test_files = project.test_files(self.original)
        if not self.test_files:
            raise SynthError(f"{project.slug}: no test files match {project.test_files_glob}")
        self.stats: dict[str, int] = {}
        self.baseline_seconds = 0.0
        self.passing: set[str] = set()

    def baseline(self) -> None:
        runs = [run_tests(self.original, self.project, self.test_files) for _ in range(2)]
        for r in runs:
            if r.collect_errors or r.timed_out:
                raise SynthError(f"{self.project.slug}: the original tests do not collect: {r.log[-1500:]}")
        self.baseline_seconds = max(r.seconds for r in runs)
        self.passing = runs[0].with_outcome("passed") & runs[1].with_outcome("passed")
        unstable = len(runs[0].outcomes) - len(self.passing)
        self.log(f"{self.project.slug}: {len(self.test_files)} test files, {len(self.passing)} stable passing "
                 f"tests ({unstable} not used), {self.baseline_seconds:.1f} s per run")

    def _count(self, reason: str) -> None:
        self.stats[reason] = self.stats.get(reason, 0) + 1

    def validate(self, m: Mutation, index: int) -> Candidate | None:
        original_text = (self.original / m.file).read_text()
        mutated_text = m.apply(original_text)
        tree = self.work / f"m{index:05d}"
        shutil.copytree(self.original, tree)
        try:
            (tree / m.file).write_text(mutated_text)
            return self._judge(m, tree, original_text, mutated_text)
        finally:
            shutil.rmtree(tree, ignore_errors=True)

    def _judge(self, m: Mutation, tree: Path, original_text: str, mutated_text: str) -> Candidate | None:
        first = run_tests(tree, self.project, self.test_files)
        if first.collect_errors or first.timed_out:
            return self._reject("collection error or timeout")
        broke = {t for t in self.passing if first.outcomes.get(t) not in ("passed",)}
        if not broke:
            return self._reject("no test fails")
        if any(first.outcomes.get(t) not in FAILING for t in broke):
            return self._reject("tests skipped or vanished")
        f2p = sorted(t for t in broke if plain_id(t))
        if not f2p or len(broke) > MAX_F2P:
            return self._reject("too many failing tests" if f2p else "only odd test ids fail")
        files = sorted({_file_of(t) for t in broke})
        p2p = sorted(t for t in self.passing if _file_of(t) in files and t not in broke and plain_id(t))
        second = run_tests(tree, self.project, files)
        if second.collect_errors or second.timed_out:
            return self._reject("second run: collection error or timeout")
        if any(second.outcomes.get(t) not in FAILING for t in broke) or any(
            second.outcomes.get(t) != "passed" for t in p2p
        ):
            return self._reject("flaky")
        if not _summary_agrees(second, f2p, p2p):
            return self._reject("-rA summary disagrees")
        self._count("kept")
        messages = {t: first.messages.get(t, "") for t in f2p}
        patch = unified_diff(m.file, mutated_text, original_text)
        return Candidate(self.project, m, f2p, p2p, files, messages, patch)

    def _reject(self, reason: str) -> None:
        self._count(reason)
        return None


def _summary_agrees(run: TestRun, f2p: list[str], p2p: list[str]) -> bool:
    lines = run.summary_lines()
    starts = {ln.split(" - ", 1)[0] for ln in lines}
    return all(f"FAILED {t}" in starts or f"ERROR {t}" in starts for t in f2p) and all(
        f"PASSED {t}" in lines for t in p2p
    )


def candidates_for(run: ProjectRun, seed: int) -> list[Mutation]:
    found: list[Mutation] = []
    for rel in run.project.source_files(run.original):
        found += find_mutations(rel, (run.original / rel).read_text())
    return sample_mutations(found, seed ^ zlib.crc32(run.project.name.encode()))


def generate_project(project: Project, work: Path, per_project: int, max_tries: int, seed: int,
                     jobs: int, log: callable, per_function: int = 1,  # type: ignore[valid-type]
                     existing: list[SWEInstance] | None = None) -> tuple[list[Candidate], dict]:
    """Validate seeded mutations of one project until per_project are kept (or max_tries are spent).

    `existing` instances (when extending a project) count against per_function and are never redone.
    """
    started = time.monotonic()
    run = ProjectRun(project, work / project.slug, log)
    run.baseline()
    kept: list[Candidate] = []
    used_functions: dict[tuple[str, str], int] = {}
    done_edits: set[tuple[str, int, str]] = set()
    for inst in existing or []:
        mu = inst.mutation  # type: ignore[attr-defined]
        key = (mu["file"], mu.get("function", ""))
        used_functions[key] = used_functions.get(key, 0) + 1
        done_edits.add((mu["file"], mu["line"], mu["kind"]))
    queue = [m for m in candidates_for(run, seed)]
    tried = 0
    original_texts: dict[str, str] = {}
    with ThreadPoolExecutor(max_workers=jobs) as pool:
        while queue and len(kept) < per_project and tried < max_tries:
            batch: list[Mutation] = []
            while queue and len(batch) < jobs:
                m = queue.pop(0)
                text = original_texts.setdefault(m.file, (run.original / m.file).read_text())
                if (m.file, m.line, m.kind) in done_edits:
                    continue
                if used_functions.get((m.file, m.function), 0) >= per_function or not m.is_valid(text):
                    continue
                if any((b.file, b.function) == (m.file, m.function) for b in batch):
                    continue
                batch.append(m)
            results = list(pool.map(lambda im: run.validate(im[1], tried + im[0]), enumerate(batch)))
            tried += len(batch)
            for c in results:
                if c is not None and len(kept) < per_project:
                    kept.append(c)
                    key = (c.mutation.file, c.mutation.function)
                    used_functions[key] = used_functions.get(key, 0) + 1
    stats = {"project": project.slug, "tried": tried, "kept": len(kept), "reasons": run.stats,
             "test_seconds": round(run.baseline_seconds, 2), "seconds": round(time.monotonic() - started, 1)}
    log(f"{project.slug}: kept {len(kept)} of {tried} tried in {stats['seconds']} s {run.stats}")
    return kept, stats


def to_instances(cands: list[Candidate], seed: int, work: Path, first: int = 1) -> list[SWEInstance]:
    out: list[SWEInstance] = []
    for n, c in enumerate(cands, start=first):
        p = c.project
        iid = f"{p.name}-{p.version}__synth-{n:04d}"
        inst = SWEInstance(
            repo=p.repo, instance_id=iid, base_commit="", patch=c.patch, test_patch="",
            problem_statement=write_statement(p, c.mutation, c.messages, seed ^ zlib.crc32(iid.encode())),
            hints_text="", created_at=CREATED_AT, version=p.version,
            FAIL_TO_PASS=c.f2p, PASS_TO_PASS=c.p2p,
            test_cmd=p.command(c.files), test_files=c.files, pythonpath=p.pythonpath,
            mutation={"kind": c.mutation.kind, "file": c.mutation.file, "line": c.mutation.line,
                      "function": c.mutation.function},
            split="full",
        )
        dest = work / "commit" / iid
        inst.base_commit = materialize(inst, dest)
        inst.environment_setup_commit = inst.base_commit
        shutil.rmtree(dest, ignore_errors=True)
        out.append(inst)
    return out


def mark_lite(instances: list[SWEInstance], size: int) -> None:
    """Round-robin over projects (sorted), each project's instances in id order, until `size`."""
    by_repo: dict[str, list[SWEInstance]] = {}
    for inst in sorted(instances, key=lambda i: i.instance_id):
        by_repo.setdefault(inst.repo, []).append(inst)
    picked = 0
    depth = 0
    while picked < size and any(len(v) > depth for v in by_repo.values()):
        for repo in sorted(by_repo):
            if picked < size and len(by_repo[repo]) > depth:
                by_repo[repo][depth].split = "lite"  # type: ignore[attr-defined]
                picked += 1
        depth += 1


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=INSTANCES_JSONL)
    ap.add_argument("--projects", default="", help="comma-separated project names (default: all)")
    ap.add_argument("--merge", action="store_true", help="keep other projects' instances already in --out")
    ap.add_argument("--extend", action="store_true",
                    help="with --merge: keep the chosen projects' instances too and add new ones after them")
    ap.add_argument("--per-project", type=int, default=16)
    ap.add_argument("--max-tries", type=int, default=80, help="mutations validated per project at most")
    ap.add_argument("--seed", type=int, default=5)
    ap.add_argument("--per-function", type=int, default=1, help="bugs kept per function at most")
    ap.add_argument("--jobs", type=int, default=2, choices=[1, 2])
    ap.add_argument("--lite-size", type=int, default=24)
    ap.add_argument("--stats", type=Path, default=None, help="write per-project statistics (JSON) here")
    args = ap.parse_args(argv)

    def log(msg: str) -> None:
        print(f"[{time.strftime('%H:%M:%S')}] {msg}", file=sys.stderr, flush=True)

    from agentgym.sandbox import reaper

    reaper.install_handlers()  # from the main thread: SIGTERM/SIGHUP also remove our containers
    check_image()
    projects = load_projects()
    wanted = {p for p in args.projects.split(",") if p}
    unknown = wanted - {p.name for p in projects}
    if unknown:
        raise SystemExit(f"unknown projects {sorted(unknown)}; known: {[p.name for p in projects]}")
    chosen = [p for p in projects if not wanted or p.name in wanted]
    started = time.monotonic()
    instances: list[SWEInstance] = []
    stats: list[dict] = []
    old: list[SWEInstance] = []
    if args.merge and args.out.is_file():
        old = [SWEInstance.model_validate_json(ln) for ln in args.out.read_text().splitlines() if ln.strip()]
    with tempfile.TemporaryDirectory(prefix="swe-synth-gen-") as tmp:
        for n, p in enumerate(chosen):
            mine = [i for i in old if i.repo == p.repo] if args.extend else []
            cands, st = generate_project(p, Path(tmp), args.per_project, args.max_tries, args.seed, args.jobs, log,
                                         args.per_function, mine)
            first = 1 + max((int(i.instance_id.rsplit("-", 1)[1]) for i in mine), default=0)
            instances += mine + to_instances(cands, args.seed, Path(tmp), first)
            stats.append(st)
            # written after every project, so an interrupted run keeps what it validated
            done = {q.repo for q in chosen[: n + 1]}
            _write(args.out, instances + [i for i in old if i.repo not in done], args.lite_size)
            if args.stats:
                args.stats.write_text(json.dumps({"seconds": round(time.monotonic() - started, 1),
                                                  "projects": stats}, indent=1) + "\n")
    total = round(time.monotonic() - started, 1)
    log(f"wrote {len(instances)} new instances to {args.out} in {total} s")
    return 0


def _write(out: Path, instances: list[SWEInstance], lite_size: int) -> None:
    instances = sorted(instances, key=lambda i: i.instance_id)
    for inst in instances:
        inst.split = "full"  # type: ignore[attr-defined]
    mark_lite(instances, lite_size)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text("".join(i.model_dump_json() + "\n" for i in instances))


if __name__ == "__main__":
    raise SystemExit(main())
