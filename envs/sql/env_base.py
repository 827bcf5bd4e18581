"""What c-Interact and a-Interact share: tasks, the episode's database copy, the simulated user,
the two phases, and grading in a fresh copy.

The agent's database is its own copy (DROP/ALTER touch nothing else). A submission is graded
on ANOTHER fresh copy, so exploration side effects never reach the grader, and the gold SQL,
checks and expected rows never leave the host process: observations show pass/fail and the
engine's error text only. After phase one of a write task passes, the agent's copy is reset to
the state the follow-up is graded against (fresh copy + gold phase one).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from agentgym.actions import ToolResult
from agentgym.env import AgentEnv, InfraError
from agentgym.envs.sql.catalog import cached_kb, database_files
from agentgym.envs.sql.engines import EpisodeDatabase, SqlError, make_engine
from agentgym.envs.sql.engines.dialect import transpile_cached
from agentgym.envs.sql.grading import GradeResult, grade_fresh
from agentgym.envs.sql.models import KBEntry, SqlTask
from agentgym.envs.sql.report import MAX_SUBMISSIONS, grader_report as sql_grader_report
from agentgym.envs.sql.simulator import UserSimulator
from agentgym.envs.sql.simulator_llm import LLMUserSimulator, SimulatorFactory
from agentgym.envs.sql.tasks import load_suite

PHASE_REWARD = {1: 0.7, 2: 0.3}
ENGINE_LABELS = {"sqlite": "SQLite", "postgres": "PostgreSQL 15"}


def resolve_engine(runtime: str, engine: str | None = None) -> str:
    """The engine for a runtime: 'docker' -> postgres, 'local' -> sqlite, 'auto' -> postgres when a
    Docker engine answers (or AGENTGYM_RUNTIME=docker), else sqlite. An explicit engine must agree
    with an explicit runtime."""
    if runtime not in ("auto", "local", "docker"):
        raise ValueError(f"runtime must be 'auto', 'local' or 'docker', not {runtime!r}")
    if engine is not None and engine not in ENGINE_LABELS:
        raise ValueError(f"unknown SQL engine {engine!r}; choose 'sqlite' or 'postgres'")
    wanted = {"docker": "postgres", "local": "sqlite"}.get(runtime)
    if engine is not None:
        if wanted is not None and engine != wanted:
            raise ValueError(f"engine={engine!r} does not run under runtime={runtime!r}: runtime='docker' means "
                             "PostgreSQL and runtime='local' SQLite; pass one of them or runtime='auto'")
        return engine
    if wanted is not None:
        return wanted
    from agentgym.sandbox import resolve_runtime

    return "postgres" if resolve_runtime("auto") == "docker" else "sqlite"


def task_for_dialect(task: SqlTask, dialect: str) -> SqlTask:
    """`task` with its gold SQL, state-check queries, preprocess and clean-up SQL transpiled from
    its own dialect (task.dialect: SQLite for generated tasks, PostgreSQL for BIRD data) to `dialect`.

    Expected rows stay as generated (on SQLite): the grader compares them under the task's
    declared tolerances, and test_sql_postgres checks that every lite gold query gives the same
    multiset on both engines. Ambiguities' SQL is never run at play time and is left as is.
    """
    source = task.dialect
    if dialect == source:
        return task

    def tr(sqls: list[str]) -> list[str]:
        return [transpile_cached(s, dialect, source) for s in sqls]

    def phase(p: Any) -> Any:
        checks = [c.model_copy(update={"query": transpile_cached(c.query, dialect, source)}) if c.query else c for c in p.checks]
        return p.model_copy(update={"gold_sql": tr(p.gold_sql), "checks": checks, "preprocess_sql": tr(p.preprocess_sql),
                                    "clean_up_sql": tr(p.clean_up_sql)})

    return task.model_copy(update={"phase1": phase(task.phase1), "follow_up": phase(task.follow_up), "dialect": dialect})


def phase_setup(task: SqlTask, phase: int) -> list[str]:
    """What runs on a fresh copy before phase `phase` is played or graded: phase one's
    preprocess_sql; for the follow-up also the gold phase one when it writes, then its own."""
    if phase == 1:
        return list(task.phase1.preprocess_sql)
    gold = task.phase1.gold_sql if task.phase1.category == "write" else []
    return [*task.phase1.preprocess_sql, *gold, *task.follow_up.preprocess_sql]


def grade_phase(engine: Any, task: SqlTask, phase: int, sql: str, *, timeout_s: float,
                raise_setup: bool = True) -> GradeResult:
    """Grade `sql` for `phase` of `task` (already in the engine's dialect) in fresh copies: by the
    phase's BIRD test cases when it has them (bird_tests.py), else by its checks."""
    p = task.phase1 if phase == 1 else task.follow_up
    setup = phase_setup(task, phase)
    try:
        if p.test_cases:
            from agentgym.envs.sql.bird_tests import grade_test_cases

            return grade_test_cases(engine, task.db_id, setup, sql, test_cases=p.test_cases, gold=p.gold_sql,
                                    conditions=p.conditions, clean_up=p.clean_up_sql, timeout_s=timeout_s)
        return grade_fresh(engine, task.db_id, setup, sql, p.checks, timeout_s=timeout_s, gold=p.gold_sql,
                           clean_up=p.clean_up_sql)
    except SqlError as exc:  # the setup or the gold failed: the task's fault, never the submission's
        if raise_setup:
            raise InfraError(f"task {task.id}: its gold or setup SQL failed on {engine.dialect}: {exc}") from exc
        return GradeResult(passed=False, error=str(exc))


class SqlEnvBase(AgentEnv):
    """runtime picks the engine (resolve_engine): 'docker' PostgreSQL, 'local' SQLite, 'auto' the
    former when Docker answers. engine_options go to the engine (PostgreSQL: ServerSettings, e.g.
    {"spares": 0, "memory": "2g"}); constructing an env starts nothing, the first reset does.
    simulator picks the simulated user: "rule" (deterministic, offline; the default) or "llm" with
    simulator_options={"base_url", "model", "cache_path", ...} (simulator_llm.SimulatorFactory).
    use_embeddings: route questions with the MiniLM model too; None (default) turns it on where the
    annotations carry no keywords (BIRD data) and the model is installed.

    Your own BIRD-Interact data: bird=ROOT (a release folder: tasks .jsonl, <db>/ metadata files and
    the PostgreSQL dumps, see bird.py and bird_files.py), bird_tasks=FILE when ROOT holds several
    .jsonl, bird_dumps=DIR when the PostgreSQL dumps (postgre_table_dumps) were unpacked outside
    ROOT. Schema, column meanings and KB are read from ROOT; env.skipped lists the tasks not
    loaded and why. data_dir=DIR alone points the databases (ours or BIRD folders) elsewhere. For
    BIRD data the LLM simulator is the recommended choice: the release has no clarification texts,
    and the rule simulator can only paraphrase the KB and column meanings."""

    def __init__(self, suite: str = "lite", engine: str | None = None, *, runtime: str = "auto", patience: int = 3,
                 use_embeddings: bool | None = None, max_rows: int = 100, timeout_s: float = 5.0,
                 tasks: list[SqlTask] | None = None, engine_options: dict[str, Any] | None = None,
                 simulator: str = "rule", simulator_options: dict[str, Any] | None = None,
                 bird: str | None = None, bird_tasks: str | None = None, bird_dumps: str | None = None,
                 data_dir: str | None = None, **kwargs: Any):
        self.suite = suite
        self.engine_name = resolve_engine(runtime, engine)
        # validate() reports env.runtime: it names what really runs, never "auto".
        self.runtime = "docker" if self.engine_name == "postgres" else "local"
        self.data_dir = Path(bird or data_dir).expanduser().resolve() if (bird or data_dir) else None
        if bird and not self.data_dir.is_dir():  # type: ignore[union-attr]
            raise ValueError(f"bird={bird!r} is not a folder; pass the root of a BIRD-Interact release (tasks .jsonl + databases)")
        if bird_dumps:
            if not bird or not Path(bird_dumps).expanduser().is_dir():
                raise ValueError(f"bird_dumps={bird_dumps!r} must be a folder (the release's postgre_table_dumps) and needs bird=ROOT")
            from agentgym.envs.sql.bird_files import register_dumps

            register_dumps(self.data_dir, Path(bird_dumps).expanduser())  # type: ignore[arg-type]
        self._engine_options = dict(engine_options or {})
        if self.data_dir is not None:
            self._engine_options.setdefault("data_dir", self.data_dir)
        self.engine = make_engine(self.engine_name, **self._engine_options)
        #: 'instance_id: reason' per BIRD task not loaded (no gold, nothing to judge it, not runnable on SQLite)
        self.skipped: list[str] = []
        if bird:
            tasks = self._bird_tasks(self.data_dir, bird_tasks, timeout_s)  # type: ignore[arg-type]
        self._tasks = {t.id: t for t in (tasks if tasks is not None else load_suite(suite))}
        self._engine_tasks: dict[str, SqlTask] = {}
        self.patience = patience
        self.use_embeddings = use_embeddings
        self._make_simulator = SimulatorFactory(simulator, simulator_options, use_embeddings=use_embeddings)
        self.max_rows = max_rows
        self.timeout_s = timeout_s
        self.db: EpisodeDatabase | None = None
        self.task: SqlTask | None = None
        self.simulator: UserSimulator | LLMUserSimulator | None = None
        self.phase = 1
        super().__init__(**kwargs)

    def _bird_tasks(self, root: Path, tasks_file: str | None, timeout_s: float) -> list[SqlTask]:
        from agentgym.envs.sql.bird import load_bird, sqlite_runnable

        ds = load_bird(root, tasks_file)
        missing = {}
        for db_id in {t.db_id for t in ds.tasks}:
            try:
                database_files(db_id, root)
            except FileNotFoundError as exc:
                missing[db_id] = str(exc)
        ds.skipped += [f"{t.id}: {missing[t.db_id]}" for t in ds.tasks if t.db_id in missing]
        ds.tasks = [t for t in ds.tasks if t.db_id not in missing]
        if self.engine.dialect == "sqlite":
            ds = sqlite_runnable(ds, self.engine, timeout_s=timeout_s * 2)
        self.skipped = ds.skipped
        if not ds.tasks:
            raise ValueError(f"no task of {root} can run here ({len(ds.skipped)} skipped, e.g. {ds.skipped[:1]}); "
                             "BIRD-Interact data needs runtime='docker' (PostgreSQL)")
        return ds.tasks

    _graded: tuple[tuple[int, str, GradeResult], ...] = ()  # this episode's graded submissions: (phase, sql, result)

    # -- AgentEnv hooks ----------------------------------------------------------------------------
    def task_ids(self) -> list[str]:
        return list(self._tasks)

    def required_images(self) -> list[str]:
        """The images an episode starts, made on a Ray node before its first one: the PostgreSQL
        server's (engine_options may name another); none for SQLite (the local runtime)."""
        settings = getattr(self.engine, "settings", None)
        return [settings.image] if self.engine_name == "postgres" and settings is not None else []

    def _start_episode(self, task_id: str) -> str:
        # The task as this engine runs it: gold SQL and check queries in its dialect, so the
        # reference policy, grading and the follow-up's setup need no dialect logic of their own.
        if task_id not in self._engine_tasks:
            self._engine_tasks[task_id] = task_for_dialect(self._tasks[task_id], self.engine.dialect)
        self.task = self._engine_tasks[task_id]
        try:
            self.db = self.engine.open(self.task.db_id)
            for stmt in phase_setup(self.task, 1):  # BIRD preprocess_sql: the agent sees the graded state
                self.db.execute(stmt, timeout_s=30, max_rows=1)
        except (FileNotFoundError, SqlError) as exc:
            raise InfraError(f"database {self.task.db_id!r} could not be opened: {exc}") from exc
        self.simulator = self._make_simulator(self.task)
        self.phase = 1
        self._graded = ()
        self._reset_phase_state()
        return self._statement()

    def _end_episode(self) -> None:
        if self.db is not None:
            self.db.close()
            self.db = None

    def _fork_episode(self, clone: AgentEnv) -> None:
        assert isinstance(clone, SqlEnvBase) and self.db is not None
        # Its own engine handle: copy.copy shared ours, and clone.close() must not close it
        # (for PostgreSQL that would release the server under this env).
        clone.engine = make_engine(self.engine_name, **self._engine_options)
        clone.db = self.db.fork()

    def _close(self) -> None:
        self.engine.close()
        self._make_simulator.close()

    # -- what subclasses build on --------------------------------------------------------------------
    @property
    def engine_label(self) -> str:
        """The engine as the agent should be told about it."""
        return ENGINE_LABELS.get(self.engine.dialect, self.engine.dialect)

    def _reset_phase_state(self) -> None:
        """Per-phase counters (retries, ...); called at episode start and when phase two begins."""

    def _statement(self) -> str:
        raise NotImplementedError

    def visible_kb(self) -> list[KBEntry]:
        """The knowledge base minus the entries this task withholds (knowledge ambiguities)."""
        assert self.task is not None
        hidden = set(self.task.withheld_knowledge)
        return [e for e in cached_kb(self.task.db_id, self.data_dir) if e.id not in hidden]

    def schema_text(self) -> str:
        assert self.task is not None
        return database_files(self.task.db_id, self.data_dir).schema_text()

    def column_meanings(self) -> dict[str, str]:
        assert self.task is not None
        return database_files(self.task.db_id, self.data_dir).column_meanings()

    def current_request(self) -> str:
        assert self.task is not None
        return self.task.amb_query if self.phase == 1 else self.task.follow_up.query

    def ask(self, question: str) -> str:
        assert self.simulator is not None
        return self.simulator.answer(question).text

    def grade(self, sql: str) -> GradeResult:
        """Grade `sql` for the current phase in a fresh copy; kept for grader_report (host side)
        with its previews made now: the result's rows (the agent picks their size) are not held."""
        assert self.task is not None
        result = grade_phase(self.engine, self.task, self.phase, sql, timeout_s=self.timeout_s * 2).make_previews()
        graded = (*self._graded, (self.phase, sql, result))  # a new tuple: a fork's copy stays its own
        if len(graded) > MAX_SUBMISSIONS:  # never reported from now on: let go of its previews
            phase, old_sql, old = graded[-MAX_SUBMISSIONS - 1]
            graded = (*graded[:-MAX_SUBMISSIONS - 1], (phase, old_sql, old.without_previews()), *graded[-MAX_SUBMISSIONS:])
        self._graded = graded
        return result

    def grader_report(self) -> dict[str, Any] | None:
        """Expected vs got of every check of this episode's submissions (envs/sql/report.py), read
        by the rollout after the episode ended; never shown to the agent during it."""
        return sql_grader_report(self._graded)

    def start_follow_up(self) -> str:
        """Move to phase two; returns the text that introduces it."""
        assert self.task is not None
        self.phase = 2
        self._reset_phase_state()
        if self.task.phase1.category == "write":
            # The follow-up is graded on fresh + gold phase one; the agent explores that state too.
            fresh = self.engine.open(self.task.db_id)
            for stmt in phase_setup(self.task, 2):
                fresh.execute(stmt, timeout_s=30, max_rows=1)
            if self.db is not None:
                self.db.close()
            self.db = fresh
        elif self.task.follow_up.preprocess_sql and self.db is not None:
            for stmt in self.task.follow_up.preprocess_sql:
                self.db.execute(stmt, timeout_s=30, max_rows=1)
        return f"Phase one passed. Follow-up request: {self.task.follow_up.query}"

    def passed_result(self, phase: int, reward: float, extra: str = "") -> ToolResult:
        done = phase == 2
        text = f"Submitted. Passed.{(' ' + extra) if extra else ''}"
        info = {"passed": True, "phase": phase}
        if not done:
            text = f"{text} {self.start_follow_up()}"
        return ToolResult(output=text, reward=reward, terminated=done, info=info)

    def ended_result(self, grade: GradeResult, phase: int) -> ToolResult:
        return ToolResult(output=f"Submitted. Failed ({grade.summary}). The episode is over.", reward=0.0,
                          terminated=True, info={"passed": False, "phase": phase})


def kb_listing(entries: list[KBEntry], with_definitions: bool) -> str:
    if not with_definitions:
        return "\n".join(f"- {e.knowledge}" for e in entries)
    return "\n".join(f"- [{e.id}] {e.knowledge}: {e.description} Definition: {e.definition}" for e in entries)
